"""AuditLogTrail over a real AuditLog: two commits per answer, the receipt's checkpoint stored
with the decision and the release, denials durable before they are raised."""

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


def test_an_answer_is_two_commits_and_its_receipt_rests_on_the_checkpoint_stored_with_it(
    stack: Stack,
) -> None:
    stack.checks.grant_consent(
        Caller("steward", "zone"), id_number=ALICE, partner="acme-insurance", purpose=PURPOSE
    )
    before = len(stack.store.appends)
    answer = stack.check(ALICE)

    commits = stack.store.appends[before:]
    assert [[type(decode_leaf(x.leaf).event).__name__ for x in rows] for rows, _ in commits] == [
        ["RequestReceived"],
        ["Decision", "Release"],
    ]
    request_commit, answer_commit = commits
    assert request_commit[1] is None and answer_commit[1] is not None
    assert answer.receipt.checkpoint_note == answer_commit[1].note  # type: ignore[attr-defined]
    release_leaf = answer_commit[0][1].leaf
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
