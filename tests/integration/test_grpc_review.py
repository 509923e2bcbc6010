"""Steward review of submitted queries over a real gRPC server on 127.0.0.1 (issue 11).

A partner submits what no automatic rule allows; stewards list it, read its analysis, approve
it under conditions (two different stewards on a sensitive view) or reject it with a reason;
the partner sees the decision and runs the approved query under its conditions until they
run out. The zone side is the real one: the query store and the budget ledger are SQLite
files, the engine DuckDB over a synthetic export, every answer and refusal an audit leaf of
the stack's real log. Steward calls are raw stubs with tokens whose ``sub`` names the human
steward (as the portal's steward pages mint them), so each refusal's status and ErrorInfo is
seen exactly as a client sees it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

import query_engine
from dataward import receipts
from dataward.client import Client, StaticTokenSource
from dataward.transparency import Receipt
from dataward.v1 import common_pb2, query_pb2, query_pb2_grpc, steward_pb2, steward_pb2_grpc
from enclave.analytics import AggregateQueries, Budget, FixedPolicy, QueryReviews, SqliteQueryStore
from enclave.audit import AuditLog, AuditLogTrail, Decision, RequestReceived, StewardAction
from enclave.budget import BudgetLedger, BudgetLimits
from enclave.keys import open_keyring
from policies import Policy, default_policy_text, load_policy
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import KEY_NAME
from tests.support.query_export import Export, synthetic_export
from tests.support.zone_source import MASTER_KEY

UW = common_pb2.PURPOSE_INSURANCE_UNDERWRITING
PAGES = "portal-steward-pages"  # the client the portal's steward pages call through
STEWARDS = "1"  # the portal's steward organization
PARTNER_SCOPES = ("query:submit", "query:run")
LIMITS = query_engine.ExecutionLimits(timeout_seconds=30, memory_bytes=512 * 2**20)

# more group keys than claims_analysis' rule allows (3): a steward may lift that
FOUR_KEYS = (
    "SELECT age_band, gender, visit_type, institution_kind, COUNT(*) AS claims "
    "FROM claims_analysis GROUP BY age_band, gender, visit_type, institution_kind"
)
# a template the partner proposes over the template-only view (flagged sensitive below)
PROPOSAL = (
    "SELECT visit_type, COUNT(*) AS claims, COUNT(DISTINCT person_key) AS persons "
    "FROM visits_by_type GROUP BY visit_type"
)
ALLOWED = "SELECT gender, COUNT(*) AS claims FROM claims_analysis GROUP BY gender"
REASON = "Zhang Wei, call 13800138000: four keys split the county too finely"


def _policy() -> Policy:
    """The default policy with visits_by_type flagged sensitive (two stewards approve)."""
    text = default_policy_text().replace(
        "  visits_by_type:\n    sql: |", "  visits_by_type:\n    sensitive: true\n    sql: |", 1
    )
    policy = load_policy(text)
    assert policy.views["visits_by_type"].sensitive
    return policy


class Clock:
    """The zone's clock for this test: real time, moved forward on demand."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@dataclass
