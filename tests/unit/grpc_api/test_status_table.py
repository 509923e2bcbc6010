"""The one exception-to-status table covers every exported exception; the scope table covers
every RPC of the contract and nothing else is open."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import grpc
import pytest

import enclave
import enclave.analytics.errors
import enclave.audit.errors
import enclave.biometrics.errors
import enclave.budget
import enclave.budget.errors
import enclave.compute.ckks_errors
import enclave.compute.errors
import enclave.consent.errors
import enclave.errors
import enclave.gate.errors
import enclave.persons.errors
import enclave.persons.idnumber
import grpc_api
import grpc_api.errors
from dataward.v1 import (
    audit_pb2,
    compute_pb2,
    eligibility_pb2,
    identity_pb2,
    query_pb2,
    steward_pb2,
)
from enclave.audit import (
    AuditBeyondLogError,
    AuditClosedError,
    AuditLogBusy,
    AuditNotYetSigned,
    AuditRangeError,
    AuditStorageError,
    AuditUnknownEntryError,
)
from enclave.persons import InvalidIdNumber, InvalidReason
from grpc_api import METHOD_SCOPES, refusal_for
from grpc_api._guard import PUBLIC_METHODS, Guard
from grpc_api._ratelimit import TokenBuckets
from grpc_api._refusals import Refusals

EXPORTED = [
    getattr(module, name)
    for module in (
        enclave.errors,
        enclave.persons.errors,
        enclave.persons.idnumber,
        enclave.consent.errors,
        enclave.audit.errors,
        enclave.gate.errors,
        enclave.analytics.errors,
        enclave.budget.errors,
        enclave.compute.errors,
        enclave.compute.ckks_errors,
        enclave.biometrics.errors,
        grpc_api.errors,
    )
    for name in module.__all__
    if isinstance(getattr(module, name), type) and issubclass(getattr(module, name), BaseException)
]


def _instance(kind: type[BaseException]) -> BaseException:
    if kind is InvalidIdNumber:
        return kind(InvalidReason.LENGTH)
    if kind is AuditRangeError:
        return kind("old after new", field="old_size")
    if kind is AuditLogBusy:
        return kind({"pid": 1})
    if kind is enclave.RejectLimitExceeded:
        return kind({"persons": (3, 10)}, 0.01, Path("refused"), {})
    if kind is enclave.PolicyInvalid:
        return kind("policy.yaml", "views.v.rule", "unknown key")
    if kind is enclave.budget.BudgetExhausted:
        state = enclave.budget.BudgetState("2", "v1", dt.date(2026, 12, 2), 10**6, ())
        return kind("per_query", 2 * 10**6, state)
    if kind is enclave.budget.BudgetLedgerCorrupt:
        return kind(3, "its hash does not match its contents")
    if kind is enclave.biometrics.errors.AttemptsExhausted:
        return kind("PERSON_DAY", 3600.0)
    if kind is enclave.compute.errors.FeatureOutOfBounds:
        return kind("months_enrolled", 0, 0, 36)
    for args in ((), (1.5,), ("field", "rule"), ("t", "c", "e", "a"), ("t",)):
        try:
            return kind(*args)
        except TypeError:
            continue
    raise AssertionError(f"cannot build {kind}")


@pytest.mark.parametrize("kind", EXPORTED, ids=lambda k: k.__name__)
def test_every_exported_exception_has_a_row_of_its_own(kind: type[BaseException]) -> None:
    # A catch-all row (ZoneError, ApiError, ...) maps only the roots themselves: an exception
    # it alone maps would answer INTERNAL "this is a bug" for something a caller can cause.
    row = grpc_api.row_for(_instance(kind))
    assert row is not None
    assert row not in grpc_api.CATCH_ALL or kind in grpc_api.CATCH_ALL, row
    refusal = refusal_for(_instance(kind))
    assert refusal.reason
    if grpc_api.STATUS_CODES[row] is not grpc.StatusCode.INTERNAL:
        assert refusal.message != "internal error; this is a bug"


def test_the_most_specific_row_wins_whatever_the_table_order() -> None:
    beyond = refusal_for(AuditBeyondLogError("beyond"))
    assert beyond.message == "new_size is larger than the audit log"
    assert grpc_api.row_for(AuditBeyondLogError("x")) is AuditBeyondLogError
    assert list(grpc_api.STATUS_CODES).index(AuditBeyondLogError) > list(
        grpc_api.STATUS_CODES
    ).index(AuditUnknownEntryError)


def test_storage_faults_are_unavailable_with_retry_info_never_a_bug() -> None:
    for exc in (AuditStorageError("disk full"), AuditClosedError("closed"), AuditLogBusy({})):
        refusal = refusal_for(exc)
        assert (refusal.code, refusal.reason) == (grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE")
        assert refusal.retry_after is not None and refusal.retry_after > 0


def test_the_reason_is_the_one_the_audit_log_records() -> None:
    # One code per class, on the wire and in the decision leaf (enclave.release.Releaser).
    for kind in EXPORTED:
        exc = _instance(kind)
        if grpc_api.STATUS_CODES[grpc_api.row_for(exc)] is not grpc.StatusCode.INTERNAL:  # type: ignore[index]
            assert refusal_for(exc).reason == exc.reason  # type: ignore[attr-defined]


def test_unmapped_exception_is_internal_without_details() -> None:
    refusal = refusal_for(KeyError("secret-value"))
    assert refusal.code is grpc.StatusCode.INTERNAL
    assert "secret" not in refusal.message


def test_id_number_refusal_names_the_rule_only() -> None:
    refusal = refusal_for(InvalidIdNumber(InvalidReason.REGION))
    assert (refusal.code, refusal.reason, dict(refusal.metadata)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "ID_NUMBER_INVALID",
        {"rule": "REGION"},
    )


def test_scope_table_lists_exactly_the_contract_methods() -> None:
    contract = {
        f"/{service.full_name}/{method.name}"
        for module in (
            eligibility_pb2,
            identity_pb2,
            compute_pb2,
            audit_pb2,
            steward_pb2,
            query_pb2,
        )
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    # Every RPC either needs a scope or is public on purpose (the zone's attestation), never
    # both and never neither.
    assert set(METHOD_SCOPES) | set(PUBLIC_METHODS) == contract
    assert not set(METHOD_SCOPES) & set(PUBLIC_METHODS)


class _Context:
    def __init__(self, token: str) -> None:
        self._token = token

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self._token}"),)

    def time_remaining(self) -> float:
        return 10.0


class _AcceptAll:
    def verify(self, bearer: str | None) -> grpc_api.Principal:
        return grpc_api.Principal(
            "app", "app", "org", "BANK", frozenset({"steward:admin"}), frozenset(), "j", 9e9
        )


class _RecordedRefusals:
    """A :class:`enclave.audit.RefusalTrail` that keeps what it is given."""

    def __init__(self) -> None:
        self.logged: list[dict[str, str]] = []

    def refusal(self, **fields: str) -> None:
        self.logged.append(fields)


def test_a_method_missing_from_the_table_is_denied_and_logged() -> None:
    trail = _RecordedRefusals()
    guard = Guard(_AcceptAll(), TokenBuckets(10, 10), Refusals(trail))  # type: ignore[arg-type]
    with pytest.raises(grpc_api.PermissionRefused) as excinfo:
        guard.admit("/dataward.v1.SecretService/Dump", _Context("t"))  # type: ignore[arg-type]
    assert excinfo.value.reason == "METHOD_NOT_ALLOWED"
    assert trail.logged == [
        {
            "client_id": "app",
            "organization": "org",
            "method": "SecretService/Dump",
            "purpose": "",
            "reason": "METHOD_NOT_ALLOWED",
        }
    ]


def test_audit_lookup_errors_map_to_not_found_and_not_yet_signed() -> None:
    unknown = refusal_for(AuditUnknownEntryError("no audit entry 123456"))
    assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    assert "123456" not in unknown.message
    unsigned = refusal_for(AuditNotYetSigned(4.5))
    assert (unsigned.code, unsigned.reason, unsigned.retry_after) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "NOT_YET_SIGNED",
        4.5,
    )


def test_too_many_items_is_resource_exhausted() -> None:
    refusal = refusal_for(grpc_api.TooManyItems(1000))
    assert (refusal.code, refusal.reason) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "BATCH_TOO_LARGE",
    )


class _NoTimeLeft(_Context):
    def time_remaining(self) -> float:
        return 0.001


def test_a_deadline_too_short_is_refused_and_logged() -> None:
    trail = _RecordedRefusals()
    guard = Guard(_AcceptAll(), TokenBuckets(10, 10), Refusals(trail))  # type: ignore[arg-type]
    with pytest.raises(grpc_api.DeadlineTooShort):
        guard.admit("/dataward.v1.StewardService/GrantConsent", _NoTimeLeft("t"))  # type: ignore[arg-type]
    assert [(e["method"], e["client_id"], e["reason"]) for e in trail.logged] == [
        ("StewardService/GrantConsent", "app", "DEADLINE_EXCEEDED")
    ]


def test_a_refusal_the_audit_log_cannot_take_is_unavailable() -> None:
    class _Failing(_RecordedRefusals):
        def refusal(self, **fields: str) -> None:
            raise OSError("disk full")

    guard = Guard(_AcceptAll(), TokenBuckets(10, 10), Refusals(_Failing()))  # type: ignore[arg-type]
    with pytest.raises(grpc_api.Unavailable):
        guard.admit("/dataward.v1.SecretService/Dump", _Context("t"))  # type: ignore[arg-type]
