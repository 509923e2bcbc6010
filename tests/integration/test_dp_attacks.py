"""The attacks of issue 11 on differentially private answers, each through the real query path:
:class:`AggregateQueries` with a real budget ledger and audit log, the default policy, DuckDB
over a synthetic export of 10,000 persons, a partner asking for RESEARCH (a dp grant).

- differencing pairs: the difference of two noisy answers carries the noise of both, at the
  stated scale -- checked against a ground truth computed beside the pipeline with plain
  DuckDB on the raw export, over hundreds of cells;
- averaging by repetition: the same query again is the same answer, charged once;
- averaging by rephrasing: a logically equal query with other text is a new question, charged
  again until the budget stops it (text that rewrites the same is the same question);
- budget races, between threads and between processes on one ledger file: exactly as many
  charged as the budget holds;
- a query priced over what is left: refused before anything is charged or run.

Statistical assertions compare a count with its exact expectation under the stated noise and
allow six standard deviations: they cannot flake (a false failure under 1e-8 each).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import query_engine
from enclave import ZoneError
from enclave.analytics import AggregateQueries, Budget, FixedPolicy, QueryAnswer
from enclave.audit import (
    AuditLogTrail,
    AuditReader,
    Decision,
    Release,
    RequestReceived,
    verify_log,
)
from enclave.audit.events import BudgetCharged
from enclave.budget import BudgetExhausted, BudgetLedger, BudgetLimits
from enclave.persons import Answer
from policies import default_policy
from tests.support.query_export import Export, synthetic_export
from tests.support.query_pipeline import (
    DATASET_VERSION,
    INSURER,
    KEY,
    LIMITS,
    RESEARCH,
    Pipeline,
    persons_per_cell,
)

ROOT = Path(__file__).resolve().parents[2]
EPSILON = 1_000_000
SIGMAS = 6.0
MIN_PERSONS, BASE = 11, 5  # claims_analysis: the threshold, the counts' rounding
CLAIMS = default_policy().views["claims_analysis"]
PREFECTURES = CLAIMS.columns["prefecture"].domain or ()
GENDERS = CLAIMS.columns["gender"].domain or ()


def _limits(**overrides: int) -> BudgetLimits:
    """Room for a thousand queries, but for the limits named."""
    roomy = {
        "per_query": EPSILON,
        "per_partner_per_day": 1_000 * EPSILON,
        "per_partner_per_dataset_version": 1_000 * EPSILON,
        "total_per_dataset_version": 1_000 * EPSILON,
    }
    return BudgetLimits(**(roomy | overrides))


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("dp-attacks"), persons=10_000)


ZoneFactory = Callable[..., Pipeline]


@pytest.fixture
def zone(tmp_path: Path, export: Export) -> Iterator[ZoneFactory]:
    """Pipelines with a real ledger (``budget``) in directories of their own."""
    made: list[Pipeline] = []

    def make(budget: BudgetLimits, *, max_concurrent: int = 2) -> Pipeline:
        directory = tmp_path / f"zone{len(made)}"
        directory.mkdir()
        made.append(Pipeline(directory, export, budget=budget, max_concurrent=max_concurrent))
        return made[-1]

    yield make
    for pipeline in made:
        pipeline.close()


def _verify_log(directory: Path) -> None:
    reader = AuditReader.open_read_only(directory / "audit.db")
    try:
        verify_log(reader, KEY.public_key())
    finally:
        reader.close()


def _dp(answer: Answer[QueryAnswer]) -> Any:
    dp = answer.value.dp
    assert dp is not None
    return dp


# -- differencing pairs -----------------------------------------------------------------------
def _a(scale: float) -> float:
    return math.exp(-1.0 / scale)


def _released_pmf(truth: int, scale: float) -> dict[int, float]:
    """The distribution of a released distinct-persons count: v = max(truth + X, 0) for X
    discrete Laplace of ``scale`` (the gate's clamp), withheld when v < 11 (the threshold
    reads this very value), else v to the nearest 5 (ties upward). The withheld mass is
    left out."""
    a = _a(scale)
    reach = math.ceil(70 * scale) + 10  # all but 1e-30 of the mass
    out: dict[int, float] = {}
    for k in range(-reach, reach + 1):
        value = max(truth + k, 0)
        if value < MIN_PERSONS:
            continue
        released = BASE * ((value + BASE // 2) // BASE)
        out[released] = out.get(released, 0.0) + (1 - a) / (1 + a) * a ** abs(k)
    return out


def _p_released_and_off(truths: tuple[int, int], scale: float, by: int) -> float:
    """P(both counts released and |(r1 - r2) - (t1 - t2)| >= by), the two independent."""
    first, second = (_released_pmf(t, scale) for t in truths)
    shift = truths[0] - truths[1]
    return sum(
        p * q for r1, p in first.items() for r2, q in second.items() if abs(r1 - r2 - shift) >= by
    )


def _within(count: int, probabilities: Sequence[float]) -> bool:
    """``count`` successes of independent trials at these rates, within six deviations."""
    mean = sum(probabilities)
    spread = math.sqrt(sum(p * (1 - p) for p in probabilities))
    return abs(count - mean) <= SIGMAS * spread + 1


PAIR = (
    "SELECT gender, COUNT(DISTINCT person_key) AS persons FROM claims_analysis"
    " WHERE province = '110000'{more} GROUP BY gender"
)


def test_a_differencing_pair_in_one_province_stays_noisy(zone: ZoneFactory, export: Export) -> None:
    # The attack of the issue: everyone in province 110000, then everyone but the 75+; the
    # difference would count the few 75+ persons there, exactly.
    pipeline = zone(_limits())
    whole = pipeline.released_dp(PAIR.format(more=""), purpose=RESEARCH)
    but_old = pipeline.released_dp(PAIR.format(more=" AND age_band <> '75+'"), purpose=RESEARCH)
    for answer in (whole, but_old):
        dp = _dp(answer)
        assert dp.epsilon_spent_micro == EPSILON  # two questions, two charges
        # COUNT(DISTINCT person): sensitivity 1, the one noisy column, epsilon 1: scale 1
        scale = {info.column: info.scale for info in dp.noise}["persons"]
        assert scale == pytest.approx(1.0)
    truth = persons_per_cell(export, CLAIMS, ["gender"], "province = '110000'")
    truth_but_old = persons_per_cell(
        export, CLAIMS, ["gender"], "province = '110000' AND age_band <> '75+'"
    )
    a, b = (_cells(answer.value, ["gender"], "persons") for answer in (whole, but_old))
    for gender in GENDERS:
        small = truth.get((gender,), 0) - truth_but_old.get((gender,), 0)
        assert 0 < small <= 10  # a handful of persons: what exact answers would single out
        first, second = a[(gender,)], b[(gender,)]
        if first is None or second is None:
            continue  # withheld: nothing to difference
        error = (first - second) - small
        # each noise past 21 at scale 1 has P < 6e-10; each rounding is off by 2 at most
        assert abs(error) <= 2 * (21 + 2)


def test_differencing_pairs_leave_the_difference_with_the_noise_of_both(
    zone: ZoneFactory, export: Export
) -> None:
    # The same attack in bulk: per prefecture and gender, all claims vs all but the 75+, four
    # times over (each pair phrased apart, so each is charged and noised afresh).
    pipeline = zone(_limits())
    keys = ["prefecture", "gender"]
    truth = persons_per_cell(export, CLAIMS, keys)
    truth_but_old = persons_per_cell(export, CLAIMS, keys, "age_band <> '75+'")
    # each person is in one cell (prefecture and gender are the person's): cells_per_person=1
    # bounds nothing here, so the ground truth is the plain distinct count
    assert sum(truth.values()) == persons_per_cell(export, CLAIMS, [])[()]
    sql = (
        "SELECT prefecture, gender, COUNT(DISTINCT person_key) AS p{j} FROM claims_analysis"
        "{where} GROUP BY prefecture, gender"
    )
    released_both = off_by_a_step = off_by_two = 0
    p_released: list[float] = []
    p_step: list[float] = []
    p_two: list[float] = []
    for j in range(4):
        pair = [
            pipeline.released_dp(sql.format(j=j, where=where), purpose=RESEARCH).value
            for where in ("", " WHERE age_band <> '75+'")
        ]
        # COUNT(DISTINCT person): sensitivity 1, the one noisy column (the threshold reads
        # it too), epsilon 1: scale 1
        scale = {i.column: i.scale for i in _dp_value(pair[0]).noise}[f"p{j}"]
        assert scale == pytest.approx(1.0)
        released = [_cells(answer, keys, f"p{j}") for answer in pair]
        for cell in ((p, g) for p in PREFECTURES for g in GENDERS):
            truths = (truth.get(cell, 0), truth_but_old.get(cell, 0))
            p_released.append(_p_released_and_off(truths, scale, 0))
            p_step.append(_p_released_and_off(truths, scale, BASE))
            p_two.append(_p_released_and_off(truths, scale, 2 * BASE))
            first, second = released[0][cell], released[1][cell]
            if first is None or second is None:
                continue  # withheld: nothing to difference
            error = (first - second) - (truths[0] - truths[1])
            released_both += 1
            off_by_a_step += abs(error) >= BASE
            off_by_two += abs(error) >= 2 * BASE
    assert released_both >= 500
    # Exact answers rounded to 5 are never off by 5 or more: the attack would read the small
    # difference to within the rounding. With the stated noise the difference is off by a
    # rounding step or more in about one cell in eight, by two steps in a few: each count
    # (and the cells released at all) within six standard deviations of its exact
    # expectation under the stated scale. No noise, or noise at half or 1.5x the stated
    # scale, falls outside.
    assert 0.05 < sum(p_step) / released_both < 0.25
    assert _within(released_both, p_released)
    assert _within(off_by_a_step, p_step)
    assert _within(off_by_two, p_two)


def _dp_value(answer: QueryAnswer) -> Any:
    assert answer.dp is not None
    return answer.dp


def _cells(
    answer: QueryAnswer, dimensions: Sequence[str], column: str
) -> dict[tuple[str, ...], int | None]:
    """``column`` of the answer by its cell (None: withheld)."""
    table = answer.table
    values: list[int | None] = table.column(column).to_pylist()
    keys = [[str(value) for value in table.column(d).to_pylist()] for d in dimensions]
    return {tuple(key): value for key, value in zip(zip(*keys, strict=True), values, strict=True)}


# -- averaging by repetition ------------------------------------------------------------------
BY_SCHEME = (
    "SELECT scheme, status, COUNT(*) AS n FROM enrolment_analysis"
    " WHERE province IN ('110000', '310000') GROUP BY scheme, status"
)


def test_averaging_by_repetition_gets_one_answer_for_one_charge(zone: ZoneFactory) -> None:
    pipeline = zone(_limits())
    with pipeline.appended() as leaves:
        answers = [pipeline.released_dp(BY_SCHEME) for _ in range(20)]
    assert {answer.value.ipc for answer in answers} == {answers[0].value.ipc}
    assert [_dp(a).replayed for a in answers] == [False] + [True] * 19
    assert [_dp(a).epsilon_spent_micro for a in answers] == [EPSILON] + [0] * 19
    assert pipeline.ledger is not None and pipeline.ledger.verify() == 1
    spent = pipeline.ledger.state(INSURER.organization, DATASET_VERSION, _now())
    assert spent.limits[1].spent == EPSILON
    # the audit log: 20 requests, each with its budget_charged leaf (new only the first)
    events = leaves[0].events
    requests = [e for e in events if isinstance(e, RequestReceived)]
    charged = [e for e in events if isinstance(e, BudgetCharged)]
    released = [e for e in events if isinstance(e, Release)]
    assert len(requests) == len(charged) == len(released) == 20
    assert [c.request_id for c in charged] == [r.request_id for r in requests]
    assert [c.new for c in charged] == [True] + [False] * 19
    assert {c.charge_id for c in charged} == {_dp(answers[0]).charge_id}
    assert [r.epsilon_spent_micro for r in released] == [EPSILON] + [0] * 19


def test_averaging_by_repetition_at_once_gets_one_answer_for_one_charge(
    zone: ZoneFactory,
) -> None:
    # 20 identical queries arriving together: serialised per query key, charged once
    pipeline = zone(_limits(), max_concurrent=32)
    start = threading.Barrier(20, timeout=60)

    def ask(_: int) -> Answer[QueryAnswer]:
        start.wait()
        return pipeline.queries.run(INSURER, BY_SCHEME, {}, RESEARCH)

    with pipeline.appended() as leaves, ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(ask, range(20)))
    assert {answer.value.ipc for answer in answers} == {answers[0].value.ipc}
    assert sorted(_dp(a).epsilon_spent_micro for a in answers) == [0] * 19 + [EPSILON]
    assert pipeline.ledger is not None and pipeline.ledger.verify() == 1
    charged = [e for e in leaves[0].events if isinstance(e, BudgetCharged)]
    assert len(charged) == 20 and sum(c.new for c in charged) == 1


# -- averaging by rephrasing ------------------------------------------------------------------
REPHRASED = {
    "the GROUP BY reordered": BY_SCHEME.replace("BY scheme, status", "BY status, scheme"),
    "another alias": BY_SCHEME.replace("AS n ", "AS k "),
    "an ORDER BY added": BY_SCHEME + " ORDER BY scheme",
    "the IN list reordered": BY_SCHEME.replace("('110000', '310000')", "('310000', '110000')"),
    "an OR for the IN": BY_SCHEME.replace(
        "province IN ('110000', '310000')", "(province = '110000' OR province = '310000')"
    ),
    "the columns reordered": BY_SCHEME.replace("scheme, status, COUNT", "status, scheme, COUNT"),
}


def test_averaging_by_rephrasing_is_charged_each_time_until_the_budget_stops_it(
    zone: ZoneFactory,
) -> None:
    pipeline = zone(_limits(per_partner_per_dataset_version=4 * EPSILON))
    first = pipeline.released_dp(BY_SCHEME)
    wordings = list(REPHRASED.values())
    for sql in wordings[:3]:
        answer = pipeline.released_dp(sql)
        assert _dp(answer).epsilon_spent_micro == EPSILON and not _dp(answer).replayed
        assert answer.value.table.num_rows == first.value.table.num_rows == 6  # the same grid
    for sql in wordings[3:]:
        refusal = pipeline.refused(BudgetExhausted, sql, purpose=RESEARCH)
        assert isinstance(refusal, BudgetExhausted)
        assert refusal.limit == "per_partner_per_dataset_version"
        assert refusal.state.left_of("per_partner_per_dataset_version") == 0
    assert pipeline.ledger is not None and pipeline.ledger.verify() == 4
    # text that rewrites the same (case, spacing) is the same question: its stored answer,
    # free, even with the budget spent
    for same in (BY_SCHEME.lower(), BY_SCHEME.replace(" ", "  "), BY_SCHEME.replace(", ", ",")):
        again = pipeline.released_dp(same)
        assert _dp(again).replayed and _dp(again).epsilon_spent_micro == 0
        assert again.value.ipc == first.value.ipc
    assert pipeline.ledger.verify() == 4


# -- budget races -----------------------------------------------------------------------------
def test_a_budget_race_of_50_threads_charges_exactly_what_the_budget_holds(
    zone: ZoneFactory, tmp_path: Path
) -> None:
    # A budget for exactly three queries (per dataset version: no UTC midnight can fall in
    # the race), 50 distinct queries at once, all let through to the ledger.
    pipeline = zone(_limits(per_partner_per_dataset_version=3 * EPSILON), max_concurrent=64)
    start = threading.Barrier(50, timeout=60)

    def ask(i: int) -> Answer[QueryAnswer] | ZoneError:
        sql = BY_SCHEME.replace("AS n ", f"AS n{i} ")
        start.wait()
        try:
            return pipeline.queries.run(INSURER, sql, {}, RESEARCH)
        except ZoneError as refusal:
            return refusal

    with pipeline.appended() as leaves, ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(ask, range(50)))
    answers = [o for o in outcomes if isinstance(o, Answer)]
    refusals = [o for o in outcomes if not isinstance(o, Answer)]
    assert len(answers) == 3
    assert len(refusals) == 47 and all(type(r) is BudgetExhausted for r in refusals)
    assert all(_dp(a).epsilon_spent_micro == EPSILON for a in answers)
    assert len({_dp(a).charge_id for a in answers}) == 3
    assert pipeline.ledger is not None and pipeline.ledger.verify() == 3
    state = pipeline.ledger.state(INSURER.organization, DATASET_VERSION, _now())
    assert state.limits[1].spent == 3 * EPSILON
    events = leaves[0].events
    assert sum(isinstance(e, RequestReceived) for e in events) == 50
    charged = [e for e in events if isinstance(e, BudgetCharged)]
    assert len(charged) == 3 and all(c.new for c in charged)
    assert sum(isinstance(e, Release) for e in events) == 3
    denied = [e for e in events if isinstance(e, Decision) and not e.allow]
    assert len(denied) == 47 and {d.reasons for d in denied} == {("BUDGET_EXHAUSTED",)}
    _verify_log(tmp_path / "zone0")


def test_a_budget_race_between_two_processes_on_one_ledger_file(
    tmp_path: Path, export: Export
) -> None:
    # Two zone processes, one ledger file, a budget for four: both ask one shared query, then
    # three of their own. The shared one is charged once and both get its one answer; of the
    # six others, exactly three are charged.
    shared = BY_SCHEME
    own = {
        name: [BY_SCHEME.replace("AS n ", f"AS {name}{i} ") for i in range(3)]
        for name in ("a", "b")
    }
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.dp_child", json.dumps(config)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for config in (
            _child_config(tmp_path, export, name, [shared, *queries])
            for name, queries in own.items()
        )
    ]
    outputs: list[list[dict[str, Any]]] = []
    try:
        for child in children:  # both built and waiting ...
            assert child.stdout is not None
            assert json.loads(child.stdout.readline()) == {"ready": True}
        for child in children:  # ... then both go
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        for child in children:
            out, _ = child.communicate(timeout=120)
            assert child.returncode == 0
            outputs.append([json.loads(line) for line in out.splitlines()])
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    first = [lines[0] for lines in outputs]
    assert first[0]["ipc"] == first[1]["ipc"] and first[0]["charge_id"] == first[1]["charge_id"]
    assert sorted(line["spent"] for line in first) == [0, EPSILON]
    rest = [line for lines in outputs for line in lines[1:]]
    assert len(rest) == 6
    assert sum("ipc" in line for line in rest) == 3
    assert sorted(line.get("refused", "") for line in rest) == [""] * 3 + ["BudgetExhausted"] * 3
    ledger = BudgetLedger.open(tmp_path / "budget.db", _race_limits())
    try:
        assert ledger.verify() == 4
    finally:
        ledger.close()


def _race_limits() -> BudgetLimits:
    return _limits(per_partner_per_dataset_version=4 * EPSILON)


def _child_config(
    tmp_path: Path, export: Export, name: str, queries: Sequence[str]
) -> Mapping[str, Any]:
    limits = _race_limits()
    return {
        "audit": str(tmp_path / name / "audit.db"),
        "ledger": str(tmp_path / "budget.db"),
        "files": {table: list(paths) for table, paths in export.files.items()},
        "limits": {
            "per_query": limits.per_query,
            "per_partner_per_day": limits.per_partner_per_day,
            "per_partner_per_dataset_version": limits.per_partner_per_dataset_version,
            "total_per_dataset_version": limits.total_per_dataset_version,
        },
        "now": "2026-12-02T10:30:00+00:00",
        "queries": list(queries),
        "wait": True,
    }


# -- a price over what is left ----------------------------------------------------------------
class _CountingEngine(query_engine.DuckDBEngine):
    """DuckDB, counting the queries it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def execute(self, request: query_engine.ExecutionRequest) -> query_engine.ExecutionResult:
        self.runs += 1
        return super().execute(request)