class Review:
    stack: Stack
    clock: Clock
    store_path: Path

    def token(self, subject: str, *, org: str = STEWARDS, scopes: tuple[str, ...] = ()) -> str:
        return self.stack.issuer.token(
            client_id=PAGES,
            org=org,
            scopes=scopes or ("steward:admin",),
            purposes=(),
            extra_claims={"sub": subject},
        )

    def steward(
        self, method: str, request: object, subject: str = "user:1", **kw: object
    ) -> object:
        token = self.token(subject, **kw)  # type: ignore[arg-type]
        with grpc.insecure_channel(self.stack.target) as channel:
            stub = steward_pb2_grpc.StewardServiceStub(channel)
            return getattr(stub, method)(request, metadata=(("authorization", f"Bearer {token}"),))

    def partner(
        self, method: str, request: object, *, org: str = "demo-insurer", token: str = ""
    ) -> object:
        token = token or self.stack.issuer.token(
            client_id="insurer-app",
            org=org,
            scopes=PARTNER_SCOPES,
            purposes=("INSURANCE_UNDERWRITING", "RESEARCH"),
        )
        with grpc.insecure_channel(self.stack.target) as channel:
            stub = query_pb2_grpc.QueryServiceStub(channel)
            return getattr(stub, method)(request, metadata=(("authorization", f"Bearer {token}"),))

    def submit(self, sql: str, **kw: object) -> query_pb2.SubmitResponse:
        answer = self.partner("Submit", query_pb2.SubmitRequest(sql=sql, purpose=UW), **kw)  # type: ignore[arg-type]
        assert isinstance(answer, query_pb2.SubmitResponse)
        return answer

    def get(self, query_id: str) -> query_pb2.StoredQuery:
        answer = self.partner("Get", query_pb2.QueryServiceGetRequest(query_id=query_id))
        assert isinstance(answer, query_pb2.QueryServiceGetResponse)
        return answer.query

    def run(self, query_id: str) -> query_pb2.RunResponse:
        answer = self.partner("Run", query_pb2.RunRequest(query_id=query_id, purpose=UW))
        assert isinstance(answer, query_pb2.RunResponse)
        return answer

    def approve(
        self,
        query_id: str,
        subject: str = "user:1",
        *,
        mode: int = query_pb2.RELEASE_MODE_UNSPECIFIED,
        epsilon: float = 0.0,
        hours: float = 24.0,
        runs: int = 3,
        nonce: str = "",
        **kw: object,
    ) -> steward_pb2.ApproveQueryResponse:
        expires = int((self.clock() + dt.timedelta(hours=hours)).timestamp())
        request = steward_pb2.ApproveQueryRequest(
            query_id=query_id,
            conditions=query_pb2.ReviewConditions(
                mode=query_pb2.ReleaseMode.ValueType(mode),
                epsilon=epsilon,
                expires_at=expires,
                max_runs=runs,
            ),
            client_nonce=nonce,
        )
        answer = self.steward("ApproveQuery", request, subject, **kw)
        assert isinstance(answer, steward_pb2.ApproveQueryResponse)
        return answer

    def reject(
        self, query_id: str, reason: str = REASON, subject: str = "user:1", **kw: object
    ) -> steward_pb2.RejectQueryResponse:
        request = steward_pb2.RejectQueryRequest(query_id=query_id, reason=reason)
        answer = self.steward("RejectQuery", request, subject, **kw)
        assert isinstance(answer, steward_pb2.RejectQueryResponse)
        return answer

    def review(self, query_id: str, subject: str = "user:1") -> steward_pb2.QueryReview:
        answer = self.steward(
            "GetQueryReview", steward_pb2.GetQueryReviewRequest(query_id=query_id), subject
        )
        assert isinstance(answer, steward_pb2.GetQueryReviewResponse)
        return answer.review

    def pending(self, **kw: object) -> steward_pb2.ListPendingQueriesResponse:
        request = steward_pb2.ListPendingQueriesRequest(**kw)  # type: ignore[arg-type]
        answer = self.steward("ListPendingQueries", request)
        assert isinstance(answer, steward_pb2.ListPendingQueriesResponse)
        return answer

    def events(self, count: int) -> list[object]:
        return [e.event for e in self.stack.log.tail(count)]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("grpc-review"))


@pytest.fixture
def review(tmp_path: Path, export: Export) -> Iterator[Review]:
    store_path = tmp_path / "state" / "queries.db"
    store = SqliteQueryStore.open(store_path, open_keyring(export.zone, MASTER_KEY))
    ledger = BudgetLedger.open(tmp_path / "state" / "budget.db", BudgetLimits())
    source = FixedPolicy(_policy())
    clock = Clock()

    def queries(log: AuditLog) -> AggregateQueries:
        return AggregateQueries(
            source,
            query_engine.DuckDBEngine(),
            lambda: export.files,
            AuditLogTrail(log),
            LIMITS,
            store=store,
            clock=clock,
            budget=Budget(ledger, AuditLogTrail(log), lambda: "v-test"),
        )

    def reviews(log: AuditLog) -> QueryReviews:
        return QueryReviews(source, store, AuditLogTrail(log), LIMITS, clock=clock)

    try:
        with grpc_stack(tmp_path, queries=queries, reviews=reviews) as s:
            yield Review(s, clock, store_path)
    finally:
        store.close()
        ledger.close()


