"""Refusals made by the API before the zone sees a request are audit leaves, durable before the
refusal is answered: one commit holding a ``RequestReceived`` (no person token; the client
only when its token verified) and a denying ``Decision`` with the refusal's reason."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dataward.client import (
    Client,
    ConsentRequired,
    PermissionDenied,
    RateLimited,
    StaticTokenSource,
    Unauthenticated,
    Unavailable,
)
from dataward.v1 import common_pb2, eligibility_pb2, eligibility_pb2_grpc
from enclave.audit import (
    AuditStorageError,
    Decision,
    RequestReceived,
)
from enclave.persons import POLICY_VERSION
from tests.support.grpc_stack import Stack, grpc_stack, refusal_commits
from tests.support.person_fakes import ALICE
from tests.support.token_issuer import TokenIssuer

UW = "INSURANCE_UNDERWRITING"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with grpc_stack(tmp_path) as s:
        yield s


def only_refusal(stack: Stack) -> tuple[RequestReceived, Decision]:
    pairs = refusal_commits(stack)
    assert len(pairs) == 1
    return pairs[0]


def check(stack: Stack, token: str, purpose: str = UW) -> None:
    with Client(stack.target, StaticTokenSource(token)) as c:
        c.check_eligibility(ALICE, "OUTPATIENT", purpose)


@pytest.mark.parametrize(
    ("mint", "reason"),
    [
        (lambda i: "", "TOKEN_MISSING"),
        (lambda i: "not-a-jwt", "TOKEN_INVALID"),
        (lambda i: i.token(forged=True), "TOKEN_INVALID"),
        (lambda i: i.token(audience="someone-else"), "TOKEN_AUDIENCE"),
    ],
    ids=["missing", "garbage", "forged", "audience"],
)
def test_token_refusals_are_logged_without_a_client(
    stack: Stack, mint: Callable[[TokenIssuer], str], reason: str
) -> None:
    with pytest.raises(Unauthenticated) as excinfo:
        check(stack, mint(stack.issuer))
    assert (excinfo.value.code, excinfo.value.reason) == (grpc.StatusCode.UNAUTHENTICATED, reason)
    request, decision = only_refusal(stack)
    assert (request.client_id, request.organization, request.purpose) == ("", "", "")
    assert request.method == "EligibilityService/Check"
    assert decision.reasons == (reason,)


def test_expired_token_refusal_names_its_verified_client(stack: Stack) -> None:
    with pytest.raises(Unauthenticated) as excinfo:
        check(stack, stack.issuer.token(client_id="app-8", org="bank-8", ttl=-5))
    assert excinfo.value.reason == "TOKEN_EXPIRED"
    request, decision = only_refusal(stack)
    assert (request.client_id, request.organization, request.purpose) == ("app-8", "bank-8", "")
    assert decision.reasons == ("TOKEN_EXPIRED",)


def test_revoked_token_refusal_is_logged_with_its_verified_client(stack: Stack) -> None:
    token = stack.issuer.token(client_id="app-9", org="bank-9")
    stack.issuer.revoke_token(token)
    deadline = time.monotonic() + 3 * stack.feed.poll_seconds + 1
    while True:
        try:
            check(stack, token)
        except Unauthenticated as exc:
            if exc.reason == "TOKEN_REVOKED":
                break
        except ConsentRequired:  # answered by the zone until the feed has the revocation
            pass
        assert time.monotonic() < deadline, "revocation not honoured in time"
        time.sleep(0.05)
    revoked = [pair for pair in refusal_commits(stack) if pair[1].reasons == ("TOKEN_REVOKED",)]
    assert len(revoked) == 1
    assert (revoked[0][0].client_id, revoked[0][0].organization) == ("app-9", "bank-9")


def test_scope_not_granted_is_logged_with_the_client(stack: Stack) -> None:
    with pytest.raises(PermissionDenied) as excinfo:
        check(stack, stack.issuer.token(scopes=("identity:verify",)))
    assert (excinfo.value.code, excinfo.value.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "SCOPE_NOT_GRANTED",
    )
    request, decision = only_refusal(stack)
    assert (request.client_id, request.organization, request.purpose) == (
        "app-1",
        "acme-insurance",
        "",
    )
    assert decision.reasons == ("SCOPE_NOT_GRANTED",)


def zone_refusal(stack: Stack) -> tuple[RequestReceived, Decision]:
    """The zone's own refusal of the one person-level request sent (purpose, consent, ...)."""
    events = [e.event for e in stack.log.tail(100)]
    (request,) = [e for e in events if isinstance(e, RequestReceived)]
    (decision,) = [e for e in events if isinstance(e, Decision)]
    assert decision.request_id == request.request_id and not decision.allow
    assert decision.policy_version == POLICY_VERSION
    return request, decision


