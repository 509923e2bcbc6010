"""The admission of every call: token, method scope (deny by default), rate limit, deadline.

Every refusal here is logged as an audit leaf (:class:`grpc_api._refusals.Refusals`) before
the call is aborted; a failing audit log turns it into UNAVAILABLE. A streaming call is
admitted once when it opens (token, scope, deadline) and again for EACH item it carries
(:meth:`Guard.admit` with ``charge=True``): token expiry and revocation are rechecked and one
rate-limit token is taken per item, never per stream. An upload (``RegisterModel``, a client
stream of one request's parts) is admitted and charged once, when it opens.

A request body that does not parse as the method's message (truncated, invalid UTF-8 in a
string field, field number 0, an unmatched end-group) never reaches grpcio's default
``INTERNAL "Exception deserializing request!"``: every method's deserializer is wrapped so a
parse failure yields :data:`MALFORMED`, and the call is refused INVALID_ARGUMENT
``MALFORMED_REQUEST`` -- after the token check, and logged like any other refusal (issue 8,
fault 3). Health and reflection get the same wrapper (refused unlogged: they are public).

``METHOD_SCOPES`` is the table of what each method needs. A method not in it — and not one of
the public gRPC health and reflection methods — is refused PERMISSION_DENIED
(METHOD_NOT_ALLOWED) even when a servicer implements it: adding an RPC without deciding its
scope cannot open it.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc
from google.protobuf.unknown_fields import UnknownFieldSet

from dataward.access import Scope
from grpc_api._ratelimit import TokenBuckets
from grpc_api._refusals import Refusals
from grpc_api._status import abort
from grpc_api._tokens import Principal, TokenVerifier
from grpc_api.errors import (
    ApiError,
    DeadlineTooShort,
    MalformedRequest,
    MessageTooLarge,
    PermissionRefused,
    RateLimited,
    TooManyStreams,
    Unauthenticated,
)

__all__ = [
    "ALL_ADDRESSES",
    "ALL_ADDRESSES_FACTOR",
    "MALFORMED",
    "METHOD_SCOPES",
    "PUBLIC_METHODS",
    "PUBLIC_PREFIXES",
    "STEWARD_HELD",
    "AuthInterceptor",
    "Guard",
    "principal_of",
]

METHOD_SCOPES: Mapping[str, Scope] = {
    "/dataward.v1.EligibilityService/Check": Scope.ELIGIBILITY_CHECK,
    "/dataward.v1.EligibilityService/CheckBatch": Scope.ELIGIBILITY_CHECK,
    "/dataward.v1.IdentityService/Verify": Scope.IDENTITY_VERIFY,
    "/dataward.v1.ComputeService/CreditBand": Scope.COMPUTE_SCORE,
    "/dataward.v1.ComputeService/RegisterModel": Scope.COMPUTE_SCORE,
    "/dataward.v1.ComputeService/GetModel": Scope.COMPUTE_SCORE,
    "/dataward.v1.ComputeService/PaillierScore": Scope.COMPUTE_SCORE,
    "/dataward.v1.ComputeService/CkksBatchScore": Scope.COMPUTE_SCORE,
    # a face check: the identity scope, as IdentityService.Verify with a selfie
    "/dataward.v1.ComputeService/EncryptedFaceMatch": Scope.IDENTITY_VERIFY,
    "/dataward.v1.AuditService/GetPublicKey": Scope.AUDIT_READ,
    "/dataward.v1.AuditService/GetReceipt": Scope.AUDIT_READ,
    "/dataward.v1.AuditService/GetConsistencyProof": Scope.AUDIT_READ,
    "/dataward.v1.AuditService/ListEvents": Scope.AUDIT_READ,
    "/dataward.v1.AuditService/UsageSummary": Scope.AUDIT_READ,
    "/dataward.v1.StewardService/GrantConsent": Scope.STEWARD_ADMIN,
    "/dataward.v1.StewardService/RevokeConsent": Scope.STEWARD_ADMIN,
    "/dataward.v1.StewardService/ApplyPolicy": Scope.STEWARD_ADMIN,
    "/dataward.v1.StewardService/GetPolicy": Scope.STEWARD_ADMIN,
    "/dataward.v1.StewardService/ListPendingQueries": Scope.STEWARD_ADMIN,
    "/dataward.v1.StewardService/GetQueryReview": Scope.STEWARD_ADMIN,
    "/dataward.v1.StewardService/ApproveQuery": Scope.STEWARD_ADMIN,
    "/dataward.v1.StewardService/RejectQuery": Scope.STEWARD_ADMIN,
    "/dataward.v1.StewardService/ListPendingModels": Scope.STEWARD_ADMIN,
    "/dataward.v1.StewardService/AttestModel": Scope.STEWARD_ADMIN,
    "/dataward.v1.QueryService/Explain": Scope.QUERY_SUBMIT,
    "/dataward.v1.QueryService/Submit": Scope.QUERY_SUBMIT,
    "/dataward.v1.QueryService/Get": Scope.QUERY_SUBMIT,
    "/dataward.v1.QueryService/List": Scope.QUERY_SUBMIT,
    "/dataward.v1.QueryService/GetBudget": Scope.QUERY_SUBMIT,
    "/dataward.v1.QueryService/Run": Scope.QUERY_RUN,
}
# Methods that need a second scope besides their own: the zone log's view (issue 14) is a
# steward's audit:read -- a partner's audit:read reads its receipts, never others' requests.
STEWARD_HELD: Mapping[str, Scope] = {
    "/dataward.v1.AuditService/ListEvents": Scope.STEWARD_ADMIN,
    "/dataward.v1.AuditService/UsageSummary": Scope.STEWARD_ADMIN,
}
# Standard, unauthenticated: health checks and server reflection (they reveal no data), and
# the zone's attestation (a signature over the caller's challenge: it reveals no data either,
# and the operator's CLI must check it BEFORE it sends any credential).
PUBLIC_METHODS = ("/dataward.v1.AuditService/Attest",)
PUBLIC_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
    *PUBLIC_METHODS,
)
# The unauthenticated-refusal bucket shared by every address: this many times the rate and
# burst of one address (issue 8 review: 100 addresses x 20 got 4,000 leaves in 6 s).
ALL_ADDRESSES = "*"
ALL_ADDRESSES_FACTOR = 10.0
# Streams one partner organization may hold open at once (each holds a server thread); the
# server passes its option grpc.max_streams_per_partner.
MAX_STREAMS_PER_PARTNER = 8
# Public streams (health Watch, reflection) need no token: each holds a server thread as long
# as the client keeps it open, so one address may hold this many, and all anonymous callers
# together this many (14rev1: unlimited, idle streams could take every worker).
MAX_PUBLIC_STREAMS_PER_ADDRESS = 4
MAX_PUBLIC_STREAMS = 8
# Below this many seconds left, the call is refused rather than started.
MIN_SECONDS_LEFT = 0.002


class Guard:
    def __init__(
        self,
        verifier: TokenVerifier,
        buckets: TokenBuckets,
        refusals: Refusals,
        unauthenticated: TokenBuckets | None = None,
        max_streams_per_partner: int = MAX_STREAMS_PER_PARTNER,
    ) -> None:
        """``unauthenticated``: per client address, the refusals for a bad or missing token
        that get audit leaves of their own; past it they are counted (issue 8, fault 10)."""
        self._verifier = verifier
        self._buckets = buckets
        self._refusals = refusals
        self._unauthenticated = unauthenticated
        self._max_streams = max_streams_per_partner
        self._streams: dict[str, int] = {}
        self._streams_lock = threading.Lock()
        self._public_streams: dict[str, int] = {}

    def open_stream(self, principal: Principal) -> None:
        """Count a stream the partner opens; :class:`TooManyStreams` past the limit."""
        with self._streams_lock:
            held = self._streams.get(principal.organization, 0)
            if held >= self._max_streams:
                raise TooManyStreams(self._max_streams)
            self._streams[principal.organization] = held + 1

    def open_public_stream(self, context: grpc.ServicerContext) -> Callable[[], None]:
        """Count a public stream from the caller's address; :class:`TooManyStreams` past
        :data:`MAX_PUBLIC_STREAMS_PER_ADDRESS` or :data:`MAX_PUBLIC_STREAMS` in all. Returns
        its release (idempotent)."""
        address = client_address(context)
        with self._streams_lock:
            held = self._public_streams.get(address, 0)
            if held >= MAX_PUBLIC_STREAMS_PER_ADDRESS:
                raise TooManyStreams(MAX_PUBLIC_STREAMS_PER_ADDRESS, "client address")
            if sum(self._public_streams.values()) >= MAX_PUBLIC_STREAMS:
                raise TooManyStreams(MAX_PUBLIC_STREAMS, "server for unauthenticated callers")
            self._public_streams[address] = held + 1
        released = threading.Event()

        def release() -> None:
            with self._streams_lock:
                if released.is_set():
                    return
                released.set()
                left = self._public_streams.get(address, 0) - 1
                if left > 0:
                    self._public_streams[address] = left
                else:
                    self._public_streams.pop(address, None)

        return release

    def close_stream(self, principal: Principal) -> None:
        with self._streams_lock:
            held = self._streams.get(principal.organization, 0) - 1
            if held > 0:
                self._streams[principal.organization] = held
            else:
                self._streams.pop(principal.organization, None)

    def admit(
        self, method: str, context: grpc.ServicerContext, *, charge: bool = True
    ) -> Principal:
        """The verified caller of ``method``, or the refusal (logged) as an ``ApiError``.

        ``charge``: take a rate-limit token (a stream's opening passes False; its items True).
        """
        principal: Principal | None = None
        try:
            scope = METHOD_SCOPES.get(method)
            bearer = None
            for key, value in context.invocation_metadata():
                if key == "authorization" and isinstance(value, str):
                    kind, _, credential = value.partition(" ")
                    if kind.lower() == "bearer":
                        bearer = credential.strip()
            principal = self._verifier.verify(bearer)
            if scope is None:
                raise PermissionRefused("this method is not open", reason="METHOD_NOT_ALLOWED")
            if not principal.has_scope(scope):
                raise PermissionRefused(f"this call needs scope {scope.value}")
            held_by = STEWARD_HELD.get(method)
            if held_by is not None and not principal.has_scope(held_by):
                raise PermissionRefused(
                    f"this call needs scope {scope.value} held by a steward ({held_by.value})"
                )
            if charge:
                retry_after = self._buckets.acquire(principal.organization)
                if retry_after is not None:
                    raise RateLimited(retry_after)
            check_deadline(context)
        except ApiError as exc:
            if principal is None and isinstance(getattr(exc, "verified", None), Principal):
                principal = exc.verified  # type: ignore[attr-defined]
            if isinstance(exc, Unauthenticated) and self._unauthenticated is not None:
                address = client_address(context)
                # Per address, and all addresses together (many addresses are cheap to have).
                retry_after = self._unauthenticated.acquire(address)
                if retry_after is None:
                    retry_after = self._unauthenticated.acquire(ALL_ADDRESSES)
                if retry_after is not None:  # answered unlogged, counted in a summary leaf
                    self._refusals.dropped(address)
                    raise RateLimited(retry_after, UNAUTHENTICATED_LIMITED) from None
            raise self.refused(method, principal, "", exc)  # noqa: B904 (exc itself, or UNAVAILABLE)
        return principal

    def refused(
        self, method: str, principal: Principal | None, purpose: str, exc: ApiError
    ) -> ApiError:
        """Log a refusal of ``method``; the error to answer with (UNAVAILABLE if not logged)."""
        answer = self._refusals.record(method, principal, purpose, exc)
        exc.logged = answer.logged = True
        return answer

    def limit_anonymous(self, context: grpc.ServicerContext) -> None:
        """Charge an anonymous call (the zone's attestation: one signature each) against the
        per-address and all-addresses buckets of unauthenticated refusals; RateLimited past
        them. Nothing is logged: the method is public and reveals no data."""
        if self._unauthenticated is None:
            return
        retry_after = self._unauthenticated.acquire(client_address(context))
        if retry_after is None:
            retry_after = self._unauthenticated.acquire(ALL_ADDRESSES)
        if retry_after is not None:
            raise RateLimited(retry_after, UNAUTHENTICATED_LIMITED)

    def logged(self, method: str, principal: Principal | None, exc: BaseException) -> BaseException:
        """``exc`` as the call must answer it: an API refusal nobody logged yet (one the
        servicer's conversion raised) is logged first; the zone logs its own refusals."""
        if isinstance(exc, ApiError) and not exc.logged:
            return self.refused(method, principal, "", exc)
        return exc


UNAUTHENTICATED_LIMITED = (
    "too many calls without a valid access token from this address; retry later"
)


def client_address(context: grpc.ServicerContext) -> str:
    """The caller's address without its port (``ipv4:127.0.0.1:5555`` -> ``ipv4:127.0.0.1``);
    an IPv6 caller by its /64, which one host owns whole (issue 8 review: every /128 counted
    as a new address)."""
    peer = str(context.peer() or "unknown")
    if peer.startswith("ipv6:"):
        host = peer.removeprefix("ipv6:").rsplit(":", 1)[0].strip("[]").split("%", 1)[0]
        try:
            return f"ipv6:{ipaddress.ip_network(f'{host}/64', strict=False)}"
        except ValueError:
            return "ipv6:unparsed"
    if peer.startswith("ipv4:"):
        return peer.rsplit(":", 1)[0]
    return peer


def check_deadline(context: grpc.ServicerContext) -> None:
    remaining = context.time_remaining()
    if remaining is not None and remaining < MIN_SECONDS_LEFT:
        raise DeadlineTooShort()


class _Malformed:
    """Stands for a request body that did not parse (see the module docstring)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MALFORMED"


MALFORMED = _Malformed()


class _Oversized:
    """Stands for a streamed message over its method's byte bound, never parsed."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OVERSIZED"


OVERSIZED = _Oversized()
#: The most bytes one message of a bounded stream (CheckBatch) may carry: 1024 items of 256
#: bytes (a CheckRequest at its largest -- an ID number of 32 characters, a consent
#: reference, a 64-character nonce, a date -- is about 160 with its framing). Tiny items parse
#: into some 48 times their wire size: 256 KiB is at worst about 12 MiB parsed, whatever the
#: server's grpc.max_batch_items or grpc.max_message_bytes (issue 15 review).
STREAM_MESSAGE_BYTES = 256 * 1024
#: Unknown-field bytes a message may carry (a newer client's fields). Past it the message is
#: MALFORMED: walking megabytes of unknown fields for a field number 0 cost seconds of CPU
#: and hundreds of MiB (issue 15 review: 8 MiB, 4 s, +362 MiB, before any token check).
UNKNOWN_BYTES = 4096


def _tolerant(
    deserializer: Callable[[bytes], Any] | None, max_bytes: int | None = None
) -> Callable[[bytes], Any] | None:
    """``deserializer``, answering :data:`MALFORMED` instead of raising on a bad body (or one
    with more than :data:`UNKNOWN_BYTES` of unknown fields), and :data:`OVERSIZED` without
    parsing a body over ``max_bytes``."""
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        if max_bytes is not None and len(data) > max_bytes:
            return OVERSIZED
        try:
            message = deserializer(data)
            if len(data) > UNKNOWN_BYTES:  # a small body's scan below is cheap whatever it holds
                known = type(message)()
                known.CopyFrom(message)
                known.DiscardUnknownFields()
                if len(data) - known.ByteSize() > UNKNOWN_BYTES:
                    return MALFORMED
            # upb keeps a field number 0 as an "unknown field" of a message with no fields;
            # no valid encoding has one (unknown fields with valid numbers stay accepted).
            unknown = UnknownFieldSet(message)
            if any(unknown[i].field_number == 0 for i in range(len(unknown))):
                return MALFORMED
        except Exception:  # DecodeError, or anything protobuf raises on hostile bytes
            return MALFORMED
        return message

    return parse


class _AuthedContext:
    """The servicer context plus the admitted principal (attribute access is delegated)."""

    def __init__(self, inner: grpc.ServicerContext, principal: Principal) -> None:
        self._inner = inner
        self.principal = principal

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def principal_of(context: grpc.ServicerContext) -> Principal:
    principal = getattr(context, "principal", None)
    if not isinstance(principal, Principal):
        raise PermissionRefused("this method is not open", reason="METHOD_NOT_ALLOWED")
    return principal


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg,misc]
    def __init__(self, guard: Guard, *, bounded: frozenset[str] = frozenset()) -> None:
        """``bounded``: streaming methods whose messages carry at most
        :data:`STREAM_MESSAGE_BYTES` (CheckBatch); a bigger one is refused unparsed, charged
        one token, RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE."""
        self._guard = guard
        self._bounded = bounded
        # method -> (the registered handler, its guarded wrapper). grpc asks the interceptor
        # on every call; the registered handlers are fixed, so the wrapper is built once per
        # method (and again should the handler object ever change). The guard runs per call.
        self._wrapped: dict[str, tuple[Any, grpc.RpcMethodHandler[Any, Any]]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(details)
        method: str = details.method
        if handler is None:
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        if method.startswith(PUBLIC_PREFIXES):
            limit = self._guard.limit_anonymous if method in PUBLIC_METHODS else None
            wrapped = _public(handler, limit, self._guard)
        else:
            wrapped = self._wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        guard = self._guard

        def admitted(context: grpc.ServicerContext, charge: bool = True) -> grpc.ServicerContext:
            try:
                principal = guard.admit(method, context, charge=charge)
            except ApiError as exc:  # logged by the guard already
                abort(context, exc)
            # Duck-typed: the servicer sees the same context API plus ``principal``.
            return _AuthedContext(context, principal)  # type: ignore[return-value]

        # Every exception a servicer raises leaves through the one status table, here; an API
        # refusal the servicer raised (its conversion) is logged first (Guard.logged).
        bound = STREAM_MESSAGE_BYTES if method in self._bounded else None
        parse = _tolerant(handler.request_deserializer, bound)
        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
                authed = admitted(context)
                principal = getattr(authed, "principal", None)
                try:
                    if request is MALFORMED:
                        raise MalformedRequest()
                    return inner_uu(request, authed)
                except Exception as exc:
                    abort(context, guard.logged(method, principal, exc))

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, parse, handler.response_serializer
            )
        if handler.stream_stream is not None:
            inner_ss = handler.stream_stream

            def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                # Opening a stream takes a rate-limit token, and so does each item (the
                # servicer admits each); a partner holds at most max_streams_per_partner open
                # (issue 8 review: 70 idle streams held every worker thread).
                authed = admitted(context)
                principal: Principal = authed.principal  # type: ignore[attr-defined]
                try:
                    guard.open_stream(principal)
                except ApiError as exc:
                    abort(context, guard.refused(method, principal, "", exc))

                def checked() -> Iterator[Any]:
                    for item in requests:
                        if item is MALFORMED:  # charged like any item before it is refused
                            guard.admit(method, authed)
                            raise MalformedRequest()
                        if item is OVERSIZED:  # parsing it could cost 48 times its size
                            guard.admit(method, authed)
                            raise MessageTooLarge(STREAM_MESSAGE_BYTES)
                        yield item

                try:
                    yield from inner_ss(checked(), authed)
                except Exception as exc:
                    abort(context, guard.logged(method, principal, exc))
                finally:
                    guard.close_stream(principal)

            return grpc.stream_stream_rpc_method_handler(
                stream_stream, parse, handler.response_serializer
            )

        if handler.stream_unary is not None:
            inner_su = handler.stream_unary

            def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                # An upload (RegisterModel): ONE call, admitted (and charged) once when it
                # opens -- its messages are parts of one request, not items -- and counted
                # among the partner's open streams while it is read.
                authed = admitted(context)
                principal: Principal = authed.principal  # type: ignore[attr-defined]
                try:
                    guard.open_stream(principal)
                except ApiError as exc:
                    abort(context, guard.refused(method, principal, "", exc))

                def checked() -> Iterator[Any]:
                    for item in requests:
                        if item is MALFORMED:
                            raise MalformedRequest()
                        yield item

                try:
                    return inner_su(checked(), authed)
                except Exception as exc:
                    abort(context, guard.logged(method, principal, exc))
                finally:
                    guard.close_stream(principal)

            return grpc.stream_unary_rpc_method_handler(
                stream_unary, parse, handler.response_serializer
            )

        # Unary-stream methods are not part of the API: refuse them.
        def refused(request: Any, context: grpc.ServicerContext) -> Any:
            closed = PermissionRefused("this method is not open", reason="METHOD_NOT_ALLOWED")
            abort(context, guard.refused(method, None, "", closed))

        return grpc.unary_unary_rpc_method_handler(refused)


def _public(
    handler: grpc.RpcMethodHandler[Any, Any],
    limit: Callable[[grpc.ServicerContext], None] | None = None,
    guard: Guard | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """A public (health, reflection, attestation) handler: bad bodies are INVALID_ARGUMENT
    too, and what it raises leaves through the status table. ``limit`` (the attestation's)
    refuses a caller past the per-address rate of anonymous calls before any work; a stream
    is counted by ``guard`` (:meth:`Guard.open_public_stream`) while it is open."""

    def counted(context: grpc.ServicerContext) -> None:
        if guard is None:
            return
        try:
            release = guard.open_public_stream(context)
        except ApiError as exc:
            abort(context, exc)
        if not context.add_callback(release):  # the call already ended
            release()

    parse = _tolerant(handler.request_deserializer)
    if handler.unary_unary is not None:
        inner_uu = handler.unary_unary

        def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                if limit is not None:
                    limit(context)
                if request is MALFORMED:
                    raise MalformedRequest()
                return inner_uu(request, context)
            except Exception as exc:  # through the one table, unlogged: the method is public
                abort(context, exc)

        return grpc.unary_unary_rpc_method_handler(unary_unary, parse, handler.response_serializer)
    if handler.unary_stream is not None:
        inner_us = handler.unary_stream

        def unary_stream(request: Any, context: grpc.ServicerContext) -> Any:
            if request is MALFORMED:
                abort(context, MalformedRequest())
            counted(context)
            return inner_us(request, context)

        return grpc.unary_stream_rpc_method_handler(
            unary_stream, parse, handler.response_serializer
        )
    if handler.stream_stream is not None:
        inner_ss = handler.stream_stream

        def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            counted(context)

            def checked() -> Iterator[Any]:
                for item in requests:
                    if item is MALFORMED:
                        abort(context, MalformedRequest())
                    yield item

            return inner_ss(checked(), context)

        return grpc.stream_stream_rpc_method_handler(
            stream_stream, parse, handler.response_serializer
        )
    return handler