def _refusal(exc: grpc.RpcError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    assert isinstance(exc, grpc.Call)
    status = rpc_status.from_call(exc)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return exc.code(), info.reason, dict(info.metadata)


def _receipt(wire: common_pb2.Receipt) -> Receipt:
    return Receipt(
        wire.leaf_index,
        bytes(wire.leaf_hash),
        wire.checkpoint_note,
        tuple(bytes(p) for p in wire.inclusion_proof),
        bytes(wire.leaf) or None,
    )


def _verifies(
    review: Review,
    wire: common_pb2.Receipt,
    method: str,
    fields: receipts.ResultFields,
    nonce: str = "",
) -> None:
    receipts.verify_release(
        _receipt(wire),
        method=method,
        request_id=wire.request_id,
        fields=fields,
        key_name=KEY_NAME,
        public_key=review.stack.audit.key.public_key(),
        client_nonce=nonce,
    )


def _denied(review: Review, reason: str) -> None:
    """The last leaf is the denying decision of the refusal, with its reason."""
    (last,) = review.events(1)
    assert isinstance(last, Decision) and not last.allow and last.reasons == (reason,)


def _conditions(message: query_pb2.ReviewConditions) -> list[str]:
    return receipts.review_conditions(
        mode={query_pb2.RELEASE_MODE_EXACT: "exact", query_pb2.RELEASE_MODE_DP: "dp"}[message.mode],
        epsilon_micro=round(message.epsilon * 1_000_000),
        expires_at=message.expires_at,
        max_runs=message.max_runs,
    )


# -- the whole way: submit, review, approve, run ----------------------------------------------
def test_a_query_past_the_rule_goes_through_review_to_its_runs(review: Review) -> None:
    submitted = review.submit(FOUR_KEYS)
    assert submitted.status == query_pb2.QUERY_STATUS_PENDING_REVIEW
    assert [(r.rule, r.construct) for r in submitted.rejections] == [
        ("TOO_MANY_GROUP_KEYS", "4 > 3")
    ]
    query_id = submitted.query_id
    stored = review.get(query_id)
    assert stored.status == query_pb2.QUERY_STATUS_PENDING_REVIEW and not stored.reviewed
    assert (stored.approvals, stored.approvals_needed) == (0, 1)
    with pytest.raises(grpc.RpcError) as early:
        review.run(query_id)
    assert _refusal(early.value)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "QUERY_NOT_RUNNABLE")

    listed = review.pending(client_nonce="n-" + "1" * 16)
    _verifies(
        review,
        listed.receipt,
        receipts.REVIEW_LIST,
        receipts.review_list_fields(query_ids=[query_id]),
        "n-" + "1" * 16,
    )
    [item] = listed.queries
    assert item == review.review(query_id)  # the list carries the same analysis
    assert (item.query_id, item.organization, item.client_id) == (
        query_id,
        "demo-insurer",
        "insurer-app",
    )
    assert (item.view, item.sql, item.purpose) == ("claims_analysis", FOUR_KEYS, UW)
    assert [r.rule for r in item.rejections] == ["TOO_MANY_GROUP_KEYS"]
    assert list(item.columns) == ["age_band", "gender", "visit_type", "institution_kind"]
    assert item.cells == 6 * 2 * 6 * 3
    assert any("fewer than 11 distinct persons" in c for c in item.checks)
    assert (item.default_mode, item.default_epsilon) == (query_pb2.RELEASE_MODE_EXACT, 0.0)
    assert not item.two_person and item.approvals_needed == 1 and not item.approvals
    assert item.status == query_pb2.QUERY_STATUS_PENDING_REVIEW

    nonce = "approve-" + "a" * 16
    approved = review.approve(query_id, runs=2, nonce=nonce)
    assert approved.status == query_pb2.QUERY_STATUS_ACCEPTED
    assert (approved.approvals, approved.approvals_needed) == (1, 1)
    assert approved.conditions.mode == query_pb2.RELEASE_MODE_EXACT  # the view's, by default
    _verifies(
        review,
        approved.receipt,
        receipts.REVIEW_APPROVE,
        receipts.review_approve_fields(
            query_id=query_id,
            status="ACCEPTED",
            approvals=1,
            approvals_needed=1,
            conditions=_conditions(approved.conditions),
        ),
        nonce,
    )
    # audited under the steward's own name: the request names the client AND the human, the
    # decision is a steward_action leaf durable before the release
    request, action, decision, _ = review.events(4)
    assert isinstance(request, RequestReceived)
    assert (request.method, request.client_id) == (receipts.REVIEW_APPROVE, f"{PAGES}/user:1")
    assert isinstance(action, StewardAction)
    assert (action.steward, action.action, action.target) == ("user:1", "approve_query", query_id)
    assert action.detail == f"{request.request_id}/ACCEPTED"
    assert isinstance(decision, Decision) and decision.allow

    stored = review.get(query_id)
    assert stored.reviewed and stored.status == query_pb2.QUERY_STATUS_ACCEPTED
    assert stored.conditions == approved.conditions and stored.runs_left == 2

    first = review.run(query_id)
    assert first.rows == 6 * 2 * 6 * 3 and first.release_mode == query_pb2.RELEASE_MODE_EXACT
    assert [c.name for c in first.columns][:4] == list(item.columns)
    assert review.get(query_id).runs_left == 1
    review.run(query_id)
    assert review.get(query_id).runs_left == 0
    with pytest.raises(grpc.RpcError) as used_up:
        review.run(query_id)
    assert _refusal(used_up.value)[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "QUERY_RUNS_EXHAUSTED",
    )
    _denied(review, "QUERY_RUNS_EXHAUSTED")
    # decided: no longer pending
    assert not review.pending().queries