def test_purpose_not_granted_is_logged_with_the_purpose(stack: Stack) -> None:
    # The zone checks the purpose (issue 9), before it tokenizes the ID number: the request
    # leaf names the purpose and no person.
    with pytest.raises(PermissionDenied) as excinfo:
        check(stack, stack.issuer.token(), purpose="LOAN_ORIGINATION")
    assert excinfo.value.reason == "PURPOSE_NOT_GRANTED"
    request, decision = zone_refusal(stack)
    assert (request.client_id, request.purpose) == ("app-1", "LOAN_ORIGINATION")
    assert request.person_token is None
    assert decision.reasons == ("PURPOSE_NOT_GRANTED",)


def test_identity_purpose_not_granted_is_logged(stack: Stack) -> None:
    with (
        Client(stack.target, StaticTokenSource(stack.issuer.token())) as c,
        pytest.raises(PermissionDenied),
    ):
        c.verify_identity(ALICE, "张伟", "LOAN_ORIGINATION")
    request, decision = zone_refusal(stack)
    assert (request.method, request.purpose) == ("IdentityService/Verify", "LOAN_ORIGINATION")
    assert decision.reasons == ("PURPOSE_NOT_GRANTED",)


def test_malformed_field_refused_by_the_api_is_logged(stack: Stack) -> None:
    # No benefit: refused while converting, before the zone (and its own leaves) is reached.
    with grpc.insecure_channel(stack.target) as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        with pytest.raises(grpc.RpcError) as excinfo:
            stub.Check(
                eligibility_pb2.CheckRequest(
                    id_number=ALICE, purpose=common_pb2.PURPOSE_INSURANCE_UNDERWRITING
                ),
                metadata=(("authorization", f"Bearer {stack.issuer.token()}"),),
                timeout=5,
            )
    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    request, decision = only_refusal(stack)
    assert (request.client_id, request.purpose) == ("app-1", "")
    assert decision.reasons == ("FIELD_INVALID",)


def test_rate_limited_refusal_is_logged(tmp_path: Path) -> None:
    with grpc_stack(tmp_path, rate_limit_per_second=0.01, rate_limit_burst=1) as stack:
        stack.consent(ALICE)
        token = stack.issuer.token()
        check(stack, token)  # answered: its leaves are the zone's own (the person trail)
        assert refusal_commits(stack) == []
        with pytest.raises(RateLimited) as excinfo:
            check(stack, token)
        assert (excinfo.value.code, excinfo.value.reason) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "RATE_LIMITED",
        )
        request, decision = only_refusal(stack)
    assert (request.client_id, decision.reasons) == ("app-1", ("RATE_LIMITED",))


def test_a_failing_audit_log_turns_the_refusal_into_unavailable(stack: Stack) -> None:
    stack.store.failing = AuditStorageError("the disk is full")
    with pytest.raises(Unavailable) as excinfo:
        check(stack, "not-a-jwt")
    assert (excinfo.value.code, excinfo.value.reason) == (
        grpc.StatusCode.UNAVAILABLE,
        "UNAVAILABLE",
    )
    assert stack.store.appends == []


def test_raw_status_of_a_logged_refusal_is_unchanged(stack: Stack) -> None:
    with grpc.insecure_channel(stack.target) as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        with pytest.raises(grpc.RpcError) as excinfo:
            stub.Check(eligibility_pb2.CheckRequest(id_number=ALICE), timeout=5)
    status = rpc_status.from_call(excinfo.value)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.domain, info.reason) == ("dataward.v1", "TOKEN_MISSING")
    assert only_refusal(stack)[1].reasons == ("TOKEN_MISSING",)
