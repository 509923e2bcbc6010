"""The gRPC API's options, defined once: the server's and the token checks'.

:class:`ServerOptions` is what :func:`grpc_api.build_server` runs with (address, limits,
threads, TLS); :class:`VerifierOptions` tunes the token checks the launcher builds and hands
it (the :class:`~grpc_api.JwksCache`, the :class:`~grpc_api.RevocationFeed` and the
:class:`~grpc_api.TokenVerifier`), which the server never reads. The launcher's ``[grpc]``
settings section (``launcher.settings.GrpcSettings``) is both and nothing more, so each
option's default, its check and its documentation are written here only.

Each field's ``metadata`` documents it: ``help`` (what it does, in Markdown: the README's
settings table and ``--help`` are made from it) and ``env`` (the variable the launcher reads
it from, where there is one). The keys are those of ``launcher._setting_fields``; grpc_api may
not import the launcher, so it writes them as plain metadata (:func:`_option`, as
``portal.config`` does).

An option out of range raises :class:`InvalidOptionError` when the options are built: a
``ValueError`` outside the ``grpc_api.errors`` tree, since no call is being answered; the
launcher reports it as ``setting grpc.<option> <rule>`` (exit 78). Half a TLS configuration is
refused later, by ``build_server`` (and by the launcher first, with the files read).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["InvalidOptionError", "ServerOptions", "VerifierOptions"]

_T = TypeVar("_T")


class InvalidOptionError(ValueError):
    """An option is out of range: ``option`` names it, ``rule`` says what it must be (never
    the value)."""

    def __init__(self, option: str, rule: str) -> None:
        super().__init__(f"{option} {rule}")
        self.option = option
        self.rule = rule


def _option(default: _T, help: str, *, env: str | None = None) -> _T:
    """A field with its documentation as metadata (the keys of ``launcher._setting_fields``)."""
    metadata: dict[str, Any] = {"help": help}
    if env is not None:
        metadata["env"] = (env,)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ServerOptions:
    """The server's tunables: where it listens, what it lets through, how it serves TLS."""

    bind: str = _option(
        "127.0.0.1:50051", "gRPC address (port 0: any free port)", env="DATAWARD_GRPC_BIND"
    )
    # 8 MiB: a CKKS weight ciphertext past its 1 MB limit (e.g. 5 MB of junk) reaches the
    # zone's own check and is INVALID_ARGUMENT CIPHERTEXT_INVALID, not a transport refusal
    max_message_bytes: int = _option(
        8 * 1024 * 1024, "largest request or response (at least 65536)"
    )
    # A call mostly waits for the audit log's group commit, so more calls in flight share each
    # fsync; keep it at least the expected client concurrency. Issue 15 measured 4, 8, 16, 32
    # and 64 on the 2-core machine (bench.grpc, 32 client threads): only 4 was clearly slower
    # (its commits starve); 8 to 64 were within the noise, so 64 stays: streams hold a thread
    # each (8 public, 8 per partner), and 64 leaves unary calls room beside them.
    max_workers: int = _option(
        64,
        "server threads, i.e. calls in flight (each mostly waits for the audit log's group commit)",
    )
    rate_limit_per_second: float = _option(200.0, "requests per second per partner organization")
    rate_limit_burst: int = _option(400, "burst per partner organization")
    max_batch_items: int = _option(
        1000,
        "items one `CheckBatch` stream may carry (past it: RESOURCE_EXHAUSTED "
        "`BATCH_TOO_LARGE`); every item takes a rate-limit token and rechecks the token's "
        "expiry and revocation",
    )
    # Issue 15: the items that arrived are checked together, one audit commit per group.
    batch_group: int = _option(
        64,
        "`CheckBatch` items checked together and logged in one audit commit (each item still "
        "its own leaves and receipt), and at most as many unary `Check` (or `Verify` without a "
        "selfie) calls waiting at the same time; also how many items a stream's reader holds "
        "unanswered before it stops reading (back-pressure)",
    )
    max_streams_per_partner: int = _option(
        8,
        "streams (`CheckBatch`) one partner organization may hold open at once, each holding a "
        "server thread; past it: RESOURCE_EXHAUSTED `RATE_LIMITED`",
    )
    # Each refusal of a call without a valid token costs an audit write, so past this rate
    # they are answered unlogged and counted in one summary leaf per refusal_summary_seconds.
    unauthenticated_refusals_per_second: float = _option(
        5.0,
        "refusals of calls without a valid token logged per client address per second; past "
        "it they are answered `RESOURCE_EXHAUSTED RATE_LIMITED` without an audit write",
    )
    unauthenticated_refusals_burst: int = _option(20, "burst of those per client address")
    refusal_summary_seconds: float = _option(
        60.0, "how often one summary leaf counts the refusals answered without their own leaves"
    )
    # RUF009 cannot tell that Path is immutable: None, the default, is no shared mutable one.
    tls_cert_file: Path | None = _option(  # noqa: RUF009
        None, "serve TLS with this certificate chain (PEM; needs `tls_key_file`)"
    )
    tls_key_file: Path | None = _option(  # noqa: RUF009
        None, "the private key of `tls_cert_file` (unencrypted PEM; needs `tls_cert_file`)"
    )
    tls_client_ca_file: Path | None = _option(  # noqa: RUF009
        None, "require client certificates signed by this CA (mutual TLS)"
    )

    def __post_init__(self) -> None:
        if self.max_workers < 1:
            raise InvalidOptionError("max_workers", "must be at least 1")
        if self.max_message_bytes < 64 * 1024:  # a packed CheckBatch answer must fit
            raise InvalidOptionError("max_message_bytes", "must be at least 65536")
        if self.max_batch_items < 1:
            raise InvalidOptionError("max_batch_items", "must be at least 1")
        if self.batch_group < 1:
            raise InvalidOptionError("batch_group", "must be at least 1")
        if self.max_streams_per_partner < 1:
            raise InvalidOptionError("max_streams_per_partner", "must be at least 1")
        if not self.unauthenticated_refusals_per_second > 0:
            raise InvalidOptionError(
                "unauthenticated_refusals_per_second", "must be greater than 0"
            )
        if self.unauthenticated_refusals_burst < 1:
            raise InvalidOptionError("unauthenticated_refusals_burst", "must be at least 1")
        if not self.refusal_summary_seconds > 0:
            raise InvalidOptionError("refusal_summary_seconds", "must be greater than 0")

    @staticmethod
    def from_options(options: ServerOptions) -> ServerOptions:
        """``options`` without a subclass's own fields (the launcher's settings section is one,
        with the verifier's options too), so that the server gets only its part."""
        fields = dataclasses.fields(ServerOptions)
        return ServerOptions(**{f.name: getattr(options, f.name) for f in fields})


@dataclass(frozen=True)
class VerifierOptions:
    """How the API checks the portal's tokens: its keys, its revocations, the clocks' skew."""

    jwks_refresh_seconds: float = _option(30.0, "refetch the portal's JWKS at most this often")
    revocation_poll_seconds: float = _option(
        5.0,
        "poll the portal's revocation feed this often (the bound on honouring a revocation)",
    )
    # A token from the future is refused: only this much clock skew is forgiven.
    token_leeway_seconds: float = _option(
        60.0,
        "clock skew allowed on a token's `nbf` and `iat`; a token valid only later is "
        "`UNAUTHENTICATED TOKEN_NOT_YET_VALID`",
    )

    def __post_init__(self) -> None:
        if self.token_leeway_seconds < 0:
            raise InvalidOptionError("token_leeway_seconds", "must not be negative")
