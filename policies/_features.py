"""Load a policy's `feature_sets:` and `scorecards:` sections (both optional; issue 12).

The format (see `policies.features` for what each definition computes)::

    feature_sets:
      <set>:                          # lower-case identifier, e.g. credit_v1
        features:                     # a list: the vector's order
          - name: <feature>           # lower-case identifier, unique in the set
            lower: 0                  # the declared bounds (within +-2^20): values are
            upper: 36                 # clipped into them
            # exactly one definition:
            months_enrolled: {window_months: 36}
            enrolment_max: {column: arrears_months}
            claim_count: {window_months: 12, visit_types: [OUTPATIENT]}   # types optional
            claim_sum: {column: self_paid_cents, window_months: 12, visit_types: [...]}
            sql: SELECT person_id AS person_key, ... AS value FROM ... GROUP BY person_id
            coarsen: {width: 5}       # optional: buckets of a width from lower,
            coarsen: {edges: [0, 100000, 500000]}   # or explicit lower edges (first = lower)
    scorecards:
      <scorecard>:
        feature_set: <set>
        intercept: 600
        points:
          <feature>: {per_unit: -20}              # points times the value
          <feature>: {per_bucket: [0, -5, -15]}   # one per bucket of a coarsened feature
        bands: {A: 700, B: 650, C: 600, D: 550}   # least scores, strictly decreasing; else E

A feature's SQL is checked as a view's: one SELECT reading only plain zone tables by name
(with `tables`, only those); its outputs are exactly `person_key` and `value`; its only
parameter is `:as_of`.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from policies._document import At
from policies._sql import select, sources
from policies.errors import (
    DuplicateNameError,
    InvalidValueError,
    MissingKeyError,
    UnknownReferenceError,
)
from policies.features import (
    AS_OF_PARAMETER,
    BANDS,
    CLAIM_SUM_COLUMNS,
    ENROLMENT_MAX_COLUMNS,
    FEATURE_SQL_OUTPUTS,
    MAX_FEATURE_MAGNITUDE,
    VISIT_TYPES,
    ClaimCount,
    ClaimSum,
    Definition,
    EnrolmentMax,
    Feature,
    FeatureSet,
    FeatureSql,
    MonthsEnrolled,
    Points,
    Scorecard,
)

__all__ = ["MAX_BUCKETS", "MAX_FEATURES", "MAX_WINDOW_MONTHS", "feature_sets", "scorecards"]

#: The most features a set has (a model's weights are one per feature).
MAX_FEATURES = 64
#: The most buckets a coarsened feature has (a scorecard lists points for each).
MAX_BUCKETS = 100
#: The longest window of a declarative feature: ten years.
MAX_WINDOW_MONTHS = 120
_DEFINITIONS = ("months_enrolled", "enrolment_max", "claim_count", "claim_sum", "sql")


def feature_sets(value: object, at: At, tables: frozenset[str] | None) -> dict[str, FeatureSet]:
    """The document's feature sets by name (none when the section is absent)."""
    sets: dict[str, FeatureSet] = {}
    for name, spec in at.names(value).items():
        set_at = at.key(name)
        doc = set_at.mapping(spec, required=("features",))
        features_at = set_at.key("features")
        items = features_at.sequence(doc["features"])
        if not items:
            features_at.fail(InvalidValueError, "a feature set has at least one feature")
        if len(items) > MAX_FEATURES:
            features_at.fail(InvalidValueError, f"a feature set has at most {MAX_FEATURES}")
        features: list[Feature] = []
        for i, item in enumerate(items):
            feature = _feature(item, features_at.index(i), tables)
            if any(f.name == feature.name for f in features):
                features_at.index(i).key("name").fail(
                    DuplicateNameError, f"the set already has a feature {feature.name!r}"
                )
            features.append(feature)
        sets[name] = FeatureSet(name=name, features=tuple(features))
    return sets


