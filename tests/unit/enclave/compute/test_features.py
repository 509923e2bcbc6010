"""Feature vectors on a real synthetic registry and DuckDB: equal to an independent
computation, clipped and coarsened as declared, parameters bound, no identifier anywhere."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
import yaml

from enclave.compute import (
    FeatureBatchTooLarge,
    FeatureComputationFailed,
    FeatureComputer,
    FeatureError,
    FeaturePersonUnknown,
    FeatureRequestInvalid,
    FeatureSetUnknown,
    FeatureVector,
    feature_bounds,
)
from enclave.compute._ckks import MAX_FEATURE_MAGNITUDE
from enclave.dataset import enum_values
from policies import MAX_FEATURE_MAGNITUDE as POLICY_MAGNITUDE
from policies import Policy, default_policy, default_policy_text, load_policy
from policies.features import VISIT_TYPES
from query_engine import DuckDBEngine, ExecutionRequest, ExecutionResult
from tests.unit.enclave.compute.features_registry import AS_OF, Registry, credit_features


class RecordingEngine(DuckDBEngine):
    """The real engine, keeping every request it ran."""

    def __init__(self) -> None:
        self.requests: list[ExecutionRequest] = []

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        self.requests.append(request)
        return super().execute(request)


def _with_sets(sets: dict[str, Any]) -> Policy:
    document = yaml.safe_load(default_policy_text())
    document["feature_sets"] = sets
    del document["scorecards"]
    return load_policy(yaml.safe_dump(document, sort_keys=False))


def _some(registry: Registry) -> list[int]:
    """Persons with something in most features: the most claims, arrears, a short cover."""
    by_claims = sorted(registry.person_ids, key=lambda p: -len(registry.claims.get(p, [])))
    arrears = [p for p in registry.person_ids if any(a for *_, a in registry.enrolments[p])]
    short = [p for p in registry.person_ids if credit_features(registry, p)[0] not in (0, 36)]
    return [*by_claims[:3], *arrears[:2], *short[:2], registry.person_ids[0]]


def test_the_feature_sets_visit_types_are_the_registrys() -> None:
    assert enum_values("claims", "visit_type") == VISIT_TYPES


def test_every_feature_set_fits_the_encrypted_scorers() -> None:
    assert POLICY_MAGNITUDE == MAX_FEATURE_MAGNITUDE
    credit = default_policy().feature_sets["credit_v1"]
    bounds = feature_bounds(credit)
    assert [(b.name, b.low, b.high) for b in bounds] == [
        (f.name, f.lower, f.upper) for f in credit.features
    ]


def test_one_persons_vector_equals_an_independent_computation(registry: Registry) -> None:
    computer = FeatureComputer(registry.zone)
    policy = default_policy()
    for person in _some(registry):
        vector = computer.vector(policy, "credit_v1", person, AS_OF)
        assert vector.values == credit_features(registry, person)
        assert vector.bounds == policy.feature_sets["credit_v1"].bounds
        assert (vector.feature_set, vector.as_of) == ("credit_v1", AS_OF)
        assert vector.dataset_version == registry.zone.version


def test_a_batch_equals_the_independent_computation_in_the_order_given(
    registry: Registry,
) -> None:
    computer = FeatureComputer(registry.zone)
    persons = [*reversed(registry.person_ids), registry.person_ids[5]]
    vectors = computer.vectors(default_policy(), "credit_v1", persons, AS_OF)
    assert [v.values for v in vectors] == [credit_features(registry, p) for p in persons]
    # The registry holds every kind of value the features take (no all-zero column).
    for i in range(8):
        assert len({v.values[i] for v in vectors}) > 1


def test_another_day_moves_the_windows(registry: Registry) -> None:
    day = dt.date(2025, 12, 31)
    persons = _some(registry)
    vectors = FeatureComputer(registry.zone).vectors(default_policy(), "credit_v1", persons, day)
    assert [v.values for v in vectors] == [credit_features(registry, p, day) for p in persons]
    assert vectors != FeatureComputer(registry.zone).vectors(
        default_policy(), "credit_v1", persons, AS_OF
    )


def test_values_are_clipped_into_the_bounds_and_coarsened(registry: Registry) -> None:
    policy = _with_sets(
        {
            "tight": {
                "features": [
                    {"name": "claims", "claim_count": {"window_months": 24}, "lower": 3,
                     "upper": 17, "coarsen": {"width": 4}},
                    {"name": "paid", "claim_sum": {"column": "total_cents",
                     "window_months": 24}, "lower": 0, "upper": 900000,
                     "coarsen": {"edges": [0, 10000, 300000]}},
                    {"name": "months", "months_enrolled": {"window_months": 12}, "lower": 2,
                     "upper": 6},
                ]
            }
        }
    )  # fmt: skip
    persons = list(registry.person_ids)
    vectors = FeatureComputer(registry.zone).vectors(policy, "tight", persons, AS_OF)
    two_years_ago = dt.date(2024, 6, 30)
    raw_counts = []
    for person, vector in zip(persons, vectors, strict=True):
        claims = [c for c in registry.claims.get(person, []) if two_years_ago < c[0] <= AS_OF]
        raw_counts.append(len(claims))
        assert vector.bounds == ((3, 17), (0, 900000), (2, 6))
        count, paid, months = vector.values
        assert count in (3, 7, 11, 15)
        assert count == 3 + (min(max(len(claims), 3), 17) - 3) // 4 * 4
        assert paid in (0, 10000, 300000)
        assert 2 <= months <= 6
        for value, (lower, upper) in zip(vector.values, vector.bounds, strict=True):
            assert lower <= value <= upper
    # Both bounds were reached from outside: clipping did something.
    assert min(raw_counts) < 3 and max(raw_counts) > 17
    assert {v.values[2] for v in vectors} >= {2, 6}


def test_a_steward_sql_feature_and_its_day(registry: Registry) -> None:
    sql = (
        "WITH recent AS (SELECT * FROM claims WHERE visit_date > :as_of - INTERVAL 3 MONTH "
        "AND visit_date <= :as_of) SELECT p.person_id AS person_key, "
        "COUNT(r.claim_id) AS value FROM persons AS p LEFT JOIN recent AS r "
        "ON r.person_id = p.person_id GROUP BY p.person_id"
    )
    policy = _with_sets(
        {"mine": {"features": [{"name": "recent", "sql": sql, "lower": 0, "upper": 1000}]}}
    )
    engine = RecordingEngine()
    computer = FeatureComputer(registry.zone, engine=engine)
    persons = _some(registry)
    vectors = computer.vectors(policy, "mine", persons, AS_OF)
    since = dt.date(2026, 3, 30)
    expected = [
        sum(1 for c in registry.claims.get(p, []) if since < c[0] <= AS_OF) for p in persons
    ]
    assert [v.values for v in vectors] == [(e,) for e in expected]
    assert any(expected)
    # Every value the query depends on was bound, none written into its text.
    (request,) = engine.requests
    assert request.parameters["as_of"] == "2026-06-30"
    assert "2026" not in request.sql
    for person in persons:
        assert str(person) in str(request.parameters["persons"]).split(",")
    assert set(request.tables) == {"persons", "claims"}


def test_the_declarative_features_bind_their_windows_and_types(registry: Registry) -> None:
    engine = RecordingEngine()
    person = registry.person_ids[-13]  # three digits: no name in the text holds them
    FeatureComputer(registry.zone, engine=engine).vector(
        default_policy(), "credit_v1", person, AS_OF
    )
    (request,) = engine.requests
    assert "OUTPATIENT" not in request.sql and "36" not in request.sql
    assert str(person) not in request.sql and request.parameters["persons"] == str(person)
    assert {request.parameters["f0_window"], request.parameters["f2_types"]} == {36, "OUTPATIENT"}
    assert set(request.tables) == {"persons", "enrolments", "claims"}


def _identifiers_absent(registry: Registry, *texts: str) -> None:
    for text in texts:
        for value in registry.export.clear_values:
            assert value not in text


def test_refusals_are_zone_errors_without_an_identifier(registry: Registry) -> None:
    computer = FeatureComputer(registry.zone, max_batch=3)
    policy = default_policy()
    known = registry.person_ids[7]
    unknown = max(registry.person_ids) + 1234567
    cases: list[tuple[type[FeatureError], Any]] = [
        (FeatureSetUnknown, lambda: computer.vector(policy, "credit_v9", known, AS_OF)),
        (FeatureRequestInvalid, lambda: computer.vectors(policy, "credit_v1", [], AS_OF)),
        (FeatureRequestInvalid, lambda: computer.vectors(policy, "credit_v1", [True], AS_OF)),
        (FeatureRequestInvalid, lambda: computer.vectors(policy, "credit_v1", ["1"], AS_OF)),  # type: ignore[list-item]
        (
            FeatureRequestInvalid,
            lambda: computer.vector(policy, "credit_v1", known, dt.datetime(2026, 6, 30)),
        ),
        (FeatureBatchTooLarge, lambda: computer.vectors(policy, "credit_v1", [1, 2, 3, 4], AS_OF)),
        (FeaturePersonUnknown, lambda: computer.vector(policy, "credit_v1", unknown, AS_OF)),
        (
            FeaturePersonUnknown,
            lambda: computer.vectors(policy, "credit_v1", [known, unknown], AS_OF),
        ),
    ]
    for kind, call in cases:
        with pytest.raises(kind) as caught:
            call()
        text = f"{caught.value} {caught.value.public_message} {caught.value!r}"
        assert str(unknown) not in text and str(known) not in text
        _identifiers_absent(registry, text)
        assert caught.value.reason in {"NOT_FOUND", "FIELD_INVALID", "BATCH_TOO_LARGE"}


def test_a_feature_sql_breaking_its_contract_fails_without_a_value(registry: Registry) -> None:
    twice = (
        "SELECT c.person_id AS person_key, c.self_paid_cents AS value FROM claims AS c "
        "WHERE c.visit_date <= :as_of"
    )
    text_value = "SELECT p.person_id AS person_key, p.name_enc AS value FROM persons AS p"
    computer = FeatureComputer(registry.zone)
    busy = max(registry.person_ids, key=lambda p: len(registry.claims.get(p, [])))
    for sql in (twice, text_value):
        policy = _with_sets(
            {"bad": {"features": [{"name": "x", "sql": sql, "lower": 0, "upper": 10}]}}
        )
        with pytest.raises(FeatureComputationFailed) as caught:
            computer.vector(policy, "bad", busy, AS_OF)
        assert caught.value.reason == "INTERNAL"
        assert caught.value.feature_set == "bad"
        message = str(caught.value)
        assert str(busy) not in message
        assert not any(str(c[3]) in message for c in registry.claims[busy])


def test_a_vector_shows_no_value_and_nothing_returned_holds_an_identifier(
    registry: Registry,
) -> None:
    vectors = FeatureComputer(registry.zone).vectors(
        default_policy(), "credit_v1", list(registry.person_ids), AS_OF
    )
    for vector in vectors:
        assert isinstance(vector, FeatureVector)
        assert repr(vector) == "FeatureVector('credit_v1', 8 values)"
        assert all(type(v) is int for v in vector.values)
        _identifiers_absent(registry, repr(vector), str(vector.values), vector.dataset_version)


def test_the_policy_is_not_changed_by_computing(registry: Registry) -> None:
    policy = default_policy()
    before = copy.deepcopy(policy)
    FeatureComputer(registry.zone).vector(policy, "credit_v1", registry.person_ids[0], AS_OF)
    assert policy == before
