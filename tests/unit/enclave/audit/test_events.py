from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from enclave.audit import (
    AuditEvent,
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
R1, R2 = "1" * 32, "2" * 32
REF = "cns_" + "A-b_" * 6
EVENTS: list[AuditEvent] = [
    RequestReceived("c1", "Org", "m", "underwriting", None, "ab" * 32, R1),
    RequestReceived("c1", "Org", "m", "underwriting", REF, "ab" * 32, R1),
    Decision(R1, True, ("CONSENT_OK", "policy-3"), "v7"),
    Release(R1, "cd" * 32, 250_000),
    StewardAction("alice", "approve", "app:42", None),
    PortalEvent("steward:alice", "sign_in", None),
    RequestReceived("", "", "m", "", None, None, R2),  # refused before its token verified
]


@pytest.mark.parametrize("event", EVENTS)
def test_round_trip_is_exact_and_canonical(event: AuditEvent) -> None:
    leaf = encode_leaf(event, 17, NOW)
    logged = decode_leaf(leaf)
    assert (logged.index, logged.time, logged.event) == (17, NOW, event)
    canonical = json.dumps(json.loads(leaf), sort_keys=True, separators=(",", ":"))
    assert leaf == canonical.encode()
    assert logged.to_json().encode() == leaf


def test_leaf_is_sorted_json_with_kind_seq_time() -> None:
    leaf = encode_leaf(EVENTS[3], 3, NOW)
    assert leaf == (
        b'{"epsilon_spent_micro":250000,"kind":"release","request_id":"' + R1.encode() + b'",'
        b'"result_hash":"' + b"cd" * 32 + b'","seq":3,"time":"2025-03-01T12:30:05.123456Z"}'
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: RequestReceived("c1", "Org", "m", "p", None, "110101199003077777", R1),
        lambda: RequestReceived("", "Org", "m", "p", None, "ab" * 32, R1),
        lambda: RequestReceived("c1", "Org", "m", "", None, "ab" * 32, R1),
        lambda: RequestReceived("", "", "", "", None, None, R1),
        # Client free text where a fixed format belongs (issue 8, fault 2): an ID number, with
        # or without spaces, a name, a phone number -- as consent_ref, request id or name.
        lambda: RequestReceived("c1", "Org", "m", "p", "110101199003077777", "ab" * 32, R1),
        lambda: RequestReceived("c1", "Org", "m", "p", " 110101199003077777 ", "ab" * 32, R1),
        lambda: RequestReceived("c1", "Org", "m", "p", "cns_" + "1" * 23 + "X ", "ab" * 32, R1),
        lambda: RequestReceived("c1", "Org", "m", "p", "张三", "ab" * 32, R1),
        lambda: RequestReceived("c1", "Org", "m", "p", None, "ab" * 32, "110101199003077777"),
        lambda: RequestReceived("c1", "张三", "m", "p", None, "ab" * 32, R1),
        lambda: RequestReceived("+86 138 0013 8000", "Org", "m", "p", None, "ab" * 32, R1),
        lambda: RequestReceived("c1", "Org", "m", "p", None, "ab" * 32, R1 + "0"),
        lambda: Decision(R1, True, ("name Zhang San",), "v1"),
        lambda: Decision("r1", True, (), "v1"),
        lambda: StewardAction("alice", "approve", "app:42", "a note about 110101199003077777"),
        lambda: Decision(R1, "yes", (), "v1"),  # type: ignore[arg-type]
        lambda: Decision(R1, True, ["a"], "v1"),  # type: ignore[arg-type]
        lambda: Release(R1, "not-a-hash", 1),
        lambda: Release(R1, "cd" * 32, -1),
        lambda: Release("r1", "cd" * 32, 1),
    ],
)
def test_malformed_events_are_refused(make: Callable[[], AuditEvent]) -> None:
    # A clear ID number where a token belongs is the case that matters most.
    with pytest.raises(AuditEventError):
        make()


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


# -- issue 15: the fast encoding is json's canonical encoding, byte for byte ----------------


@pytest.mark.parametrize("event", EVENTS)
def test_the_fast_encoding_gives_exactly_jsons_bytes(event: AuditEvent) -> None:
    from enclave.audit.events import _encode_generic

    for index, when in ((0, NOW), (17, NOW), (2**40, datetime(1999, 12, 31, tzinfo=UTC))):
        assert encode_leaf(event, index, when) == _encode_generic(event, index, when)


def test_a_value_the_fast_path_does_not_know_is_encoded_by_json() -> None:
    from enclave.audit.events import _encode_generic

    odd = Decision(R1, True, ("CONSENT_OK",), "v7")
    object.__setattr__(odd, "reasons", ["CONSENT_OK"])  # a list, not the validated tuple
    assert encode_leaf(odd, 3, NOW) == _encode_generic(odd, 3, NOW)
    assert b'"reasons":["CONSENT_OK"]' in encode_leaf(odd, 3, NOW)


def test_each_time_is_formatted_for_itself_whatever_came_before() -> None:
    from datetime import timedelta, timezone

    event = EVENTS[3]
    later = datetime(2025, 3, 1, 12, 30, 5, 123457, tzinfo=UTC)
    east = datetime(2025, 3, 1, 20, 30, 5, 123456, tzinfo=timezone(timedelta(hours=8)))
    texts = [encode_leaf(event, 1, t) for t in (NOW, later, NOW, east, NOW.replace())]
    assert [json.loads(t)["time"] for t in texts] == [
        "2025-03-01T12:30:05.123456Z",
        "2025-03-01T12:30:05.123457Z",
        "2025-03-01T12:30:05.123456Z",
        "2025-03-01T12:30:05.123456Z",  # the same instant, in UTC
        "2025-03-01T12:30:05.123456Z",
    ]
