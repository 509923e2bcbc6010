"""Each eligibility rule of enclave.persons.eligibility, one test per rule."""

from __future__ import annotations

import datetime as dt
import enum

import pytest
from google.protobuf.descriptor import EnumDescriptor

from dataward.v1 import eligibility_pb2
from enclave.persons import (
    SCHEME_BENEFITS,
    Benefit,
    CoverageClass,
    EligibilityReason,
    decide_eligibility,
    enrolment_state,
)
from tests.support.person_fakes import Enrolment

D = dt.date(2024, 6, 1)
START = dt.date(2020, 1, 1)


def test_active_employee_is_eligible_for_every_benefit() -> None:
    enrolment = Enrolment("EMPLOYEE", START, None, "ACTIVE")
    for benefit in Benefit:
        decision = decide_eligibility("ACTIVE", [enrolment], benefit, D)
        assert decision.eligible
        assert decision.coverage_class is CoverageClass.EMPLOYEE
        assert decision.reasons == ()


def test_resident_scheme_covers_maternity_but_not_work_injury() -> None:
    enrolment = Enrolment("RESIDENT", START, None, "ACTIVE")
    assert decide_eligibility("ACTIVE", [enrolment], Benefit.MATERNITY, D).eligible
    refused = decide_eligibility("ACTIVE", [enrolment], Benefit.WORK_INJURY, D)
    assert not refused.eligible
    assert refused.coverage_class is CoverageClass.RESIDENT
    assert refused.reasons == (EligibilityReason.BENEFIT_NOT_COVERED,)


def test_employee_scheme_preferred_when_both_qualify() -> None:
    both = [
        Enrolment("RESIDENT", START, None, "ACTIVE"),
        Enrolment("EMPLOYEE", START, None, "ACTIVE"),
    ]
    assert decide_eligibility("ACTIVE", both, Benefit.INPATIENT, D).coverage_class is (
        CoverageClass.EMPLOYEE
    )


@pytest.mark.parametrize(
    ("status", "reason"),
    [("DECEASED", EligibilityReason.DECEASED), ("EMIGRATED", EligibilityReason.EMIGRATED)],
)
def test_registry_status_overrides_enrolment(status: str, reason: EligibilityReason) -> None:
    decision = decide_eligibility(
        status, [Enrolment("EMPLOYEE", START, None, "ACTIVE")], Benefit.OUTPATIENT, D
    )
    assert (decision.eligible, decision.coverage_class, decision.reasons) == (
        False,
        None,
        (reason,),
    )


def test_no_enrolment_is_not_enrolled() -> None:
    decision = decide_eligibility("ACTIVE", [], Benefit.OUTPATIENT, D)
    assert decision.reasons == (EligibilityReason.NOT_ENROLLED,)
    assert decision.coverage_class is None


def test_enrolment_not_started_on_the_date_is_not_enrolled() -> None:
    later = Enrolment("EMPLOYEE", D + dt.timedelta(days=1), None, "ACTIVE")
    assert decide_eligibility("ACTIVE", [later], Benefit.OUTPATIENT, D).reasons == (
        EligibilityReason.NOT_ENROLLED,
    )


def test_end_date_is_the_last_covered_day() -> None:
    enrolment = Enrolment("EMPLOYEE", START, D, "ACTIVE")
    assert decide_eligibility("ACTIVE", [enrolment], Benefit.OUTPATIENT, D).eligible
    after = decide_eligibility("ACTIVE", [enrolment], Benefit.OUTPATIENT, D + dt.timedelta(1))
    assert after.reasons == (EligibilityReason.NOT_ENROLLED,)


def test_suspended_with_arrears_is_suspended_arrears() -> None:
    enrolment = Enrolment("RESIDENT", START, None, "SUSPENDED", arrears_months=3)
    decision = decide_eligibility("ACTIVE", [enrolment], Benefit.OUTPATIENT, D)
    assert decision.reasons == (EligibilityReason.SUSPENDED_ARREARS,)
    assert decision.coverage_class is CoverageClass.RESIDENT


