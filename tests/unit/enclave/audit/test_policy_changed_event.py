"""The policy_changed leaf kind: fixed formats only, canonical round trip (issue 10)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from enclave.audit import AuditEventError, PolicyChanged, decode_leaf, encode_leaf

OK = PolicyChanged(
    request_id="0" * 32,
    version="a" * 64,
    previous_version="b" * 64,
    client_id="steward-app",
    organization="zone-stewards",
)


def test_it_round_trips_in_canonical_form() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    leaf = encode_leaf(OK, 7, at)
    assert b'"kind":"policy_changed"' in leaf
    logged = decode_leaf(leaf)
    assert (logged.event, logged.index, logged.time) == (OK, 7, at)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", "A" * 64),
        ("version", "views: {}"),
        ("previous_version", ""),
        ("request_id", "x"),
        ("client_id", "a steward with spaces"),
        ("organization", ""),
    ],
)
def test_free_text_is_refused(field: str, value: str) -> None:
    with pytest.raises(AuditEventError, match=field):
        dataclasses.replace(OK, **{field: value})
