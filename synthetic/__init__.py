"""A realistic synthetic registry export (``dataward datagen``), deterministic for a seed.

Writes the six tables of :data:`enclave.dataset.TABLES` as Parquet with exactly their
schemas: GB 11643 identity numbers from real GB/T 2260 division codes, Chinese names, unique
mobile numbers, enrolments with gaps, suspensions and terminations, deaths (no claims after
them), institutions per prefecture, about ten claims per covered person-year with a long
tail and winter seasonality, family bindings within the monthly limits, and synthetic face
templates. Fully vectorised: a million persons and their claims in well under a minute or two.

A tool that makes what a registry would export, not code that runs in the zone: it takes only
the registry schema from the zone (``enclave.dataset``'s face), and nothing in the zone, the
servers or the SDK imports it (import-linter contracts in ``pyproject.toml``).
"""

from synthetic._bindings import HOLDER_MONTHLY_LIMIT, MEMBER_MONTHLY_LIMIT
from synthetic._calendar import REFERENCE_DATE, WINDOW_START_DAY
from synthetic._claims import CLAIMS_PER_PERSON_YEAR
from synthetic._divisions import DIVISIONS, Division
from synthetic._generate import CHUNK_PERSONS, MAX_PERSONS, GenerationReport, generate
from synthetic.errors import (
    DatagenError,
    InvalidParametersError,
    OutputNotEmptyError,
    OutputNotWritableError,
)

__all__ = [
    "CHUNK_PERSONS",
    "CLAIMS_PER_PERSON_YEAR",
    "DIVISIONS",
    "HOLDER_MONTHLY_LIMIT",
    "MAX_PERSONS",
    "MEMBER_MONTHLY_LIMIT",
    "REFERENCE_DATE",
    "WINDOW_START_DAY",
    "DatagenError",
    "Division",
    "GenerationReport",
    "InvalidParametersError",
    "OutputNotEmptyError",
    "OutputNotWritableError",
    "generate",
]
