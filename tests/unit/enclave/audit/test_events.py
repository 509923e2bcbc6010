from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from enclave.audit import (
    AuditEventError,
    Decision,
    PortalEvent,
    Release,
    RequestReceived,
    StewardAction,
    decode_leaf,
    encode_leaf,
)

NOW = datetime(2025, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
EVENTS = [
    RequestReceived("c1", "Org", "m", "underwriting", None, "ab" * 32, "r1"),
    Decision("r1", True, ("consent ok", "policy 3"), "v7"),
    Release("r1", "cd" * 32, 250_000),
    StewardAction("alice", "approve", "app:42", None),
    PortalEvent("steward:alice", "sign_in", None),
    RequestReceived("", "", "m", "", None, None, "r2"),  # refused before its token verified
]


@pytest.mark.parametrize("event", EVENTS)
def test_round_trip_is_exact_and_canonical(event: object) -> None:
    leaf = encode_leaf(event, 17, NOW)  # type: ignore[arg-type]
    logged = decode_leaf(leaf)
    assert (logged.index, logged.time, logged.event) == (17, NOW, event)
    canonical = json.dumps(json.loads(leaf), sort_keys=True, separators=(",", ":"))
    assert leaf == canonical.encode()
    assert logged.to_json().encode() == leaf


def test_leaf_is_sorted_json_with_kind_seq_time() -> None:
    leaf = encode_leaf(EVENTS[2], 3, NOW)
    assert leaf == (
        b'{"epsilon_spent_micro":250000,"kind":"release","request_id":"r1",'
        b'"result_hash":"' + b"cd" * 32 + b'","seq":3,"time":"2025-03-01T12:30:05.123456Z"}'
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: RequestReceived("c1", "Org", "m", "p", None, "110101199003077777", "r1"),
        lambda: RequestReceived("", "Org", "m", "p", None, "ab" * 32, "r1"),
        lambda: RequestReceived("c1", "Org", "m", "", None, "ab" * 32, "r1"),
        lambda: RequestReceived("", "", "", "", None, None, "r1"),
        lambda: Decision("r1", "yes", (), "v1"),  # type: ignore[arg-type]
        lambda: Decision("r1", True, ["a"], "v1"),  # type: ignore[arg-type]
        lambda: Release("r1", "not-a-hash", 1),
        lambda: Release("r1", "cd" * 32, -1),
    ],
)
def test_malformed_events_are_refused(make: object) -> None:
    # A clear ID number where a token belongs is the case that matters most.
    with pytest.raises(AuditEventError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    "leaf",
    [
        b"not json",
        b"[]",
        b'{"kind":"nope","seq":0,"time":"2025-03-01T12:30:05.123456Z"}',
        b'{"actor":"a","action":"b","target":null,"kind":"portal_event","seq":0}',
        b'{"action":"b","actor":"a","extra":1,"kind":"portal_event","seq":0,'
        b'"target":null,"time":"2025-03-01T12:30:05.123456Z"}',
        b'{"action": "b","actor":"a","kind":"portal_event","seq":0,'
        b'"target":null,"time":"2025-03-01T12:30:05.123456Z"}',
    ],
)
def test_malformed_leaves_are_refused(leaf: bytes) -> None:
    with pytest.raises(AuditEventError):
        decode_leaf(leaf)
