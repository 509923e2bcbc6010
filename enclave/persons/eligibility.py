"""Eligibility: is a person covered for a kind of care on a date? Pure rules over records.

The rules, in the order they are applied (the first that decides wins):

1. **Registry status.** A person whose registry status is ``DECEASED`` or ``EMIGRATED`` is not
   eligible (reason ``DECEASED`` / ``EMIGRATED``), whatever their enrolments say. The registry
   holds the *current* status only, so it applies to every date.
2. **An enrolment's state on the date** ``as_of``:

   - before ``start_date``: not started (ignored);
   - after ``end_date`` (``end_date`` is the last covered day, inclusive): ended — it counts
     as ``TERMINATED`` history if its status is ``TERMINATED``, otherwise it is ignored;
   - within ``[start_date, end_date]`` (or from ``start_date`` on if there is no
     ``end_date``): in force, with the record's status — except that a ``TERMINATED``
     enrolment covered the days up to its ``end_date`` (it was terminated *at* that date),
     so on such a day it is ``ACTIVE``; a ``TERMINATED`` enrolment without an ``end_date``
     covers no day. The export has no status history: ``SUSPENDED`` is taken to apply to
     every day of the enrolment's span.
3. **Scheme vs benefit.** The ``EMPLOYEE`` scheme covers every benefit. The ``RESIDENT``
   scheme covers ``OUTPATIENT``, ``INPATIENT``, ``PHARMACY``, ``CHRONIC`` and ``MATERNITY``
   (China's resident scheme pays the medical costs of delivery; the maternity *allowance*, a
   cash benefit, is not an eligibility question) but not ``WORK_INJURY``, which is an
   employment-injury benefit for employees only.
4. **Decision.**

   - some ``ACTIVE`` enrolment whose scheme covers the benefit → **eligible**, coverage class
     = its scheme (``EMPLOYEE`` preferred when both schemes qualify);
   - some ``ACTIVE`` enrolment, none covering the benefit → ``BENEFIT_NOT_COVERED``;
   - some in-force ``SUSPENDED`` enrolment → ``SUSPENDED_ARREARS`` if it has arrears
     (``arrears_months > 0``), else ``SUSPENDED``;
   - some ``TERMINATED`` enrolment (in force without end date, or ended before the date) →
     ``TERMINATED``;
   - otherwise → ``NOT_ENROLLED``.

   When refused for an enrolment's status or scheme, the coverage class is that enrolment's
   scheme (so the partner learns which scheme the person is in); otherwise it is absent.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "SCHEME_BENEFITS",
    "Benefit",
    "CoverageClass",
    "EligibilityDecision",
    "EligibilityReason",
    "EnrolmentLike",
    "decide_eligibility",
    "enrolment_state",
]


class Benefit(enum.StrEnum):
    """The kinds of care (the claims' visit types)."""

    OUTPATIENT = "OUTPATIENT"
    INPATIENT = "INPATIENT"
    PHARMACY = "PHARMACY"
    CHRONIC = "CHRONIC"
    MATERNITY = "MATERNITY"
    WORK_INJURY = "WORK_INJURY"


class CoverageClass(enum.StrEnum):
    """The scheme an answer rests on."""

    EMPLOYEE = "EMPLOYEE"
    RESIDENT = "RESIDENT"


class EligibilityReason(enum.StrEnum):
    """Why a person is not eligible (stable, machine-readable)."""

    NOT_ENROLLED = "NOT_ENROLLED"
    SUSPENDED = "SUSPENDED"
    SUSPENDED_ARREARS = "SUSPENDED_ARREARS"
    TERMINATED = "TERMINATED"
    DECEASED = "DECEASED"
    EMIGRATED = "EMIGRATED"
    BENEFIT_NOT_COVERED = "BENEFIT_NOT_COVERED"


SCHEME_BENEFITS: dict[CoverageClass, frozenset[Benefit]] = {
    CoverageClass.EMPLOYEE: frozenset(Benefit),
    CoverageClass.RESIDENT: frozenset(Benefit) - {Benefit.WORK_INJURY},
}

# EMPLOYEE first: when both schemes qualify, the answer names the employee scheme.
_SCHEME_ORDER = (CoverageClass.EMPLOYEE, CoverageClass.RESIDENT)


class EnrolmentLike(Protocol):
    """The fields of an enrolment record the rules read (``enclave``'s EnrolmentRecord)."""

    @property
    def scheme(self) -> str: ...
    @property
    def start_date(self) -> dt.date: ...
    @property
    def end_date(self) -> dt.date | None: ...
    @property
    def status(self) -> str: ...
    @property
    def arrears_months(self) -> int: ...


@dataclass(frozen=True)
class EligibilityDecision:
    """The answer: eligible or not, the scheme it rests on, and the reasons (empty if eligible)."""

    eligible: bool
    coverage_class: CoverageClass | None
    reasons: tuple[EligibilityReason, ...]


def enrolment_state(enrolment: EnrolmentLike, as_of: dt.date) -> str | None:
    """The enrolment's state on ``as_of``: ACTIVE, SUSPENDED, TERMINATED or None (irrelevant)."""
    if as_of < enrolment.start_date:
        return None
    ended = enrolment.end_date is not None and as_of > enrolment.end_date
    if enrolment.status == "TERMINATED":
        if ended or enrolment.end_date is None:
            return "TERMINATED"
        return "ACTIVE"
    if ended:
        return None
    if enrolment.status in ("ACTIVE", "SUSPENDED"):
        return enrolment.status
    # An unknown status never grants cover (fail closed).
    return None


def _best(enrolments: list[EnrolmentLike]) -> EnrolmentLike:
    return min(enrolments, key=lambda e: _scheme_rank(e.scheme))


def _scheme_rank(scheme: str) -> int:
    for rank, known in enumerate(_SCHEME_ORDER):
        if scheme == known:
            return rank
    return len(_SCHEME_ORDER)


def _coverage(scheme: str) -> CoverageClass | None:
    try:
        return CoverageClass(scheme)
    except ValueError:
        return None


def decide_eligibility(
    person_status: str, enrolments: Iterable[EnrolmentLike], benefit: Benefit, as_of: dt.date
) -> EligibilityDecision:
    """Apply the module's rules; pure and total (unknown statuses and schemes never grant)."""
    if person_status == "DECEASED":
        return EligibilityDecision(False, None, (EligibilityReason.DECEASED,))
    if person_status == "EMIGRATED":
        return EligibilityDecision(False, None, (EligibilityReason.EMIGRATED,))
    if person_status != "ACTIVE":
        return EligibilityDecision(False, None, (EligibilityReason.NOT_ENROLLED,))
    by_state: dict[str, list[EnrolmentLike]] = {"ACTIVE": [], "SUSPENDED": [], "TERMINATED": []}
    for enrolment in enrolments:
        state = enrolment_state(enrolment, as_of)
        if state is not None:
            by_state[state].append(enrolment)
    active = [e for e in by_state["ACTIVE"] if _coverage(e.scheme) is not None]
    covering = [e for e in active if benefit in SCHEME_BENEFITS[CoverageClass(e.scheme)]]
    if covering:
        return EligibilityDecision(True, _coverage(_best(covering).scheme), ())
    if active:
        return EligibilityDecision(
            False, _coverage(_best(active).scheme), (EligibilityReason.BENEFIT_NOT_COVERED,)
        )
    if by_state["SUSPENDED"]:
        suspended = _best(by_state["SUSPENDED"])
        reason = (
            EligibilityReason.SUSPENDED_ARREARS
            if suspended.arrears_months > 0
            else EligibilityReason.SUSPENDED
        )
        return EligibilityDecision(False, _coverage(suspended.scheme), (reason,))
    if by_state["TERMINATED"]:
        terminated = _best(by_state["TERMINATED"])
        return EligibilityDecision(
            False, _coverage(terminated.scheme), (EligibilityReason.TERMINATED,)
        )
    return EligibilityDecision(False, None, (EligibilityReason.NOT_ENROLLED,))