def test_suspended_without_arrears_is_suspended() -> None:
    enrolment = Enrolment("RESIDENT", START, None, "SUSPENDED", arrears_months=0)
    assert decide_eligibility("ACTIVE", [enrolment], Benefit.OUTPATIENT, D).reasons == (
        EligibilityReason.SUSPENDED,
    )


def test_terminated_before_the_date_is_terminated() -> None:
    enrolment = Enrolment("EMPLOYEE", START, dt.date(2023, 12, 31), "TERMINATED")
    decision = decide_eligibility("ACTIVE", [enrolment], Benefit.OUTPATIENT, D)
    assert decision.reasons == (EligibilityReason.TERMINATED,)
    assert decision.coverage_class is CoverageClass.EMPLOYEE


def test_terminated_enrolment_covered_the_days_before_its_end() -> None:
    enrolment = Enrolment("EMPLOYEE", START, dt.date(2023, 12, 31), "TERMINATED")
    assert decide_eligibility(
        "ACTIVE", [enrolment], Benefit.OUTPATIENT, dt.date(2022, 5, 5)
    ).eligible


def test_terminated_without_end_date_covers_nothing() -> None:
    enrolment = Enrolment("EMPLOYEE", START, None, "TERMINATED")
    assert enrolment_state(enrolment, D) == "TERMINATED"
    assert not decide_eligibility("ACTIVE", [enrolment], Benefit.OUTPATIENT, D).eligible


def test_an_active_enrolment_wins_over_a_suspended_one() -> None:
    rows = [
        Enrolment("EMPLOYEE", START, None, "SUSPENDED", 2),
        Enrolment("RESIDENT", START, None, "ACTIVE"),
    ]
    decision = decide_eligibility("ACTIVE", rows, Benefit.OUTPATIENT, D)
    assert decision.eligible and decision.coverage_class is CoverageClass.RESIDENT


def test_unknown_statuses_and_schemes_never_grant() -> None:
    assert not decide_eligibility(
        "ACTIVE", [Enrolment("EMPLOYEE", START, None, "PENDING")], Benefit.OUTPATIENT, D
    ).eligible
    assert not decide_eligibility(
        "ACTIVE", [Enrolment("MILITARY", START, None, "ACTIVE")], Benefit.OUTPATIENT, D
    ).eligible
    assert not decide_eligibility(
        "MISSING", [Enrolment("EMPLOYEE", START, None, "ACTIVE")], Benefit.OUTPATIENT, D
    ).eligible


# --- boundaries and fail-closed answers, asserted exactly (issue 8, item 13) ------------------


def _decide(
    *rows: Enrolment, benefit: Benefit = Benefit.OUTPATIENT, as_of: dt.date = D
) -> tuple[bool, CoverageClass | None, tuple[EligibilityReason, ...]]:
    decision = decide_eligibility("ACTIVE", list(rows), benefit, as_of)
    return (decision.eligible, decision.coverage_class, decision.reasons)


def test_a_suspended_enrolment_is_never_eligible() -> None:
    for arrears, reason in (
        (0, EligibilityReason.SUSPENDED),
        (3, EligibilityReason.SUSPENDED_ARREARS),
    ):
        for scheme in CoverageClass:
            row = Enrolment(scheme.value, START, None, "SUSPENDED", arrears_months=arrears)
            for benefit in Benefit:
                assert _decide(row, benefit=benefit) == (False, scheme, (reason,))


def test_one_month_of_arrears_is_arrears() -> None:
    one = Enrolment("EMPLOYEE", START, None, "SUSPENDED", arrears_months=1)
    none = Enrolment("EMPLOYEE", START, None, "SUSPENDED", arrears_months=0)
    assert _decide(one) == (False, CoverageClass.EMPLOYEE, (EligibilityReason.SUSPENDED_ARREARS,))
    assert _decide(none) == (False, CoverageClass.EMPLOYEE, (EligibilityReason.SUSPENDED,))


