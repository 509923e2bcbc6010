"""Receipts tie to their answers, end to end: the SDK against a real server on loopback.

``Client.verify_answer`` recomputes the result hash from the answer's own fields and request
id, compares it with the release leaf the receipt carries, and checks the inclusion proof of
THAT leaf under the pinned zone key. A receipt moved to another answer, an edited field, or a
leaf the proof does not cover fails with ``ReceiptInvalid``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.access import Purpose
from dataward.client import Benefit, Client, EligibilityQuery, ReceiptInvalid, StaticTokenSource
from dataward.transparency import load_public_key
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import ALICE, BOB, KEY_NAME

UW = "INSURANCE_UNDERWRITING"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    # One log for answers and AuditService, as in `serve`: verify_answer holds each receipt's
    # checkpoint to the largest seen with the server's consistency proofs.
    with grpc_stack(tmp_path, log_checks=True) as s:
        yield s


def pinned(stack: Stack, token: str | None = None) -> Client:
    """A client with the zone key pinned from its published PEM, as a partner should."""
    pem = stack.audit.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    tokens = StaticTokenSource(token or stack.issuer.token())
    return Client(stack.target, tokens, audit_key=(KEY_NAME, load_public_key(pem)))


def test_genuine_answers_verify_and_carry_their_release_leaf(stack: Stack) -> None:
    stack.consent(ALICE)
    stack.consent(BOB)
    with pinned(stack) as c:
        alice = c.check_eligibility(ALICE, "WORK_INJURY", UW)
        identity = c.verify_identity(ALICE, "张伟", UW)
        batch = list(
            c.check_eligibility_batch([EligibilityQuery(BOB, Benefit.OUTPATIENT, Purpose(UW))])
        )
        for answer in (alice, identity, batch[0].result):
            assert answer is not None
            checkpoint = c.verify_answer(answer)
            assert checkpoint.size > answer.receipt.leaf_index
            assert answer.receipt.leaf is not None
            leaf = json.loads(answer.receipt.leaf)
            # The leaf is the Release event: ids and hashes, no data value.
            assert set(leaf) == {
                "epsilon_spent_micro",
                "kind",
                "request_id",
                "result_hash",
                "seq",
                "time",
            }
            assert (leaf["kind"], leaf["request_id"]) == ("release", answer.request_id)
            assert ALICE not in answer.receipt.leaf.decode()
    assert alice.request_id != identity.request_id


def test_steward_grant_verifies(stack: Stack) -> None:
    steward = stack.issuer.token(scopes=("steward:admin",), org="zone-stewards")
    with pinned(stack, steward) as c:
        grant = c.grant_consent(ALICE, "acme-insurance", UW)
        assert c.verify_answer(grant).size > grant.receipt.leaf_index
        with pytest.raises(ReceiptInvalid):
            c.verify_answer(dataclasses.replace(grant, consent_ref="someone-else"))


def test_a_receipt_swapped_between_two_answers_fails(stack: Stack) -> None:
    stack.consent(ALICE)
    with pinned(stack) as c:
        first = c.check_eligibility(ALICE, "OUTPATIENT", UW)
        second = c.check_eligibility(ALICE, "OUTPATIENT", UW)
        # Same fields, so only the request id tells them apart: the old receipt must not do.
        assert (first.eligible, first.reasons) == (second.eligible, second.reasons)
        with pytest.raises(ReceiptInvalid, match="another request"):
            c.verify_answer(dataclasses.replace(second, receipt=first.receipt))
        # A server that also replays the old request id with different fields is caught too.
        other = c.check_eligibility(ALICE, "WORK_INJURY", UW)
        with pytest.raises(ReceiptInvalid):
            c.verify_answer(dataclasses.replace(first, receipt=other.receipt))


def test_an_edited_answer_field_fails(stack: Stack) -> None:
    stack.consent(BOB)
    with pinned(stack) as c:
        bob = c.check_eligibility(BOB, "OUTPATIENT", UW)
        assert (bob.eligible, bob.reasons) == (False, ("SUSPENDED_ARREARS",))
        c.verify_answer(bob)
        for edited in (
            dataclasses.replace(bob, eligible=True),
            dataclasses.replace(bob, reasons=()),
            dataclasses.replace(bob, coverage_class="EMPLOYEE"),
            dataclasses.replace(bob, request_id="another-id"),
        ):
            with pytest.raises(ReceiptInvalid):
                c.verify_answer(edited)


def test_a_leaf_the_proof_does_not_cover_fails(stack: Stack) -> None:
    stack.consent(ALICE)
    with pinned(stack) as c:
        alice = c.check_eligibility(ALICE, "OUTPATIENT", UW)
        assert alice.receipt.leaf is not None
        leaf = json.loads(alice.receipt.leaf)
        leaf["time"] = "2000-01-01T00:00:00.000000Z"  # the same answer, other bytes
        forged = json.dumps(leaf, sort_keys=True, separators=(",", ":")).encode()
        with pytest.raises(ReceiptInvalid, match="different leaf"):
            c.verify_answer(
                dataclasses.replace(alice, receipt=dataclasses.replace(alice.receipt, leaf=forged))
            )
        with pytest.raises(ReceiptInvalid, match="no leaf"):
            c.verify_answer(
                dataclasses.replace(alice, receipt=dataclasses.replace(alice.receipt, leaf=None))
            )


def test_a_receipt_signed_by_another_key_fails_under_the_pinned_key(stack: Stack) -> None:
    stack.consent(ALICE)
    impostor = (KEY_NAME, Ed25519PrivateKey.generate().public_key())
    with Client(stack.target, StaticTokenSource(stack.issuer.token()), audit_key=impostor) as c:
        alice = c.check_eligibility(ALICE, "OUTPATIENT", UW)
        with pytest.raises(ReceiptInvalid):
            c.verify_answer(alice)


def test_a_whole_answer_replayed_with_its_receipt_fails_under_a_new_nonce(stack: Stack) -> None:
    """Issue 8, fault 11: an earlier answer replayed with its own genuine receipt verified.

    The SDK sends a fresh nonce with every request and checks the release against the nonce
    IT sent; a server (or a man in the middle) answering a new request with an old answer and
    the old receipt is caught, even though answer, request id and receipt all match."""
    stack.consent(ALICE)
    with pinned(stack) as c:
        old = c.check_eligibility(ALICE, "OUTPATIENT", UW)
        new = c.check_eligibility(ALICE, "OUTPATIENT", UW)
        c.verify_answer(old)
        c.verify_answer(new)
        assert old.client_nonce and new.client_nonce and old.client_nonce != new.client_nonce
        replayed = dataclasses.replace(old, client_nonce=new.client_nonce)
        with pytest.raises(ReceiptInvalid, match="does not match"):
            c.verify_answer(replayed)
        ident = c.verify_identity(ALICE, "张伟", UW)
        c.verify_answer(ident)
        with pytest.raises(ReceiptInvalid):
            c.verify_answer(dataclasses.replace(ident, client_nonce=new.client_nonce))
        batch = list(
            c.check_eligibility_batch(
                [EligibilityQuery(ALICE, Benefit.OUTPATIENT, Purpose(UW))] * 3
            )
        )
        results = [item.result for item in batch]
        assert all(r is not None for r in results)
        assert len({r.client_nonce for r in results if r}) == 3
        for r in results:
            assert r is not None
            c.verify_answer(r)
    # The nonce is hashed, never logged.
    leaves = "\n".join(e.to_json() for e in stack.log.tail(1000))
    assert new.client_nonce not in leaves and old.client_nonce not in leaves
