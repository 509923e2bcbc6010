"""The portal's own frozen configuration.

The launcher builds it from ``launcher.settings.PortalSettings`` plus the zone directory (the
portal may not import the launcher). Field names match ``PortalSettings`` one for one; a unit
test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PortalConfig", "PortalKey"]

_MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class PortalKey:
    """The secret that seals the portal's private keys at rest (see ``portal._sealing``).

    The portal's own key, never the zone's master key; at least 16 bytes. ``repr`` and
    ``str`` never show it.
    """

    value: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.value) < _MIN_KEY_BYTES:
            raise ValueError(f"a portal key has at least {_MIN_KEY_BYTES} bytes")

    def __repr__(self) -> str:
        return "PortalKey(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class PortalConfig:
    """Everything the portal needs; ``state_dir`` is ``ZONE/portal`` (keys, database, public/).

    ``key`` seals the private keys in ``state_dir/keys``. ``None`` (the default) seals a new
    state dir under a one-off random key that only this run's :class:`~portal.Portal` holds,
    for a portal that lives as long as it (tests, benchmarks); a state dir sealed before
    cannot be opened without its key. The launcher always passes the configured key.
    """

    state_dir: Path
    key: PortalKey | None = None
    bind: str = "127.0.0.1:8080"
    database_url: str | None = None
    issuer: str | None = None
    audience: str = "dataward-zone"
    access_token_ttl_seconds: int = 600
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    authorization_code_ttl_seconds: int = 60
    login_max_failures: int = 5
    login_failure_window_seconds: int = 300
    login_max_failures_per_address: int = 20
    client_auth_max_failures: int = 10
    client_auth_failure_window_seconds: int = 300
    cookie_secure: bool = True
    # Reverse proxies in front of the portal whose X-Forwarded-For entries are believed: the
    # client address is the one the outermost of them reports (0: the socket peer; see _app).
    trusted_proxies: int = 0
    # The server's background signer: a checkpoint at most this often when the log grew.
    log_checkpoint_seconds: float = 10.0

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, or ``sqlite:///STATE_DIR/portal.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'portal.db'}"

    def resolved_issuer(self, bound: str | None = None) -> str:
        """The ``iss`` of tokens: the configured issuer, else ``http://<bound or bind>``."""
        if self.issuer:
            return self.issuer.rstrip("/")
        return f"http://{bound or self.bind}"
