"""Policy documents, their validation and evaluation. Imports nothing of ours."""

__all__: list[str] = []
