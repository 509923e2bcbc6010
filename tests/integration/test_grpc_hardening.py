"""The attack run of issue 8 against a real server on loopback, each fault reproduced.

- fault 3: bodies that do not parse answer INVALID_ARGUMENT MALFORMED_REQUEST on every method
  (never grpcio's INTERNAL "Exception deserializing request!"), audited like any refusal;
  plus a seeded mutation fuzz of valid messages over every method;
- fault 4: over-long fields are INVALID_ARGUMENT FIELD_INVALID naming the field;
- fault 5: tokens valid only in the future are UNAUTHENTICATED TOKEN_NOT_YET_VALID;
- fault 2: ID numbers, names and phone numbers sent in every free-text field of every method
  never reach the audit log or any file of the zone's state.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dataward.v1 import (
    audit_pb2,
    common_pb2,
    eligibility_pb2,
    identity_pb2,
    steward_pb2,
)
from enclave.audit import Decision, RefusalSummary, RequestReceived
from grpc_api._guard import UNKNOWN_BYTES
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import ALICE, UNKNOWN

UW = common_pb2.PURPOSE_INSURANCE_UNDERWRITING
ALL_SCOPES = ("eligibility:check", "identity:verify", "audit:read", "steward:admin")
NAME = "张伟"
PHONE = "13800138000"

# method -> a valid request of it (for the fuzz) and whether field 1 is a string.
VALID: dict[str, tuple[Any, bool]] = {
    "/dataward.v1.EligibilityService/Check": (
        eligibility_pb2.CheckRequest(
            id_number=ALICE, benefit=eligibility_pb2.BENEFIT_OUTPATIENT, purpose=UW
        ),
        True,
    ),
    "/dataward.v1.IdentityService/Verify": (
        identity_pb2.VerifyRequest(id_number=ALICE, name=NAME, purpose=UW),
        True,
    ),
    "/dataward.v1.AuditService/GetPublicKey": (audit_pb2.GetPublicKeyRequest(), False),
    "/dataward.v1.AuditService/GetReceipt": (audit_pb2.GetReceiptRequest(leaf_index=0), False),
    "/dataward.v1.StewardService/GrantConsent": (
        steward_pb2.GrantConsentRequest(id_number=ALICE, partner="acme-insurance", purpose=UW),
        True,
    ),
    "/dataward.v1.StewardService/RevokeConsent": (
        steward_pb2.RevokeConsentRequest(consent_ref="cns_" + "a" * 24),
        True,
    ),
}
BATCH = "/dataward.v1.EligibilityService/CheckBatch"
HEALTH = "/grpc.health.v1.Health/Check"
# The attack run's bodies (hex). The first is invalid UTF-8 in a string field 1.
INVALID_UTF8 = "0a04fffec328"
ANY_MESSAGE = ["0affffffffffffffffff0161", "0c", "0001", "1a808080"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with grpc_stack(
        tmp_path, log_checks=True, rate_limit_per_second=1e6, rate_limit_burst=10**6
    ) as s:
        yield s


def _raw(
    stack: Stack, token: str
) -> tuple[grpc.Channel, Callable[[str, bytes], grpc.RpcError | None]]:
    channel = grpc.insecure_channel(stack.target)
    metadata = (("authorization", f"Bearer {token}"),)

    def call(method: str, body: bytes) -> grpc.RpcError | None:
        try:
            # No serializers: the bodies go out as the raw bytes given.
            if method == BATCH:
                rpc = channel.stream_stream(method, None, None)
                list(rpc(iter([body]), metadata=metadata, timeout=10))
            else:
                channel.unary_unary(method, None, None)(body, metadata=metadata, timeout=10)
        except grpc.RpcError as exc:
            return exc
        return None

    return channel, call


def _reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return ""
    info = error_details_pb2.ErrorInfo()
    for detail in status.details:
        if detail.Unpack(info):
            return str(info.reason)
    return ""


def _field(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return str(info.metadata.get("field", ""))


def test_undecodable_bodies_are_invalid_argument_on_every_method(stack: Stack) -> None:
    channel, call = _raw(stack, stack.issuer.token(scopes=ALL_SCOPES))
    with channel:
        for method, (_, string_field_1) in {
            **VALID,
            BATCH: (None, False),
            HEALTH: (None, False),
        }.items():
            bodies = ANY_MESSAGE + ([INVALID_UTF8] if string_field_1 else [])
            for body in bodies:
                error = call(method, bytes.fromhex(body))
                assert error is not None, (method, body)
                assert (error.code(), _reason(error)) == (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "MALFORMED_REQUEST",
                ), (method, body, error.details())
    # Audited like any refusal: a request leaf naming the method and a denying decision.
    events = [e.event for e in stack.log.tail(1000)]
    refused = {
        d.request_id
        for d in events
        if isinstance(d, Decision) and d.reasons == ("MALFORMED_REQUEST",)
    }
    methods = {
        r.method for r in events if isinstance(r, RequestReceived) and r.request_id in refused
    }
    assert methods == {m.removeprefix("/dataward.v1.") for m in (*VALID, BATCH)}


def test_malformed_bodies_without_a_valid_token_are_refused_for_the_token(stack: Stack) -> None:
    channel, call = _raw(stack, "not-a-token")
    with channel:
        error = call("/dataward.v1.EligibilityService/Check", bytes.fromhex("0c"))
    assert error is not None
    assert (error.code(), _reason(error)) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_INVALID")


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        if op == 0 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 1:
            buf.insert(rng.randrange(len(buf) + 1), rng.randrange(256))
        elif op == 2 and buf:
            del buf[rng.randrange(len(buf))]
        elif op == 3:
            buf += bytes(rng.randrange(256) for _ in range(rng.randint(1, 12)))
        elif buf:
            cut = rng.randrange(len(buf))
            buf = buf[:cut]
    return bytes(buf)


def test_mutation_fuzz_over_every_method_never_answers_internal(stack: Stack) -> None:
    stack.consent(ALICE)
    rng = random.Random(8)  # deterministic: the same 840 inputs every run
    seen: Counter[tuple[str, str, str]] = Counter()
    channel, call = _raw(stack, stack.issuer.token(scopes=ALL_SCOPES))
    batch_item = eligibility_pb2.CheckBatchRequest(item=VALID[next(iter(VALID))][0])
    targets = {m: v[0].SerializeToString() for m, v in VALID.items()}
    targets[BATCH] = batch_item.SerializeToString()
    with channel:
        for method, valid in targets.items():
            for _ in range(120):
                error = call(method, _mutate(rng, valid))
                status = "OK" if error is None else error.code().name
                reason = "" if error is None else _reason(error)
                seen[(method.rsplit("/", 1)[1], status, reason)] += 1
    print("\nfuzz: 840 mutated bodies over 7 methods; statuses seen:")
    for (method, status, reason), count in sorted(seen.items()):
        print(f"  {method:14} {status:20} {reason:20} {count}")
    bad = {
        k: n
        for k, n in seen.items()
        if k[1] in ("INTERNAL", "UNKNOWN") or (k[1] != "OK" and not k[2])
    }
    assert bad == {}
    assert any(k[2] == "MALFORMED_REQUEST" for k in seen)


@pytest.mark.parametrize(
    ("method", "message", "field"),
    [
        (
            "/dataward.v1.EligibilityService/Check",
            eligibility_pb2.CheckRequest(
                id_number=ALICE,
                benefit=eligibility_pb2.BENEFIT_OUTPATIENT,
                purpose=UW,
                consent_ref="c" * 100_000,
            ),
            "consent_ref",
        ),
        (
            "/dataward.v1.EligibilityService/Check",
            eligibility_pb2.CheckRequest(
                id_number="1" * 100_000, benefit=eligibility_pb2.BENEFIT_OUTPATIENT, purpose=UW
            ),
            "id_number",
        ),
        (
            "/dataward.v1.IdentityService/Verify",
            identity_pb2.VerifyRequest(
                id_number=ALICE, name=NAME, purpose=UW, consent_ref="c" * 65_536
            ),
            "consent_ref",
        ),
        (
            "/dataward.v1.IdentityService/Verify",
            identity_pb2.VerifyRequest(id_number=ALICE, name="名" * 10_000, purpose=UW),
            "name",
        ),
        (
            "/dataward.v1.StewardService/RevokeConsent",
            steward_pb2.RevokeConsentRequest(consent_ref="c" * (1 << 20)),
            "consent_ref",
        ),
        (
            "/dataward.v1.StewardService/GrantConsent",
            steward_pb2.GrantConsentRequest(id_number=ALICE, partner="p" * 100_000, purpose=UW),
            "partner",
        ),
        (
            "/dataward.v1.EligibilityService/Check",
            eligibility_pb2.CheckRequest(
                id_number=ALICE,
                benefit=eligibility_pb2.BENEFIT_OUTPATIENT,
                purpose=UW,
                client_nonce="a nonce with spaces",
            ),
            "client_nonce",
        ),
        (
            "/dataward.v1.IdentityService/Verify",
            identity_pb2.VerifyRequest(
                id_number=ALICE, name=NAME, purpose=UW, client_nonce="n" * 65
            ),
            "client_nonce",
        ),
    ],
)
def test_over_long_fields_are_invalid_argument_naming_the_field(
    stack: Stack, method: str, message: Any, field: str
) -> None:
    channel, call = _raw(stack, stack.issuer.token(scopes=ALL_SCOPES))
    with channel:
        error = call(method, message.SerializeToString())
    assert error is not None
    assert (error.code(), _reason(error), _field(error)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "FIELD_INVALID",
        field,
    )


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"nbf": 600}, "TOKEN_NOT_YET_VALID"),
        ({"iat": 3600}, "TOKEN_NOT_YET_VALID"),
        ({"nbf": 3600, "iat": 3600}, "TOKEN_NOT_YET_VALID"),
        ({"nbf": "soon"}, "TOKEN_INVALID"),
        ({"nbf": 30, "iat": 30}, ""),  # within the 60 s leeway: clock skew, accepted
        ({"nbf": -10}, ""),
    ],
)
def test_tokens_from_the_future_are_refused(
    stack: Stack, claims: dict[str, Any], reason: str
) -> None:
    now = int(time.time())
    extra = {k: (now + v if isinstance(v, int) else v) for k, v in claims.items()}
    channel, call = _raw(stack, stack.issuer.token(extra_claims=extra))
    body = VALID["/dataward.v1.AuditService/GetPublicKey"][0].SerializeToString()
    with channel:
        error = call("/dataward.v1.AuditService/GetPublicKey", body)
    if not reason:
        assert error is None
        return
    assert error is not None
    assert (error.code(), _reason(error)) == (grpc.StatusCode.UNAUTHENTICATED, reason)


def _needles() -> list[str]:
    return [ALICE, UNKNOWN, f" {ALICE} ", NAME, "Zhang Wei", PHONE, "+86 138 0013 8000"]


def test_no_clear_identifier_sent_in_any_free_text_field_reaches_the_log(
    stack: Stack, tmp_path: Path
) -> None:
    """Fault 2: `Check` and `RevokeConsent` stored an ID number sent as consent_ref verbatim."""
    stack.consent(ALICE)
    channel, call = _raw(stack, stack.issuer.token(scopes=ALL_SCOPES))
    outpatient = eligibility_pb2.BENEFIT_OUTPATIENT
    with channel:
        for text in _needles():
            requests: list[tuple[str, Any]] = [
                (
                    "/dataward.v1.EligibilityService/Check",
                    eligibility_pb2.CheckRequest(
                        id_number=ALICE, benefit=outpatient, purpose=UW, consent_ref=text
                    ),
                ),
                (
                    BATCH,
                    eligibility_pb2.CheckBatchRequest(
                        item=eligibility_pb2.CheckRequest(
                            id_number=ALICE, benefit=outpatient, purpose=UW, consent_ref=text
                        )
                    ),
                ),
                (
                    "/dataward.v1.IdentityService/Verify",
                    identity_pb2.VerifyRequest(
                        id_number=ALICE, name=text, purpose=UW, consent_ref=text
                    ),
                ),
                (
                    "/dataward.v1.StewardService/RevokeConsent",
                    steward_pb2.RevokeConsentRequest(consent_ref=text),
                ),
                (
                    "/dataward.v1.StewardService/GrantConsent",
                    steward_pb2.GrantConsentRequest(id_number=ALICE, partner=text, purpose=UW),
                ),
            ]
            for method, request in requests:
                error = call(method, request.SerializeToString())
                if error is not None:
                    assert error.code() is not grpc.StatusCode.INTERNAL, (method, text)
    stack.log.checkpoint()
    leaves = "\n".join(e.to_json() for e in stack.log.tail(10_000))
    assert len(stack.log.tail(10_000)) > 40
    state = tmp_path / "state"
    blobs = b"".join(p.read_bytes() for p in sorted(state.iterdir()) if p.is_file())
    for needle in _needles():
        core = needle.strip()
        assert core not in leaves, needle
        for encoding in ("utf-8", "utf-16-le"):
            assert core.encode(encoding) not in blobs, (needle, encoding)


def test_unauthenticated_refusals_past_the_address_limit_cost_no_audit_write(
    tmp_path: Path,
) -> None:
    """Fault 10: every refusal of a bad token cost an audit write, without limit."""
    with grpc_stack(
        tmp_path,
        unauthenticated_refusals_per_second=0.5,
        unauthenticated_refusals_burst=3,
        refusal_summary_seconds=0.3,
    ) as stack:
        body = VALID["/dataward.v1.AuditService/GetPublicKey"][0].SerializeToString()
        channel, call = _raw(stack, "forged.token.value")
        start = stack.log.size
        with channel:
            errors = [call("/dataward.v1.AuditService/GetPublicKey", body) for _ in range(20)]
        outcomes = [(e.code(), _reason(e)) for e in errors if e is not None]
        assert len(outcomes) == 20
        assert outcomes[:3] == [(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_INVALID")] * 3
        assert outcomes[3:] == [(grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")] * 17
        # Three refusals logged (a request and a decision each), the rest only counted ...
        assert stack.log.size == start + 6
        # ... and a valid token from the same address is not held back.
        ok_channel, ok_call = _raw(stack, stack.issuer.token())
        with ok_channel:
            assert ok_call("/dataward.v1.AuditService/GetPublicKey", body) is None
        deadline = time.monotonic() + 5
        summaries: list[RefusalSummary] = []
        while not summaries and time.monotonic() < deadline:
            time.sleep(0.05)
            summaries = [
                e.event for e in stack.log.tail(100) if isinstance(e.event, RefusalSummary)
            ]
        assert [(s.dropped, s.addresses, s.reason) for s in summaries] == [
            (17, 1, "UNAUTHENTICATED_RATE_LIMITED")
        ]


def test_a_partner_holds_a_bounded_number_of_open_streams(stack: Stack) -> None:
    """Issue 8 review: 70 idle CheckBatch streams of one partner held every server thread,
    and other partners' calls and health checks timed out."""
    import queue

    token = stack.issuer.token(scopes=ALL_SCOPES)
    channel = grpc.insecure_channel(stack.target)
    metadata = (("authorization", f"Bearer {token}"),)
    rpc: Any = channel.stream_stream(BATCH, None, None)  # raw bytes in and out
    feeds: list[queue.Queue[bytes | None]] = []
    calls: list[Any] = []
    item = eligibility_pb2.CheckBatchRequest(item=VALID[next(iter(VALID))][0])
    for _ in range(8):  # MAX_STREAMS_PER_PARTNER, each held open after one answered item
        feed: queue.Queue[bytes | None] = queue.Queue()
        feeds.append(feed)
        call = rpc(iter(feed.get, None), metadata=metadata, timeout=30)
        calls.append(call)
        feed.put(item.SerializeToString())
        next(call)  # the stream is open and counted once an item is answered
    try:
        ninth = call_once(rpc, metadata)
        assert ninth is not None
        exhausted = (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED")
        assert (ninth.code(), _reason(ninth)) == exhausted
        # Another partner is served meanwhile.
        other, other_call = _raw(stack, stack.issuer.token(org="bank-b"))
        with other:
            body = VALID["/dataward.v1.AuditService/GetPublicKey"][0].SerializeToString()
            assert other_call("/dataward.v1.AuditService/GetPublicKey", body) is None
    finally:
        for call, feed in zip(calls, feeds, strict=True):
            call.cancel()
            feed.put(None)
        channel.close()


def call_once(rpc: Any, metadata: Any) -> grpc.RpcError | None:
    try:
        list(rpc(iter([]), metadata=metadata, timeout=5))
    except grpc.RpcError as exc:
        return exc
    return None


def test_malformed_batch_items_are_charged_against_the_rate_limit(tmp_path: Path) -> None:
    """Issue 8 review: one malformed item per CheckBatch stream was refused before the
    per-item admission, so it never took a rate-limit token (670 refusals/s at 200/s)."""
    with grpc_stack(tmp_path, rate_limit_per_second=0.01, rate_limit_burst=4) as stack:
        channel, call = _raw(stack, stack.issuer.token())
        with channel:
            errors = [call(BATCH, bytes.fromhex("0c")) for _ in range(6)]
    reasons = [_reason(e) for e in errors if e is not None]
    assert reasons[:2] == ["MALFORMED_REQUEST"] * 2  # 2 tokens each: the stream and its item
    assert set(reasons[2:]) == {"RATE_LIMITED"}


def test_the_zone_attests_to_its_key_and_only_so_often_per_address(tmp_path: Path) -> None:
    """AuditService.Attest (what the operator's CLI checks before it sends a credential) needs
    no token, so each caller address gets only the anonymous rate of signatures."""
    from dataward.client import Client, RateLimited, StaticTokenSource
    from tests.support.person_fakes import KEY_NAME

    with grpc_stack(
        tmp_path, unauthenticated_refusals_per_second=0.01, unauthenticated_refusals_burst=3
    ) as stack:
        key = (KEY_NAME, stack.audit.key.public_key())
        with Client(stack.target, StaticTokenSource("unused"), audit_key=key) as client:
            for _ in range(3):
                client.attest()  # verifies the signature over a fresh challenge
            with pytest.raises(RateLimited):
                client.attest()
        channel, call = _raw(stack, "")
        with channel:
            short = audit_pb2.AttestRequest(challenge=b"x" * 8).SerializeToString()
            error = call("/dataward.v1.AuditService/Attest", short)
        assert error is not None and error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_challenge_out_of_range_is_invalid_argument(stack: Stack) -> None:
    channel, call = _raw(stack, "")
    with channel:
        for size in (0, 15, 65):
            body = audit_pb2.AttestRequest(challenge=b"x" * size).SerializeToString()
            error = call("/dataward.v1.AuditService/Attest", body)
            assert error is not None
            assert (error.code(), _reason(error), _field(error)) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "FIELD_INVALID",
                "challenge",
            )


def test_a_body_of_many_unknown_fields_is_malformed_at_once_and_a_few_are_accepted(
    stack: Stack,
) -> None:
    """Walking megabytes of unknown fields for a field number 0 once cost seconds of CPU and
    hundreds of MiB, before any token check (issue 15 review): past UNKNOWN_BYTES of them a
    body is MALFORMED_REQUEST; a few (a newer client's fields) are still accepted."""
    check = "/dataward.v1.EligibilityService/Check"
    unknown = bytes.fromhex("f83e00")  # field 999, varint 0: an unknown field with a valid number
    few = unknown * (UNKNOWN_BYTES // len(unknown) // 2)
    many = unknown * (1024 * 1024 // len(unknown))  # 1 MiB of them
    channel, call = _raw(stack, stack.issuer.token(scopes=ALL_SCOPES))
    with channel:
        accepted = call(check, few)
        refused = call(check, many)
    assert accepted is not None and _reason(accepted) == "FIELD_INVALID"  # parsed, then checked
    assert refused is not None
    assert (refused.code(), _reason(refused)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "MALFORMED_REQUEST",
    )
