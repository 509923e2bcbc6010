"""Differentially private answers through the real query path: the budget charged before the
query runs (and logged), OpenDP noise on the full public grid, the stored result returned
again at no cost, a rephrased query charged again, an exhausted budget refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from enclave.analytics import DpModeRequired, QueryRequest
from enclave.budget import BudgetExhausted, BudgetLimits
from policies import default_policy_text, load_policy
from tests.support.query_export import Export, synthetic_export
from tests.support.query_pipeline import DATASET_VERSION, INSURER, RESEARCH, Pipeline

BY_SCHEME = (
    "SELECT scheme, status, COUNT(*) AS n, COUNT(DISTINCT person_key) AS persons"
    " FROM enrolment_analysis GROUP BY scheme, status"
)
# claims_analysis is an exact view, but the RESEARCH grant demands dp (policies/default.yaml).
CLAIMS = (
    "SELECT gender, visit_type, COUNT(DISTINCT person_key) AS persons,"
    " AVG(self_cents) AS mean_self FROM claims_analysis GROUP BY gender, visit_type"
)
EPSILON = 1_000_000


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("dp"))


@pytest.fixture
def pipeline(tmp_path: Path, export: Export) -> Iterator[Pipeline]:
    running = Pipeline(tmp_path, export, budget=BudgetLimits(per_partner_per_day=3 * EPSILON))
    yield running
    running.close()


def test_a_dp_answer_is_the_whole_noisy_grid_with_its_noise_and_cost(pipeline: Pipeline) -> None:
    answer = pipeline.released_dp(BY_SCHEME).value
    assert answer.release_mode == "dp"
    table = answer.table
    # every cell of the public grid (2 schemes x 3 statuses), whatever the data holds
    cells = list(
        zip(table.column("scheme").to_pylist(), table.column("status").to_pylist(), strict=True)
    )
    assert cells == [
        (scheme, status)
        for scheme in ("EMPLOYEE", "RESIDENT")
        for status in ("ACTIVE", "SUSPENDED", "TERMINATED")
    ]
    assert table.column_names == ["scheme", "status", "n", "persons", "suppressed"]
    dp = answer.dp
    assert dp is not None and dp.epsilon_micro == EPSILON and dp.epsilon_spent_micro == EPSILON
    assert not dp.replayed
    noised = {info.column: info for info in dp.noise}
    # the query's own COUNT(DISTINCT person) is the threshold's count: no third noisy column
    assert set(noised) == {"n", "persons"}
    assert sum(info.epsilon_micro for info in dp.noise) <= EPSILON
    # COUNT(*) has sensitivity contribution_limit (3) x cells_per_person (1): scale 3 / (1/2)
    assert noised["n"].scale == pytest.approx(6.0)
    assert noised["persons"].scale == pytest.approx(2.0)
    assert noised["n"].error_bound_95 > noised["persons"].error_bound_95 > 0
    # the noise travels inside the Arrow stream the result hash covers
    streamed = pa.ipc.open_stream(answer.ipc).read_all()
    metadata = streamed.schema.field("n").metadata or {}
    assert float(metadata[b"dataward.noise_scale"]) == pytest.approx(6)
    assert streamed.schema.metadata[b"dataward.release_mode"] == b"dp"
    # the ledger holds one charge, and the budget left says so
    assert dp.budget.left_of("per_partner_per_day") == 2 * EPSILON
    assert pipeline.ledger is not None
    assert pipeline.ledger.state("demo-insurer", DATASET_VERSION, _now()).limits[0].spent == EPSILON


def test_the_same_query_again_returns_the_same_numbers_at_no_cost(pipeline: Pipeline) -> None:
    first = pipeline.released_dp(BY_SCHEME).value
    again = [pipeline.released_dp(BY_SCHEME).value for _ in range(5)]
    assert all(a.ipc == first.ipc for a in again)
    assert all(a.dp is not None and a.dp.replayed and a.dp.epsilon_spent_micro == 0 for a in again)
    assert pipeline.ledger is not None
    assert pipeline.ledger.verify() == 1  # one charge in all


def test_a_rephrased_query_is_a_new_question_charged_again(pipeline: Pipeline) -> None:
    pipeline.released_dp(BY_SCHEME)
    rephrased = BY_SCHEME.replace("GROUP BY scheme, status", "GROUP BY status, scheme")
    second = pipeline.released_dp(rephrased).value
    assert second.dp is not None and second.dp.epsilon_spent_micro == EPSILON
    third = pipeline.released_dp(BY_SCHEME + " ORDER BY scheme").value
    assert third.dp is not None and third.dp.epsilon_spent_micro == EPSILON
    # the budget (3 a day) stops the fourth wording
    refusal = pipeline.refused(
        BudgetExhausted, BY_SCHEME.replace("COUNT(*) AS n", "COUNT(*) AS rows"), purpose=RESEARCH
    )
    assert isinstance(refusal, BudgetExhausted)
    assert refusal.state.left_of("per_partner_per_day") == 0


def test_an_exact_view_under_a_dp_grant_is_noised(pipeline: Pipeline) -> None:
    answer = pipeline.released_dp(CLAIMS).value
    assert answer.release_mode == "dp"
    assert answer.table.column_names == [
        "gender",
        "visit_type",
        "persons",
        "mean_self",
        "suppressed",
    ]
    assert answer.table.num_rows == 2 * 6
    assert answer.dp is not None
    assert {i.column for i in answer.dp.noise} == {"persons", "mean_self__sum", "mean_self__count"}
    # the same query for underwriting (an exact grant) is exact, and charges nothing
    exact = pipeline.released(CLAIMS).value
    assert exact.release_mode == "exact" and exact.dp is None


def test_explain_tells_the_noise_and_the_price_and_charges_nothing(pipeline: Pipeline) -> None:
    explained = pipeline.queries.explain(INSURER, QueryRequest(RESEARCH, sql=BY_SCHEME)).value
    assert explained.allowed and explained.release_mode == "dp"
    text = " ".join(explained.checks)
    assert "noise of scale 6" in text and "costs epsilon 1" in text
    assert "budget available for the next new query: epsilon 1" in text
    assert pipeline.ledger is not None and pipeline.ledger.verify() == 0


def test_a_zone_without_a_ledger_refuses_dp(tmp_path: Path, export: Export) -> None:
    bare = Pipeline(tmp_path, export)
    try:
        bare.refused(DpModeRequired, BY_SCHEME, purpose=RESEARCH)
    finally:
        bare.close()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_a_dp_grant_covers_the_template_views_it_lists(tmp_path: Path, export: Export) -> None:
    # a grant's release: dp holds for every view it lists: a steward's templates too
    text = default_policy_text().replace(
        "    views: [claims_analysis, enrolment_analysis]\n    release: dp",
        "    views: [claims_analysis, enrolment_analysis, visits_by_type]\n    release: dp",
        1,
    )
    policy = load_policy(text)
    assert policy.release_for("demo-insurer", RESEARCH, "visits_by_type") == "dp"
    assert policy.release_for("demo-insurer", "INSURANCE_UNDERWRITING", "visits_by_type") == "exact"
    running = Pipeline(tmp_path, export, policy, budget=BudgetLimits())
    try:
        asked = QueryRequest(
            RESEARCH, template="average_cost_by_type", parameters={"province": "110000"}
        )
        explained = running.queries.explain(INSURER, asked).value
        assert explained.release_mode == "dp" and explained.allowed
        with running.appended() as leaves:
            answer = running.queries.answer(INSURER, asked).value
        assert "BudgetCharged" in leaves[0].kinds
        assert answer.release_mode == "dp" and answer.dp is not None
        assert answer.dp.epsilon_spent_micro == EPSILON
    finally:
        running.close()


def test_noise_metadata_goes_only_to_the_column_it_describes(pipeline: Pipeline) -> None:
    # a count named n beside a sum named n__sum: n is no average, n__sum's noise is its own
    sql = (
        "SELECT scheme, COUNT(*) AS n, COUNT(DISTINCT person_key) AS n__sum"
        " FROM enrolment_analysis GROUP BY scheme"
    )
    answer = pipeline.released_dp(sql).value
    schema = pa.ipc.open_stream(answer.ipc).read_all().schema
    n = schema.field("n").metadata or {}
    assert b"dataward.noise_scale" in n
    assert not [key for key in n if key.startswith(b"dataward.sum.")]
