"""PolicyStore over a real SQLite file and a real audit log (issue 10: the policy in force)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward import receipts
from enclave import PolicyInvalid
from enclave.audit import (
    AuditLog,
    AuditLogTrail,
    AuditReader,
    Decision,
    PolicyChanged,
    Release,
    RequestReceived,
    SqliteAuditStore,
)
from enclave.policy import APPLY_POLICY, POLICY_DB, PolicyStore, apply_fields, empty_policy
from enclave.release import Caller
from launcher.settings import AuditSettings
from policies import Deny, default_policy, default_policy_text

KEY_NAME = "dataward-test-zone"
STEWARD = Caller("steward-app", "zone-stewards")
TYPO = default_policy_text().replace("min_persons:", "min_person:", 1)


class ProbeTrail(AuditLogTrail):
    """The real trail; records what the store held in force when policy_changed returned."""

    def __init__(self, log: AuditLog, db: Path) -> None:
        super().__init__(log)
        self.db = db
        self.store: PolicyStore | None = None
        self.seen: list[tuple[str, int]] = []

    def policy_changed(self, **fields: str) -> None:
        super().policy_changed(**fields)
        assert self.store is not None
        with closing(sqlite3.connect(self.db)) as db:
            (stored,) = db.execute("SELECT COUNT(*) FROM applied_policies").fetchone()
        self.seen.append((self.store.current().version, int(stored)))


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def log(tmp_path: Path, key: Ed25519PrivateKey) -> Iterator[AuditLog]:
    store = SqliteAuditStore.open(tmp_path / "state" / "audit.db")
    log = AuditLog(store, AuditSettings(), key, KEY_NAME, KEY_NAME)
    yield log
    log.close()


@pytest.fixture
def trail(log: AuditLog, tmp_path: Path) -> ProbeTrail:
    return ProbeTrail(log, tmp_path / POLICY_DB)


@pytest.fixture
def store(tmp_path: Path, trail: ProbeTrail) -> Iterator[PolicyStore]:
    store = PolicyStore.open(tmp_path / POLICY_DB, trail, synchronous="NORMAL")
    trail.store = store
    yield store
    store.close()


def _events(log: AuditLog) -> list[object]:
    return [logged.event for logged in log.tail(log.size)]


def test_an_empty_store_is_the_empty_policy_and_denies_every_view(store: PolicyStore) -> None:
    policy = store.current()
    assert policy == empty_policy()
    assert (policy.views, policy.grants) == ({}, ())
    assert isinstance(policy.grant_for("2", "INSURANCE_UNDERWRITING", "claims_analysis"), Deny)
    assert store.in_force().applied is None and store.history() == []


def test_apply_puts_the_version_in_force_logs_it_and_answers_with_a_receipt(
    store: PolicyStore, log: AuditLog, key: Ed25519PrivateKey
) -> None:
    before = store.current().version
    answer = store.apply(default_policy_text(), STEWARD, "default.yaml", client_nonce="n" * 16)
    assert answer.changed and answer.version == store.current().version != before
    assert store.current().views.keys() >= {"claims_analysis", "enrolment_analysis"}
    [applied] = store.history()
    assert (applied.sequence, applied.version) == (1, answer.version)
    assert (applied.client_id, applied.organization) == ("steward-app", "zone-stewards")
    assert applied.applied_at == answer.applied_at
    assert store.in_force().document == default_policy_text()
    request, changed, decision, release = _events(log)
    assert isinstance(request, RequestReceived) and request.method == APPLY_POLICY
    assert isinstance(changed, PolicyChanged)
    assert (changed.version, changed.previous_version) == (answer.version, before)
    assert (changed.client_id, changed.organization) == ("steward-app", "zone-stewards")
    assert isinstance(decision, Decision) and decision.allow
    assert isinstance(release, Release) and release.request_id == request.request_id
    receipts.verify_release(
        answer.receipt,
        method=APPLY_POLICY,
        request_id=answer.request_id,
        fields=apply_fields(
            version=answer.version, changed=True, applied_at=int(answer.applied_at.timestamp())
        ),
        key_name=KEY_NAME,
        public_key=key.public_key(),
        client_nonce="n" * 16,
    )


def test_policy_changed_is_durable_before_the_new_version_is_stored_or_in_force(
    store: PolicyStore, trail: ProbeTrail, tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    before = store.current().version
    store.apply(default_policy_text(), STEWARD)
    # when policy_changed returned, the old version was still in force and nothing stored
    assert trail.seen == [(before, 0)]
    # ... and the leaf was durable: another reader of the log's file sees it
    reader = AuditReader.open_read_only(tmp_path / "state" / "audit.db")
    try:
        kinds = [logged.event.kind for logged in reader.tail(10)]
    finally:
        reader.close()
    assert kinds == ["request_received", "policy_changed", "decision", "release"]


def test_applying_the_version_in_force_changes_nothing_but_is_audited(
    store: PolicyStore, log: AuditLog
) -> None:
    first = store.apply(default_policy_text(), STEWARD)
    size = log.size
    # the same content in another layout is the same version
    again = store.apply("# a comment\n" + default_policy_text(), STEWARD)
    assert not again.changed and again.version == first.version
    assert again.applied_at == first.applied_at
    assert len(store.history()) == 1
    kinds = [type(e).__name__ for e in _events(log)[size:]]
    assert kinds == ["RequestReceived", "Decision", "Release"]


def test_an_invalid_document_changes_nothing_and_is_a_logged_denial(
    store: PolicyStore, log: AuditLog
) -> None:
    first = store.apply(default_policy_text(), STEWARD)
    size = log.size
    with pytest.raises(PolicyInvalid) as caught:
        store.apply(TYPO, STEWARD, "typo.yaml")
    error = caught.value
    assert error.reason == "POLICY_INVALID" and error.file == "typo.yaml"
    assert error.path.endswith("min_person") and error.problem
    assert "typo.yaml" in str(error) and "policy in force stays" in str(error)
    assert store.current().version == first.version and len(store.history()) == 1
    request, decision = _events(log)[size:]
    assert isinstance(request, RequestReceived) and request.method == APPLY_POLICY
    assert isinstance(decision, Decision) and not decision.allow
    assert decision.reasons == ("POLICY_INVALID",)
    assert decision.policy_version == first.version


def test_a_template_the_query_engine_would_refuse_is_never_put_in_force(
    store: PolicyStore, log: AuditLog
) -> None:
    first = store.apply(default_policy_text(), STEWARD)
    broken = default_policy_text().replace("COUNT(*) AS claims", "MAX(total_cents) AS claims", 1)
    size = log.size
    with pytest.raises(PolicyInvalid) as caught:
        store.apply(broken, STEWARD, "broken.yaml")
    assert caught.value.path == "views.visits_by_type.rule.templates.monthly_visits_by_type.sql"
    assert store.current().version == first.version and len(store.history()) == 1
    assert [type(e).__name__ for e in _events(log)[size:]] == ["RequestReceived", "Decision"]


def test_not_yaml_and_an_empty_document_are_precise_errors_too(store: PolicyStore) -> None:
    for text in ("views: [", "", "views: {}\n"):
        with pytest.raises(PolicyInvalid) as caught:
            store.apply(text, STEWARD, "bad.yaml")
        assert caught.value.problem
    assert store.history() == [] and store.current() == empty_policy()


def test_history_is_oldest_first_and_survives_a_reopen(
    store: PolicyStore, tmp_path: Path, trail: ProbeTrail
) -> None:
    default = store.apply(default_policy_text(), STEWARD)
    empty = store.apply("views: {}\ngrants: []\n", Caller("cli", "operator"))
    back = store.apply(default_policy_text(), STEWARD)
    assert [a.version for a in store.history()] == [default.version, empty.version, back.version]
    assert [a.sequence for a in store.history()] == [1, 2, 3]
    store.close()
    reopened = PolicyStore.open(tmp_path / POLICY_DB, trail)
    try:
        assert reopened.current().version == default.version
        assert [a.version for a in reopened.history()][-1] == back.version
        applied = reopened.in_force().applied
        assert applied is not None and applied.sequence == 3
    finally:
        reopened.close()
    readonly = PolicyStore.open_readonly(tmp_path / POLICY_DB)
    try:
        assert readonly.current().version == default.version
        assert len(readonly.history()) == 3
        with pytest.raises(ValueError, match="read-only"):
            readonly.apply(default_policy_text(), STEWARD)
    finally:
        readonly.close()


def test_a_zone_without_a_policy_file_reads_as_no_policy_applied(tmp_path: Path) -> None:
    readonly = PolicyStore.open_readonly(tmp_path / "nothing" / "policy.db")
    try:
        assert readonly.current() == empty_policy() and readonly.history() == []
    finally:
        readonly.close()
    assert not (tmp_path / "nothing").exists()


def test_the_table_is_append_only_and_an_altered_store_does_not_open(
    store: PolicyStore, tmp_path: Path, trail: ProbeTrail
) -> None:
    store.apply(default_policy_text(), STEWARD)
    store.close()
    db = sqlite3.connect(tmp_path / POLICY_DB)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE applied_policies SET document = 'views: {}'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM applied_policies")
        db.execute("DROP TRIGGER applied_policies_no_update")
        db.execute("UPDATE applied_policies SET document = 'views: {}\ngrants: []\n'")
        db.commit()
    finally:
        db.close()
    # fail closed, but the zone opens and a valid document recovers
    reopened = PolicyStore.open(tmp_path / POLICY_DB, trail)
    try:
        in_force = reopened.in_force()
        assert reopened.current() == empty_policy() and in_force.applied is None
        assert in_force.unusable is not None and in_force.unusable.sequence == 1
        assert "does not hash" in in_force.problem
        assert reopened.apply(default_policy_text(), STEWARD).changed
        assert reopened.current().version == default_policy().version
    finally:
        reopened.close()


def test_a_stored_version_that_no_longer_loads_is_not_in_force(
    store: PolicyStore, tmp_path: Path, trail: ProbeTrail
) -> None:
    store.apply(default_policy_text(), STEWARD)
    store.close()
    with closing(sqlite3.connect(tmp_path / POLICY_DB)) as db:
        db.execute("DROP TRIGGER applied_policies_no_update")
        db.execute("UPDATE applied_policies SET document = 'views: ['")
        db.commit()
    reopened = PolicyStore.open(tmp_path / POLICY_DB, trail)
    try:
        assert reopened.current() == empty_policy()
        assert "applied version 1" in reopened.in_force().problem
    finally:
        reopened.close()


def test_readers_during_applies_see_whole_versions_only(store: PolicyStore) -> None:
    other = default_policy_text().replace("min_persons: 11", "min_persons: 20", 1)
    documents = [default_policy_text(), other]
    expected = {empty_policy().version}
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            policy = store.current()
            seen.append((policy.version, len(policy.views)))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for i in range(6):
            expected.add(store.apply(documents[i % 2], STEWARD).version)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert len(expected) == 3 and {version for version, _ in seen} <= expected
    views = {version: n for version, n in seen}
    assert views.get(empty_policy().version, 0) == 0
    want = len(default_policy().views)  # both documents have the same views
    assert all(n == want for version, n in views.items() if version != empty_policy().version)
    assert len(store.history()) == 6