def _feature(value: object, at: At, tables: frozenset[str] | None) -> Feature:
    doc = at.mapping(
        value, required=("name", "lower", "upper"), optional=(*_DEFINITIONS, "coarsen")
    )
    name = at.key("name").identifier(doc["name"])
    lower = at.key("lower").integer(doc["lower"])
    upper = at.key("upper").integer(doc["upper"])
    for key, bound in (("lower", lower), ("upper", upper)):
        if abs(bound) > MAX_FEATURE_MAGNITUDE:
            at.key(key).fail(
                InvalidValueError, "must be within -2^20..2^20 (what encrypted scoring holds)"
            )
    if lower > upper:
        at.key("upper").fail(InvalidValueError, "must be at least lower")
    given = [key for key in _DEFINITIONS if key in doc]
    if len(given) != 1:
        at.fail(
            InvalidValueError if given else MissingKeyError,
            f"give exactly one definition: one of {', '.join(_DEFINITIONS)}",
        )
    kind = given[0]
    definition = _definition(kind, doc[kind], at.key(kind), tables)
    buckets = None
    if "coarsen" in doc:
        buckets = _buckets(doc["coarsen"], at.key("coarsen"), lower, upper)
    return Feature(name=name, definition=definition, lower=lower, upper=upper, buckets=buckets)


def _definition(kind: str, value: object, at: At, tables: frozenset[str] | None) -> Definition:
    if kind == "sql":
        return _sql(value, at, tables)
    if kind == "months_enrolled":
        doc = at.mapping(value, required=("window_months",))
        return MonthsEnrolled(_window(doc["window_months"], at.key("window_months")))
    if kind == "enrolment_max":
        doc = at.mapping(value, required=("column",))
        return EnrolmentMax(_one_of(doc["column"], at.key("column"), ENROLMENT_MAX_COLUMNS))
    required = ("column", "window_months") if kind == "claim_sum" else ("window_months",)
    doc = at.mapping(value, required=required, optional=("visit_types",))
    window = _window(doc["window_months"], at.key("window_months"))
    types = None
    if "visit_types" in doc:
        types_at = at.key("visit_types")
        types = types_at.string_set(doc["visit_types"], VISIT_TYPES)
        if not types:
            types_at.fail(InvalidValueError, "list at least one visit type (or leave it out)")
    if kind == "claim_sum":
        column = _one_of(doc["column"], at.key("column"), CLAIM_SUM_COLUMNS)
        return ClaimSum(column=column, window_months=window, visit_types=types)
    return ClaimCount(window_months=window, visit_types=types)


def _window(value: object, at: At) -> int:
    months = at.integer(value, minimum=1)
    if months > MAX_WINDOW_MONTHS:
        at.fail(InvalidValueError, f"must be at most {MAX_WINDOW_MONTHS}")
    return months


def _one_of(value: object, at: At, allowed: frozenset[str]) -> str:
    text = at.string(value)
    if text not in allowed:
        at.fail(InvalidValueError, f"must be one of {', '.join(sorted(allowed))}")
    return text


def _sql(value: object, at: At, tables: frozenset[str] | None) -> FeatureSql:
    sql = at.string(value)
    statement = select(sql, at)
    sources(statement, at, tables, "zone tables")
    outputs = statement.named_selects
    if sorted(outputs) != sorted(FEATURE_SQL_OUTPUTS) or len(outputs) != len(set(outputs)):
        at.fail(
            InvalidValueError,
            "outputs exactly person_key (the person_id) and value, one row per person",
        )
    for placeholder in statement.find_all(exp.Placeholder):
        if placeholder.name != AS_OF_PARAMETER:
            at.fail(
                UnknownReferenceError,
                f"uses :{placeholder.name or '?'}; a feature's only parameter is :as_of",
            )
    if statement.find(exp.Parameter) is not None:
        at.fail(UnknownReferenceError, "write the parameter as :as_of (the only one)")
    return FeatureSql(sql)


