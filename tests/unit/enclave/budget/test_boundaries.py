"""Every budget error has a row of its own at the gRPC and CLI boundaries (STYLE.md 7), and its
reason is in common.proto's ErrorReason."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest

import enclave.budget
from dataward.v1 import common_pb2
from enclave.budget import (
    BudgetError,
    BudgetExhausted,
    BudgetLedgerCorrupt,
    BudgetLimits,
    BudgetState,
    LimitState,
)
from grpc_api import CATCH_ALL, STATUS_CODES, refusal_for, row_for
from launcher._exit_codes import exit_code_for

EXPORTED = [
    kind
    for name in enclave.budget.__all__
    if isinstance(kind := getattr(enclave.budget, name), type) and issubclass(kind, BudgetError)
]
_STATE = BudgetState(
    "insurer-a",
    "v1",
    dt.date(2026, 12, 2),
    BudgetLimits().per_query,
    (LimitState("per_partner_per_day", 2_000_000, 2_000_000),),
)


def _instance(kind: type[BudgetError]) -> BudgetError:
    if kind is BudgetExhausted:
        return BudgetExhausted("per_partner_per_day", 1, _STATE)
    if kind is BudgetLedgerCorrupt:
        return BudgetLedgerCorrupt(3, "its hash does not match its contents")
    return kind()


@pytest.mark.parametrize("kind", EXPORTED, ids=lambda k: k.__name__)
def test_every_budget_error_is_mapped(kind: type[BudgetError]) -> None:
    row = row_for(_instance(kind))
    assert row in STATUS_CODES
    assert row not in CATCH_ALL or kind is BudgetError
    assert kind.reason in {
        v.name.removeprefix("ERROR_REASON_") for v in common_pb2.ErrorReason.DESCRIPTOR.values
    }


def test_exhausted_is_resource_exhausted_and_corrupt_a_bug() -> None:
    exhausted = refusal_for(_instance(BudgetExhausted))
    assert exhausted.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert exhausted.reason == "BUDGET_EXHAUSTED"
    assert (
        "per_partner_per_day" in exhausted.message and "0 micro-epsilon left" in exhausted.message
    )
    corrupt = refusal_for(_instance(BudgetLedgerCorrupt))
    assert (corrupt.code, corrupt.reason) == (grpc.StatusCode.INTERNAL, "INTERNAL")


def test_exit_codes() -> None:
    assert exit_code_for(_instance(BudgetExhausted))[0] == 75
    assert exit_code_for(_instance(BudgetLedgerCorrupt))[0] == 65