def test_cover_starts_on_the_start_date() -> None:
    row = Enrolment("RESIDENT", D, None, "ACTIVE")
    assert enrolment_state(row, D) == "ACTIVE"
    assert _decide(row) == (True, CoverageClass.RESIDENT, ())
    assert enrolment_state(row, D - dt.timedelta(days=1)) is None
    assert _decide(row, as_of=D - dt.timedelta(days=1)) == (
        False,
        None,
        (EligibilityReason.NOT_ENROLLED,),
    )


def test_cover_of_a_one_day_enrolment() -> None:
    row = Enrolment("EMPLOYEE", D, D, "ACTIVE")
    assert _decide(row) == (True, CoverageClass.EMPLOYEE, ())
    for day in (D - dt.timedelta(days=1), D + dt.timedelta(days=1)):
        assert _decide(row, as_of=day) == (False, None, (EligibilityReason.NOT_ENROLLED,))


def test_a_suspension_applies_from_the_start_date_to_the_end_date() -> None:
    row = Enrolment("EMPLOYEE", START, D, "SUSPENDED", arrears_months=2)
    for day in (START, D):
        assert enrolment_state(row, day) == "SUSPENDED"
    # Before it and after it the enrolment is irrelevant: not enrolled, and no scheme named.
    for day in (START - dt.timedelta(days=1), D + dt.timedelta(days=1)):
        assert enrolment_state(row, day) is None
        assert _decide(row, as_of=day) == (False, None, (EligibilityReason.NOT_ENROLLED,))


def test_a_terminated_enrolment_covers_its_end_date_and_not_the_day_after() -> None:
    end = dt.date(2023, 12, 31)
    row = Enrolment("RESIDENT", START, end, "TERMINATED")
    assert enrolment_state(row, START) == "ACTIVE"
    assert enrolment_state(row, end) == "ACTIVE"
    assert _decide(row, as_of=end) == (True, CoverageClass.RESIDENT, ())
    assert enrolment_state(row, end + dt.timedelta(days=1)) == "TERMINATED"
    assert _decide(row, as_of=end + dt.timedelta(days=1)) == (
        False,
        CoverageClass.RESIDENT,
        (EligibilityReason.TERMINATED,),
    )
    # Not yet started: irrelevant, even though it is terminated.
    assert enrolment_state(row, START - dt.timedelta(days=1)) is None


def test_an_ended_active_enrolment_is_not_enrolled_not_terminated() -> None:
    row = Enrolment("EMPLOYEE", START, dt.date(2023, 12, 31), "ACTIVE")
    assert enrolment_state(row, D) is None
    assert _decide(row) == (False, None, (EligibilityReason.NOT_ENROLLED,))


def test_every_refusal_says_eligible_is_false() -> None:
    rows = {
        "not enrolled": [],
        "not covered": [Enrolment("RESIDENT", START, None, "ACTIVE")],
        "suspended": [Enrolment("RESIDENT", START, None, "SUSPENDED")],
        "terminated": [Enrolment("RESIDENT", START, dt.date(2021, 1, 1), "TERMINATED")],
    }
    for status in ("ACTIVE", "DECEASED", "EMIGRATED", "MISSING", ""):
        for enrolments in rows.values():
            decision = decide_eligibility(status, enrolments, Benefit.WORK_INJURY, D)
            assert decision.eligible is False
            assert len(decision.reasons) == 1


def test_an_unknown_registry_status_is_not_enrolled_with_no_scheme() -> None:
    row = Enrolment("EMPLOYEE", START, None, "ACTIVE")
    for status in ("MISSING", "", "active"):
        decision = decide_eligibility(status, [row], Benefit.OUTPATIENT, D)
        assert (decision.eligible, decision.coverage_class, decision.reasons) == (
            False,
            None,
            (EligibilityReason.NOT_ENROLLED,),
        )


def test_the_resident_scheme_covers_exactly_five_benefits() -> None:
    row = Enrolment("RESIDENT", START, None, "ACTIVE")
    for benefit in Benefit:
        covered = benefit is not Benefit.WORK_INJURY
        assert _decide(row, benefit=benefit) == (
            (True, CoverageClass.RESIDENT, ())
            if covered
            else (False, CoverageClass.RESIDENT, (EligibilityReason.BENEFIT_NOT_COVERED,))
        )