def _buckets(value: object, at: At, lower: int, upper: int) -> tuple[int, ...]:
    doc = at.mapping(value, optional=("width", "edges"))
    if ("width" in doc) == ("edges" in doc):
        at.fail(InvalidValueError, "give exactly one of width, edges")
    if "width" in doc:
        width = at.key("width").integer(doc["width"], minimum=1)
        if (upper - lower) // width + 1 > MAX_BUCKETS:
            at.key("width").fail(InvalidValueError, f"makes over {MAX_BUCKETS} buckets")
        return tuple(range(lower, upper + 1, width))
    edges_at = at.key("edges")
    items = edges_at.sequence(doc["edges"])
    edges = [edges_at.index(i).integer(item) for i, item in enumerate(items)]
    if not edges:
        edges_at.fail(InvalidValueError, "list at least one edge (the first is lower)")
    if len(edges) > MAX_BUCKETS:
        edges_at.fail(InvalidValueError, f"at most {MAX_BUCKETS} buckets")
    if edges[0] != lower:
        edges_at.index(0).fail(InvalidValueError, "the first edge is the feature's lower bound")
    for i in range(1, len(edges)):
        if edges[i] <= edges[i - 1]:
            edges_at.index(i).fail(InvalidValueError, "edges increase strictly")
        if edges[i] > upper:
            edges_at.index(i).fail(InvalidValueError, "above the feature's upper bound")
    return tuple(edges)


def scorecards(value: object, at: At, sets: Mapping[str, FeatureSet]) -> dict[str, Scorecard]:
    """The document's scorecards by name (none when the section is absent)."""
    cards: dict[str, Scorecard] = {}
    for name, spec in at.names(value).items():
        card_at = at.key(name)
        doc = card_at.mapping(spec, required=("feature_set", "intercept", "points", "bands"))
        set_at = card_at.key("feature_set")
        set_name = set_at.string(doc["feature_set"])
        if set_name not in sets:
            set_at.fail(UnknownReferenceError, f"the policy has no feature set {set_name!r}")
        features = {f.name: f for f in sets[set_name].features}
        intercept = card_at.key("intercept").integer(doc["intercept"])
        points_at = card_at.key("points")
        points = {
            feature: _points(features.get(feature), spec, points_at.key(feature))
            for feature, spec in points_at.mapping(doc["points"]).items()
        }
        if not points:
            points_at.fail(InvalidValueError, "give points for at least one feature")
        cards[name] = Scorecard(
            name=name,
            feature_set=set_name,
            intercept=intercept,
            points=points,
            cutoffs=_cutoffs(doc["bands"], card_at.key("bands")),
        )
    return cards


def _points(feature: Feature | None, value: object, at: At) -> Points:
    if feature is None:
        at.fail(UnknownReferenceError, "the scorecard's feature set has no feature of this name")
    doc = at.mapping(value, optional=("per_unit", "per_bucket"))
    if ("per_unit" in doc) == ("per_bucket" in doc):
        at.fail(InvalidValueError, "give exactly one of per_unit, per_bucket")
    if "per_unit" in doc:
        return Points(per_unit=at.key("per_unit").integer(doc["per_unit"]))
    bucket_at = at.key("per_bucket")
    if feature.buckets is None:
        bucket_at.fail(InvalidValueError, "the feature is not coarsened: give per_unit")
    items = bucket_at.sequence(doc["per_bucket"])
    if len(items) != len(feature.buckets):
        bucket_at.fail(
            InvalidValueError, f"give one number per bucket ({len(feature.buckets)} buckets)"
        )
    return Points(
        per_bucket=tuple(bucket_at.index(i).integer(item) for i, item in enumerate(items))
    )


def _cutoffs(value: object, at: At) -> tuple[int, int, int, int]:
    named = BANDS[:-1]
    doc = at.mapping(value, required=named)
    cutoffs = [at.key(band).integer(doc[band]) for band in named]
    for i in range(1, len(named)):
        if cutoffs[i] >= cutoffs[i - 1]:
            at.key(named[i]).fail(
                InvalidValueError, f"must be below the cut-off of band {named[i - 1]}"
            )
    return cutoffs[0], cutoffs[1], cutoffs[2], cutoffs[3]