def test_a_rejection_reaches_the_partner_with_its_reason_sealed_at_rest(review: Review) -> None:
    query_id = review.submit(FOUR_KEYS).query_id
    rejected = review.reject(query_id)
    assert rejected.status == query_pb2.QUERY_STATUS_REJECTED
    _verifies(
        review,
        rejected.receipt,
        receipts.REVIEW_REJECT,
        receipts.review_reject_fields(query_id=query_id, status="REJECTED"),
    )
    stored = review.get(query_id)
    assert stored.status == query_pb2.QUERY_STATUS_REJECTED and stored.reviewed
    assert stored.rejection_reason == REASON and not stored.HasField("conditions")
    seen = review.review(query_id, "user:2")
    assert (seen.rejection_reason, seen.rejected_by) == (REASON, "user:1")
    with pytest.raises(grpc.RpcError) as refused:
        review.run(query_id)
    assert _refusal(refused.value)[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "QUERY_NOT_RUNNABLE",
    )
    # the reason is free text: sealed in queries.db, and in no audit leaf nor any other file
    state = review.store_path.parent
    for path in [*state.parent.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            for clear in (REASON, "13800138000", "Zhang Wei", "too finely"):
                assert clear.encode() not in data, path


def test_a_second_approval_by_the_same_steward_on_a_two_person_view_is_refused(
    review: Review,
) -> None:
    submitted = review.submit(PROPOSAL)
    assert submitted.status == query_pb2.QUERY_STATUS_PENDING_REVIEW
    assert [r.rule for r in submitted.rejections] == ["RULE_NOT_AD_HOC"]
    query_id = submitted.query_id
    seen = review.review(query_id)
    assert seen.two_person and seen.approvals_needed == 2
    first = review.approve(query_id, "user:1", runs=5)
    assert first.status == query_pb2.QUERY_STATUS_PENDING_REVIEW
    assert (first.approvals, first.approvals_needed) == (1, 2)
    assert (review.get(query_id).approvals, review.get(query_id).approvals_needed) == (1, 2)
    with pytest.raises(grpc.RpcError) as again:
        review.approve(query_id, "user:1")
    assert _refusal(again.value)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "REVIEW_SAME_STEWARD")
    _denied(review, "REVIEW_SAME_STEWARD")
    [approval] = review.review(query_id).approvals
    assert approval.steward == "user:1" and approval.organization == STEWARDS
    second = review.approve(query_id, "user:2", runs=2, hours=12)
    assert second.status == query_pb2.QUERY_STATUS_ACCEPTED
    assert (second.approvals, second.approvals_needed) == (2, 2)
    stored = review.get(query_id)
    assert stored.conditions.max_runs == 2  # the stricter of the two approvals
    ran = review.run(query_id)
    assert ran.rows == 6  # one row per visit type of the public domain


def test_a_reviewer_approving_their_own_submission_is_refused(review: Review) -> None:
    # a steward of demo-insurer whose token also carries query:submit (sub = the steward)
    both = review.stack.issuer.token(
        client_id="insurer-app",
        org="demo-insurer",
        scopes=("query:submit", "query:run", "steward:admin"),
        purposes=("INSURANCE_UNDERWRITING",),
        extra_claims={"sub": "user:7"},
    )
    query_id = review.submit(FOUR_KEYS, token=both).query_id
    with pytest.raises(grpc.RpcError) as refused:
        review.approve(query_id, "user:7", org="demo-insurer")
    assert _refusal(refused.value)[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "REVIEW_OWN_SUBMISSION",
    )
    _denied(review, "REVIEW_OWN_SUBMISSION")
    with pytest.raises(grpc.RpcError) as rejected:
        review.reject(query_id, "self-serving", "user:7", org="demo-insurer")
    assert _refusal(rejected.value)[1] == "REVIEW_OWN_SUBMISSION"
    assert review.review(query_id).status == query_pb2.QUERY_STATUS_PENDING_REVIEW
    assert review.approve(query_id, "user:1").status == query_pb2.QUERY_STATUS_ACCEPTED


