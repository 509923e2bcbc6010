"""The fixed calendar of a synthetic export: reference date, claims window, seeded streams."""

from __future__ import annotations

import datetime as dt

import numpy as np

__all__ = ["EPOCH", "REFERENCE_DATE", "REF_DAY", "WINDOW_DAYS", "WINDOW_START_DAY", "day", "stream"]

EPOCH = dt.date(1970, 1, 1)
# The export is "as of" this date whatever the seed, so the same seed always gives the same
# bytes (no wall clock anywhere).
REFERENCE_DATE = dt.date(2026, 6, 30)
REF_DAY = (REFERENCE_DATE - EPOCH).days
# Claims cover the 24 months up to and including the reference date.
WINDOW_START_DAY = (dt.date(2024, 7, 1) - EPOCH).days
WINDOW_DAYS = REF_DAY - WINDOW_START_DAY + 1
YEAR = 365.25

# Independent random streams: one per stage and chunk, so a stage's draws never depend on
# how many numbers another stage consumed.
STAGE_POPULATION = 0
STAGE_CLAIMS = 1
STAGE_BINDINGS = 2
STAGE_FACES = 3
STAGE_INSTITUTIONS = 4


def day(d: dt.date) -> int:
    """Days since 1970-01-01 (Arrow date32)."""
    return (d - EPOCH).days


def stream(seed: int, stage: int, chunk: int = 0) -> np.random.Generator:
    """The random generator of one stage and chunk for a seed."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stage, chunk])))
