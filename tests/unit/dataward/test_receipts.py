"""The result hash both sides compute, and tying a receipt to the answer it came with."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from dataward import receipts
from dataward.transparency import (
    Checkpoint,
    CheckpointError,
    MerkleTree,
    Receipt,
    ReceiptError,
    leaf_hash,
    sign_checkpoint,
)

NAME = "zone.test"
KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
ELIGIBLE = receipts.eligibility_fields(eligible=True, coverage_class="EMPLOYEE", reasons=())


def test_result_hash_is_sha256_of_canonical_utf8_json() -> None:
    expected = (
        b'{"client_nonce":"","method":"EligibilityService/Check","request_id":"r1",'
        b'"result":{"coverage_class":"EMPLOYEE","eligible":true,"reasons":[]}}'
    )
    assert receipts.result_hash(receipts.ELIGIBILITY_CHECK, "r1", ELIGIBLE) == (
        hashlib.sha256(expected).digest()
    )
    with_nonce = expected.replace(b'"client_nonce":""', b'"client_nonce":"n0nce-n0nce-n0nce"')
    assert receipts.result_hash(
        receipts.ELIGIBILITY_CHECK, "r1", ELIGIBLE, client_nonce="n0nce-n0nce-n0nce"
    ) == (hashlib.sha256(with_nonce).digest())
    # Non-ASCII text is hashed as UTF-8, not as \\u escapes.
    utf8 = '{"client_nonce":"","method":"m","request_id":"r","result":{"n":"张伟"}}'.encode()
    assert receipts.result_hash("m", "r", {"n": "张伟"}) == hashlib.sha256(utf8).digest()


def test_field_order_and_value_types_do_not_change_the_hash() -> None:
    class Coverage(enum.StrEnum):
        EMPLOYEE = "EMPLOYEE"

    a: receipts.ResultFields = {
        "eligible": True,
        "coverage_class": "EMPLOYEE",
        "reasons": ["A", "B"],
        "n": 3,
    }
    b: receipts.ResultFields = {
        "n": 3,
        "reasons": ("A", "B"),
        "coverage_class": Coverage.EMPLOYEE,
        "eligible": True,
    }
    assert receipts.result_hash("m", "r", a) == receipts.result_hash("m", "r", b)
    assert receipts.result_hash("m", "r", a) != receipts.result_hash("m", "r2", a)
    assert receipts.result_hash("m", "r", a) != receipts.result_hash("m2", "r", a)
    assert receipts.result_hash("m", "r", a) != receipts.result_hash("m", "r", {**a, "n": 4})
    # Order inside a list is part of the answer.
    assert receipts.result_hash("m", "r", a) != receipts.result_hash(
        "m", "r", {**a, "reasons": ["B", "A"]}
    )


@pytest.mark.parametrize("value", [1.5, None, {"x": "y"}, [1, 2], b"raw"])
def test_values_outside_the_canonical_types_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="result field 'v'"):
        receipts.result_hash("m", "r", {"v": value})  # type: ignore[dict-item]


def test_field_builders_fix_each_answer_kind() -> None:
    assert receipts.eligibility_fields(eligible=False, coverage_class=None, reasons=["X"]) == {
        "eligible": False,
        "coverage_class": "",
        "reasons": ["X"],
    }
    assert receipts.consent_grant_fields(consent_ref="c1", valid_until=dt.date(2026, 1, 2)) == {
        "consent_ref": "c1",
        "valid_until": "2026-01-02",
    }


def _release_leaf(index: int, request_id: str, digest: bytes, time: str = "T1") -> bytes:
    body = {
        "epsilon_spent_micro": 0,
        "kind": "release",
        "request_id": request_id,
        "result_hash": digest.hex(),
        "seq": index,
        "time": time,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _log_of_two() -> tuple[Receipt, Receipt]:
    """A log with filler and two releases: r1 (eligible) and r2 (not enrolled)."""
    tree = MerkleTree()
    tree.append(leaf_hash(b'{"kind":"request_received"}'))
    leaves = {}
    not_enrolled = receipts.eligibility_fields(
        eligible=False, coverage_class=None, reasons=["NOT_ENROLLED"]
    )
    for request_id, fields in (("r1", ELIGIBLE), ("r2", not_enrolled)):
        digest = receipts.result_hash(receipts.ELIGIBILITY_CHECK, request_id, fields)
        index = tree.size
        leaves[index] = _release_leaf(index, request_id, digest)
        tree.append(leaf_hash(leaves[index]))
    size = tree.size
    note = sign_checkpoint(Checkpoint(NAME, size, tree.root(size)), NAME, KEY)
    one, two = (
        Receipt(i, tree.leaf_hash(i), note, tuple(tree.inclusion_proof(i, size)), leaves[i])
        for i in (1, 2)
    )
    return one, two


def _verify(receipt: Receipt, request_id: str = "r1", **fields: object) -> Checkpoint:
    return receipts.verify_release(
        receipt,
        method=receipts.ELIGIBILITY_CHECK,
        request_id=request_id,
        fields={**ELIGIBLE, **fields},  # type: ignore[dict-item]
        key_name=NAME,
        public_key=KEY.public_key(),
    )


def test_the_genuine_receipt_verifies() -> None:
    one, _ = _log_of_two()
    assert _verify(one).size == 3


def test_a_receipt_of_another_answer_fails() -> None:
    _, two = _log_of_two()
    with pytest.raises(ReceiptError, match="another request"):
        _verify(two)
    # Even when the server also swaps the request id, the fields do not match the hash.
    with pytest.raises(ReceiptError, match="does not match the result hash"):
        _verify(two, request_id="r2")


def test_an_edited_field_fails() -> None:
    one, _ = _log_of_two()
    with pytest.raises(ReceiptError, match="does not match the result hash"):
        _verify(one, eligible=False)
    with pytest.raises(ReceiptError, match="does not match the result hash"):
        _verify(one, reasons=["NOT_ENROLLED"])


def test_a_leaf_the_proof_does_not_cover_fails() -> None:
    one, _ = _log_of_two()
    digest = receipts.result_hash(receipts.ELIGIBILITY_CHECK, "r1", ELIGIBLE)
    forged = _release_leaf(1, "r1", digest, time="T2")  # right answer, not the logged bytes
    with pytest.raises(ReceiptError, match="different leaf"):
        _verify(dataclasses.replace(one, leaf=forged))


@pytest.mark.parametrize(
    ("leaf", "message"),
    [
        (None, "carries no leaf"),
        (b"not json", "not JSON"),
        (b'{"kind":"decision"}', "not a release leaf"),
        (b'{"kind":"release","seq":1,"result_hash":"00"}', "no request_id"),
        (b'{"kind":"release","seq":1,"request_id":"r1","result_hash":"zz"}', "result_hash"),
        (b'{"kind":"release","seq":true,"request_id":"r1"}', "no valid seq"),
    ],
)
def test_malformed_leaves_fail(leaf: bytes | None, message: str) -> None:
    one, _ = _log_of_two()
    with pytest.raises(ReceiptError, match=message):
        _verify(dataclasses.replace(one, leaf=leaf))


def test_a_leaf_at_another_position_fails() -> None:
    one, two = _log_of_two()
    with pytest.raises(ReceiptError, match="another position"):
        _verify(dataclasses.replace(two, leaf=one.leaf))


def test_another_key_fails() -> None:
    one, _ = _log_of_two()
    with pytest.raises(CheckpointError):
        receipts.verify_release(
            one,
            method=receipts.ELIGIBILITY_CHECK,
            request_id="r1",
            fields=ELIGIBLE,
            key_name=NAME,
            public_key=OTHER.public_key(),
        )


def test_receipt_json_round_trips_the_leaf() -> None:
    one, _ = _log_of_two()
    assert Receipt.from_json(one.to_json()) == one
    bare = dataclasses.replace(one, leaf=None)
    assert "leaf" not in bare.to_dict()
    assert Receipt.from_json(bare.to_json()) == bare
    with pytest.raises(ReceiptError, match="base64"):
        Receipt.from_dict({**one.to_dict(), "leaf": "%%%"})


# -- issue 15: the body is written out directly, byte for byte json's canonical text ------

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # no lone surrogates
_VALUE = st.one_of(st.booleans(), st.integers(-(2**70), 2**70), _TEXT, st.lists(_TEXT, max_size=4))


@settings(max_examples=300, deadline=None)
@given(_TEXT, _TEXT, _TEXT, st.dictionaries(_TEXT, _VALUE, max_size=6))
def test_the_written_body_is_jsons_canonical_encoding(
    nonce: str, method: str, request_id: str, result: dict[str, receipts.ResultValue]
) -> None:
    body = {"client_nonce": nonce, "method": method, "request_id": request_id, "result": result}
    expected = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    written = receipts._canonical_body(nonce, method, request_id, result)  # type: ignore[arg-type]
    assert written == expected.encode("utf-8")
    digest = receipts.result_hash(method, request_id, result, client_nonce=nonce)
    assert digest == hashlib.sha256(expected.encode("utf-8")).digest()
