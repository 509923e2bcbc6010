"""Partition selection: a dp view may group by a dimension without a public domain; then
OpenDP's noisy threshold (make_laplace_threshold) chooses the released cells, so a cell that
a handful of persons make never shows, and the answer says the threshold and the delta."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import yaml

from enclave.analytics import QueryRequest
from enclave.budget import BudgetLimits
from policies import PolicyError, default_policy_text, load_policy
from tests.support.query_export import Export, synthetic_export
from tests.support.query_pipeline import INSURER, RESEARCH, Pipeline

# enrolment_analysis with a finer dimension whose values are not public: the person's
# prefecture-level region (6 digits), grouped but never filtered on
BY_REGION = (
    "SELECT region, COUNT(DISTINCT person_key) AS persons FROM enrolment_analysis GROUP BY region"
)
# and the person's sex under a name without a domain: two large cells
BY_SEX = "SELECT sex, COUNT(*) AS n FROM enrolment_analysis GROUP BY sex"


def _selecting_policy() -> str:
    document = yaml.safe_load(default_policy_text())
    view = document["views"]["enrolment_analysis"]
    view["sql"] = view["sql"].replace(
        "e.scheme AS scheme,",
        "e.scheme AS scheme, e.insured_region_code AS region, p.gender AS sex,"
        " e.start_date AS start_date,",
    )
    for name in ("region", "sex", "start_date"):
        view["columns"][name] = {"role": "dimension"}  # no domain
        view["rule"]["aggregation"]["dimensions"].append(name)
    return yaml.safe_dump(document, sort_keys=False)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("dp-selection"))


@pytest.fixture
def pipeline(tmp_path: Path, export: Export) -> Iterator[Pipeline]:
    policy = load_policy(_selecting_policy())
    running = Pipeline(tmp_path, export, policy, budget=BudgetLimits(per_partner_per_day=10**7))
    yield running
    running.close()


def test_an_exact_rule_still_needs_every_grouped_domain() -> None:
    exact = _selecting_policy().replace("release: dp", "release: exact", 1)
    with pytest.raises(PolicyError, match="domain"):
        load_policy(exact)


def test_only_cells_past_the_noisy_threshold_are_released(
    pipeline: Pipeline, export: Export
) -> None:
    answer = pipeline.released_dp(BY_REGION).value
    assert answer.dp is not None
    (info,) = answer.dp.noise  # the query's distinct persons are the threshold's count
    assert info.mechanism == "laplace_threshold" and info.threshold is not None
    assert info.threshold >= 11  # never under min_persons
    assert answer.dp.delta == pytest.approx(1e-10)
    truth: dict[str, int] = dict(
        duckdb.execute(
            "SELECT insured_region_code, COUNT(DISTINCT person_id) FROM read_parquet(?) GROUP BY 1",
            [list(export.files["enrolments"])],
        ).fetchall()
    )
    released = answer.table.to_pylist()
    assert all(not row["suppressed"] for row in released)
    for row in released:
        # a released cell exists in the data, and no cell of a few persons passes: the
        # threshold is many noise scales above them (delta 1e-10)
        assert truth[row["region"]] > info.threshold - 12 * info.scale
    small = [region for region, n in truth.items() if n <= 3]
    assert small, "the export has rare regions"
    assert not {row["region"] for row in released} & set(small)
    # the same question again: the same cells, the same numbers, no charge
    again = pipeline.released_dp(BY_REGION).value
    assert again.ipc == answer.ipc and again.dp is not None and again.dp.replayed


def test_explain_tells_the_threshold_and_the_delta(pipeline: Pipeline) -> None:
    explained = pipeline.queries.explain(INSURER, QueryRequest(RESEARCH, sql=BY_REGION)).value
    assert explained.allowed
    text = " ".join(explained.checks)
    assert "no public domain: only the cells whose noisy persons reaches" in text
    assert "probability at most 1e-10" in text


def test_large_cells_without_a_domain_are_released_near_the_truth(
    pipeline: Pipeline, export: Export
) -> None:
    answer = pipeline.released_dp(BY_SEX).value
    assert answer.dp is not None
    noise = {info.column: info for info in answer.dp.noise}
    assert noise["__persons"].mechanism == "laplace_threshold"  # no distinct count: its own
    assert noise["n"].mechanism == "discrete_laplace" and noise["n"].threshold is None
    truth: dict[str, int] = dict(
        duckdb.execute(
            "SELECT p.gender, COUNT(*) FROM read_parquet(?) AS e "
            "JOIN read_parquet(?) AS p USING (person_id) GROUP BY 1",
            [list(export.files["enrolments"]), list(export.files["persons"])],
        ).fetchall()
    )
    rows = {row["sex"]: row["n"] for row in answer.table.to_pylist()}
    assert set(rows) == set(truth)  # both cells are far above the threshold
    for sex, n in rows.items():
        # within 12 noise scales plus the rounding (a bound that cannot flake)
        assert abs(n - truth[sex]) <= 12 * noise["n"].scale + 5


def test_a_dimension_of_dates_without_a_domain_is_selected_like_text(pipeline: Pipeline) -> None:
    # the selection names each cell by its keys' text; the released keys keep their type
    sql = (
        "SELECT start_date, COUNT(DISTINCT person_key) AS persons FROM enrolment_analysis"
        " GROUP BY start_date"
    )
    answer = pipeline.released_dp(sql).value
    assert answer.table.schema.field("start_date").type == pa.date32()
    assert answer.dp is not None and answer.dp.noise[0].mechanism == "laplace_threshold"
