"""Each eligibility rule of enclave.eligibility, one test per rule."""

from __future__ import annotations

import datetime as dt

import pytest

from enclave.eligibility import (
    Benefit,
    CoverageClass,
    EligibilityReason,
    decide_eligibility,
    enrolment_state,
)
from tests.person_fakes import Enrolment

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
