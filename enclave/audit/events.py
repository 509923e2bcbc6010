"""Typed audit events and their canonical leaf encoding.

One frozen dataclass per kind, each with a stable ``kind`` name and only non-sensitive fields:
identifiers, names, methods, purposes, decisions and hashes -- never a data value. A person
appears only as a token: the hex of the 32-byte keyed HMAC token of their ID number.

The leaf bytes are deterministic JSON (sorted keys, no spaces, ASCII): the event's fields plus
``kind``, ``seq`` (the entry's own index, so a moved or swapped entry names itself) and
``time`` (UTC, microseconds). :func:`decode_leaf` is its exact inverse and refuses anything
that would not re-encode to the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from enclave.audit.errors import AuditEventError

__all__ = [
    "CONSENT_REF",
    "REQUEST_ID",
    "AuditEvent",
    "Decision",
    "LoggedEvent",
    "PolicyChanged",
    "PortalEvent",
    "RefusalSummary",
    "Release",
    "RequestReceived",
    "StewardAction",
    "decode_leaf",
    "encode_leaf",
]

_TOKEN = re.compile(r"[0-9a-f]{64}")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# No leaf field is free text (issue 8, fault 2: a clear ID number sent as consent_ref reached
# the log verbatim). Each field has a fixed format; what a client sends is logged only when it
# matches one (consent references), never as is otherwise.
#: a zone-issued consent reference: ``cns_`` and 24 URL-safe base64 characters
CONSENT_REF = re.compile(r"cns_[A-Za-z0-9_-]{24}")
#: a zone-issued request id: 32 lowercase hex digits (a UUIDv7's, release.new_request_id)
REQUEST_ID = re.compile(r"[0-9a-f]{32}")
# Names the zone or its portal gave: client ids, organizations, methods, purposes, reasons,
# policy versions, actions. No spaces, nothing past 128 characters.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/=+-]{0,127}")


def _text(
    owner: object, name: str, *, optional: bool = False, pattern: re.Pattern[str] = _NAME
) -> None:
    value = getattr(owner, name)
    if value is None and optional:
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise AuditEventError(f"{type(owner).__name__}.{name} does not have its fixed format")


@dataclass(frozen=True)
class RequestReceived:
    """A partner asked something. ``person_token`` is set when the question is about a person."""

    kind: ClassVar[str] = "request_received"
    client_id: str
    organization: str
    method: str
    purpose: str
    consent_ref: str | None
    person_token: str | None
    request_id: str

    def __post_init__(self) -> None:
        # A request refused before its token verified names no client, and one refused before
        # its purpose was parsed no purpose: those are "" -- but only for a request about no
        # person (a question about a person always names who asked and why).
        unnamed = ("client_id", "organization", "purpose") if self.person_token is None else ()
        for name in ("client_id", "organization", "method", "purpose"):
            if not (name in unnamed and self.__dict__[name] == ""):
                _text(self, name)
        _text(self, "request_id", pattern=REQUEST_ID)
        _text(self, "consent_ref", optional=True, pattern=CONSENT_REF)
        if self.person_token is not None and not (
            isinstance(self.person_token, str) and _TOKEN.fullmatch(self.person_token)
        ):
            raise AuditEventError("RequestReceived.person_token must be 64 lowercase hex chars")


@dataclass(frozen=True)
class Decision:
    """The policy decision on a request: allow or deny, the reasons, the policy version."""

    kind: ClassVar[str] = "decision"
    request_id: str
    allow: bool
    reasons: tuple[str, ...]
    policy_version: str

    def __post_init__(self) -> None:
        _text(self, "request_id", pattern=REQUEST_ID)
        _text(self, "policy_version")
        if not isinstance(self.allow, bool):
            raise AuditEventError("Decision.allow must be a boolean")
        if not isinstance(self.reasons, tuple) or not all(
            isinstance(r, str) and _NAME.fullmatch(r) for r in self.reasons
        ):
            raise AuditEventError("Decision.reasons must be a tuple of reason names")


@dataclass(frozen=True)
class Release:
    """An answer left the zone: the hash of what was released and the epsilon it cost."""

    kind: ClassVar[str] = "release"
    request_id: str
    result_hash: str
    epsilon_spent_micro: int

    def __post_init__(self) -> None:
        _text(self, "request_id", pattern=REQUEST_ID)
        if not isinstance(self.result_hash, str) or not _TOKEN.fullmatch(self.result_hash):
            raise AuditEventError("Release.result_hash must be a SHA-256 in lowercase hex")
        if (
            not isinstance(self.epsilon_spent_micro, int)
            or isinstance(self.epsilon_spent_micro, bool)
            or self.epsilon_spent_micro < 0
        ):
            raise AuditEventError("Release.epsilon_spent_micro must be a non-negative integer")


@dataclass(frozen=True)
class StewardAction:
    """A data steward approved, rejected or changed something."""

    kind: ClassVar[str] = "steward_action"
    steward: str
    action: str
    target: str
    detail: str | None

    def __post_init__(self) -> None:
        for name in ("steward", "action", "target"):
            _text(self, name)
        _text(self, "detail", optional=True)


@dataclass(frozen=True)
class PortalEvent:
    """Something happened in the portal: a sign-in, an app's lifecycle, a token."""

    kind: ClassVar[str] = "portal_event"
    actor: str
    action: str
    target: str | None

    def __post_init__(self) -> None:
        _text(self, "actor")
        _text(self, "action")
        _text(self, "target", optional=True)


