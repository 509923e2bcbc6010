"""The steward's approve and reject forms: what a field may hold, checked before the zone is
called, and the defaults the approve form is filled with.

Only the form's shape is checked here (a mode the zone knows, a number, a date, a count); the
limits (the largest epsilon, the longest expiry, the most runs, the reason's length) are the
zone's, which refuses beyond them with INVALID_ARGUMENT naming the field (shown as a 400).
Every refusal names the field and never repeats what was typed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from portal.errors import InvalidInputError

__all__ = [
    "DEFAULT_EXPIRY_DAYS",
    "DEFAULT_MAX_RUNS",
    "MODES",
    "Conditions",
    "conditions_from_form",
    "default_conditions",
    "reason_from_form",
]

MODES = ("exact", "dp")
DEFAULT_EXPIRY_DAYS = 30
DEFAULT_MAX_RUNS = 10
_EPSILON = re.compile(r"[0-9]{1,4}(\.[0-9]{1,6})?")  # micro-epsilon is the ledger's unit
_RUNS = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class Conditions:
    """What an approval allows: the release ``mode``, ``epsilon`` per run (dp only: 0 for
    exact), the last day it may run (``expires_on``, to the end of that day UTC) and how many
    runs (``max_runs``)."""

    mode: str
    epsilon: Decimal
    expires_on: dt.date
    max_runs: int

    @property
    def expires_at(self) -> dt.datetime:
        """The first instant it may no longer run: midnight UTC after ``expires_on``."""
        midnight = dt.datetime.combine(self.expires_on, dt.time(), dt.UTC)
        return midnight + dt.timedelta(days=1)


def default_conditions(mode: str, epsilon: Decimal, today: dt.date) -> Conditions:
    """The approve form's pre-filled values: the view's mode and the cost the zone named,
    30 days, 10 runs."""
    return Conditions(
        mode=mode if mode in MODES else "dp",
        epsilon=epsilon,
        expires_on=today + dt.timedelta(days=DEFAULT_EXPIRY_DAYS),
        max_runs=DEFAULT_MAX_RUNS,
    )


def conditions_from_form(form: Mapping[str, str], today: dt.date) -> Conditions:
    """The approve form's fields as :class:`Conditions`; :class:`InvalidInputError` (400)
    naming the first field that is missing or malformed."""
    mode = form.get("mode", "")
    if mode not in MODES:
        raise InvalidInputError("mode: choose exact or dp")
    raw_epsilon = form.get("epsilon", "").strip()
    if mode == "exact":
        epsilon = Decimal(0)  # an exact release spends no privacy budget
    elif not _EPSILON.fullmatch(raw_epsilon) or Decimal(raw_epsilon) <= 0:
        raise InvalidInputError(
            "epsilon: a positive number with at most 6 decimals (e.g. 0.5) for a dp release"
        )
    else:
        epsilon = Decimal(raw_epsilon)
    try:
        expires_on = dt.date.fromisoformat(form.get("expires_on", "").strip())
    except ValueError:
        raise InvalidInputError("expires_on: a date as YYYY-MM-DD") from None
    if expires_on < today:
        raise InvalidInputError("expires_on: today or a later date")
    raw_runs = form.get("max_runs", "").strip()
    if not _RUNS.fullmatch(raw_runs) or int(raw_runs) < 1:
        raise InvalidInputError("max_runs: a whole number of runs, at least 1")
    return Conditions(mode, epsilon, expires_on, int(raw_runs))


def reason_from_form(form: Mapping[str, str]) -> str:
    """The rejection's reason, which the partner will read; :class:`InvalidInputError` when
    it is empty."""
    reason = form.get("reason", "").strip()
    if not reason:
        raise InvalidInputError("reason: say why, in words the partner will read")
    return reason
