"""Parse, validate, rewrite and execute partner queries over analysis views (DuckDB | Spark)."""

__all__: list[str] = []
