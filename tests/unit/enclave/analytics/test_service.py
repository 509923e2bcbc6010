"""AggregateQueries' Explain, Submit, Get, List and runs of stored queries, over the real
synthetic export, DuckDB and a real audit log: each answer has a receipt over its fields,
each refusal is a denying decision leaf, stored SQL is sealed on disk."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import query_engine
from dataward import receipts
from enclave.analytics import (
    AggregateQueries,
    FixedPolicy,
    InvalidPageToken,
    QueryNotFound,
    QueryNotRun,
    QueryNotRunnable,
    QueryRejected,
    QueryRequest,
    QueryStatus,
    SqliteQueryStore,
    ViewNotGranted,
)
from enclave.audit import AuditLogTrail, decode_leaf
from enclave.keys import open_keyring
from enclave.persons import PurposeNotGranted
from enclave.release import Caller
from policies import Policy, default_policy, default_policy_text, load_policy
from tests.support.query_export import Export
from tests.support.zone_source import MASTER_KEY
from tests.unit.enclave.analytics.test_pipeline import (
    BY_PROVINCE,
    INSURER,
    KEY,
    LIMITS,
    NAME,
    RESEARCH,
    UNDERWRITING,
    Stack,
    export,
)

__all__ = ["export"]  # the module fixture, shared with test_pipeline

OTHER_INSURER = Caller("app-9", "9", frozenset({UNDERWRITING, RESEARCH}))
HIDDEN = "SELECT person_key, COUNT(*) AS n FROM claims_analysis GROUP BY person_key"


class _NeverRun:
    """An engine that fails the test if anything asks it to run: Explain touches no data."""

    dialect = "duckdb"

    def execute(self, request: query_engine.ExecutionRequest) -> query_engine.ExecutionResult:
        raise AssertionError("Explain must not run the query")


@dataclass
class _Switchable:
    policy: Policy

    def current(self) -> Policy:
        return self.policy


class Service(Stack):
    def __init__(self, tmp_path: Path, export: Export) -> None:
        super().__init__(tmp_path, export)
        keyring = open_keyring(export.zone, MASTER_KEY)
        self.db = tmp_path / "queries.db"
        self.query_store = SqliteQueryStore.open(self.db, keyring)
        self.source = _Switchable(self.policy)
        self.queries = AggregateQueries(
            self.source,
            self.engine,
            lambda: export.files,
            AuditLogTrail(self.log),
            LIMITS,
            store=self.query_store,
        )
        self.dry = AggregateQueries(
            self.source, _NeverRun(), lambda: export.files, AuditLogTrail(self.log), LIMITS
        )


@pytest.fixture
def service(tmp_path: Path, export: Export) -> Iterator[Service]:
    s = Service(tmp_path, export)
    yield s
    s.query_store.close()
    s.log.close()


def _verifies(answer: object, method: str, fields: receipts.ResultFields, nonce: str) -> None:
    receipts.verify_release(
        answer.receipt,  # type: ignore[attr-defined]
        method=method,
        request_id=answer.request_id,  # type: ignore[attr-defined]
        fields=fields,
        key_name=NAME,
        public_key=KEY.public_key(),
        client_nonce=nonce,
    )


def test_explain_names_the_rule_the_checks_and_the_rewritten_sql_without_running(
    service: Service,
) -> None:
    asked = QueryRequest(UNDERWRITING, sql=BY_PROVINCE, client_nonce="n-explain")
    answer = service.dry.explain(INSURER, asked)
    value = answer.value
    assert value.allowed and value.view == "claims_analysis" and value.rule == "aggregation"
    assert value.release_mode == "exact" and value.rejections == ()
    assert "__persons" in value.rewritten_sql
    assert any("fewer than 11 distinct persons" in check for check in value.checks)
    assert any("total_cents clipped to" in check for check in value.checks)
    assert any("differenced" in notice for notice in value.notices)
    assert value.policy_version == service.policy.version
    fields = receipts.query_explain_fields(
        allowed=True,
        view=value.view,
        rule=value.rule,
        release_mode=value.release_mode,
        rewritten_sql=value.rewritten_sql,
        checks=value.checks,
        rejections=[],
        notices=value.notices,
        policy_version=value.policy_version,
    )
    _verifies(answer, receipts.QUERY_EXPLAIN, fields, "n-explain")
    assert service.kinds() == ["RequestReceived", "Decision", "Release"]


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        (HIDDEN, "COLUMN_HIDDEN"),
        ("SELECT * FROM claims_analysis", "CONSTRUCT_NOT_ALLOWED"),
        ("SELECT MAX(total_cents) AS m FROM claims_analysis", "AGGREGATE_NOT_ALLOWED"),
    ],
)
def test_explain_answers_a_rejection_with_its_rule(service: Service, sql: str, rule: str) -> None:
    value = service.dry.explain(INSURER, QueryRequest(UNDERWRITING, sql=sql)).value
    assert not value.allowed and value.rewritten_sql == ""
    assert rule in {r.rule for r in value.rejections}


def test_explain_of_a_dp_view_says_run_needs_dp(service: Service) -> None:
    sql = "SELECT scheme, COUNT(*) AS n FROM enrolment_analysis GROUP BY scheme"
    value = service.dry.explain(INSURER, QueryRequest(RESEARCH, sql=sql)).value
    assert not value.allowed and value.release_mode == "dp" and value.rejections == ()
    assert any("DP_MODE_REQUIRED" in notice for notice in value.notices)


def test_explain_refuses_a_view_not_granted_and_a_purpose_not_held(service: Service) -> None:
    sql = "SELECT scheme, COUNT(*) AS n FROM enrolment_analysis GROUP BY scheme"
    with pytest.raises(ViewNotGranted):  # granted for RESEARCH only
        service.dry.explain(INSURER, QueryRequest(UNDERWRITING, sql=sql))
    with pytest.raises(PurposeNotGranted):
        service.dry.explain(INSURER, QueryRequest("CREDIT_SCORING", sql=BY_PROVINCE))
    assert service.kinds() == ["RequestReceived", "Decision"] * 2


def test_a_submitted_query_is_stored_sealed_and_runs_by_id(service: Service) -> None:
    marker = (
        "SELECT province, COUNT(*) AS claims_marker_5f1c FROM claims_analysis GROUP BY province"
    )
    submitted = service.queries.submit(
        INSURER, QueryRequest(UNDERWRITING, sql=marker, client_nonce="n-submit")
    )
    value = submitted.value
    assert value.status is QueryStatus.ACCEPTED and value.query_id.startswith("qry_")
    fields = receipts.query_submit_fields(
        query_id=value.query_id,
        status="ACCEPTED",
        rejections=[],
        policy_version=value.policy_version,
    )
    _verifies(submitted, receipts.QUERY_SUBMIT, fields, "n-submit")
    assert b"claims_marker_5f1c" not in _all_bytes(service.db)  # sealed, never in clear

    stored = service.queries.get(INSURER, value.query_id).value
    assert stored.sql == marker and stored.view == "claims_analysis"
    ran = service.queries.answer(INSURER, QueryRequest(UNDERWRITING, query_id=value.query_id))
    assert "claims_marker_5f1c" in ran.value.table.column_names

    with pytest.raises(QueryNotFound):  # another organization's id does not exist for it
        service.queries.get(OTHER_INSURER, value.query_id)
    with pytest.raises(QueryNotRunnable):  # accepted for another purpose
        service.queries.answer(INSURER, QueryRequest(RESEARCH, query_id=value.query_id))


def test_a_rejected_submission_is_not_stored_and_names_every_reason(service: Service) -> None:
    sql = (
        "SELECT person_key, COUNT(*) AS n FROM claims_analysis GROUP BY person_key, province,"
        " prefecture, gender, age_band, visit_type"
    )
    value = service.queries.submit(INSURER, QueryRequest(UNDERWRITING, sql=sql)).value
    assert value.status is QueryStatus.REJECTED and value.query_id == ""
    rules = {r.rule for r in value.rejections}
    assert {"COLUMN_HIDDEN", "TOO_MANY_GROUP_KEYS"} <= rules
    assert service.queries.list(INSURER, page_size=10, page_token="").value.queries == ()


def test_a_query_over_a_template_view_waits_for_review_and_cannot_run(service: Service) -> None:
    sql = "SELECT visit_type, COUNT(*) AS n FROM visits_by_type GROUP BY visit_type"
    value = service.queries.submit(INSURER, QueryRequest(UNDERWRITING, sql=sql)).value
    assert value.status is QueryStatus.PENDING_REVIEW and value.query_id
    with pytest.raises(QueryNotRunnable):
        service.queries.answer(INSURER, QueryRequest(UNDERWRITING, query_id=value.query_id))


def test_a_stored_query_does_not_run_under_a_new_policy(service: Service) -> None:
    query_id = service.queries.submit(
        INSURER, QueryRequest(UNDERWRITING, sql=BY_PROVINCE)
    ).value.query_id
    stricter = default_policy_text().replace("min_persons: 11", "min_persons: 12", 1)
    service.source.policy = load_policy(stricter)
    assert service.source.policy.version != default_policy().version
    with pytest.raises(QueryNotRunnable) as refused:
        service.queries.answer(INSURER, QueryRequest(UNDERWRITING, query_id=query_id))
    assert "submit it again" in refused.value.public_message


def test_list_pages_newest_first_and_refuses_a_forged_token(service: Service) -> None:
    ids = [
        service.queries.submit(INSURER, QueryRequest(UNDERWRITING, sql=BY_PROVINCE)).value.query_id
        for _ in range(3)
    ]
    first = service.queries.list(INSURER, page_size=2, page_token="").value
    assert [q.query_id for q in first.queries] == ids[::-1][:2] and first.next_token
    second = service.queries.list(INSURER, page_size=2, page_token=first.next_token).value
    assert [q.query_id for q in second.queries] == [ids[0]] and second.next_token == ""
    assert service.queries.list(OTHER_INSURER, page_size=2, page_token="").value.queries == ()
    with pytest.raises(InvalidPageToken):
        service.queries.list(INSURER, page_size=2, page_token="p1 OR 1=1")


def test_an_unknown_or_malformed_query_id_is_not_found(service: Service) -> None:
    for query_id in ("qry_" + "A" * 24, "nope"):
        with pytest.raises(QueryNotFound):
            service.queries.answer(INSURER, QueryRequest(UNDERWRITING, query_id=query_id))
    assert service.kinds().count("Decision") == 2


MONTHLY = {"first_month": "2025-01", "last_month": "2025-06", "province": "110000"}


def test_an_approved_template_runs_in_exact_mode_with_its_parameters(service: Service) -> None:
    asked = QueryRequest(UNDERWRITING, template="monthly_visits_by_type", parameters=MONTHLY)
    answer = service.queries.answer(INSURER, asked)
    assert answer.value.release_mode == "exact"
    assert answer.value.table.column_names[0] == "visit_type"
    explained = service.dry.explain(INSURER, asked).value
    assert explained.allowed and explained.rule == "template:monthly_visits_by_type"
    assert explained.view == "visits_by_type" and "__persons" in explained.rewritten_sql
    assert any("approved template" in notice for notice in explained.notices)


@pytest.mark.parametrize(
    ("template", "parameters", "rule"),
    [
        ("no_such_template", MONTHLY, "TEMPLATE_UNKNOWN"),
        ("monthly_visits_by_type", {**MONTHLY, "province": "999999"}, "PARAMETER_OUT_OF_RANGE"),
        ("monthly_visits_by_type", {"first_month": "2025-01"}, "PARAMETER_MISSING"),
        ("monthly_visits_by_type", {**MONTHLY, "extra": 1}, "PARAMETER_UNKNOWN"),
    ],
)
def test_a_template_refusal_names_the_rule_not_the_value(
    service: Service, template: str, parameters: dict[str, str | int], rule: str
) -> None:
    asked = QueryRequest(UNDERWRITING, template=template, parameters=parameters)
    with pytest.raises(QueryRejected) as refused:
        service.queries.answer(INSURER, asked)
    assert refused.value.rule == rule
    assert "999999" not in refused.value.public_message
    explained = service.dry.explain(INSURER, asked).value
    assert not explained.allowed and explained.rejections[0].rule == rule


def test_a_template_of_a_view_not_granted_is_unknown(service: Service) -> None:
    asked = QueryRequest(RESEARCH, template="monthly_visits_by_type", parameters=MONTHLY)
    with pytest.raises(QueryRejected) as refused:  # visits_by_type is granted for UNDERWRITING
        service.queries.answer(INSURER, asked)
    assert refused.value.rule == "TEMPLATE_UNKNOWN"


def _all_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


class _Blocking:
    """An engine that holds its first query until released (a long query in flight)."""

    dialect = "duckdb"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def execute(self, request: query_engine.ExecutionRequest) -> query_engine.ExecutionResult:
        self.started.set()
        self.release.wait(10)
        raise query_engine.QueryTimeout(request.limits.timeout_seconds)


def test_queries_beyond_the_concurrency_limit_are_refused_not_queued_forever(
    service: Service,
) -> None:
    engine = _Blocking()
    limits = query_engine.ExecutionLimits(timeout_seconds=0.3, memory_bytes=64 * 2**20)
    two_insurers = default_policy_text() + (
        '  - organization: "3"\n    purpose: INSURANCE_UNDERWRITING\n    views: [claims_analysis]\n'
    )
    queries = AggregateQueries(
        FixedPolicy(load_policy(two_insurers)),
        engine,
        lambda: service.export.files,
        AuditLogTrail(service.log),
        limits,
        max_concurrent=1,
    )
    with futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(queries.run, INSURER, BY_PROVINCE, {}, UNDERWRITING)
        assert engine.started.wait(10)
        # The same organization: refused at once (its calls in flight, parsing included).
        with pytest.raises(QueryNotRun) as busy:
            queries.run(INSURER, BY_PROVINCE, {}, UNDERWRITING)
        assert "organization has its maximum of queries in flight" in busy.value.public_message
        # Another organization: waits for an engine slot, then is refused at the time limit.
        other = Caller("app-3", "3", frozenset({UNDERWRITING}))
        with pytest.raises(QueryNotRun) as refused:
            queries.run(other, BY_PROVINCE, {}, UNDERWRITING)
        assert "zone is running its maximum of queries" in refused.value.public_message
        engine.release.set()
        with pytest.raises(QueryNotRun):
            first.result(10)
    assert service.kinds().count("Decision") >= 3  # every refusal logged


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id_640105195209101072, COUNT(*) AS n FROM claims_analysis GROUP BY 1",
        'SELECT "张三丰", COUNT(*) AS n FROM claims_analysis GROUP BY "张三丰"',
        "SELECT province, COUNT(*) AS n FROM claims_analysis GROUP BY province"
        " ORDER BY p13419553974",
        # digits split by other characters: seven in all are enough to be masked
        "SELECT province, COUNT(*) AS n FROM claims_analysis"
        " WHERE p640105_195209_101072 = 'F' GROUP BY province",
    ],
)
def test_a_rejection_never_echoes_what_could_be_an_identifier(service: Service, sql: str) -> None:
    with pytest.raises(QueryRejected) as refused:
        service.queries.run(INSURER, sql, {}, UNDERWRITING)
    for text in (refused.value.public_message, refused.value.construct):
        assert "640105195209101072" not in text and "张三丰" not in text
        assert "13419553974" not in text and "640105_195209" not in text
    explained = service.dry.explain(INSURER, QueryRequest(UNDERWRITING, sql=sql)).value
    assert not any("6401051952" in str(r) or "1341955" in str(r) for r in explained.rejections)


def test_a_caller_without_any_grant_is_refused_before_its_query_is_parsed(
    service: Service,
) -> None:
    not_sql = "this is not SQL at all " * 100
    for method in (service.queries.answer, service.queries.submit, service.dry.explain):
        with pytest.raises(ViewNotGranted):  # not PARSE_ERROR: nothing was parsed
            method(OTHER_INSURER, QueryRequest(UNDERWRITING, sql=not_sql))


def test_submit_refuses_what_run_would_refuse_for_a_query_without_parameters(
    service: Service,
) -> None:
    sql = "SELECT gender, COUNT(*) AS n FROM claims_analysis WHERE gender = 1 GROUP BY gender"
    value = service.queries.submit(INSURER, QueryRequest(UNDERWRITING, sql=sql)).value
    assert value.status is QueryStatus.REJECTED and value.query_id == ""
    assert [r.rule for r in value.rejections] == ["VALUE_TYPE_MISMATCH"]


def test_the_column_kinds_name_only_released_columns(service: Service) -> None:
    sql = (
        "SELECT visit_type, SUM(total_cents) AS total, AVG(total_cents) AS mean"
        " FROM claims_analysis GROUP BY visit_type"
    )
    value = service.queries.run(INSURER, sql, {}, UNDERWRITING).value
    assert value.columns == (
        ("visit_type", "dimension"),
        ("total", "sum"),
        ("mean", "avg"),
        ("suppressed", "suppressed"),
    )
    assert tuple(name for name, _ in value.columns) == tuple(value.table.column_names)


def test_a_read_is_one_commit_and_a_call_with_effects_logs_its_request_first(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 15: explain, get, list and budget change nothing before their answer, so the
    # request, decision and release are ONE commit; a submission stores the query and a run
    # charges and counts, so each makes its request leaf durable first.
    commits: list[list[str]] = []
    append = service.store.append

    def counted(leaves: Any, checkpoint: Any = None) -> None:
        commits.append([type(decode_leaf(x.leaf).event).__name__ for x in leaves])
        append(leaves, checkpoint)

    monkeypatch.setattr(service.store, "append", counted)
    asked = QueryRequest(UNDERWRITING, sql=BY_PROVINCE)
    service.queries.explain(INSURER, asked)
    submitted = service.queries.submit(INSURER, asked).value
    service.queries.get(INSURER, submitted.query_id)
    service.queries.list(INSURER, page_size=10, page_token="")
    service.queries.answer(INSURER, QueryRequest(UNDERWRITING, query_id=submitted.query_id))
    whole = ["RequestReceived", "Decision", "Release"]
    assert commits[0] == whole  # explain
    assert commits[1] == ["RequestReceived"]  # submit: the request before the stored query
    assert commits[2] == ["Decision", "Release"]
    assert commits[3] == whole  # get
    assert commits[4] == whole  # list
    assert commits[5] == ["RequestReceived"]  # run: the request before its effects
    assert commits[-1][-2:] == ["Decision", "Release"]
