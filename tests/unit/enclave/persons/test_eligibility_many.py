"""PersonChecks.check_eligibility_many (issue 15, CheckBatch's zone side): the unary call's
steps and answers for each item, each item its own leaves and receipt, the group ONE commit
of the real audit log; refusals and an item's faults are items, only a fault before any
item is the group's."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from dataward import receipts
from enclave.audit import (
    AuditLog,
    AuditLogTrail,
    Decision,
    Release,
    RequestReceived,
    SqliteAuditStore,
    decode_leaf,
)
from enclave.errors import ZoneError
from enclave.persons import (
    Answer,
    Benefit,
    ConsentRequired,
    EligibilityDecision,
    EligibilityQuery,
    InvalidField,
    InvalidIdNumber,
    PersonChecks,
    PurposeNotGranted,
)
from enclave.persons._batch import ItemFault
from enclave.release import Caller
from launcher.settings import AuditSettings
from tests.support.audit_stores import RecordingStore
from tests.support.person_fakes import (
    ALICE,
    BOB,
    CAROL,
    CHILD,
    DAVE,
    KEY_NAME,
    UNKNOWN,
    FakeDirectory,
    RecordingConsentStore,
    standard_directory,
)
from tests.unit.enclave.audit.conftest import KEY

PURPOSE = "INSURANCE_UNDERWRITING"
PARTNER = Caller("app-1", "acme-insurance", frozenset({PURPOSE}))
STEWARD = Caller("steward-1", "zone-stewards")
BAD_CHECK_DIGIT = ALICE[:-1] + "1"


class World:
    def __init__(
        self,
        tmp_path: Path,
        directory: FakeDirectory | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.directory = directory or standard_directory()
        self.store = RecordingStore(SqliteAuditStore.open(tmp_path / "audit.db"))
        settings = AuditSettings(checkpoint_interval_seconds=3600.0)
        self.log = AuditLog(self.store, settings, KEY, KEY_NAME, KEY_NAME)
        self.consents = RecordingConsentStore.recording(
            tmp_path / "consent.db", self.directory.journal
        )
        self.checks = PersonChecks(
            directory=self.directory,
            tokenizer=self.directory.tokenizer,
            consents=self.consents,
            audit=AuditLogTrail(self.log),
            clock=clock,
        )

    def consent(self, id_number: str, **kw: object) -> str:
        answer = self.checks.grant_consent(
            STEWARD,
            id_number=id_number,
            partner="acme-insurance",
            purpose=PURPOSE,
            **kw,  # type: ignore[arg-type]
        )
        return answer.value.consent_ref

    def many(
        self, queries: Sequence[EligibilityQuery]
    ) -> list[Answer[EligibilityDecision] | ZoneError]:
        before = len(self.store.appends)
        answers = self.checks.check_eligibility_many(PARTNER, queries)
        assert len(self.store.appends) == before + 1, "a group is ONE commit"
        return answers

    def group_events(self) -> list[object]:
        leaves, _ = self.store.appends[-1]
        return [decode_leaf(leaf.leaf).event for leaf in leaves]

    def close(self) -> None:
        self.log.close()
        self.consents.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


def query(id_number: str, **kw: object) -> EligibilityQuery:
    fields: dict[str, object] = {
        "id_number": id_number,
        "benefit": Benefit.OUTPATIENT,
        "as_of": None,
        "purpose": PURPOSE,
        "client_nonce": f"nonce-of-item-{id_number[-4:]}",
    }
    fields.update(kw)
    return EligibilityQuery(**fields)  # type: ignore[arg-type]


def verify(answer: Answer[EligibilityDecision], nonce: str) -> None:
    decision = answer.value
    receipts.verify_release(
        answer.receipt,
        method=receipts.ELIGIBILITY_CHECK,
        request_id=answer.request_id,
        fields=receipts.eligibility_fields(
            eligible=decision.eligible,
            coverage_class=decision.coverage_class,
            reasons=decision.reasons,
        ),
        key_name=KEY_NAME,
        public_key=KEY.public_key(),
        client_nonce=nonce,
    )


def test_the_answers_are_the_unary_ones_each_with_its_own_verifying_receipt(
    world: World,
) -> None:
    for person in (ALICE, BOB, CAROL):
        world.consent(person)
    queries = [query(ALICE), query(BOB), query(CAROL), query(ALICE, benefit=Benefit.INPATIENT)]
    unary = [world.checks.check_eligibility(PARTNER, q).value for q in queries]
    answers = world.many(queries)

    assert all(isinstance(a, Answer) for a in answers)
    got = [a for a in answers if isinstance(a, Answer)]
    assert [a.value for a in got] == unary
    assert len({a.request_id for a in got}) == 4
    notes = {a.receipt.checkpoint_note for a in got}
    assert len(notes) == 1  # one checkpoint signed for the group's commit
    for a, q in zip(got, queries, strict=True):
        verify(a, q.client_nonce)
    # Each item: its request (with its person token), allowing decision and release leaves.
    events = world.group_events()
    for a in got:
        own = [e for e in events if getattr(e, "request_id", None) == a.request_id]
        assert [type(e) for e in own] == [RequestReceived, Decision, Release]
        request, decision, _ = own
        assert isinstance(request, RequestReceived) and request.person_token is not None
        assert isinstance(decision, Decision) and decision.allow
    assert next(e for e in events if isinstance(e, RequestReceived)).person_token == (
        world.directory.tokenizer.token("id_number", ALICE).hex()
    )


def test_refusals_are_items_with_their_reason_while_the_others_pass(world: World) -> None:
    world.consent(ALICE)
    answers = world.many(
        [
            query(ALICE),
            query(DAVE),  # no consent
            query(UNKNOWN),  # not in the registry: the same refusal
            query(BAD_CHECK_DIGIT),
            query(ALICE, purpose="LOAN_ORIGINATION"),  # not granted to the app
            query(ALICE, benefit=None),
            query(ALICE),
        ]
    )
    kinds = [type(a) for a in answers]
    assert kinds == [
        Answer,
        ConsentRequired,
        ConsentRequired,
        InvalidIdNumber,
        PurposeNotGranted,
        InvalidField,
        Answer,
    ]
    assert str(answers[1]) == str(answers[2])
    events = world.group_events()
    requests = [e for e in events if isinstance(e, RequestReceived)]
    decisions = [e for e in events if isinstance(e, Decision)]
    assert len(requests) == len(decisions) == 7
    assert sum(isinstance(e, Release) for e in events) == 2
    assert [d.reasons for d in decisions] == [
        (),
        ("CONSENT_REQUIRED",),
        ("CONSENT_REQUIRED",),
        (answers[3].reason,),  # type: ignore[union-attr]
        ("PURPOSE_NOT_GRANTED",),
        ("FIELD_INVALID",),
        (),
    ]
    # A refused ID number or purpose is never tokenized: those request leaves name nobody.
    assert [r.person_token is None for r in requests] == [
        False,
        False,
        False,
        True,
        True,
        False,
        False,
    ]
    assert BAD_CHECK_DIGIT not in str(events)


def test_an_unknown_person_costs_the_same_lookups_as_a_known_one_without_consent(
    world: World,
) -> None:
    world.consent(ALICE)  # covers CHILD as its guardian
    journals = []
    for person in (DAVE, UNKNOWN, CHILD):
        world.directory.journal.clear()
        world.many([query(person)])
        journals.append([c for c in world.directory.journal if "consume" not in c])
    assert journals[0] == journals[1]
    assert journals[0][0] == "consents.find_valid(person_token)"  # by token, first
    assert journals[2][:4] == journals[0][:4]


def test_a_single_use_consent_answers_one_item_only(world: World) -> None:
    world.consent(ALICE, single_use=True)
    answers = world.many([query(ALICE), query(ALICE)])
    assert isinstance(answers[0], Answer)
    assert isinstance(answers[1], ConsentRequired)


def test_a_consent_revoked_between_groups_is_not_honoured(world: World) -> None:
    ref = world.consent(ALICE)
    assert isinstance(world.many([query(ALICE)])[0], Answer)
    world.checks.revoke_consent(STEWARD, ref)
    assert isinstance(world.many([query(ALICE)])[0], ConsentRequired)


def test_an_empty_group_logs_nothing(world: World) -> None:
    assert world.checks.check_eligibility_many(PARTNER, []) == []
    assert world.store.appends == []


@dataclasses.dataclass
class _BrokenDirectory(FakeDirectory):
    """The registry raising a fault that is not a zone error on the n-th enrolment read."""

    fail_at: int = 2

    def enrolments(self, person_id: int) -> Sequence[object]:  # type: ignore[override]
        self.fail_at -= 1
        if self.fail_at == 0:
            raise RuntimeError("the registry's file went away")
        return super().enrolments(person_id)


def test_a_fault_is_the_items_answer_and_the_items_around_it_are_answered(
    tmp_path: Path,
) -> None:
    # BOB's enrolment read raises a fault that is not a zone error: BOB is logged denied
    # INTERNAL and answered with ItemFault (its cause kept for the operator); ALICE before it
    # keeps her answer -- her single-use consent, consumed, is not lost -- and DAVE after it
    # is still checked. Every item released in the commit is an item answered.
    base = standard_directory()
    directory = _BrokenDirectory(base.tokenizer, base.persons, base.enrolment_rows, base.bindings)
    w = World(tmp_path, directory)
    try:
        w.consent(ALICE, single_use=True)
        w.consent(BOB)
        w.consent(DAVE)
        answers = w.many([query(ALICE), query(BOB), query(DAVE)])
        assert isinstance(answers[0], Answer)
        verify(answers[0], query(ALICE).client_nonce)
        assert isinstance(answers[1], ItemFault)
        assert isinstance(answers[1].__cause__, RuntimeError)
        assert answers[1].reason == "INTERNAL"
        assert isinstance(answers[2], Answer)
        events = w.group_events()
        decisions = [e for e in events if isinstance(e, Decision)]
        assert [d.allow for d in decisions] == [True, False, True]
        assert decisions[1].reasons == ("INTERNAL",)
        released = [e for e in events if isinstance(e, Release)]
        assert len(released) == 2
        assert {r.request_id for r in released} == {answers[0].request_id, answers[2].request_id}
        # ALICE's consent was used once, by the answer she got.
        assert isinstance(w.many([query(ALICE)])[0], ConsentRequired)
    finally:
        w.close()


def test_a_fault_before_any_item_logs_every_item_denied_and_raises(tmp_path: Path) -> None:
    def clock() -> dt.datetime:
        raise RuntimeError("the clock went away")

    w = World(tmp_path, clock=clock)
    try:
        before = len(w.store.appends)
        with pytest.raises(RuntimeError):
            w.checks.check_eligibility_many(PARTNER, [query(ALICE), query(BOB)])
        assert len(w.store.appends) == before + 1
        events = w.group_events()
        assert [type(e) for e in events] == [RequestReceived, Decision] * 2
        decisions = [e for e in events if isinstance(e, Decision)]
        assert [(d.allow, d.reasons) for d in decisions] == [(False, ("INTERNAL",))] * 2
    finally:
        w.close()


def test_the_group_shares_one_clock_reading(tmp_path: Path) -> None:
    calls: list[int] = []

    def clock() -> dt.datetime:
        calls.append(1)
        return dt.datetime.now(dt.UTC)

    w = World(tmp_path, clock=clock)
    try:
        w.consent(ALICE)
        calls.clear()
        w.many([query(ALICE)] * 5)
        assert len(calls) == 1
    finally:
        w.close()