def test_not_covered_names_the_known_scheme() -> None:
    # An active enrolment in a scheme the rules do not know neither covers nor is named.
    rows = [
        Enrolment("RESIDENT", START, None, "ACTIVE"),
        Enrolment("MILITARY", START, None, "ACTIVE"),
    ]
    assert _decide(*rows, benefit=Benefit.WORK_INJURY) == (
        False,
        CoverageClass.RESIDENT,
        (EligibilityReason.BENEFIT_NOT_COVERED,),
    )


def test_an_active_enrolment_in_an_unknown_scheme_does_not_hide_a_suspension() -> None:
    rows = [
        Enrolment("MILITARY", START, None, "ACTIVE"),
        Enrolment("RESIDENT", START, None, "SUSPENDED", arrears_months=1),
    ]
    assert _decide(*rows) == (False, CoverageClass.RESIDENT, (EligibilityReason.SUSPENDED_ARREARS,))


@pytest.mark.parametrize("state", ["SUSPENDED", "TERMINATED"])
def test_the_employee_scheme_is_named_first_among_refusals(state: str) -> None:
    end = None if state == "SUSPENDED" else dt.date(2021, 1, 1)
    rows = [
        Enrolment("MILITARY", START, end, state, arrears_months=0),
        Enrolment("RESIDENT", START, end, state, arrears_months=0),
        Enrolment("EMPLOYEE", START, end, state, arrears_months=5),
        Enrolment("RESIDENT", START, end, state, arrears_months=0),
    ]
    decision = decide_eligibility("ACTIVE", rows, Benefit.OUTPATIENT, D)
    assert decision.eligible is False
    assert decision.coverage_class is CoverageClass.EMPLOYEE
    if state == "SUSPENDED":
        # The reason comes from the enrolment named: the employee one, in arrears.
        assert decision.reasons == (EligibilityReason.SUSPENDED_ARREARS,)


def test_a_suspension_in_an_unknown_scheme_names_no_scheme() -> None:
    row = Enrolment("MILITARY", START, None, "SUSPENDED")
    assert _decide(row) == (False, None, (EligibilityReason.SUSPENDED,))


def test_active_wins_over_terminated_and_suspended_wins_over_terminated() -> None:
    terminated = Enrolment("EMPLOYEE", START, dt.date(2021, 1, 1), "TERMINATED")
    suspended = Enrolment("EMPLOYEE", START, None, "SUSPENDED")
    active = Enrolment("RESIDENT", START, None, "ACTIVE")
    assert _decide(terminated, active) == (True, CoverageClass.RESIDENT, ())
    assert _decide(terminated, suspended) == (
        False,
        CoverageClass.EMPLOYEE,
        (EligibilityReason.SUSPENDED,),
    )


def test_scheme_benefits_table() -> None:
    expected = {
        CoverageClass.EMPLOYEE: frozenset(Benefit),
        CoverageClass.RESIDENT: frozenset(Benefit) - {Benefit.WORK_INJURY},
    }
    assert expected == SCHEME_BENEFITS


@pytest.mark.parametrize(
    ("rule_enum", "proto_enum", "prefix"),
    [
        (Benefit, eligibility_pb2.Benefit.DESCRIPTOR, "BENEFIT_"),
        (EligibilityReason, eligibility_pb2.EligibilityReason.DESCRIPTOR, "ELIGIBILITY_REASON_"),
        (CoverageClass, eligibility_pb2.CoverageClass.DESCRIPTOR, "COVERAGE_CLASS_"),
    ],
)
def test_rule_enums_are_the_proto_enums(
    rule_enum: type[enum.StrEnum], proto_enum: EnumDescriptor, prefix: str
) -> None:
    # grpc_api._convert maps by name: BENEFIT_<member name> in, <PREFIX>_<member value> out.
    # A value that drifts from its name, or from the proto, turns an answer into INTERNAL.
    for member in rule_enum:
        assert member.value == member.name
    names = {value.name.removeprefix(prefix) for value in proto_enum.values}
    assert names - {"UNSPECIFIED"} == {member.value for member in rule_enum}
