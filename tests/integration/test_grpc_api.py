"""The gRPC API end to end: the SDK against a real server on loopback, every refusal with its
exact status and ErrorInfo reason."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dataward.access import Purpose
from dataward.client import (
    Benefit,
    Client,
    ClientCredentialsTokenSource,
    ConsentRequired,
    DeadlineExceeded,
    EligibilityQuery,
    IdNumberInvalid,
    MessageTooLarge,
    PermissionDenied,
    RateLimited,
    StaticTokenSource,
    Unauthenticated,
    Unimplemented,
)
from dataward.v1 import eligibility_pb2, eligibility_pb2_grpc
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import ALICE, BOB, CAROL, CHILD, DAVE, UNKNOWN
from tests.support.token_issuer import TokenIssuer

UW = "INSURANCE_UNDERWRITING"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with grpc_stack(tmp_path) as s:
        yield s


def client(stack: Stack, token: str | None = None, **kw: object) -> Client:
    return Client(stack.target, StaticTokenSource(token or stack.issuer.token(**kw)))  # type: ignore[arg-type]


def test_eligibility_answers_carry_verifiable_receipts(stack: Stack) -> None:
    for person in (ALICE, BOB, CAROL):
        stack.consent(person)
    with client(stack) as c:
        alice = c.check_eligibility(ALICE, Benefit.WORK_INJURY, UW)
        bob = c.check_eligibility(BOB, "OUTPATIENT", UW)
        carol = c.check_eligibility(CAROL, "OUTPATIENT", UW)
        for result in (alice, bob, carol):
            checkpoint = c.verify_receipt(result.receipt)
            assert checkpoint.size > result.receipt.leaf_index
    assert (alice.eligible, alice.coverage_class, alice.reasons) == (True, "EMPLOYEE", ())
    assert (bob.eligible, bob.coverage_class, bob.reasons) == (
        False,
        "RESIDENT",
        ("SUSPENDED_ARREARS",),
    )
    assert (carol.eligible, carol.reasons) == (False, ("DECEASED",))


def test_identity_verify_and_selfie_unimplemented(stack: Stack) -> None:
    stack.consent(ALICE)
    with client(stack) as c:
        right = c.verify_identity(ALICE, "张伟", UW)
        wrong = c.verify_identity(ALICE, "张三", UW)
        with pytest.raises(Unimplemented) as selfie:
            c.verify_identity(ALICE, "张伟", UW, selfie=b"\xff\xd8jpeg")
    assert (right.id_number_valid, right.name_matches, right.registry_status) == (
        True,
        True,
        "ACTIVE",
    )
    assert not wrong.name_matches
    assert (selfie.value.code, selfie.value.reason) == (
        grpc.StatusCode.UNIMPLEMENTED,
        "NOT_IMPLEMENTED",
    )


def test_malformed_id_number_is_invalid_argument_with_the_rule(stack: Stack) -> None:
    with client(stack) as c, pytest.raises(IdNumberInvalid) as excinfo:
        c.check_eligibility("110101198001010011", "OUTPATIENT", UW)
    error = excinfo.value
    assert (error.code, error.reason, error.rule) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "ID_NUMBER_INVALID",
        "CHECK_CHARACTER",
    )
    assert "110101198001010011" not in error.message


def test_unknown_person_is_indistinguishable_from_known_without_consent(stack: Stack) -> None:
    with client(stack) as c:
        with pytest.raises(ConsentRequired) as unknown:
            c.check_eligibility(UNKNOWN, "OUTPATIENT", UW)
        with pytest.raises(ConsentRequired) as known:
            c.check_eligibility(DAVE, "OUTPATIENT", UW)
    for error in (unknown.value, known.value):
        assert (error.code, error.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "CONSENT_REQUIRED",
        )
    assert unknown.value.message == known.value.message
    assert unknown.value.metadata == known.value.metadata


def test_guardian_consent_covers_bound_member(stack: Stack) -> None:
    stack.consent(ALICE)
    with client(stack) as c:
        assert c.check_eligibility(CHILD, "MATERNITY", UW).eligible


def test_oversized_message_is_resource_exhausted(tmp_path: Path) -> None:
    with (
        grpc_stack(tmp_path, max_message_bytes=64 * 1024) as stack,
        client(stack) as c,
        pytest.raises(MessageTooLarge) as excinfo,
    ):
        c.check_eligibility("1" * 100_000, "OUTPATIENT", UW)
    assert excinfo.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize(
    ("mint", "reason"),
    [
        (lambda i: "", "TOKEN_MISSING"),
        (lambda i: "not-a-jwt", "TOKEN_INVALID"),
        (lambda i: i.token(ttl=-5), "TOKEN_EXPIRED"),
        (lambda i: i.token(forged=True), "TOKEN_INVALID"),
        (lambda i: i.token(audience="someone-else"), "TOKEN_AUDIENCE"),
        (lambda i: i.token(issuer="https://evil.example"), "TOKEN_ISSUER"),
        (lambda i: i.token(typ="JWT"), "TOKEN_INVALID"),
    ],
    ids=["missing", "garbage", "expired", "forged", "audience", "issuer", "typ"],
)
def test_bad_tokens_are_unauthenticated_with_distinct_reasons(
    stack: Stack, mint: Callable[[TokenIssuer], str], reason: str
) -> None:
    token = mint(stack.issuer)
    c = Client(stack.target, StaticTokenSource(token))
    with c, pytest.raises(Unauthenticated) as excinfo:
        c.check_eligibility(ALICE, "OUTPATIENT", UW)
    assert (excinfo.value.code, excinfo.value.reason) == (
        grpc.StatusCode.UNAUTHENTICATED,
        reason,
    )


def test_revoked_token_and_revoked_app_are_refused_within_the_poll_bound(stack: Stack) -> None:
    stack.consent(ALICE)
    token = stack.issuer.token()
    other = stack.issuer.token(client_id="app-2")
    with client(stack, token) as c, client(stack, other) as c2:
        assert c.check_eligibility(ALICE, "OUTPATIENT", UW).eligible
        assert c2.check_eligibility(ALICE, "OUTPATIENT", UW).eligible
        stack.issuer.revoke_token(token)
        stack.issuer.revoke_app("app-2")
        deadline = time.monotonic() + 3 * stack.feed.poll_seconds + 1
        for api in (c, c2):
            while True:
                try:
                    api.check_eligibility(ALICE, "OUTPATIENT", UW)
                except Unauthenticated as exc:
                    assert exc.reason == "TOKEN_REVOKED"
                    break
                assert time.monotonic() < deadline, "revocation not honoured in time"
                time.sleep(0.05)


def test_scope_and_purpose_not_granted_are_permission_denied(stack: Stack) -> None:
    stack.consent(ALICE)
    stack.consent(ALICE, purpose="LOAN_ORIGINATION")
    with client(stack, scopes=("identity:verify",)) as c, pytest.raises(PermissionDenied) as scope:
        c.check_eligibility(ALICE, "OUTPATIENT", UW)
    with client(stack) as c, pytest.raises(PermissionDenied) as purpose:
        c.check_eligibility(ALICE, "OUTPATIENT", "LOAN_ORIGINATION")
    with client(stack) as c, pytest.raises(PermissionDenied) as steward:
        c.grant_consent(ALICE, "acme-insurance", UW)
    assert (scope.value.code, scope.value.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "SCOPE_NOT_GRANTED",
    )
    assert purpose.value.reason == "PURPOSE_NOT_GRANTED"
    assert steward.value.reason == "SCOPE_NOT_GRANTED"


def test_rate_limit_is_resource_exhausted_with_retry_info(tmp_path: Path) -> None:
    with grpc_stack(tmp_path, rate_limit_per_second=0.5, rate_limit_burst=2) as stack:
        stack.consent(ALICE)
        with client(stack) as c:
            c.check_eligibility(ALICE, "OUTPATIENT", UW)
            c.check_eligibility(ALICE, "OUTPATIENT", UW)
            with pytest.raises(RateLimited) as excinfo:
                c.check_eligibility(ALICE, "OUTPATIENT", UW)
    assert excinfo.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert excinfo.value.reason == "RATE_LIMITED"
    assert 0.5 < excinfo.value.retry_after <= 2.0


def test_deadline_exceeded(stack: Stack) -> None:
    stack.consent(ALICE)
    with client(stack) as c, pytest.raises(DeadlineExceeded) as excinfo:
        c.check_eligibility(ALICE, "OUTPATIENT", UW, timeout=0.000_5)
    assert excinfo.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_batch_answers_every_item_in_order(stack: Stack) -> None:
    stack.consent(ALICE)
    stack.consent(BOB)
    queries = [
        EligibilityQuery(ALICE, Benefit.OUTPATIENT, Purpose(UW)),
        EligibilityQuery(UNKNOWN, Benefit.OUTPATIENT, Purpose(UW)),
        EligibilityQuery("12345", Benefit.OUTPATIENT, Purpose(UW)),
        EligibilityQuery(BOB, Benefit.OUTPATIENT, Purpose(UW)),
    ]
    with client(stack) as c:
        items = list(c.check_eligibility_batch(queries))
    assert [i.index for i in items] == [0, 1, 2, 3]
    assert items[0].result is not None and items[0].result.eligible
    assert isinstance(items[1].error, ConsentRequired)
    assert isinstance(items[2].error, IdNumberInvalid)
    assert items[3].result is not None and items[3].result.reasons == ("SUSPENDED_ARREARS",)


def test_health_check_with_the_standard_stub(stack: Stack) -> None:
    with grpc.insecure_channel(stack.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "dataward.v1.EligibilityService"):
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_raw_stub_gets_rich_status_details(stack: Stack) -> None:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    with grpc.insecure_channel(stack.target) as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        with pytest.raises(grpc.RpcError) as excinfo:
            stub.Check(eligibility_pb2.CheckRequest(id_number=ALICE), timeout=5)
    status = rpc_status.from_call(excinfo.value)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.domain, info.reason) == ("dataward.v1", "TOKEN_MISSING")


def test_client_credentials_token_source_fetches_and_caches(stack: Stack) -> None:
    stack.issuer.clients["app-cc"] = ("s3cret", ["eligibility:check"], [UW])
    stack.consent(ALICE)
    tokens = ClientCredentialsTokenSource(
        stack.issuer.token_url, "app-cc", "s3cret", ["eligibility:check"]
    )
    with Client(stack.target, tokens) as c:
        assert c.check_eligibility(ALICE, "OUTPATIENT", UW).eligible
        assert c.check_eligibility(ALICE, "INPATIENT", UW).eligible
    assert tokens.fetches == 1