def test_an_approval_expires(review: Review) -> None:
    query_id = review.submit(FOUR_KEYS).query_id
    review.approve(query_id, hours=1, runs=10)
    review.run(query_id)
    review.clock.offset = dt.timedelta(hours=2)
    with pytest.raises(grpc.RpcError) as expired:
        review.run(query_id)
    assert _refusal(expired.value)[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "QUERY_APPROVAL_EXPIRED",
    )
    _denied(review, "QUERY_APPROVAL_EXPIRED")
    assert review.get(query_id).runs_left == 9


def test_a_steward_may_require_dp_on_an_exact_view(review: Review) -> None:
    query_id = review.submit(FOUR_KEYS).query_id
    approved = review.approve(query_id, mode=query_pb2.RELEASE_MODE_DP, epsilon=0.25)
    assert approved.conditions.mode == query_pb2.RELEASE_MODE_DP
    assert approved.conditions.epsilon == 0.25
    ran = review.run(query_id)
    assert ran.release_mode == query_pb2.RELEASE_MODE_DP


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ("SELECT person_key, COUNT(*) FROM claims_analysis GROUP BY person_key", "COLUMN_HIDDEN"),
        (
            "SELECT province, prefecture, visit_month, COUNT(*) FROM claims_analysis "
            "GROUP BY province, prefecture, visit_month",
            "TOO_MANY_CELLS",
        ),
        ("SELECT birth_date, COUNT(*) FROM claims_analysis GROUP BY birth_date", "COLUMN_UNKNOWN"),
        (
            "SELECT visit_type, COUNT(*) FROM visits_by_type WHERE person_key = 'x' "
            "GROUP BY visit_type",
            "COLUMN_HIDDEN",
        ),
        ("SELECT gender, COUNT(*) FROM (SELECT 1) GROUP BY gender", "CONSTRUCT_NOT_ALLOWED"),
    ],
)
def test_what_no_steward_may_approve_stays_rejected(review: Review, sql: str, rule: str) -> None:
    submitted = review.submit(sql)
    assert submitted.status == query_pb2.QUERY_STATUS_REJECTED and not submitted.query_id
    assert rule in {r.rule for r in submitted.rejections}
    assert not review.pending().queries


def test_each_refusal_has_its_status_and_reason(review: Review) -> None:
    pending = review.submit(FOUR_KEYS).query_id
    accepted = review.submit(ALLOWED)
    assert accepted.status == query_pb2.QUERY_STATUS_ACCEPTED
    c = grpc.StatusCode
    cases: list[tuple[str, object, tuple[grpc.StatusCode, str, dict[str, str]]]] = [
        (
            "unknown id",
            lambda: review.approve("qry_" + "A" * 24),
            (c.NOT_FOUND, "QUERY_NOT_FOUND", {}),
        ),
        (
            "malformed id",
            lambda: review.approve("qry_short"),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "query_id"}),
        ),
        (
            "not pending",
            lambda: review.approve(accepted.query_id),
            (c.FAILED_PRECONDITION, "QUERY_NOT_PENDING", {}),
        ),
        (
            "expiry in the past",
            lambda: review.approve(pending, hours=-1),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "conditions.expires_at"}),
        ),
        (
            "expiry past a year",
            lambda: review.approve(pending, hours=24 * 400),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "conditions.expires_at"}),
        ),
        (
            "no runs",
            lambda: review.approve(pending, runs=0),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "conditions.max_runs"}),
        ),
        (
            "epsilon on an exact release",
            lambda: review.approve(pending, epsilon=0.5),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "conditions.epsilon"}),
        ),
        (
            "epsilon past the per-query limit",
            lambda: review.approve(pending, mode=query_pb2.RELEASE_MODE_DP, epsilon=1.5),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "conditions.epsilon"}),
        ),
        (
            "an epsilon too small to share across the query's noisy columns",
            lambda: review.approve(pending, mode=query_pb2.RELEASE_MODE_DP, epsilon=0.0005),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "conditions.epsilon"}),
        ),
        (
            "a negative epsilon",
            lambda: review.approve(pending, mode=query_pb2.RELEASE_MODE_DP, epsilon=-0.1),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "conditions.epsilon"}),
        ),
        (
            "an unknown mode",
            lambda: review.approve(pending, mode=7),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "conditions.mode"}),
        ),
        (
            "a blank reason",
            lambda: review.reject(pending, "   "),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "reason"}),
        ),
        (
            "a reason with control characters",
            lambda: review.reject(pending, "no\x00way"),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "reason"}),
        ),
        (
            "a page token the zone did not give",
            lambda: review.pending(page_token="x1"),
            (c.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "page_token"}),
        ),
        (
            "a partner's token",
            lambda: review.steward(
                "ListPendingQueries",
                steward_pb2.ListPendingQueriesRequest(),
                scopes=PARTNER_SCOPES,
            ),
            (c.PERMISSION_DENIED, "SCOPE_NOT_GRANTED", {}),
        ),
    ]
    for name, call, expected in cases:
        with pytest.raises(grpc.RpcError) as refused:
            call()  # type: ignore[operator]
        code, reason, metadata = _refusal(refused.value)
        assert (code, reason) == expected[:2], name
        for key, value in expected[2].items():
            assert metadata.get(key) == value, name
        assert code is not c.INTERNAL, name
        _denied(review, reason)
    # none of it changed the pending query
    assert review.review(pending).status == query_pb2.QUERY_STATUS_PENDING_REVIEW
    assert not review.review(pending).approvals


