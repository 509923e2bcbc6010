"""The ingest's column-wide GB 11643 check (issue 15) finds, for every value, the same first
failing rule as :func:`enclave.persons.validate_id_number` does value by value."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from enclave.dataset._validation import RowVerdicts, id_number_rule_codes, mark_id_number_rules
from enclave.persons import (
    PROVINCE_CODES,
    InvalidIdNumber,
    InvalidReason,
    check_character,
    validate_id_number,
)

_RULES = list(InvalidReason)


def _expected(value: str | None) -> int:
    if value is None:
        return 0
    try:
        validate_id_number(value)
    except InvalidIdNumber as exc:
        return _RULES.index(exc.rule) + 1
    return 0


def _with_check(first17: str) -> str:
    return first17 + check_character(first17)


def _near_misses(rng: random.Random, count: int) -> list[str | None]:
    """Valid numbers, each possibly bent one way: a character replaced (also by a non-ASCII
    digit or letter), cut or lengthened, its date or region set to an edge case."""
    out: list[str | None] = []
    provinces = sorted(PROVINCE_CODES)
    for _ in range(count):
        region = rng.choice([*provinces, "00", "99", "10"]) + rng.choice(["0101", "0000", "1234"])
        date = rng.choice(
            [
                "19491231", "20000229", "19000229", "21000229", "20240230", "18791231",
                "18800101", "00000101", "99991231", "20241301", "20240001", "20240100",
                "20240431", "19960229", "f" + "9900101",
            ]
        )  # fmt: skip
        number = (
            _with_check(region + date + f"{rng.randrange(1000):03d}")
            if date[0] != "f"
            else (region + "1" + date[1:] + "0011")
        )
        bend = rng.randrange(9)
        if bend == 0:
            at = rng.randrange(len(number))
            letter = rng.choice("0123456789Xx \u0661\uff11a-\u00e9\U0001d7d8")
            number = number[:at] + letter + number[at + 1 :]
        elif bend == 1:
            number = number[: rng.randrange(len(number))]
        elif bend == 2:
            number += rng.choice(["0", "X", "\u00e9"])
        elif bend == 3:
            number = number[:17] + rng.choice("0123456789Xx")
        elif bend == 4:
            out.append(None)
            continue
        out.append(number)
    return out


def test_the_column_check_agrees_with_the_value_check() -> None:
    values = _near_misses(random.Random(15), 20_000)
    values += ["", "11010519491231002X", "11010519491231002x", "11010519491231\uff10\uff102X"]
    got = id_number_rule_codes(pa.array(values, pa.string()))
    expected = np.array([_expected(v) for v in values], dtype=np.int8)
    assert set(expected.tolist()) == set(range(len(_RULES) + 1))  # every rule, and valid
    assert got.tolist() == expected.tolist()


@settings(max_examples=300)
@given(
    st.lists(
        st.one_of(st.none(), st.text(max_size=20), st.from_regex(r"[0-9X]{18}", fullmatch=True))
    )
)
def test_any_text_gets_the_value_checks_rule(values: list[str | None]) -> None:
    got = id_number_rule_codes(pa.chunked_array([pa.array(values, pa.string())]))
    assert got.tolist() == [_expected(v) for v in values]


def test_a_sliced_column_is_read_from_its_offset() -> None:
    values = _near_misses(random.Random(3), 500)
    column = pa.array(values, pa.string()).slice(37, 400)
    assert id_number_rule_codes(column).tolist() == [_expected(v) for v in values[37:437]]


def test_rules_are_registered_in_the_order_their_first_row_comes() -> None:
    values = ["1101051949123100X2", "110105194912310029", "1", "11010519491231002X", "1"]
    codes = np.zeros(len(values), dtype=np.int16)
    codes[0] = 0
    verdicts = RowVerdicts(["null:id_number"])
    codes[1] = 1  # already rejected: its own rule is not registered
    mark_id_number_rules(pa.array(values), codes, verdicts)
    assert verdicts.rules == ["null:id_number", "id_number:CHARACTERS", "id_number:LENGTH"]
    assert codes.tolist() == [2, 1, 3, 0, 3]
