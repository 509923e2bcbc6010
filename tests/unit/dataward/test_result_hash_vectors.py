"""docs/result-hash-vectors.json against the Python implementation (issue 14).

Each vector is an answer as it arrives (proto3 JSON, the nonce sent, a face match's query); the
SDK reads it, ``release_of`` gives the method and result fields, ``dataward.receipts`` hashes
them: all must equal what the file states. The canonical text is also rebuilt here from
docs/receipts.md's rules alone (RFC 8785 for these value types; floats inside strings as the
shortest round-trip text), not with Python's ``json``, so the document and the vectors agree.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import typing
from typing import Any

import pytest

from dataward import receipts
from dataward.client._release import Answer, release_of
from tools.receipt_vectors import VECTORS, answer_of, canonical_text, document

DATA = json.loads(VECTORS.read_text(encoding="utf-8"))
ALL = DATA["vectors"]


def _answer(vector: dict[str, Any]) -> Answer:
    query = base64.b64decode(vector.get("query_ciphertext", ""))
    return answer_of(vector["rpc"], vector["response"], vector["client_nonce"], query)


@pytest.mark.parametrize("vector", ALL, ids=[v["name"] for v in ALL])
def test_vector_matches_the_implementation(vector: dict[str, Any]) -> None:
    answer = _answer(vector)
    method, fields = release_of(answer)
    assert method == vector["method"]
    assert answer.request_id == vector["request_id"] == vector["response"]["receipt"]["requestId"]
    assert json.loads(json.dumps(dict(fields), default=list)) == vector["result"]
    digest = receipts.result_hash(
        method, answer.request_id, fields, client_nonce=vector["client_nonce"]
    )
    assert digest.hex() == vector["result_hash"]
    assert (
        canonical_text(method, answer.request_id, fields, vector["client_nonce"])
        == (vector["canonical_json"])
    )
    assert (
        hashlib.sha256(vector["canonical_json"].encode("utf-8")).hexdigest()
        == (vector["result_hash"])
    )


# --- docs/receipts.md's encoding, written from the document, not from json.dumps --------------
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)  # everything else as itself, UTF-8 encoded later
    return '"' + "".join(out) + '"'


def _encode(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        assert abs(value) < 2**53, "integers stay within IEEE-754 doubles' exact range"
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, dict):
        # keys sorted by UTF-16 code units (RFC 8785 §3.2.3); all keys here are ASCII
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(f"{_string(k)}:{_encode(value[k])}" for k in keys) + "}"
    raise AssertionError(f"no such value in a result: {value!r}")


@pytest.mark.parametrize("vector", ALL, ids=[v["name"] for v in ALL])
def test_canonical_text_follows_the_documented_rules(vector: dict[str, Any]) -> None:
    body = {
        "client_nonce": vector["client_nonce"],
        "method": vector["method"],
        "request_id": vector["request_id"],
        "result": vector["result"],
    }
    assert _encode(body) == vector["canonical_json"]


def _float_text(x: float) -> str:
    """docs/receipts.md: the fewest significant digits that read back as the same double;
    positional when the decimal exponent is in [-4, 16), else d.ddde±XX."""
    assert math.isfinite(x)
    for digits in range(1, 18):
        mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
        if float(f"{mantissa}e{exponent}") == x:
            break
    power = int(exponent)
    significant = mantissa.replace(".", "").replace("-", "").rstrip("0") or "0"
    sign = "-" if x < 0 else ""
    if -4 <= power < 16:
        if power >= 0:
            whole = significant.ljust(power + 1, "0")
            integer, fraction = whole[: power + 1], whole[power + 1 :]
            return f"{sign}{integer}.{fraction or '0'}"
        return f"{sign}0.{'0' * (-power - 1)}{significant}"
    head = significant[0] + ("." + significant[1:] if len(significant) > 1 else "")
    return f"{sign}{head}e{'-' if power < 0 else '+'}{abs(power):02d}"


@pytest.mark.parametrize(
    "x", [2.0, 1e-05, 1e16, 1.5e16, 5.991464547107979, 0.0001, 123.25, 1e-10, 0.1, -3.0, 0.0]
)
def test_float_text_is_the_documented_shortest_round_trip(x: float) -> None:
    assert _float_text(x) == repr(x)


def test_dp_vector_carries_floats_that_differ_from_ecmascript() -> None:
    # Number.prototype.toString writes 1e-05 as "0.00001" and 1e16 as "10000000000000000":
    # a verifier must use the rule above, and the vectors hold both cases.
    dp = next(v for v in ALL if "DP release" in v["name"])
    assert any("scale=1e-05" in n and "bound95=1e+16" in n for n in dp["result"]["noise"])
    assert dp["result"]["delta"] == "1e-10"


def test_every_kind_of_answer_with_a_receipt_has_a_vector() -> None:
    kinds = {type(_answer(v)) for v in ALL}
    assert kinds == set(typing.get_args(Answer))


def test_the_file_is_what_the_generator_writes() -> None:
    assert VECTORS.read_text(encoding="utf-8") == document(), (
        "run .venv/bin/python tools/receipt_vectors.py"
    )