def test_pending_queries_page_oldest_first(review: Review) -> None:
    ids = [review.submit(FOUR_KEYS).query_id for _ in range(3)]
    first = review.pending(page_size=2)
    assert [q.query_id for q in first.queries] == ids[:2] and first.next_page_token
    rest = review.pending(page_size=2, page_token=first.next_page_token)
    assert [q.query_id for q in rest.queries] == ids[2:] and not rest.next_page_token
    with pytest.raises(grpc.RpcError) as too_many:
        review.pending(page_size=101)
    assert _refusal(too_many.value)[2] == {"field": "page_size"}
    started = time.monotonic()
    assert review.pending(page_size=100).queries  # the analysis of each costs little
    assert time.monotonic() - started < 5


def test_the_sdk_shows_the_partner_the_decision(review: Review) -> None:
    token = review.stack.issuer.token(
        client_id="insurer-app",
        org="demo-insurer",
        scopes=PARTNER_SCOPES,
        purposes=("INSURANCE_UNDERWRITING",),
    )
    with Client(review.stack.target, StaticTokenSource(token)) as client:
        accepted = client.submit(FOUR_KEYS, purpose="INSURANCE_UNDERWRITING").query_id
        rejected = client.submit(FOUR_KEYS, purpose="INSURANCE_UNDERWRITING").query_id
        waiting = client.get_query(accepted)
        assert (waiting.status, waiting.reviewed, waiting.approvals_needed) == (
            "PENDING_REVIEW",
            False,
            1,
        )
        review.approve(accepted, runs=4, hours=48)
        review.reject(rejected, "the county is too small")
        got = client.get_query(accepted)
        assert got.reviewed and got.status == "ACCEPTED" and got.runs_left == 4
        assert got.conditions is not None and got.conditions.mode == "exact"
        assert got.conditions.max_runs == 4 and got.conditions.epsilon == 0
        assert got.conditions.expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(hours=47)
        refused = client.get_query(rejected)
        assert refused.status == "REJECTED" and refused.conditions is None
        assert refused.rejection_reason == "the county is too small"
        client.run_query(query_id=accepted, purpose="INSURANCE_UNDERWRITING")
        assert client.get_query(accepted).runs_left == 3


def test_one_steward_cannot_downgrade_a_dp_grant_to_exact(review: Review) -> None:
    # demo-insurer's RESEARCH grant demands dp (policies/default.yaml): only the policy may
    # relax it, never one steward's approval
    request = query_pb2.SubmitRequest(sql=FOUR_KEYS, purpose=common_pb2.PURPOSE_RESEARCH)
    submitted = review.partner("Submit", request)
    assert isinstance(submitted, query_pb2.SubmitResponse)
    assert submitted.status == query_pb2.QUERY_STATUS_PENDING_REVIEW
    assert review.review(submitted.query_id).default_mode == query_pb2.RELEASE_MODE_DP
    with pytest.raises(grpc.RpcError) as refused:
        review.approve(submitted.query_id, mode=query_pb2.RELEASE_MODE_EXACT)
    code, reason, metadata = _refusal(refused.value)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_INVALID")
    assert metadata["field"] == "conditions.mode"
    approved = review.approve(submitted.query_id)  # the default: dp
    assert approved.conditions.mode == query_pb2.RELEASE_MODE_DP
