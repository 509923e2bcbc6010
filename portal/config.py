"""The portal's options, defined once, and its frozen configuration.

:class:`PortalOptions` is every tunable of the portal with its default, its checks and its
documentation. Both sides build on it rather than copying it: the launcher's ``[portal]``
settings section (``launcher.settings.PortalSettings``) is a ``PortalOptions`` plus the
portal key it reads from the environment, and :class:`PortalConfig`, what the portal runs
with, is a ``PortalOptions`` plus the state directory and the key.

Each field's ``metadata`` documents it: ``help`` (what it does, in Markdown: the README's
settings table and ``--help`` are made from it), ``env`` (the variables the launcher reads
it from, where there are any) and ``default_text`` (how the default reads where ``None``
does not say it). The keys are those of ``launcher._setting_fields``; the portal may not
import the launcher, so it writes them as plain metadata (:func:`_option`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["InvalidOptionError", "PortalConfig", "PortalKey", "PortalOptions"]

_MIN_KEY_BYTES = 16
_T = TypeVar("_T")


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


class InvalidOptionError(ValueError):
    """An option is out of range: ``option`` names it, ``rule`` says what it must be (never
    the value). Raised when a :class:`PortalOptions` is built; the launcher reports it as
    ``setting portal.<option> <rule>`` (exit 78) before the portal runs."""

    def __init__(self, option: str, rule: str) -> None:
        super().__init__(f"{option} {rule}")
        self.option = option
        self.rule = rule


def _option(
    default: _T, help: str, *, env: str | None = None, default_text: str | None = None
) -> _T:
    """A field with its documentation as metadata (the keys of ``launcher._setting_fields``)."""
    metadata: dict[str, Any] = {"help": help}
    if env is not None:
        metadata["env"] = (env,)
    if default_text is not None:
        metadata["default_text"] = default_text
    return field(default=default, metadata=metadata)


_TARGET = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})")


def _is_target(target: str) -> bool:
    match = _TARGET.fullmatch(target)
    return match is not None and 1 <= int(match[1]) <= 65535


@dataclass(frozen=True)
class PortalOptions:
    """The portal's tunables: the OAuth 2.0 authorization server and the steward pages."""

    bind: str = _option(
        "127.0.0.1:8080", "portal address (port 0: any free port)", env="DATAWARD_PORTAL_BIND"
    )
    database_url: str | None = _option(
        None,
        "SQLAlchemy URL of the portal's state",
        env="DATAWARD_PORTAL_DATABASE_URL",
        default_text="SQLite in `ZONE/portal/`",
    )
    issuer: str | None = _option(
        None, "`iss` of the tokens", env="DATAWARD_PORTAL_ISSUER", default_text="`http://<bind>`"
    )
    # The `aud` of access tokens meant for the zone's gRPC API.
    audience: str = _option("dataward-zone", "`aud` of the tokens")
    access_token_ttl_seconds: int = _option(600, "access-token lifetime")
    refresh_token_ttl_seconds: int = _option(14 * 24 * 3600, "refresh-token lifetime")
    authorization_code_ttl_seconds: int = _option(60, "authorization-code lifetime")
    login_max_failures: int = _option(
        5, "failed sign-ins per username within the window before a lockout"
    )
    login_failure_window_seconds: int = _option(300, "the lockout window")
    login_max_failures_per_address: int = _option(
        20,
        "failed sign-ins from one client address (any usernames) within the window before that "
        "address is locked out",
    )
    client_auth_max_failures: int = _option(
        10,
        "failed client authentications (`invalid_client`) per `client_id` within the window "
        "before the OAuth endpoints answer 429 `slow_down`",
    )
    client_auth_failure_window_seconds: int = _option(300, "that window")
    # Cookies are Secure unless explicitly served over plain HTTP on loopback (tests, demo).
    cookie_secure: bool = _option(True, "Secure cookies (false only for plain-HTTP loopback)")
    # Behind a proxy every client would otherwise share the proxy's address (see _app).
    trusted_proxies: int = _option(
        0,
        "reverse proxies in front of the portal: the per-address throttles key on the "
        "`X-Forwarded-For` entry the outermost of them appended, and no entry further left; "
        "0 ignores the header (the socket peer is the client)",
    )
    # Issue 14: what the credentials page and the OAuth metadata tell partners to dial.
    grpc_target: str | None = _option(
        None,
        "the zone's gRPC address as partners reach it (`host:port`), shown on the credentials "
        "page and in the OAuth metadata (`dataward_grpc_target`)",
        env="DATAWARD_PORTAL_GRPC_TARGET",
        default_text="where `dataward serve` listens",
    )
    grpc_tls: bool = _option(
        False,
        "partners reach `grpc_target` over TLS (`dataward_grpc_tls`; without `grpc_target`: "
        "whether `dataward serve` has a TLS certificate)",
    )
    # The serving portal's background signer; it also signs once more at shutdown.
    log_checkpoint_seconds: float = _option(
        10.0, "sign a portal-log checkpoint at most this often when it grew"
    )

    def __post_init__(self) -> None:
        if not self.log_checkpoint_seconds > 0:
            raise InvalidOptionError("log_checkpoint_seconds", "must be greater than 0")
        if self.trusted_proxies < 0:
            raise InvalidOptionError("trusted_proxies", "must not be negative")
        if self.grpc_target is not None and not _is_target(self.grpc_target):
            raise InvalidOptionError(
                "grpc_target", "must be host:port (a port 1-65535, no scheme or path)"
            )


@dataclass(frozen=True, kw_only=True)
class PortalConfig(PortalOptions):
    """Everything the portal needs; ``state_dir`` is ``ZONE/portal`` (keys, database, public/).

    ``key`` seals the private keys in ``state_dir/keys``. ``None`` (the default) seals a new
    state dir under a one-off random key that only this run's :class:`~portal.Portal` holds,
    for a portal that lives as long as it (tests, benchmarks); a state dir sealed before
    cannot be opened without its key. The launcher always passes the configured key.
    """

    state_dir: Path
    key: PortalKey | None = None

    @classmethod
    def from_options(
        cls, options: PortalOptions, *, state_dir: Path, key: PortalKey | None
    ) -> PortalConfig:
        """``options`` (a subclass's own fields left out) with the state dir and the key."""
        values = {f.name: getattr(options, f.name) for f in dataclasses.fields(PortalOptions)}
        return cls(state_dir=state_dir, key=key, **values)

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
