"""GB 11643-1999 citizen identity numbers: structure, MOD 11-2 check character, validation.

An identity number is 18 characters::

    RRRRRR YYYYMMDD SSS C
    region birth    seq check

- ``RRRRRR``: the GB/T 2260 administrative division code of the place of first registration
  (province ``RR``, prefecture, county);
- ``YYYYMMDD``: the birth date;
- ``SSS``: a sequence number; its last digit is odd for men, even for women;
- ``C``: the ISO 7064 MOD 11-2 check character over the first 17 digits, ``0``-``9`` or ``X``.

Used by ingest (every registry row is validated) and by the identity check (a partner's
input). Errors carry a reason code and a public message, never the number itself.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import ClassVar

from enclave.persons.errors import PersonCheckError

__all__ = [
    "BIRTH_DATE_SPAN",
    "GENDER_DIGIT",
    "ID_CHECK_MAP",
    "ID_WEIGHTS",
    "PROVINCE_CODES",
    "IdNumberInfo",
    "InvalidIdNumber",
    "InvalidReason",
    "check_character",
    "is_valid",
    "validate_id_number",
]

# ISO 7064 MOD 11-2 weights 2^(17-i) mod 11 for positions 1..17, and the remainder-to-character
# map of GB 11643-1999 section 6.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_MAP = "10X98765432"
_ASCII_DIGITS = frozenset("0123456789")

# Where the birth date (YYYYMMDD) and the gender digit sit, for vectorized checks on a column.
BIRTH_DATE_SPAN = (6, 14)
GENDER_DIGIT = 16

# Province-level codes of GB/T 2260 (the first two digits of every valid region code).
# 71 Taiwan, 81 Hong Kong and 82 Macao are listed in the standard and appear on residence permits.
PROVINCE_CODES: frozenset[str] = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82",
    }
)  # fmt: skip

# Earliest birth date accepted: identity numbers were first issued in 1984 to living people.
_EARLIEST_BIRTH = dt.date(1880, 1, 1)


class InvalidReason(enum.StrEnum):
    """Why an identity number was rejected (stable, machine-readable)."""

    LENGTH = "LENGTH"
    CHARACTERS = "CHARACTERS"
    CHECK_CHARACTER = "CHECK_CHARACTER"
    BIRTH_DATE = "BIRTH_DATE"
    REGION = "REGION"


_PUBLIC_MESSAGES = {
    InvalidReason.LENGTH: "identity number must be 18 characters",
    InvalidReason.CHARACTERS: "identity number must be 17 digits followed by a digit or 'X'",
    InvalidReason.CHECK_CHARACTER: "identity number check character does not match",
    InvalidReason.BIRTH_DATE: "identity number carries an impossible birth date",
    InvalidReason.REGION: "identity number carries an unknown region code",
}


class InvalidIdNumber(PersonCheckError):  # noqa: N818 (the name the zone API uses)
    """An identity number failed validation; ``rule`` says which rule.

    The message is public: it names the rule, never the number.
    """

    reason: ClassVar[str] = "ID_NUMBER_INVALID"

    def __init__(self, rule: InvalidReason) -> None:
        self.rule = rule
        super().__init__(_PUBLIC_MESSAGES[rule])


@dataclass(frozen=True)
class IdNumberInfo:
    """What a valid identity number states."""

    region_code: str
    birth_date: dt.date
    gender: str  # "M" (odd sequence digit) or "F" (even)
    sequence: str


def check_character(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits of an identity number.

    Raises :class:`InvalidIdNumber` (LENGTH or CHARACTERS) if ``first17`` is not 17 ASCII digits.
    """
    if len(first17) != 17:
        raise InvalidIdNumber(InvalidReason.LENGTH)
    if not _ASCII_DIGITS.issuperset(first17):
        raise InvalidIdNumber(InvalidReason.CHARACTERS)
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_MAP[total % 11]


def validate_id_number(s: str, *, today: dt.date | None = None) -> IdNumberInfo:
    """Validate an 18-character identity number and return what it states.

    Checks, in order: length, characters (17 ASCII digits then a digit or upper-case ``X``),
    the check character, the birth date (a real calendar date, not before 1880, not after
    ``today`` when given), the province part of the region code. Raises
    :class:`InvalidIdNumber` with the first failing reason. Callers that accept a lower-case
    ``x`` from people normalise with ``str.upper()`` first; stored numbers must be canonical.
    """
    if len(s) != 18:
        raise InvalidIdNumber(InvalidReason.LENGTH)
    first17, last = s[:17], s[17]
    if not _ASCII_DIGITS.issuperset(first17) or (last not in _ASCII_DIGITS and last != "X"):
        raise InvalidIdNumber(InvalidReason.CHARACTERS)
    if check_character(first17) != last:
        raise InvalidIdNumber(InvalidReason.CHECK_CHARACTER)
    try:
        birth = dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))  # BIRTH_DATE_SPAN
    except ValueError:
        raise InvalidIdNumber(InvalidReason.BIRTH_DATE) from None
    if birth < _EARLIEST_BIRTH or (today is not None and birth > today):
        raise InvalidIdNumber(InvalidReason.BIRTH_DATE)
    region = s[:6]
    if region[:2] not in PROVINCE_CODES or region[2:] == "0000":
        raise InvalidIdNumber(InvalidReason.REGION)
    return IdNumberInfo(
        region_code=region,
        birth_date=birth,
        gender="M" if int(s[GENDER_DIGIT]) % 2 == 1 else "F",
        sequence=s[14:17],
    )


def is_valid(s: str, *, today: dt.date | None = None) -> bool:
    """Whether ``s`` is a valid identity number (see :func:`validate_id_number`)."""
    try:
        validate_id_number(s, today=today)
    except InvalidIdNumber:
        return False
    return True
