"""The partner SDK: a typed client for the zone's gRPC API."""

__all__: list[str] = []
