"""Feature sets and scorecards: the per-person integer vectors a steward approved, and the
zone-owned credit evaluation over one of them (issue 12).

A **feature set** is an ordered tuple of features; the order is the order of the vector a
model's weights are given in, so it is part of the policy's version. Each feature is an
integer computed in the zone for one person on a date (`as_of`), by a declarative definition
(`MonthsEnrolled`, `EnrolmentMax`, `ClaimCount`, `ClaimSum`) or by a steward's SQL over zone
tables (`FeatureSql`); a person the definition yields no row (or NULL) for has the raw value
0. The raw value is clipped into `[lower, upper]` and then, if the feature is coarsened,
replaced by the lower edge of its bucket (`Feature.value_of`): every value a feature can take
is in its declared bounds, and a coarsened one is one of `Feature.buckets`.

A **scorecard** is a model in clear over one feature set: an intercept plus, per feature,
integer points per unit of its value or per bucket; the score's band is A for a score at or
above the A cut-off, down to E below the D cut-off. Only the band leaves the zone.

Pure values and arithmetic: nothing here reads data.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AS_OF_PARAMETER",
    "BANDS",
    "CLAIM_SUM_COLUMNS",
    "ENROLMENT_MAX_COLUMNS",
    "FEATURE_SQL_OUTPUTS",
    "MAX_FEATURE_MAGNITUDE",
    "VISIT_TYPES",
    "Band",
    "ClaimCount",
    "ClaimSum",
    "Definition",
    "EnrolmentMax",
    "Feature",
    "FeatureSet",
    "FeatureSql",
    "MonthsEnrolled",
    "Points",
    "Scorecard",
]

Band = Literal["A", "B", "C", "D", "E"]
#: The bands, best first; a scorecard gives the cut-offs of the first four.
BANDS: tuple[Band, ...] = ("A", "B", "C", "D", "E")

#: The claims' visit types (the registry's enum; `policies` imports nothing of ours, and a
#: test checks this against `enclave.dataset`'s schema).
VISIT_TYPES = frozenset(
    {"OUTPATIENT", "INPATIENT", "PHARMACY", "CHRONIC", "MATERNITY", "WORK_INJURY"}
)
#: The claims' amounts a `ClaimSum` may add up (integer cents).
CLAIM_SUM_COLUMNS = frozenset({"total_cents", "fund_paid_cents", "self_paid_cents"})
#: The enrolments' integer columns an `EnrolmentMax` may take.
ENROLMENT_MAX_COLUMNS = frozenset({"arrears_months"})
#: The output columns of a feature's SQL, exactly: the person (`person_id`) and the value.
FEATURE_SQL_OUTPUTS = ("person_key", "value")
#: The one parameter a feature's SQL may use, `:as_of` (a DATE: the day the features are of).
AS_OF_PARAMETER = "as_of"
#: The largest magnitude of a feature's bounds: what the encrypted schemes score exactly
#: (CKKS keeps |score| * 2^40 inside its modulus; `enclave.compute`'s own limit is the same).
MAX_FEATURE_MAGNITUDE = 2**20


@dataclass(frozen=True, slots=True)
class MonthsEnrolled:
    """The calendar months, of the `window_months` ending with the month of `as_of`, that an
    enrolment of the person covers on at least one day up to `as_of` (an open enrolment
    runs to `as_of`), whatever its status."""

    window_months: int


@dataclass(frozen=True, slots=True)
class EnrolmentMax:
    """The largest value of an integer enrolment column over the person's enrolments that
    started by `as_of` (`arrears_months`: the months in arrears)."""

    column: str


@dataclass(frozen=True, slots=True)
class ClaimCount:
    """The person's claims with a visit date in the `window_months` up to `as_of`
    (`as_of - window < visit_date <= as_of`), of the given visit types (None: all)."""

    window_months: int
    visit_types: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class ClaimSum:
    """The sum of a claims amount (`column`, cents) over the claims `ClaimCount` counts."""

    column: str
    window_months: int
    visit_types: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class FeatureSql:
    """A steward's SQL over zone tables: one SELECT outputting `person_key` (the person's
    `person_id`) and `value`, one row per person; it may use `:as_of` (a DATE)."""

    sql: str


Definition = MonthsEnrolled | EnrolmentMax | ClaimCount | ClaimSum | FeatureSql


@dataclass(frozen=True, slots=True, kw_only=True)
class Feature:
    """One integer feature: its definition, its bounds, and its buckets if coarsened.

    `buckets` are the lower edges of the buckets, increasing, the first `lower` (None: not
    coarsened); bucket i holds `[buckets[i], buckets[i + 1])`, the last up to `upper`.
    """

    name: str
    definition: Definition
    lower: int
    upper: int
    buckets: tuple[int, ...] | None = None

    def value_of(self, raw: int) -> int:
        """`raw` clipped into `[lower, upper]`, then the lower edge of its bucket."""
        clipped = min(max(raw, self.lower), self.upper)
        if self.buckets is None:
            return clipped
        return self.buckets[self.bucket_of(clipped)]

    def bucket_of(self, value: int) -> int:
        """The index of the bucket of a value in bounds (0 when not coarsened)."""
        if self.buckets is None:
            return 0
        return bisect.bisect_right(self.buckets, value) - 1


@dataclass(frozen=True, slots=True)
class FeatureSet:
    """A named, ordered tuple of features: the vector is in this order."""

    name: str
    features: tuple[Feature, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def bounds(self) -> tuple[tuple[int, int], ...]:
        """Each feature's `(lower, upper)`, in the vector's order."""
        return tuple((f.lower, f.upper) for f in self.features)


@dataclass(frozen=True, slots=True, kw_only=True)
class Points:
    """A feature's points: `per_unit` times its value, or `per_bucket[i]` for bucket i."""

    per_unit: int | None = None
    per_bucket: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Scorecard:
    """A steward-approved scorecard over `feature_set`: `intercept` plus each listed
    feature's points (a feature not listed adds nothing). `cutoffs` are the least scores of
    bands A, B, C and D, strictly decreasing; a score below the D cut-off is E."""

    name: str
    feature_set: str
    intercept: int
    points: Mapping[str, Points]
    cutoffs: tuple[int, int, int, int]

    def score(self, features: FeatureSet, values: Sequence[int]) -> int:
        """The integer score of a vector of `features` (values as `Feature.value_of` gives)."""
        if features.name != self.feature_set or len(values) != len(features.features):
            raise ValueError("the vector is not of the scorecard's feature set")
        total = self.intercept
        for feature, value in zip(features.features, values, strict=True):
            points = self.points.get(feature.name)
            if points is None:
                continue
            if points.per_bucket is not None:
                total += points.per_bucket[feature.bucket_of(value)]
            else:
                total += (points.per_unit or 0) * value
        return total

    def band_of(self, score: int) -> Band:
        """A for a score at or above the A cut-off, ..., E below the D cut-off."""
        for band, cutoff in zip(BANDS, self.cutoffs, strict=False):
            if score >= cutoff:
                return band
        return "E"
