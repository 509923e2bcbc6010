"""Differentially private answers over the real gRPC server: the noise and the cost in the
RunResponse and in the Arrow metadata, receipts that cover them, GetBudget, and an exhausted
budget as RESOURCE_EXHAUSTED BUDGET_EXHAUSTED with the budget state in the ErrorInfo."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import query_engine
from dataward.client import BudgetExhausted, Client, ReceiptInvalid, StaticTokenSource
from dataward.transparency import load_public_key
from enclave.analytics import AggregateQueries, Budget, FixedPolicy
from enclave.audit import AuditLog, AuditLogTrail
from enclave.budget import MICRO_EPSILON, BudgetLedger, BudgetLimits
from policies import default_policy
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import KEY_NAME
from tests.support.query_export import Export, synthetic_export

LIMITS = query_engine.ExecutionLimits(timeout_seconds=30, memory_bytes=512 * 2**20)
RESEARCH = "RESEARCH"
SCOPES = ("query:submit", "query:run", "audit:read")
BY_SCHEME = (
    "SELECT scheme, COUNT(*) AS n, COUNT(DISTINCT person_key) AS persons"
    " FROM enrolment_analysis GROUP BY scheme"
)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("grpc-dp"))


@pytest.fixture
def stack(tmp_path: Path, export: Export) -> Iterator[Stack]:
    ledger = BudgetLedger.open(
        tmp_path / "state" / "budget.db", BudgetLimits(per_partner_per_day=2 * MICRO_EPSILON)
    )

    def queries(log: AuditLog) -> AggregateQueries:
        trail = AuditLogTrail(log)
        return AggregateQueries(
            FixedPolicy(default_policy()),
            query_engine.DuckDBEngine(),
            lambda: export.files,
            trail,
            LIMITS,
            budget=Budget(ledger, trail, lambda: "v-grpc"),
        )

    try:
        with grpc_stack(tmp_path, queries=queries) as s:
            yield s
    finally:
        ledger.close()


def _client(stack: Stack) -> Client:
    pem = stack.audit.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    token = stack.issuer.token(org="demo-insurer", scopes=SCOPES, purposes=(RESEARCH,))
    return Client(
        stack.target, StaticTokenSource(token), audit_key=(KEY_NAME, load_public_key(pem))
    )


def test_a_dp_answer_carries_its_noise_and_cost_and_its_receipt_covers_them(stack: Stack) -> None:
    with _client(stack) as client:
        result = client.run_query(BY_SCHEME, purpose=RESEARCH)
        client.verify_answer(result)
        again = client.run_query(BY_SCHEME, purpose=RESEARCH)
        client.verify_answer(again)
        budget = client.budget()
        client.verify_answer(budget)
        # the noise facts are covered: a partner cannot present a smaller scale
        assert result.dp is not None
        smaller = dataclasses.replace(result.dp.noise[0], scale=result.dp.noise[0].scale / 10)
        forged = dataclasses.replace(
            result, dp=dataclasses.replace(result.dp, noise=(smaller, *result.dp.noise[1:]))
        )
        with pytest.raises(ReceiptInvalid):
            client.verify_answer(forged)
    assert result.release_mode == "dp"
    dp = result.dp
    assert dp.epsilon_spent_micro == MICRO_EPSILON and not dp.replayed
    assert {n.column for n in dp.noise} == {"n", "persons"}
    assert dp.noise_of("n").mechanism == "discrete_laplace"
    field = result.table.schema.field("n").metadata or {}
    assert float(field[b"dataward.noise_scale"]) == pytest.approx(dp.noise_of("n").scale)
    assert again.arrow_ipc == result.arrow_ipc
    assert again.dp is not None and again.dp.replayed and again.dp.epsilon_spent_micro == 0
    assert budget.available_micro == MICRO_EPSILON  # 2 a day, 1 spent
    spent = {lim.name: lim.spent_micro for lim in budget.limits}
    assert spent["per_partner_per_day"] == MICRO_EPSILON
    # the partner's own limits only: the all-partner cap's spent is the others' activity
    assert set(spent) == {"per_partner_per_day", "per_partner_per_dataset_version"}


def test_an_exhausted_budget_is_resource_exhausted_with_the_state(stack: Stack) -> None:
    with _client(stack) as client:
        client.run_query(BY_SCHEME, purpose=RESEARCH)
        client.run_query(BY_SCHEME + " ORDER BY scheme", purpose=RESEARCH)
        with pytest.raises(BudgetExhausted) as exhausted:
            client.run_query(BY_SCHEME.replace("AS n", "AS rows"), purpose=RESEARCH)
    error = exhausted.value
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.reason == "BUDGET_EXHAUSTED"
    assert error.limit == "per_partner_per_day"
    assert error.left_micro("per_partner_per_day") == 0
    assert error.requested_micro == MICRO_EPSILON
    assert error.metadata["per_partner_per_dataset_version.left"] == str(8 * MICRO_EPSILON)
    assert not [key for key in error.metadata if key.startswith("total_per_dataset_version")]
