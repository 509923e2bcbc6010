"""PersonChecks: the order of steps, consent before existence, guardians, audit leaves."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataward.transparency import verify_receipt
from enclave.consent import Consent, ConsentNotFound, SqliteConsentStore
from enclave.persons import (
    Answer,
    Benefit,
    ConsentRequired,
    CoverageClass,
    EligibilityDecision,
    EligibilityQuery,
    EligibilityReason,
    IdentityQuery,
    InvalidField,
    InvalidIdNumber,
    PersonChecks,
    PersonNotFound,
    RegistryStatus,
    SelfieNotSupported,
)
from enclave.release import Caller
from tests.support.person_fakes import (
    ALICE,
    BOB,
    CAROL,
    CHILD,
    DAVE,
    KEY_NAME,
    UNKNOWN,
    FakeDirectory,
    MemoryAuditTrail,
    RecordingConsentStore,
    standard_directory,
)

PARTNER = Caller("app-1", "acme-insurance")
STEWARD = Caller("steward-1", "zone-stewards")
PURPOSE = "INSURANCE_UNDERWRITING"


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.directory: FakeDirectory = standard_directory()
        self.audit = MemoryAuditTrail()
        # Registry and consent calls, in the order the checks made them.
        self.journal = self.directory.journal
        self.consents = RecordingConsentStore.recording(tmp_path / "consent.db", self.journal)
        self.checks = PersonChecks(
            directory=self.directory,
            tokenizer=self.directory.tokenizer,
            consents=self.consents,
            audit=self.audit,
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

    def eligibility(
        self, id_number: str, benefit: Benefit = Benefit.OUTPATIENT, **kw: str
    ) -> Answer[EligibilityDecision]:
        return self.checks.check_eligibility(
            PARTNER,
            EligibilityQuery(
                id_number, benefit, None, kw.get("purpose", PURPOSE), kw.get("ref", "")
            ),
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.consents.close()


def test_consented_person_is_eligible_with_a_verifiable_receipt(world: World) -> None:
    world.consent(ALICE)
    answer = world.eligibility(ALICE)
    assert answer.value.eligible and answer.value.coverage_class is CoverageClass.EMPLOYEE
    checkpoint = verify_receipt(answer.receipt, KEY_NAME, world.audit.key.public_key())
    assert checkpoint.size == answer.receipt.leaf_index + 1
    kinds = [e["kind"] for e in world.audit.entries if e.get("request_id") == answer.request_id]
    assert kinds == ["request", "decision", "release"]


def test_suspended_and_deceased_answers(world: World) -> None:
    world.consent(BOB)
    world.consent(CAROL)
    assert world.eligibility(BOB).value.reasons == (EligibilityReason.SUSPENDED_ARREARS,)
    assert world.eligibility(CAROL).value.reasons == (EligibilityReason.DECEASED,)


def test_unknown_person_is_refused_exactly_like_a_known_person_without_consent(
    world: World,
) -> None:
    with pytest.raises(ConsentRequired) as unknown:
        world.eligibility(UNKNOWN)
    with pytest.raises(ConsentRequired) as known:
        world.eligibility(DAVE)
    assert str(unknown.value) == str(known.value)
    assert type(unknown.value) is type(known.value)
    # Both refusals are logged as denying decisions with the same reason.
    assert [d["reasons"] for d in world.audit.decisions()] == [
        ("CONSENT_REQUIRED",),
        ("CONSENT_REQUIRED",),
    ]


def test_direct_consent_is_checked_before_the_registry_is_consulted(world: World) -> None:
    world.consent(ALICE)
    world.journal.clear()
    world.checks.verify_identity(PARTNER, IdentityQuery(ALICE, "张伟", PURPOSE))
    # The consent by the token first; the registry only once it is found, once, for the
    # verdict itself; then the consent is used for the answer.
    assert world.journal == [
        "consents.find_valid(person_token)",
        "registry.person_by_token",
        "consents.consume",
    ]


@pytest.mark.parametrize(
    "person", [CHILD, DAVE, UNKNOWN], ids=["guardian-consent", "no-consent", "unknown"]
)
def test_without_a_direct_consent_the_token_is_still_tried_before_the_registry(
    world: World, person: str
) -> None:
    world.consent(ALICE)  # covers CHILD as its guardian, DAVE not at all
    world.journal.clear()
    with contextlib.suppress(ConsentRequired):
        world.eligibility(person)
    registry = [i for i, call in enumerate(world.journal) if call.startswith("registry.")]
    assert registry, world.journal
    assert world.journal[: registry[0]] == ["consents.find_valid(person_token)"]


def test_a_refusal_makes_the_same_calls_in_the_same_order_known_or_not(world: World) -> None:
    journals = {}
    for person in (DAVE, UNKNOWN):
        world.journal.clear()
        with pytest.raises(ConsentRequired):
            world.eligibility(person)
        journals[person] = list(world.journal)
    assert (
        journals[DAVE]
        == journals[UNKNOWN]
        == [
            "consents.find_valid(person_token)",
            "registry.person_id_by_token",
            "registry.guardians",
            "consents.find_valid(person_ids)",
        ]
    )


def test_guardian_consent_covers_a_bound_member(world: World) -> None:
    world.consent(ALICE)
    answer = world.eligibility(CHILD)
    assert answer.value.eligible and answer.value.coverage_class is CoverageClass.RESIDENT


def test_guardian_consent_stops_covering_after_unbinding(world: World) -> None:
    world.consent(ALICE)
    binding = world.directory.bindings[0]
    world.directory.bindings[0] = type(binding)(
        binding.holder_person_id,
        binding.member_person_id,
        binding.bound_at,
        unbound_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
    )
    with pytest.raises(ConsentRequired):
        world.eligibility(CHILD)


def test_member_consent_does_not_cover_the_holder(world: World) -> None:
    world.consent(CHILD)
    with pytest.raises(ConsentRequired):
        world.eligibility(ALICE)


def test_single_use_consent_answers_once(world: World) -> None:
    world.consent(ALICE, single_use=True)
    assert world.eligibility(ALICE).value.eligible
    with pytest.raises(ConsentRequired):
        world.eligibility(ALICE)


def test_consent_is_per_purpose(world: World) -> None:
    world.consent(ALICE)
    with pytest.raises(ConsentRequired):
        world.eligibility(ALICE, purpose="LOAN_ORIGINATION")


def test_consent_ref_must_name_a_valid_consent(world: World) -> None:
    ref = world.consent(ALICE)
    assert world.eligibility(ALICE, ref=ref).value.eligible
    with pytest.raises(ConsentRequired):
        world.eligibility(ALICE, ref="cns_" + "f" * 24)  # well-formed, names no consent


@pytest.mark.parametrize(
    "ref",
    ["cns_forged", ALICE, f"  {ALICE} ", "张伟", "+86 138 0013 8000", "cns_" + "a" * 100_000],
)
def test_a_consent_ref_out_of_format_is_refused_and_never_logged(world: World, ref: str) -> None:
    # Issue 8, fault 2: an ID number sent as consent_ref reached the log verbatim.
    world.consent(ALICE)
    with pytest.raises(InvalidField) as refused:
        world.eligibility(ALICE, ref=ref)
    assert refused.value.field == "consent_ref"
    logged = repr(world.audit.entries)
    assert ref.strip() not in logged and "forged" not in logged
    assert world.audit.decisions()[-1]["reasons"] == ("FIELD_INVALID",)
    with pytest.raises(InvalidField):
        world.checks.revoke_consent(PARTNER, ref)
    assert ref.strip() not in repr(world.audit.entries)


def test_malformed_id_number_is_refused_and_logged_without_the_number(world: World) -> None:
    with pytest.raises(InvalidIdNumber) as excinfo:
        world.eligibility("110101198001010011")
    assert excinfo.value.rule == "CHECK_CHARACTER"
    assert "110101198001010011" not in repr(world.audit.entries)
    assert world.audit.decisions()[-1]["reasons"] == ("ID_NUMBER_INVALID",)


def test_identity_verdicts(world: World) -> None:
    world.consent(ALICE)
    world.consent(CAROL)
    right = world.checks.verify_identity(PARTNER, IdentityQuery(ALICE, " 张伟 ", PURPOSE)).value
    wrong = world.checks.verify_identity(PARTNER, IdentityQuery(ALICE, "张三", PURPOSE)).value
    dead = world.checks.verify_identity(PARTNER, IdentityQuery(CAROL, "王芳", PURPOSE)).value
    assert (right.name_matches, right.registry_status) == (True, RegistryStatus.ACTIVE)
    assert (wrong.name_matches, wrong.registry_status) == (False, RegistryStatus.ACTIVE)
    assert (dead.name_matches, dead.registry_status) == (True, RegistryStatus.DECEASED)


def test_selfie_is_not_supported_yet(world: World) -> None:
    world.consent(ALICE)
    with pytest.raises(SelfieNotSupported):
        world.checks.verify_identity(PARTNER, IdentityQuery(ALICE, "张伟", PURPOSE, selfie=b"jpg"))


def test_missing_fields_are_named(world: World) -> None:
    with pytest.raises(InvalidField, match="benefit"):
        world.checks.check_eligibility(PARTNER, EligibilityQuery(ALICE, None, None, PURPOSE))
    with pytest.raises(InvalidField, match="name"):
        world.checks.verify_identity(PARTNER, IdentityQuery(ALICE, "  ", PURPOSE))


def test_steward_grant_for_unknown_person_is_not_found(world: World) -> None:
    with pytest.raises(PersonNotFound):
        world.consent(UNKNOWN)
    with pytest.raises(InvalidField, match="valid_days"):
        world.consent(ALICE, valid_days=0)


def test_revoked_consent_no_longer_answers(world: World) -> None:
    ref = world.consent(ALICE)
    world.checks.revoke_consent(STEWARD, ref)
    with pytest.raises(ConsentRequired):
        world.eligibility(ALICE)


def test_a_well_formed_consent_ref_the_zone_never_issued_is_not_logged(world: World) -> None:
    # Issue 8 review: "cns_" + an 18-digit ID number + 6 characters has the format of a
    # reference, and reached the log in clear. Only references the zone issued are logged.
    ref = world.consent(ALICE)
    crafted = "cns_" + UNKNOWN + "000000"
    with pytest.raises(ConsentRequired):
        world.eligibility(ALICE, ref=crafted)
    assert UNKNOWN not in repr(world.audit.entries)
    world.eligibility(ALICE, ref=ref)
    assert ref in repr(world.audit.entries)  # a real one is logged, as the partner quoted it
    with pytest.raises(ConsentNotFound):
        world.checks.revoke_consent(STEWARD, crafted)
    assert UNKNOWN not in repr(world.audit.entries)


@pytest.mark.parametrize(
    "partner",
    ["430104-198607-101834", "4301041986.07101834", "13800138000", "1-2-3-4-5-6-7", "张三"],
)
def test_an_id_or_phone_number_with_separators_is_never_a_partner(
    world: World, partner: str
) -> None:
    with pytest.raises(InvalidField) as refused:
        world.checks.grant_consent(STEWARD, id_number=ALICE, partner=partner, purpose=PURPOSE)
    assert refused.value.field == "partner"


@pytest.mark.parametrize("partner", ["2", "acme-insurance", "org-123456", "bank.b_1"])
def test_organization_ids_and_slugs_are_partners(world: World, partner: str) -> None:
    world.checks.grant_consent(STEWARD, id_number=ALICE, partner=partner, purpose=PURPOSE)


class _DiskFullOnRevoke(SqliteConsentStore):
    """The real store, whose disk fails when a consent is withdrawn."""

    def revoke(self, consent_ref: str, at: dt.datetime) -> Consent:
        raise sqlite3.OperationalError("disk I/O error")


def test_a_store_fault_on_revoke_is_not_logged_as_a_refusal(tmp_path: Path) -> None:
    """Issue 9: revoke_consent caught every exception as a refusal, so a failing disk was
    logged as a steward's denied request and answered like "no such consent". The fault
    propagates; its request is still decided (issue 15: nothing asked goes unlogged) -- as
    INTERNAL, never as the refusal CONSENT_NOT_FOUND."""
    directory, audit = standard_directory(), MemoryAuditTrail()
    store = _DiskFullOnRevoke.open(tmp_path / "consent.db")
    checks = PersonChecks(
        directory=directory, tokenizer=directory.tokenizer, consents=store, audit=audit
    )
    ref = checks.grant_consent(
        STEWARD, id_number=ALICE, partner="acme-insurance", purpose=PURPOSE
    ).value.consent_ref
    decisions = len(audit.decisions())
    with pytest.raises(sqlite3.OperationalError):
        checks.revoke_consent(STEWARD, ref)
    fault = audit.decisions()[decisions:]
    assert [(d["allow"], d["reasons"]) for d in fault] == [(False, ("INTERNAL",))]
    store.close()