@dataclass(frozen=True)
class RefusalSummary:
    """Refusals answered without leaves of their own, counted over ``window_seconds``.

    Refusals of calls without a valid token cost an audit write each, so past a per-address
    rate the API answers them RESOURCE_EXHAUSTED unlogged (issue 8, fault 10) and logs this
    one leaf per interval instead: how many, from how many client addresses, and the reason
    they were refused for.
    """

    kind: ClassVar[str] = "refusal_summary"
    dropped: int
    addresses: int
    reason: str
    window_seconds: int
    policy_version: str

    def __post_init__(self) -> None:
        for name in ("dropped", "addresses", "window_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise AuditEventError(f"RefusalSummary.{name} must be a positive integer")
        _text(self, "reason")
        _text(self, "policy_version")


@dataclass(frozen=True)
class PolicyChanged:
    """A new policy version was put in force (``StewardService/ApplyPolicy``).

    ``version`` is the new policy's content hash and ``previous_version`` that of the policy
    it replaces (both SHA-256 in lowercase hex; the empty policy of a zone without an applied
    one has a version too); ``client_id`` and ``organization`` are who applied it and
    ``request_id`` the request it answers. When: the leaf's ``time``. Logged durable BEFORE
    the version is stored and takes effect; never the document itself.
    """

    kind: ClassVar[str] = "policy_changed"
    request_id: str
    version: str
    previous_version: str
    client_id: str
    organization: str

    def __post_init__(self) -> None:
        _text(self, "request_id", pattern=REQUEST_ID)
        _text(self, "version", pattern=_TOKEN)
        _text(self, "previous_version", pattern=_TOKEN)
        _text(self, "client_id")
        _text(self, "organization")


@dataclass(frozen=True)
class BudgetCharged:
    """A query's privacy-budget charge (:mod:`enclave.budget`), logged durable before it runs.

    ``charge_id`` and ``entry_hash`` (the ledger entry's chain hash, lowercase hex) tie the
    leaf to the ledger entry, so a ledger rewritten behind the log shows; ``micro_epsilon``
    is the charge's amount and ``new`` says whether this request made it (False: the same
    query's earlier charge answers again, at no cost)."""

    kind: ClassVar[str] = "budget_charged"
    request_id: str
    charge_id: str
    micro_epsilon: int
    entry_hash: str
    new: bool

    def __post_init__(self) -> None:
        _text(self, "request_id", pattern=REQUEST_ID)
        _text(self, "charge_id")
        _text(self, "entry_hash", pattern=_TOKEN)
        micro = self.micro_epsilon
        if not isinstance(micro, int) or isinstance(micro, bool) or micro < 1:
            raise AuditEventError("BudgetCharged.micro_epsilon must be a positive integer")
        if not isinstance(self.new, bool):
            raise AuditEventError("BudgetCharged.new must be a boolean")


AuditEvent = (
    RequestReceived
    | Decision
    | Release
    | StewardAction
    | PortalEvent
    | RefusalSummary
    | PolicyChanged
    | BudgetCharged
)
_KINDS: dict[str, type[AuditEvent]] = {
    cls.kind: cls
    for cls in (
        RequestReceived,
        Decision,
        Release,
        StewardAction,
        PortalEvent,
        RefusalSummary,
        PolicyChanged,
        BudgetCharged,
    )
}
# Per kind, its field names (``dataclasses.fields`` walks the class on every call).
_FIELD_NAMES: dict[type[AuditEvent], tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in _KINDS.values()
}
# One encoder for the canonical form: ``json.dumps`` with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
# The encoder's own string escaper (C): what ``_CANONICAL`` writes for a str, byte for byte.
_JSON_STR: Callable[[str], str] = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _layout(cls: type[AuditEvent]) -> tuple[tuple[str, str], ...]:
    """Per kind, its leaf's keys in canonical (sorted) order, each with the text before its
    value: ``{"key":`` for the first, ``,"key":`` after."""
    names = sorted((*_FIELD_NAMES[cls], "kind", "seq", "time"))
    return tuple(
        (name, ("{" if k == 0 else ",") + _JSON_STR(name) + ":") for k, name in enumerate(names)
    )


# Issue 15 (the hot path): a leaf is written by joining precomputed key prefixes with each
# value's JSON text rather than building a dict and sorting it per leaf -- the same bytes as
# ``_CANONICAL`` (tests/unit/enclave/audit/test_events.py holds them equal; any value of a
# type the fast path does not know takes ``_CANONICAL``).
_LAYOUTS: dict[type[AuditEvent], tuple[tuple[str, str], ...]] = {
    cls: _layout(cls) for cls in _KINDS.values()
}
_KIND_TEXT: dict[type[AuditEvent], str] = {cls: _JSON_STR(cls.kind) for cls in _KINDS.values()}


def _value_text(value: object) -> str | None:
    """The canonical JSON text of one field value, or None for a type left to ``_CANONICAL``."""
    if isinstance(value, str):
        return _JSON_STR(value)  # type: ignore[no-any-return]
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)  # as json writes an int (an IntEnum too)
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return "[" + ",".join([_JSON_STR(v) for v in value]) + "]"
    return None


