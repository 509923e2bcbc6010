"""AggregateQueries over a real synthetic export, the default policy, DuckDB and a real audit
log: an exact aggregate leaves only through the gate with a receipt that verifies; every
refusal is a denying decision leaf; no clear identifier leaves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import query_engine
from dataward import receipts
from dataward.transparency import ReceiptError
from enclave import ZoneError, gate
from enclave.analytics import (
    QUERY_RUN,
    AggregateQueries,
    DpModeRequired,
    FixedPolicy,
    QueryNotRun,
    QueryRejected,
    ViewNotGranted,
    gate_rules,
)
from enclave.audit import AuditLog, AuditLogTrail, SqliteAuditStore, decode_leaf
from enclave.persons import PurposeNotGranted
from enclave.release import Caller
from launcher.settings import AuditSettings
from policies import AggregationRule, default_policy
from tests.support.query_export import Export, synthetic_export

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NAME = "dataward.zone/test"
UNDERWRITING = "INSURANCE_UNDERWRITING"
RESEARCH = "RESEARCH"
# The default policy grants organization "demo-insurer" (the demo's insurer, by slug).
INSURER = Caller("app-1", "demo-insurer", frozenset({UNDERWRITING, RESEARCH}))
LIMITS = query_engine.ExecutionLimits(timeout_seconds=30, memory_bytes=512 * 2**20)
BY_PROVINCE = (
    "SELECT province, COUNT(*) AS claims, COUNT(DISTINCT person_key) AS people,"
    " SUM(total_cents) AS total FROM claims_analysis GROUP BY province"
)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("analytics"))


class Stack:
    def __init__(self, tmp_path: Path, export: Export) -> None:
        self.store = SqliteAuditStore.open(tmp_path / "audit.db")
        settings = AuditSettings(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600)
        self.log = AuditLog(self.store, settings, KEY, NAME, NAME)
        self.policy = default_policy()
        self.engine = query_engine.DuckDBEngine()
        self.export = export
        self.queries = AggregateQueries(
            FixedPolicy(self.policy),
            self.engine,
            lambda: export.files,
            AuditLogTrail(self.log),
            LIMITS,
        )

    def leaves(self) -> list[bytes]:
        return [stored.leaf for stored in self.store.leaves()]

    def events(self) -> list[object]:
        return [decode_leaf(leaf).event for leaf in self.leaves()]

    def kinds(self) -> list[str]:
        return [type(event).__name__ for event in self.events()]


@pytest.fixture
def stack(tmp_path: Path, export: Export) -> Iterator[Stack]:
    s = Stack(tmp_path, export)
    yield s
    s.log.close()


def _persons_per_cell(stack: Stack, sql: str) -> dict[object, int]:
    """The distinct persons behind each province cell, computed beside the pipeline."""
    query = query_engine.parse(sql)
    view = stack.policy.views[query.view]
    rewritten = query_engine.rewrite(query, view, {})
    raw = stack.engine.execute(rewritten.request(stack.export.files, LIMITS)).table
    cells = zip(
        raw.column("province").to_pylist(),
        raw.column(gate.PERSONS_COLUMN).to_pylist(),
        strict=True,
    )
    return {province: persons for province, persons in cells if isinstance(persons, int)}


def test_an_exact_aggregate_leaves_through_the_gate_with_a_receipt_that_verifies(
    stack: Stack,
) -> None:
    answer = stack.queries.run(INSURER, BY_PROVINCE, {}, UNDERWRITING, client_nonce="n-1")
    value = answer.value
    table = value.table
    assert table.column_names == ["province", "claims", "people", "total", gate.MARKER_COLUMN]
    assert gate.PERSONS_COLUMN not in table.column_names
    assert pa.ipc.open_stream(value.ipc).read_all().equals(table)
    assert value.policy_version == stack.policy.version
    marked = table.column(gate.MARKER_COLUMN).to_pylist()
    assert value.suppressed_cells == sum(bool(m) for m in marked)
    # Small cells exist at 300 persons, and so do released ones.
    assert 0 < value.suppressed_cells < table.num_rows
    rule = stack.policy.views["claims_analysis"].rule
    assert isinstance(rule, AggregationRule)
    persons = _persons_per_cell(stack, BY_PROVINCE)
    for row in table.to_pylist():
        if row[gate.MARKER_COLUMN]:
            assert row["claims"] is None and row["total"] is None
        else:
            assert persons[row["province"]] >= rule.min_persons
            assert row["claims"] % 5 == 0 and row["total"] % rule.rounding_base == 0

    fields = receipts.query_run_fields(
        arrow_ipc=value.ipc,
        suppressed_cells=value.suppressed_cells,
        policy_version=stack.policy.version,
        release_mode="exact",
        columns=value.columns,
    )
    assert dict(value.columns) == {
        "province": "dimension",
        "claims": "count",
        "people": "count",
        "total": "sum",
        gate.MARKER_COLUMN: "suppressed",
    }
    receipts.verify_release(
        answer.receipt,
        method=QUERY_RUN,
        request_id=answer.request_id,
        fields=fields,
        key_name=NAME,
        public_key=KEY.public_key(),
        client_nonce="n-1",
    )
    with pytest.raises(ReceiptError):  # another nonce: another request's answer
        receipts.verify_release(
            answer.receipt,
            method=QUERY_RUN,
            request_id=answer.request_id,
            fields=fields,
            key_name=NAME,
            public_key=KEY.public_key(),
        )
    assert stack.kinds() == ["RequestReceived", "Decision", "Release"]
    request = stack.events()[0]
    assert getattr(request, "method", None) == QUERY_RUN
    assert getattr(request, "purpose", None) == UNDERWRITING
    assert b"claims_analysis" not in stack.leaves()[0]  # no query text is logged


def test_a_parameterised_filter_is_bound_and_answered(stack: Stack) -> None:
    sql = (
        "SELECT gender, COUNT(*) AS claims FROM claims_analysis"
        " WHERE visit_type = :t GROUP BY gender"
    )
    answer = stack.queries.run(INSURER, sql, {"t": "OUTPATIENT"}, UNDERWRITING)
    assert sorted(str(g) for g in answer.value.table.column("gender").to_pylist()) == ["F", "M"]


def _refused(stack: Stack, kind: type[ZoneError], sql: str, purpose: str) -> ZoneError:
    with pytest.raises(kind) as caught:
        stack.queries.run(INSURER, sql, {}, purpose)
    assert stack.kinds() == ["RequestReceived", "Decision"]
    decision = stack.events()[1]
    assert getattr(decision, "allow", None) is False
    assert getattr(decision, "reasons", None) == (kind.reason,)
    assert getattr(decision, "policy_version", None) == stack.policy.version
    return caught.value


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT person_key, COUNT(*) AS n FROM claims_analysis GROUP BY person_key",
        "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE person_key = 1 GROUP BY gender",
        "SELECT gender, COUNT(*) AS n FROM claims_analysis GROUP BY gender, PERSON_KEY",
    ],
)
def test_the_person_key_is_refused_column_hidden_and_logged(stack: Stack, sql: str) -> None:
    refusal = _refused(stack, QueryRejected, sql, UNDERWRITING)
    assert isinstance(refusal, QueryRejected)
    assert refusal.rule == "COLUMN_HIDDEN"
    assert refusal.reason == "QUERY_REJECTED"


def test_a_parse_rejection_is_a_logged_refusal(stack: Stack) -> None:
    refusal = _refused(stack, QueryRejected, "SELECT * FROM claims_analysis", UNDERWRITING)
    assert isinstance(refusal, QueryRejected) and refusal.rule


def test_an_unknown_view_and_an_ungranted_view_are_refused_alike(
    stack: Stack, tmp_path: Path
) -> None:
    unknown = _refused(stack, ViewNotGranted, "SELECT COUNT(*) AS n FROM nope", UNDERWRITING)
    other = Stack(tmp_path / "other", stack.export)
    try:
        # enrolment_analysis exists, granted to demo-insurer for research only
        sql = "SELECT scheme, COUNT(*) AS n FROM enrolment_analysis GROUP BY scheme"
        ungranted = _refused(other, ViewNotGranted, sql, UNDERWRITING)
    finally:
        other.log.close()
    assert type(unknown) is type(ungranted)
    assert str(unknown) == str(ungranted) and unknown.reason == "VIEW_NOT_GRANTED"


def test_another_organization_is_not_granted(stack: Stack) -> None:
    with pytest.raises(ViewNotGranted):
        stack.queries.run(Caller("app-9", "9"), BY_PROVINCE, {}, UNDERWRITING)


def test_a_purpose_the_app_does_not_hold_is_refused(stack: Stack) -> None:
    caller = Caller("app-1", "demo-insurer", frozenset({RESEARCH}))
    with pytest.raises(PurposeNotGranted):
        stack.queries.run(caller, BY_PROVINCE, {}, UNDERWRITING)
    assert stack.kinds() == ["RequestReceived", "Decision"]


def test_a_dp_view_needs_dp_mode(stack: Stack) -> None:
    sql = "SELECT scheme, COUNT(*) AS n FROM enrolment_analysis GROUP BY scheme"
    refusal = _refused(stack, DpModeRequired, sql, RESEARCH)
    assert refusal.reason == "DP_MODE_REQUIRED"


def test_no_clear_identifier_leaves_in_the_answer_or_the_audit_leaves(stack: Stack) -> None:
    sql = (
        "SELECT age_band, gender, COUNT(*) AS n, SUM(self_cents) AS s"
        " FROM claims_analysis GROUP BY age_band, gender"
    )
    answer = stack.queries.run(INSURER, sql, {}, UNDERWRITING)
    for bad in ("SELECT person_key, COUNT(*) AS n FROM claims_analysis GROUP BY person_key",):
        with pytest.raises(QueryRejected):
            stack.queries.run(INSURER, bad, {}, UNDERWRITING)
    blobs = [answer.value.ipc, *stack.leaves()]
    assert stack.export.clear_values
    for value in stack.export.clear_values:
        encoded = value.encode()
        assert not any(encoded in blob for blob in blobs)


def test_the_gate_rules_follow_the_rewritten_columns_and_the_rule(stack: Stack) -> None:
    sql = (
        "SELECT gender, COUNT(*) AS n, AVG(total_cents) AS mean"
        " FROM claims_analysis GROUP BY gender"
    )
    query = query_engine.parse(sql)
    view = stack.policy.views["claims_analysis"]
    rule = query_engine.check(query, view)
    rules = gate_rules(query_engine.rewrite(query, view, {}), rule)
    assert rules.dimensions == ("gender",)
    assert rules.aggregates == (
        gate.AggregateSpec("n", gate.AggregateKind.COUNT),
        gate.AggregateSpec("mean__sum", gate.AggregateKind.SUM),
        gate.AggregateSpec("mean__count", gate.AggregateKind.COUNT),
    )
    assert (rules.min_persons, rules.sum_base, rules.row_cap) == (
        rule.min_persons,
        rule.rounding_base,
        rule.row_cap,
    )


class _OutOfTime:
    """An engine (the Engine interface) whose every query hits the time limit."""

    dialect = "duckdb"

    def execute(self, request: query_engine.ExecutionRequest) -> query_engine.ExecutionResult:
        raise query_engine.QueryTimeout(request.limits.timeout_seconds)


def test_a_query_the_engine_stops_is_a_logged_refusal(stack: Stack) -> None:
    """A limit hit is the zone's decision not to answer: a denying leaf, never an unlogged
    fault (the release skeleton logs only zone errors)."""
    stack.queries = AggregateQueries(
        FixedPolicy(stack.policy),
        _OutOfTime(),
        lambda: stack.export.files,
        AuditLogTrail(stack.log),
        LIMITS,
    )
    refusal = _refused(stack, QueryNotRun, BY_PROVINCE, UNDERWRITING)
    assert refusal.reason == "UNAVAILABLE"
