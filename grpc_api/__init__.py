"""gRPC servicers and interceptors: authentication, scopes, rate limits, error mapping."""

__all__: list[str] = []