def _counted(pipeline: Pipeline) -> _CountingEngine:
    """``pipeline`` answering through an engine that counts its runs (the same policy, log,
    ledger and files)."""
    assert pipeline.ledger is not None
    engine = _CountingEngine()
    trail = AuditLogTrail(pipeline.log)
    pipeline.queries = AggregateQueries(
        FixedPolicy(pipeline.policy),
        engine,
        lambda: pipeline.export.files,
        trail,
        LIMITS,
        budget=Budget(pipeline.ledger, trail, lambda: DATASET_VERSION),
    )
    return engine


def test_a_query_priced_over_what_is_left_is_refused_before_it_is_charged_or_run(
    zone: ZoneFactory,
) -> None:
    pipeline = zone(_limits(per_partner_per_dataset_version=EPSILON + EPSILON // 2))
    engine = _counted(pipeline)
    first = pipeline.released_dp(BY_SCHEME)
    assert engine.runs == 1
    # half an epsilon left; the next question costs one
    refusal = pipeline.refused(BudgetExhausted, REPHRASED["another alias"], purpose=RESEARCH)
    assert isinstance(refusal, BudgetExhausted)
    assert refusal.limit == "per_partner_per_dataset_version"
    assert refusal.requested == EPSILON
    assert refusal.state.available == EPSILON // 2
    assert engine.runs == 1  # nothing ran
    assert pipeline.ledger is not None and pipeline.ledger.verify() == 1  # nothing charged
    state = pipeline.ledger.state(INSURER.organization, DATASET_VERSION, _now())
    assert state.limits[1].spent == EPSILON
    # the question already paid for still answers, from its stored result: no run, no cost
    again = pipeline.released_dp(BY_SCHEME)
    assert again.value.ipc == first.value.ipc and _dp(again).epsilon_spent_micro == 0
    assert engine.runs == 1


def test_a_query_priced_over_the_per_query_limit_is_refused_before_it_is_charged_or_run(
    zone: ZoneFactory,
) -> None:
    pipeline = zone(_limits(per_query=EPSILON // 2))  # the view's price is epsilon 1
    engine = _counted(pipeline)
    refusal = pipeline.refused(BudgetExhausted, BY_SCHEME, purpose=RESEARCH)
    assert isinstance(refusal, BudgetExhausted) and refusal.limit == "per_query"
    assert engine.runs == 0
    assert pipeline.ledger is not None and pipeline.ledger.verify() == 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
