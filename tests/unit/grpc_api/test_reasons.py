"""Every ErrorInfo reason the server can send is listed in common.proto's ErrorReason (issue
8, item 12: NOT_YET_SIGNED and the over-the-cap CheckBatch stream had none), so clients in
any language can switch on them."""

from __future__ import annotations

import re
from pathlib import Path

from dataward.v1 import common_pb2
from grpc_api import STATUS_CODES

ROOT = Path(__file__).resolve().parents[3]
_LITERAL = re.compile(r"""reason\s*=\s*["']([A-Z_]+)["']""")


def _declared() -> set[str]:
    return {v.name.removeprefix("ERROR_REASON_") for v in common_pb2.ErrorReason.DESCRIPTOR.values}


def _sent() -> set[str]:
    found = {str(getattr(kind, "reason", "")) for kind in STATUS_CODES} - {""}
    for package in ("grpc_api", "enclave"):
        for path in (ROOT / package).rglob("*.py"):
            found |= set(_LITERAL.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_reason_sent_is_declared_in_the_proto() -> None:
    sent = _sent()
    assert {"NOT_YET_SIGNED", "BATCH_TOO_LARGE", "MALFORMED_REQUEST", "TOKEN_NOT_YET_VALID"} <= sent
    assert sent - _declared() == set()


def test_the_scan_sees_the_reasons_of_the_api_errors() -> None:
    assert {"TOKEN_MISSING", "RATE_LIMITED", "PURPOSE_NOT_GRANTED"} <= _sent()