# The last time formatted and its text: every leaf of one commit shares one ``datetime``
# (the committer's clock read once per group), so it is formatted once, not per leaf. Keyed
# by identity: the same (immutable) object always formats the same.
# One slot, swapped whole (a tuple), so a reader on another thread sees a matching pair.
_last_time: list[tuple[datetime, str]] = [
    (datetime(1970, 1, 1, tzinfo=UTC), "1970-01-01T00:00:00.000000Z")
]


def _time_text(time: datetime) -> str:
    last = _last_time[0]
    if last[0] is time:
        return last[1]
    text = time.astimezone(UTC).strftime(_TIME_FORMAT)
    _last_time[0] = (time, text)
    return text


@dataclass(frozen=True)
class LoggedEvent:
    """An event as logged: its index, when it was appended, and the event."""

    index: int
    time: datetime
    event: AuditEvent

    def to_json(self) -> str:
        """One JSON line: exactly the leaf's content (it carries no data values)."""
        return encode_leaf(self.event, self.index, self.time).decode("ascii")


def encode_leaf(event: AuditEvent, index: int, time: datetime) -> bytes:
    """The canonical leaf bytes of ``event`` logged as entry ``index`` at ``time``."""
    cls = type(event)
    layout = _LAYOUTS.get(cls)
    if layout is None:
        raise AuditEventError(f"not an audit event: {cls.__name__}")
    values = event.__dict__
    parts: list[str] = []
    for name, prefix in layout:
        if name == "kind":
            text: str | None = _KIND_TEXT[cls]
        elif name == "seq":
            text = _value_text(index)
        elif name == "time":
            text = _JSON_STR(_time_text(time))
        else:
            text = _value_text(values[name])
        if text is None:
            return _encode_generic(event, index, time)
        parts.append(prefix)
        parts.append(text)
    parts.append("}")
    return "".join(parts).encode()


def _encode_generic(event: AuditEvent, index: int, time: datetime) -> bytes:
    """The canonical encoding by ``json`` itself (the definition the fast path matches)."""
    fields: dict[str, Any] = {
        name: list(v) if isinstance(v := getattr(event, name), tuple) else v
        for name in _FIELD_NAMES[type(event)]
    }
    fields.update(kind=event.kind, seq=index, time=time.astimezone(UTC).strftime(_TIME_FORMAT))
    return _CANONICAL.encode(fields).encode()


def decode_leaf(leaf: bytes) -> LoggedEvent:
    """Parse leaf bytes; refuses anything that is not exactly a canonical encoding."""
    try:
        data = json.loads(leaf)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditEventError("the leaf is not JSON") from exc
    if not isinstance(data, dict):
        raise AuditEventError("the leaf is not a JSON object")
    cls = _KINDS.get(data.pop("kind", None))
    if cls is None:
        raise AuditEventError("the leaf has no known kind")
    index, time_text = data.pop("seq", None), data.pop("time", None)
    if not isinstance(index, int) or isinstance(index, bool) or not isinstance(time_text, str):
        raise AuditEventError("the leaf has no valid seq or time")
    names = {f.name for f in dataclasses.fields(cls)}
    if set(data) != names:
        raise AuditEventError(f"the leaf's fields do not match its kind {cls.kind}")
    if isinstance(data.get("reasons"), list):
        data["reasons"] = tuple(data["reasons"])
    try:
        time = datetime.strptime(time_text, _TIME_FORMAT).replace(tzinfo=UTC)
        event = cls(**data)
    except (TypeError, ValueError) as exc:
        raise AuditEventError(f"the leaf is not a valid {cls.kind} event") from exc
    logged = LoggedEvent(index=index, time=time, event=event)
    if encode_leaf(event, index, time) != leaf:
        raise AuditEventError("the leaf is not in canonical form")
    return logged
