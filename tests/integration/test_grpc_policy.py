"""StewardService.ApplyPolicy and GetPolicy over a real server on 127.0.0.1 (issue 10).

The zone's policy store is a real SQLite file logging to the stack's real audit log; the
calls are raw stubs with a steward's token, so every refusal's status and ErrorInfo is seen
exactly as a client sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dataward import receipts
from dataward.transparency import Receipt
from dataward.v1 import common_pb2, query_pb2, steward_pb2, steward_pb2_grpc
from enclave.audit import AuditLog, AuditLogTrail, Decision, Release, RequestReceived
from enclave.policy import (
    APPLY_POLICY,
    POLICY_DB,
    PolicyStore,
    apply_fields,
    empty_policy,
    read_fields,
)
from policies import default_policy_text
from tests.support.grpc_stack import Stack, grpc_stack, refusal_commits
from tests.support.person_fakes import KEY_NAME

STEWARD_SCOPES = ("steward:admin",)
TYPO = default_policy_text().replace("min_persons:", "min_person:", 1)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stores: list[PolicyStore] = []

    def policies(log: AuditLog) -> PolicyStore:
        stores.append(PolicyStore.open(tmp_path / POLICY_DB, AuditLogTrail(log)))
        return stores[-1]

    with grpc_stack(tmp_path, policies=policies) as s:
        yield s
    for store in stores:
        store.close()


def _call(
    stack: Stack, method: str, request: object, *, scopes: tuple[str, ...] = STEWARD_SCOPES
) -> object:
    token = stack.issuer.token(client_id="steward-app", org="zone-stewards", scopes=scopes)
    with grpc.insecure_channel(stack.target) as channel:
        stub = steward_pb2_grpc.StewardServiceStub(channel)
        return getattr(stub, method)(request, metadata=(("authorization", f"Bearer {token}"),))


def _refusal(exc: grpc.RpcError) -> tuple[grpc.StatusCode, error_details_pb2.ErrorInfo]:
    assert isinstance(exc, grpc.Call)
    status = rpc_status.from_call(exc)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return exc.code(), info


def _receipt(wire: common_pb2.Receipt) -> Receipt:
    return Receipt(
        wire.leaf_index,
        bytes(wire.leaf_hash),
        wire.checkpoint_note,
        tuple(bytes(p) for p in wire.inclusion_proof),
        bytes(wire.leaf) or None,
    )


def _apply(stack: Stack, document: str, **kw: object) -> steward_pb2.ApplyPolicyResponse:
    request = steward_pb2.ApplyPolicyRequest(document=document, **kw)  # type: ignore[arg-type]
    response = _call(stack, "ApplyPolicy", request)
    assert isinstance(response, steward_pb2.ApplyPolicyResponse)
    return response


def _get(stack: Stack) -> steward_pb2.GetPolicyResponse:
    response = _call(stack, "GetPolicy", steward_pb2.GetPolicyRequest())
    assert isinstance(response, steward_pb2.GetPolicyResponse)
    return response


def test_without_an_applied_policy_the_zone_reports_the_empty_policy(stack: Stack) -> None:
    got = _get(stack)
    assert got.version == empty_policy().version
    assert not got.HasField("in_force") and not got.views and not got.grants
    assert not got.history and got.document == ""
    # the read is a request like any other: its leaves are durable before the answer
    request, decision, release = (e.event for e in stack.log.tail(3))
    assert isinstance(request, RequestReceived) and request.method == "StewardService/GetPolicy"
    assert isinstance(decision, Decision) and decision.allow
    assert isinstance(release, Release) and release.request_id == request.request_id
    assert got.receipt.leaf_index == stack.log.size - 1
    receipts.verify_release(
        _receipt(got.receipt),
        method="StewardService/GetPolicy",
        request_id=got.receipt.request_id,
        fields=read_fields(version=got.version, applied=0),
        key_name=KEY_NAME,
        public_key=stack.audit.key.public_key(),
    )


def test_apply_then_get_shows_the_version_views_grants_and_history(stack: Stack) -> None:
    nonce = "nonce-" + "a" * 16
    applied = _apply(stack, default_policy_text(), source_name="default.yaml", client_nonce=nonce)
    assert applied.changed and len(applied.version) == 64 and applied.applied_at > 0
    wire = applied.receipt
    receipts.verify_release(
        _receipt(wire),
        method=APPLY_POLICY,
        request_id=wire.request_id,
        fields=apply_fields(version=applied.version, changed=True, applied_at=applied.applied_at),
        key_name=KEY_NAME,
        public_key=stack.audit.key.public_key(),
        client_nonce=nonce,
    )
    got = _get(stack)
    assert got.version == applied.version and got.document == default_policy_text()
    assert got.in_force.applied_at == applied.applied_at
    assert (got.in_force.applied_by_client, got.in_force.applied_by_organization) == (
        "steward-app",
        "zone-stewards",
    )
    views = {v.name: v for v in got.views}
    assert views["claims_analysis"].rule == steward_pb2.POLICY_RULE_KIND_AGGREGATION
    assert views["claims_analysis"].release_mode == query_pb2.RELEASE_MODE_EXACT
    assert "enrolment_analysis" in views and got.grants
    assert [h.version for h in got.history] == [applied.version]
    again = _apply(stack, default_policy_text())
    assert not again.changed and again.version == applied.version
    assert again.applied_at == applied.applied_at and len(_get(stack).history) == 1


def test_a_typo_is_policy_invalid_with_path_and_problem_and_changes_nothing(stack: Stack) -> None:
    first = _apply(stack, default_policy_text())
    with pytest.raises(grpc.RpcError) as caught:
        _apply(stack, TYPO, source_name="typo.yaml")
    code, info = _refusal(caught.value)
    assert code is grpc.StatusCode.INVALID_ARGUMENT and info.reason == "POLICY_INVALID"
    assert info.metadata["path"].endswith("min_person") and info.metadata["problem"]
    assert isinstance(caught.value, grpc.Call)
    assert "typo.yaml" in str(caught.value.details())
    assert _get(stack).version == first.version


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"document": "#" * (1024 * 1024 + 1)}, "document"),
        ({"document": "views: {}", "source_name": "x" * 257}, "source_name"),
        ({"document": "views: {}", "source_name": "a\nb"}, "source_name"),
        ({"document": "views: {}", "client_nonce": "short"}, "client_nonce"),
    ],
)
def test_bad_fields_are_field_invalid_never_internal(
    stack: Stack, fields: dict[str, str], field: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _call(stack, "ApplyPolicy", steward_pb2.ApplyPolicyRequest(**fields))
    code, info = _refusal(caught.value)
    assert code is grpc.StatusCode.INVALID_ARGUMENT and info.reason == "FIELD_INVALID"
    assert info.metadata["field"] == field
    # refused before the zone saw it, and logged all the same (request + denial, one commit)
    [(request, decision)] = refusal_commits(stack)
    assert (request.method, request.client_id) == ("StewardService/ApplyPolicy", "steward-app")
    assert decision.reasons == ("FIELD_INVALID",)
    assert _get(stack).version == empty_policy().version


@pytest.mark.parametrize("method", ["ApplyPolicy", "GetPolicy"])
def test_both_need_steward_admin(stack: Stack, method: str) -> None:
    request = (
        steward_pb2.ApplyPolicyRequest(document=default_policy_text())
        if method == "ApplyPolicy"
        else steward_pb2.GetPolicyRequest()
    )
    with pytest.raises(grpc.RpcError) as caught:
        _call(stack, method, request, scopes=("query:submit",))
    code, info = _refusal(caught.value)
    assert code is grpc.StatusCode.PERMISSION_DENIED and info.reason == "SCOPE_NOT_GRANTED"
    assert _get(stack).version == empty_policy().version


def test_a_server_without_the_policy_store_answers_unavailable(tmp_path: Path) -> None:
    with grpc_stack(tmp_path) as stack, pytest.raises(grpc.RpcError) as caught:
        _call(stack, "GetPolicy", steward_pb2.GetPolicyRequest())
    assert _refusal(caught.value)[0] is grpc.StatusCode.UNAVAILABLE
