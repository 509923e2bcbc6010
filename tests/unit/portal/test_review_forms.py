"""The steward's approve and reject forms: each field's refusal names the field, never echoes
what was typed, and the defaults are what the page pre-fills."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from portal._review_forms import (
    Conditions,
    conditions_from_form,
    default_conditions,
    reason_from_form,
)
from portal.errors import InvalidInputError

TODAY = dt.date(2026, 3, 1)
GOOD = {"mode": "dp", "epsilon": "0.5", "expires_on": "2026-03-31", "max_runs": "10"}


def test_a_filled_form_is_its_conditions_to_the_end_of_the_last_day() -> None:
    conditions = conditions_from_form(GOOD, TODAY)
    assert conditions == Conditions("dp", Decimal("0.5"), dt.date(2026, 3, 31), 10)
    assert conditions.expires_at == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert conditions_from_form({**GOOD, "expires_on": "2026-03-01"}, TODAY).max_runs == 10


def test_an_exact_release_spends_no_epsilon_whatever_the_field_says() -> None:
    exact = conditions_from_form({**GOOD, "mode": "exact", "epsilon": "junk"}, TODAY)
    assert exact.mode == "exact" and exact.epsilon == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mode", ""),
        ("mode", "laplace"),
        ("epsilon", ""),
        ("epsilon", "0"),
        ("epsilon", "-1"),
        ("epsilon", "1e3"),
        ("epsilon", "0.1234567"),
        ("epsilon", "NaN"),
        ("expires_on", ""),
        ("expires_on", "31/03/2026"),
        ("expires_on", "2026-02-28"),
        ("max_runs", ""),
        ("max_runs", "0"),
        ("max_runs", "2.5"),
        ("max_runs", "-3"),
        ("max_runs", "9" * 12),
    ],
)
def test_a_malformed_field_is_refused_by_its_name(field: str, value: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        conditions_from_form({**GOOD, field: value}, TODAY)
    message = refused.value.public_message
    assert message.startswith(f"{field}: ")
    assert len(value) < 4 or value not in message  # what was typed is not repeated


def test_the_defaults_are_the_zones_mode_and_cost_thirty_days_and_ten_runs() -> None:
    assert default_conditions("dp", Decimal("1.0"), TODAY) == Conditions(
        "dp", Decimal("1.0"), dt.date(2026, 3, 31), 10
    )
    assert default_conditions("", Decimal(0), TODAY).mode == "dp"  # unknown: the safer mode


def test_a_rejection_needs_a_reason() -> None:
    assert reason_from_form({"reason": "  grouping too fine for this purpose "}) == (
        "grouping too fine for this purpose"
    )
    with pytest.raises(InvalidInputError, match=r"^reason: "):
        reason_from_form({"reason": "   "})
