from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enclave.persons import (
    PROVINCE_CODES,
    IdNumberInfo,
    InvalidIdNumber,
    InvalidReason,
    check_character,
    is_valid,
    validate_id_number,
)


def test_the_standard_example_is_valid() -> None:
    info = validate_id_number("11010519491231002X")
    assert info == IdNumberInfo(
        region_code="110105", birth_date=dt.date(1949, 12, 31), gender="F", sequence="002"
    )


@pytest.mark.parametrize(
    ("number", "gender"),
    [
        ("440524188001010014", "M"),  # the standard's second worked example
        ("110101199003070134", "M"),
        ("11010519491231002X", "F"),
    ],
)
def test_known_good_numbers(number: str, gender: str) -> None:
    assert is_valid(number)
    assert validate_id_number(number).gender == gender


def test_check_character_of_known_numbers() -> None:
    assert check_character("11010519491231002") == "X"
    assert check_character("44052418800101001") == "4"
    # remainder 1 maps to "0" (the "10X98765432" table)
    assert check_character("11010119900307007") == "0"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("11010519491231002", InvalidReason.LENGTH),
        ("11010519491231002XX", InvalidReason.LENGTH),
        ("", InvalidReason.LENGTH),
        ("11010519491231002x", InvalidReason.CHARACTERS),  # lower-case x is not canonical
        ("1101051949123100X2", InvalidReason.CHARACTERS),
        ("11010519491231００2X", InvalidReason.CHARACTERS),  # full-width digits
        ("11010519491231 02X", InvalidReason.CHARACTERS),
        ("110105194912310029", InvalidReason.CHECK_CHARACTER),
        ("11010519491231003X", InvalidReason.CHECK_CHARACTER),  # one digit typed wrong
        ("11010519491321002X", InvalidReason.CHECK_CHARACTER),
    ],
)
def test_known_bad_numbers(number: str, reason: InvalidReason) -> None:
    with pytest.raises(InvalidIdNumber) as info:
        validate_id_number(number)
    assert info.value.rule is reason
    assert not is_valid(number)


def _with_check(first17: str) -> str:
    return first17 + check_character(first17)


@pytest.mark.parametrize(
    "first17",
    [
        "11010519490230002",  # 30 February
        "11010519491301002",  # month 13
        "11010518791231002",  # before 1880
        "11010500000101002",  # year 0
    ],
)
def test_impossible_birth_dates_are_rejected(first17: str) -> None:
    with pytest.raises(InvalidIdNumber) as info:
        validate_id_number(_with_check(first17))
    assert info.value.rule is InvalidReason.BIRTH_DATE


def test_future_birth_date_is_rejected_only_when_today_is_given() -> None:
    number = _with_check("11010520300101002")
    assert is_valid(number)
    with pytest.raises(InvalidIdNumber) as info:
        validate_id_number(number, today=dt.date(2026, 6, 30))
    assert info.value.rule is InvalidReason.BIRTH_DATE


@pytest.mark.parametrize("first17", ["99010519491231002", "00000019491231002", "11000019491231002"])
def test_unknown_regions_are_rejected(first17: str) -> None:
    with pytest.raises(InvalidIdNumber) as info:
        validate_id_number(_with_check(first17))
    assert info.value.rule is InvalidReason.REGION


def test_message_never_carries_the_number() -> None:
    number = "110105194912310029"
    with pytest.raises(InvalidIdNumber) as info:
        validate_id_number(number)
    assert number not in str(info.value)
    assert "110105" not in str(info.value)


def test_check_character_rejects_bad_input() -> None:
    with pytest.raises(InvalidIdNumber) as info:
        check_character("1234")
    assert info.value.rule is InvalidReason.LENGTH
    with pytest.raises(InvalidIdNumber) as info:
        check_character("1101051949123100a")
    assert info.value.rule is InvalidReason.CHARACTERS


@given(
    province=st.sampled_from(sorted(PROVINCE_CODES)),
    rest=st.integers(1, 9999),
    birth=st.dates(dt.date(1900, 1, 1), dt.date(2026, 1, 1)),
    seq=st.integers(0, 999),
)
def test_any_well_formed_number_round_trips(
    province: str, rest: int, birth: dt.date, seq: int
) -> None:
    first17 = f"{province}{rest:04d}{birth:%Y%m%d}{seq:03d}"
    number = _with_check(first17)
    info = validate_id_number(number)
    assert info.birth_date == birth
    assert info.gender == ("M" if seq % 2 else "F")
    # any single-digit substitution in the body is caught by the check character
    pos = seq % 17
    wrong = str((int(first17[pos]) + 1 + rest % 9) % 10)
    tampered = first17[:pos] + wrong + first17[pos + 1 :] + number[17]
    assert not is_valid(tampered)
