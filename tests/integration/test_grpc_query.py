"""QueryService end to end over a real gRPC server on 127.0.0.1: the SDK explains, submits,
runs (ad hoc and by id), gets and lists; answers are Arrow tables whose receipts verify with
``Client.verify_answer``; refusals carry their status, reason and rule; bad fields are precise
INVALID_ARGUMENT errors; scopes are enforced."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import query_engine
from dataward.client import (
    Client,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    QueryRejected,
    ReceiptInvalid,
    StaticTokenSource,
)
from dataward.transparency import load_public_key
from dataward.v1 import common_pb2, query_pb2, query_pb2_grpc
from enclave import gate
from enclave.analytics import AggregateQueries, FixedPolicy, SqliteQueryStore
from enclave.audit import AuditLog, AuditLogTrail
from enclave.keys import open_keyring
from policies import default_policy
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import KEY_NAME
from tests.support.query_export import Export, synthetic_export
from tests.support.zone_source import MASTER_KEY

UNDERWRITING = "INSURANCE_UNDERWRITING"
SCOPES = ("query:submit", "query:run", "audit:read")
BY_PROVINCE = (
    "SELECT province, COUNT(*) AS claims, COUNT(DISTINCT person_key) AS persons,"
    " SUM(total_cents) AS total FROM claims_analysis GROUP BY province"
)
UW = common_pb2.PURPOSE_INSURANCE_UNDERWRITING
LIMITS = query_engine.ExecutionLimits(timeout_seconds=30, memory_bytes=512 * 2**20)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("grpc-query"))


@pytest.fixture
def stack(tmp_path: Path, export: Export) -> Iterator[Stack]:
    store = SqliteQueryStore.open(
        tmp_path / "state" / "queries.db", open_keyring(export.zone, MASTER_KEY)
    )

    def queries(log: AuditLog) -> AggregateQueries:
        return AggregateQueries(
            FixedPolicy(default_policy()),
            query_engine.DuckDBEngine(),
            lambda: export.files,
            AuditLogTrail(log),
            LIMITS,
            store=store,
        )

    try:
        with grpc_stack(tmp_path, queries=queries) as s:
            yield s
    finally:
        store.close()


def _client(stack: Stack, *, org: str = "demo-insurer", scopes: tuple[str, ...] = SCOPES) -> Client:
    """A partner of organization ``org`` with the zone key pinned from its published PEM."""
    pem = stack.audit.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    token = stack.issuer.token(org=org, scopes=scopes, purposes=(UNDERWRITING, "RESEARCH"))
    return Client(
        stack.target, StaticTokenSource(token), audit_key=(KEY_NAME, load_public_key(pem))
    )


def test_run_releases_a_gated_arrow_table_whose_receipt_verifies(stack: Stack) -> None:
    with _client(stack) as client:
        result = client.run_query(BY_PROVINCE, purpose=UNDERWRITING)
        client.verify_answer(result)
    table = result.table
    assert table.column_names == ["province", "claims", "persons", "total", gate.MARKER_COLUMN]
    assert dict(result.columns)["total"] == "sum"
    assert dict(result.columns)[gate.MARKER_COLUMN] == "suppressed"
    assert 0 < result.suppressed_cells < table.num_rows
    assert result.release_mode == "exact"
    assert result.policy_version == default_policy().version
    for row in table.to_pylist():
        assert (row["claims"] is None) == row[gate.MARKER_COLUMN]


def test_an_edited_answer_does_not_verify(stack: Stack) -> None:
    with _client(stack) as client:
        result = client.run_query(BY_PROVINCE, purpose=UNDERWRITING)
        client.verify_answer(result)
        table = result.table
        edited_table = table.set_column(
            1, "claims", pa.array([0] * table.num_rows, type=table.schema.field(1).type)
        )
        kinds = tuple((name, "dimension") for name, _ in result.columns)
        for forged in (
            dataclasses.replace(result, suppressed_cells=0),
            dataclasses.replace(result, table=edited_table),  # the original IPC bytes kept
            dataclasses.replace(result, columns=kinds),
            dataclasses.replace(result, release_mode="dp"),
        ):
            with pytest.raises(ReceiptInvalid):
                client.verify_answer(forged)


def test_explain_submit_get_list_and_run_by_id(stack: Stack) -> None:
    with _client(stack) as client:
        explained = client.explain(BY_PROVINCE, purpose=UNDERWRITING)
        client.verify_answer(explained)
        assert explained.allowed and "__persons" in explained.rewritten_sql
        assert any("differenced" in n for n in explained.notices)

        submitted = client.submit(BY_PROVINCE, purpose=UNDERWRITING)
        client.verify_answer(submitted)
        assert submitted.status == "ACCEPTED" and submitted.query_id.startswith("qry_")
        stored = client.get_query(submitted.query_id)
        assert stored.sql == BY_PROVINCE and stored.purpose == UNDERWRITING
        assert [q.query_id for q in client.list_queries().queries] == [submitted.query_id]

        by_id = client.run_query(query_id=submitted.query_id, purpose=UNDERWRITING)
        client.verify_answer(by_id)
        assert by_id.table.num_rows > 0

    with _client(stack, org="9") as other, pytest.raises(NotFound) as missing:
        other.get_query(submitted.query_id)
    assert missing.value.reason == "QUERY_NOT_FOUND"


def test_a_rejected_query_names_its_rule_and_construct(stack: Stack) -> None:
    sql = "SELECT person_key, COUNT(*) AS n FROM claims_analysis GROUP BY person_key"
    with _client(stack) as client, pytest.raises(QueryRejected) as refused:
        client.run_query(sql, purpose=UNDERWRITING)
    assert refused.value.reason == "QUERY_REJECTED"
    assert refused.value.rule == "COLUMN_HIDDEN"
    assert refused.value.construct == "person_key"
    assert "person_key" not in str(refused.value).replace("COLUMN_HIDDEN(person_key)", "")


def test_views_not_granted_and_dp_views_are_refused_with_their_reasons(stack: Stack) -> None:
    with _client(stack, org="9") as stranger, pytest.raises(PermissionDenied) as denied:
        stranger.run_query(BY_PROVINCE, purpose=UNDERWRITING)
    assert denied.value.reason == "VIEW_NOT_GRANTED"
    dp = "SELECT scheme, COUNT(*) AS n FROM enrolment_analysis GROUP BY scheme"
    with _client(stack) as client, pytest.raises(FailedPrecondition) as precondition:
        client.run_query(dp, purpose="RESEARCH")
    assert precondition.value.reason == "DP_MODE_REQUIRED"
    assert precondition.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_the_scopes_are_enforced(stack: Stack) -> None:
    with _client(stack, scopes=("query:submit",)) as client:
        assert client.explain(BY_PROVINCE, purpose=UNDERWRITING).allowed
        with pytest.raises(PermissionDenied) as denied:
            client.run_query(BY_PROVINCE, purpose=UNDERWRITING)
    assert denied.value.reason == "SCOPE_NOT_GRANTED"


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (query_pb2.RunRequest(purpose=UW), "query_id/sql/template"),
        (query_pb2.RunRequest(sql="x", template="t", purpose=UW), "query_id/sql/template"),
        (query_pb2.RunRequest(query_id="qry_short", purpose=UW), "query_id"),
        (query_pb2.RunRequest(template="no spaces allowed", purpose=UW), "template"),
        (query_pb2.RunRequest(sql=BY_PROVINCE), "purpose"),
        (query_pb2.RunRequest(sql="s" * 200_000, purpose=UW), "sql"),
        (
            query_pb2.RunRequest(
                sql=BY_PROVINCE, purpose=UW, parameters=[query_pb2.QueryParameter(name="p")]
            ),
            "parameters",
        ),
        (
            query_pb2.RunRequest(
                sql=BY_PROVINCE,
                purpose=UW,
                parameters=[query_pb2.QueryParameter(name="p", decimal="NaN")],
            ),
            "parameters",
        ),
        (
            query_pb2.RunRequest(
                sql=BY_PROVINCE,
                purpose=UW,
                parameters=[
                    query_pb2.QueryParameter(name="p", integer=1),
                    query_pb2.QueryParameter(name="p", integer=2),
                ],
            ),
            "parameters",
        ),
        (query_pb2.RunRequest(sql=BY_PROVINCE, purpose=UW, client_nonce="bad nonce!"), None),
    ],
)
def test_bad_fields_are_precise_invalid_arguments(
    stack: Stack, request_: query_pb2.RunRequest, field: str | None
) -> None:
    token = stack.issuer.token(org="demo-insurer", scopes=SCOPES, purposes=(UNDERWRITING,))
    with grpc.insecure_channel(stack.target) as channel:
        stub = query_pb2_grpc.QueryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as failed:
            stub.Run(request_, metadata=(("authorization", f"Bearer {token}"),), timeout=10)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    if field is not None:
        assert field in (failed.value.details() or "")


def test_list_refuses_a_page_size_past_the_limit(stack: Stack) -> None:
    with _client(stack) as client, pytest.raises(InvalidArgument) as refused:
        client.list_queries(page_size=101)
    assert refused.value.metadata["field"] == "page_size"


def test_an_approved_template_runs_over_grpc_with_typed_parameters(stack: Stack) -> None:
    parameters = {"first_month": "2025-01", "last_month": "2025-06", "province": "110000"}
    with _client(stack) as client:
        explained = client.explain(
            template="monthly_visits_by_type", parameters=parameters, purpose=UNDERWRITING
        )
        client.verify_answer(explained)
        assert explained.allowed and explained.rule == "template:monthly_visits_by_type"
        result = client.run_query(
            template="monthly_visits_by_type", parameters=parameters, purpose=UNDERWRITING
        )
        client.verify_answer(result)
        assert result.release_mode == "exact" and "visit_type" in result.table.column_names
        with pytest.raises(QueryRejected) as refused:
            client.run_query(
                template="monthly_visits_by_type",
                parameters={**parameters, "province": "999999"},
                purpose=UNDERWRITING,
            )
    assert refused.value.rule == "PARAMETER_OUT_OF_RANGE"
    assert refused.value.construct == "province"
