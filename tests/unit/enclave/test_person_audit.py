"""AuditLogTrail over a real AuditLog: ONE commit per answer (issue 15) -- request, decision
and release, the receipt's checkpoint stored with them --, one commit per refusal (request and
denial), durable before it is raised, and a zone fault still logged as a denial."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.transparency import verify_receipt
from enclave.audit import AuditLog, AuditLogTrail, SqliteAuditStore, decode_leaf
from enclave.consent import SqliteConsentStore
from enclave.persons import Benefit, ConsentRequired, EligibilityQuery, PersonChecks
from enclave.release import Caller
from launcher.settings import AuditSettings
from tests.support.audit_stores import RecordingStore
from tests.support.person_fakes import ALICE, DAVE, standard_directory

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NAME = "dataward.zone/test"
PARTNER = Caller("app-1", "acme-insurance")
PURPOSE = "INSURANCE_UNDERWRITING"


class Stack:
    def __init__(self, tmp_path: Path) -> None:
        self.store = RecordingStore(SqliteAuditStore.open(tmp_path / "audit.db"))
        settings = AuditSettings(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600)
        self.log = AuditLog(self.store, settings, KEY, NAME, NAME)
        self.consents = SqliteConsentStore.open(tmp_path / "consent.db")
        directory = standard_directory()
        self.checks = PersonChecks(
            directory=directory,
            tokenizer=directory.tokenizer,
            consents=self.consents,
            audit=AuditLogTrail(self.log),
        )

    def check(self, id_number: str) -> object:
        query = EligibilityQuery(id_number, Benefit.OUTPATIENT, None, PURPOSE)
        return self.checks.check_eligibility(PARTNER, query)

    def kinds(self) -> list[str]:
        return [type(decode_leaf(x.leaf).event).__name__ for x in self.store.inner.leaves()]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.log.close()
    s.consents.close()


def _commits(stack: Stack, before: int) -> list[list[str]]:
    return [
        [type(decode_leaf(x.leaf).event).__name__ for x in rows]
        for rows, _ in stack.store.appends[before:]
    ]


def test_an_answer_is_one_commit_and_its_receipt_rests_on_the_checkpoint_stored_with_it(
    stack: Stack,
) -> None:
    stack.checks.grant_consent(
        Caller("steward", "zone"), id_number=ALICE, partner="acme-insurance", purpose=PURPOSE
    )
    before = len(stack.store.appends)
    answer = stack.check(ALICE)

    assert _commits(stack, before) == [["RequestReceived", "Decision", "Release"]]
    (answer_commit,) = stack.store.appends[before:]
    assert answer_commit[1] is not None
    indices = [x.index for x in answer_commit[0]]
    assert indices == list(range(indices[0], indices[0] + 3))  # consecutive leaves
    request_leaf = decode_leaf(answer_commit[0][0].leaf).event
    assert answer.request_id == getattr(request_leaf, "request_id", None)  # type: ignore[attr-defined]
    assert answer.receipt.checkpoint_note == answer_commit[1].note  # type: ignore[attr-defined]
    release_leaf = answer_commit[0][2].leaf
    checkpoint = verify_receipt(answer.receipt, NAME, KEY.public_key(), release_leaf)  # type: ignore[attr-defined]
    assert checkpoint.size == stack.log.size
    # Every stored checkpoint was written with leaves: a receipt costs no commit of its own.
    assert len(stack.store.checkpoints()) == sum(1 for _, cp in stack.store.appends if cp)


def test_a_denial_is_durable_before_it_is_raised(stack: Stack) -> None:
    with pytest.raises(ConsentRequired):
        stack.check(DAVE)
    assert stack.kinds() == ["RequestReceived", "Decision"]
    denial = decode_leaf(stack.store.inner.tail(1)[0].leaf).event  # read back from the file
    assert getattr(denial, "allow", None) is False
    assert getattr(denial, "reasons", None) == ("CONSENT_REQUIRED",)


def test_a_refusal_is_one_commit_of_the_request_and_its_denial(stack: Stack) -> None:
    before = len(stack.store.appends)
    with pytest.raises(ConsentRequired):
        stack.check(DAVE)
    assert _commits(stack, before) == [["RequestReceived", "Decision"]]


class _DirectoryFaultError(Exception):
    """A fault that is not a zone error (a storage fault, a bug)."""


def test_a_zone_fault_after_begin_still_leaves_the_request_and_a_denial(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.checks.grant_consent(
        Caller("steward", "zone"), id_number=ALICE, partner="acme-insurance", purpose=PURPOSE
    )

    def broken(token: bytes) -> object:
        raise _DirectoryFaultError()

    monkeypatch.setattr(stack.checks._directory, "person_by_token", broken)
    before = len(stack.store.appends)
    with pytest.raises(_DirectoryFaultError):  # propagates, for the front end (INTERNAL)
        stack.check(ALICE)
    assert _commits(stack, before) == [["RequestReceived", "Decision"]]
    request, denial = (decode_leaf(x.leaf).event for x in stack.store.appends[before][0])
    assert getattr(denial, "request_id", None) == getattr(request, "request_id", None)
    assert getattr(denial, "allow", None) is False
    assert getattr(denial, "reasons", None) == ("INTERNAL",)
    # nothing was logged twice: the fault's denial is the request's only decision
    assert stack.kinds().count("Decision") == 2  # the grant's and the fault's
