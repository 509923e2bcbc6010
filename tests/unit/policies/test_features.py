"""The policy language's feature sets and scorecards (issue 12): what loads, what it means,
the version, and every bad value naming its path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from policies import (
    ClaimCount,
    ClaimSum,
    EnrolmentMax,
    Feature,
    FeatureSet,
    FeatureSql,
    MonthsEnrolled,
    Points,
    PolicyError,
    Scorecard,
    default_policy,
    default_policy_text,
    load_policy,
)
from tests.unit.policies.documents import document, text

# The versions of these documents before feature sets existed (computed on the commit before
# them): a policy without the sections keeps its version.
_DOCUMENT_VERSION = "b7004241282514b3d003b6b30cee24b957523671577686697f77b682919188fe"
_DEFAULT_VIEWS_VERSION = "4f7f36cf1da81436a9f65f0c7415636faae72a9eb26543ec7233471a99b17e57"

_SQL = (
    "SELECT c.person_id AS person_key, COUNT(*) AS value FROM claims AS c "
    "WHERE c.visit_date <= :as_of GROUP BY c.person_id"
)
_SECTIONS: dict[str, Any] = {
    "feature_sets": {
        "small": {
            "features": [
                {"name": "months", "months_enrolled": {"window_months": 36}, "lower": 0,
                 "upper": 36},
                {"name": "arrears", "enrolment_max": {"column": "arrears_months"}, "lower": 0,
                 "upper": 12},
                {"name": "visits", "claim_count": {"window_months": 12,
                 "visit_types": ["OUTPATIENT", "PHARMACY"]}, "lower": 0, "upper": 20,
                 "coarsen": {"width": 5}},
                {"name": "paid", "claim_sum": {"column": "self_paid_cents", "window_months": 12},
                 "lower": 0, "upper": 100000, "coarsen": {"edges": [0, 1000, 10000]}},
                {"name": "any_claim", "sql": _SQL, "lower": 0, "upper": 1},
            ]
        }
    },
    "scorecards": {
        "card": {
            "feature_set": "small",
            "intercept": 100,
            "points": {
                "months": {"per_unit": 2},
                "arrears": {"per_unit": -10},
                "paid": {"per_bucket": [0, -5, -20]},
            },
            "bands": {"A": 160, "B": 140, "C": 120, "D": 100},
        }
    },
}  # fmt: skip


def _doc() -> dict[str, Any]:
    doc = document()
    doc.update(copy.deepcopy(_SECTIONS))
    return doc


def _feature(doc: dict[str, Any], i: int) -> dict[str, Any]:
    feature: dict[str, Any] = doc["feature_sets"]["small"]["features"][i]
    return feature


def test_a_policy_without_the_sections_keeps_its_version() -> None:
    plain = load_policy(text(document()))
    assert plain.version == _DOCUMENT_VERSION
    assert (plain.feature_sets, plain.scorecards) == ({}, {})
    doc = document()
    doc.update(feature_sets={}, scorecards={})
    assert load_policy(text(doc)).version == _DOCUMENT_VERSION
    shipped = yaml.safe_load(default_policy_text())
    del shipped["feature_sets"], shipped["scorecards"], shipped["compute"]
    assert load_policy(yaml.safe_dump(shipped)).version == _DEFAULT_VIEWS_VERSION
    assert default_policy().version != _DEFAULT_VIEWS_VERSION


def test_the_sections_load_into_values() -> None:
    policy = load_policy(text(_doc()))
    small = policy.feature_sets["small"]
    assert small.names == ("months", "arrears", "visits", "paid", "any_claim")
    assert small.bounds == ((0, 36), (0, 12), (0, 20), (0, 100000), (0, 1))
    months, arrears, visits, paid, any_claim = small.features
    assert months.definition == MonthsEnrolled(36) and months.buckets is None
    assert arrears.definition == EnrolmentMax("arrears_months")
    assert visits.definition == ClaimCount(12, frozenset({"OUTPATIENT", "PHARMACY"}))
    assert visits.buckets == (0, 5, 10, 15, 20)
    assert paid.definition == ClaimSum("self_paid_cents", 12, None)
    assert paid.buckets == (0, 1000, 10000)
    assert any_claim.definition == FeatureSql(_SQL)
    card = policy.scorecards["card"]
    assert card == Scorecard(
        name="card",
        feature_set="small",
        intercept=100,
        points={
            "months": Points(per_unit=2),
            "arrears": Points(per_unit=-10),
            "paid": Points(per_bucket=(0, -5, -20)),
        },
        cutoffs=(160, 140, 120, 100),
    )


def test_values_are_clipped_into_the_bounds_then_coarsened() -> None:
    width = Feature(
        name="w", definition=MonthsEnrolled(1), lower=2, upper=20, buckets=(2, 7, 12, 17)
    )
    assert [width.value_of(v) for v in (-5, 0, 2, 6, 7, 11, 16, 17, 20, 21, 10**12)] == [
        2, 2, 2, 2, 7, 7, 12, 17, 17, 17, 17,
    ]  # fmt: skip
    plain = Feature(name="p", definition=MonthsEnrolled(1), lower=-3, upper=3)
    assert [plain.value_of(v) for v in (-10, -3, 0, 3, 4)] == [-3, -3, 0, 3, 3]
    assert [width.bucket_of(v) for v in (2, 6, 7, 17, 20)] == [0, 0, 1, 3, 3]


def test_a_score_and_its_band_by_hand() -> None:
    policy = load_policy(text(_doc()))
    small, card = policy.feature_sets["small"], policy.scorecards["card"]
    # months 30 (+60), arrears 1 (-10), visits not scored, paid in bucket [1000, 10000) (-5)
    assert card.score(small, (30, 1, 15, 1000, 1)) == 100 + 60 - 10 - 5
    assert card.band_of(145) == "B"
    assert [card.band_of(s) for s in (1000, 160, 159, 140, 120, 100, 99, -1000)] == [
        "A", "A", "B", "B", "C", "D", "E", "E",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="feature set"):
        card.score(small, (1, 2))
    with pytest.raises(ValueError, match="feature set"):
        card.score(FeatureSet("other", small.features), (30, 1, 15, 1000, 1))


def test_every_change_of_meaning_changes_the_version_and_the_order_is_meaning() -> None:
    base = load_policy(text(_doc())).version
    changes = []
    doc = _doc()
    features = doc["feature_sets"]["small"]["features"]
    features[0], features[1] = features[1], features[0]
    changes.append(doc)
    doc = _doc()
    _feature(doc, 2)["coarsen"] = {"width": 4}
    changes.append(doc)
    doc = _doc()
    _feature(doc, 3)["upper"] = 100001
    changes.append(doc)
    doc = _doc()
    _feature(doc, 2)["claim_count"]["visit_types"] = ["OUTPATIENT"]
    changes.append(doc)
    doc = _doc()
    doc["scorecards"]["card"]["bands"]["D"] = 99
    changes.append(doc)
    doc = _doc()
    doc["scorecards"]["card"]["points"]["paid"] = {"per_bucket": [0, -5, -21]}
    changes.append(doc)
    versions = {load_policy(text(d)).version for d in changes}
    assert base not in versions
    assert len(versions) == len(changes)
    # Equal content in another layout: the same version (visit types are a set).
    doc = _doc()
    _feature(doc, 2)["claim_count"]["visit_types"] = ["PHARMACY", "OUTPATIENT"]
    assert load_policy(yaml.safe_dump(doc, default_flow_style=True)).version == base


def test_the_default_credit_feature_set_and_scorecard() -> None:
    policy = default_policy()
    credit = policy.feature_sets["credit_v1"]
    assert credit.names == (
        "months_insured_36m",
        "arrears_months",
        "outpatient_claims_12m",
        "inpatient_claims_12m",
        "pharmacy_claims_12m",
        "chronic_claims_12m",
        "self_paid_12m_cents",
        "chronic_condition",
    )
    assert isinstance(credit.features[-1].definition, FeatureSql)
    assert credit.features[6].buckets == (0, 50000, 200000, 500000)
    assert all(-(2**20) <= b <= 2**20 for f in credit.features for b in (f.lower, f.upper))
    card = policy.scorecards["credit_band_v1"]
    assert card.feature_set == "credit_v1"
    registry = frozenset({"persons", "enrolments", "institutions", "claims", "family_bindings"})
    assert load_policy(default_policy_text(), tables=registry) == policy


def _broken(change: str) -> dict[str, Any]:
    doc = _doc()
    f = doc["feature_sets"]["small"]["features"]
    card = doc["scorecards"]["card"]
    match change:
        case "set_not_mapping":
            doc["feature_sets"]["small"] = ["months"]
        case "no_features":
            doc["feature_sets"]["small"]["features"] = []
        case "set_name":
            doc["feature_sets"]["Small-1"] = doc["feature_sets"].pop("small")
        case "feature_name":
            f[0]["name"] = "Months"
        case "duplicate":
            f[1]["name"] = "months"
        case "no_definition":
            del f[0]["months_enrolled"]
        case "two_definitions":
            f[0]["sql"] = _SQL
        case "no_upper":
            del f[0]["upper"]
        case "upper_below":
            f[0]["lower"] = 40
        case "bound_type":
            f[0]["lower"] = "0"
        case "bound_large":
            f[3]["upper"] = 2**20 + 1
        case "bound_small":
            f[0]["lower"] = -(2**20) - 1
        case "window_zero":
            f[0]["months_enrolled"]["window_months"] = 0
        case "window_long":
            f[0]["months_enrolled"]["window_months"] = 121
        case "enrolment_column":
            f[1]["enrolment_max"]["column"] = "start_date"
        case "visit_type":
            f[2]["claim_count"]["visit_types"] = ["OUTPATIENT", "DENTAL"]
        case "visit_types_empty":
            f[2]["claim_count"]["visit_types"] = []
        case "claim_column":
            f[3]["claim_sum"]["column"] = "icd10"
        case "claim_unknown_key":
            f[3]["claim_sum"]["window"] = 12
        case "width_zero":
            f[2]["coarsen"] = {"width": 0}
        case "width_and_edges":
            f[2]["coarsen"] = {"width": 5, "edges": [0, 5]}
        case "too_many_buckets":
            f[3]["coarsen"] = {"width": 10}
        case "edges_first":
            f[3]["coarsen"] = {"edges": [1, 1000]}
        case "edges_order":
            f[3]["coarsen"] = {"edges": [0, 1000, 1000]}
        case "edges_above":
            f[3]["coarsen"] = {"edges": [0, 100001]}
        case "sql_two":
            f[4]["sql"] = _SQL + "; " + _SQL
        case "sql_not_select":
            f[4]["sql"] = "DELETE FROM claims"
        case "sql_file":
            f[4]["sql"] = "SELECT 1 AS person_key, 1 AS value FROM 'claims.parquet'"
        case "sql_function":
            f[4]["sql"] = "SELECT 1 AS person_key, 1 AS value FROM read_parquet('x.parquet')"
        case "sql_schema":
            f[4]["sql"] = "SELECT 1 AS person_key, 1 AS value FROM main.claims"
        case "sql_outputs":
            f[4]["sql"] = "SELECT c.person_id AS person_key FROM claims AS c"
        case "sql_extra_output":
            f[4]["sql"] = "SELECT c.person_id AS person_key, 1 AS value, 2 AS x FROM claims AS c"
        case "sql_parameter":
            f[4]["sql"] = _SQL.replace(":as_of", ":day")
        case "sql_positional":
            f[4]["sql"] = _SQL.replace(":as_of", "?")
        case "card_set":
            card["feature_set"] = "big"
        case "card_feature":
            card["points"]["nothing"] = {"per_unit": 1}
        case "card_no_points":
            card["points"] = {}
        case "card_both":
            card["points"]["months"] = {"per_unit": 1, "per_bucket": [1]}
        case "card_bucket_plain":
            card["points"]["months"] = {"per_bucket": [1]}
        case "card_bucket_count":
            card["points"]["paid"] = {"per_bucket": [0, -5]}
        case "card_band_missing":
            del card["bands"]["D"]
        case "card_band_order":
            card["bands"]["C"] = 140
        case "card_band_extra":
            card["bands"]["E"] = 0
        case "card_intercept":
            card["intercept"] = 1.5
        case "top_unknown":
            doc["featuresets"] = {}
    return doc


_F = "feature_sets.small.features"
_C = "scorecards.card"


@pytest.mark.parametrize(
    ("change", "path", "problem"),
    [
        ("set_not_mapping", "feature_sets.small", "expected a mapping"),
        ("no_features", f"{_F}", "at least one feature"),
        ("set_name", "feature_sets.Small-1", "lower-case ASCII identifier"),
        ("feature_name", f"{_F}[0].name", "lower-case ASCII identifier"),
        ("duplicate", f"{_F}[1].name", "already has a feature 'months'"),
        ("no_definition", f"{_F}[0]", "exactly one definition"),
        ("two_definitions", f"{_F}[0]", "exactly one definition"),
        ("no_upper", f"{_F}[0].upper", "required key is missing"),
        ("upper_below", f"{_F}[0].upper", "at least lower"),
        ("bound_type", f"{_F}[0].lower", "expected an integer"),
        ("bound_large", f"{_F}[3].upper", "within -2^20..2^20"),
        ("bound_small", f"{_F}[0].lower", "within -2^20..2^20"),
        ("window_zero", f"{_F}[0].months_enrolled.window_months", "at least 1"),
        ("window_long", f"{_F}[0].months_enrolled.window_months", "at most 120"),
        ("enrolment_column", f"{_F}[1].enrolment_max.column", "must be one of arrears_months"),
        ("visit_type", f"{_F}[2].claim_count.visit_types[1]", "must be one of CHRONIC"),
        ("visit_types_empty", f"{_F}[2].claim_count.visit_types", "at least one visit type"),
        ("claim_column", f"{_F}[3].claim_sum.column", "must be one of fund_paid_cents"),
        ("claim_unknown_key", f"{_F}[3].claim_sum.window", "unknown key"),
        ("width_zero", f"{_F}[2].coarsen.width", "at least 1"),
        ("width_and_edges", f"{_F}[2].coarsen", "exactly one of width, edges"),
        ("too_many_buckets", f"{_F}[3].coarsen.width", "over 100 buckets"),
        ("edges_first", f"{_F}[3].coarsen.edges[0]", "the feature's lower bound"),
        ("edges_order", f"{_F}[3].coarsen.edges[2]", "increase strictly"),
        ("edges_above", f"{_F}[3].coarsen.edges[1]", "above the feature's upper bound"),
        ("sql_two", f"{_F}[4].sql", "exactly one SELECT"),
        ("sql_not_select", f"{_F}[4].sql", "exactly one SELECT"),
        ("sql_file", f"{_F}[4].sql", "no files, functions"),
        ("sql_function", f"{_F}[4].sql", "no files, functions"),
        ("sql_schema", f"{_F}[4].sql", "no files, functions"),
        ("sql_outputs", f"{_F}[4].sql", "outputs exactly person_key"),
        ("sql_extra_output", f"{_F}[4].sql", "outputs exactly person_key"),
        ("sql_parameter", f"{_F}[4].sql", "uses :day"),
        ("sql_positional", f"{_F}[4].sql", "only parameter is :as_of"),
        ("card_set", f"{_C}.feature_set", "no feature set 'big'"),
        ("card_feature", f"{_C}.points.nothing", "has no feature of this name"),
        ("card_no_points", f"{_C}.points", "at least one feature"),
        ("card_both", f"{_C}.points.months", "exactly one of per_unit, per_bucket"),
        ("card_bucket_plain", f"{_C}.points.months.per_bucket", "not coarsened"),
        ("card_bucket_count", f"{_C}.points.paid.per_bucket", "one number per bucket (3"),
        ("card_band_missing", f"{_C}.bands.D", "required key is missing"),
        ("card_band_order", f"{_C}.bands.C", "below the cut-off of band B"),
        ("card_band_extra", f"{_C}.bands.E", "unknown key"),
        ("card_intercept", f"{_C}.intercept", "expected an integer"),
        ("top_unknown", "featuresets", "unknown key"),
    ],
)
def test_every_bad_value_names_its_path_and_problem(change: str, path: str, problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(text(_broken(change)), "p.yaml")
    assert (caught.value.file, caught.value.path) == ("p.yaml", path)
    assert problem in caught.value.problem


def test_a_feature_sql_reads_only_the_zone_tables_given() -> None:
    doc = _doc()
    _feature(doc, 4)["sql"] = _SQL.replace("claims AS c", "face_templates AS c")
    with pytest.raises(PolicyError) as caught:
        load_policy(text(doc), tables=frozenset({"claims", "persons"}))
    assert caught.value.path == f"{_F}[4].sql"
    assert "not one of the zone tables" in caught.value.problem
