"""QueryService against hostile input over a real server: undecodable and mutated bodies
never answer INTERNAL, and identifiers sent in any free-text field of a query (its SQL, a
parameter, a template name, a query id) never reach the audit log or the zone's state files
in clear, whether the query is rejected, accepted and stored, or run."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import grpc
from google.protobuf.message import Message

from dataward.v1 import common_pb2, query_pb2
from tests.integration.test_grpc_hardening import ANY_MESSAGE, INVALID_UTF8, _mutate, _reason
from tests.integration.test_grpc_query import BY_PROVINCE, SCOPES, export, stack
from tests.support.grpc_stack import Stack
from tests.support.query_export import Export

__all__ = ["export", "stack"]  # the fixtures, shared with test_grpc_query

UW = common_pb2.PURPOSE_INSURANCE_UNDERWRITING
SERVICE = "/dataward.v1.QueryService/"
VALID: dict[str, Message] = {
    SERVICE + "Explain": query_pb2.ExplainRequest(sql=BY_PROVINCE, purpose=UW),
    SERVICE + "Submit": query_pb2.SubmitRequest(sql=BY_PROVINCE, purpose=UW),
    SERVICE + "Run": query_pb2.RunRequest(sql=BY_PROVINCE, purpose=UW),
    SERVICE + "Get": query_pb2.QueryServiceGetRequest(query_id="qry_" + "a" * 24),
    SERVICE + "List": query_pb2.QueryServiceListRequest(page_size=5),
}
Call = Callable[[str, bytes], grpc.RpcError | None]


def _metadata(stack: Stack) -> tuple[tuple[str, str], ...]:
    token = stack.issuer.token(
        org="demo-insurer", scopes=SCOPES, purposes=("INSURANCE_UNDERWRITING",)
    )
    return (("authorization", f"Bearer {token}"),)


def _caller(stack: Stack, channel: grpc.Channel) -> Call:
    metadata = _metadata(stack)

    def call(method: str, body: bytes) -> grpc.RpcError | None:
        try:
            channel.unary_unary(method, None, None)(body, metadata=metadata, timeout=30)
        except grpc.RpcError as exc:
            return exc
        return None

    return call


def test_undecodable_bodies_are_malformed_requests_on_every_query_method(stack: Stack) -> None:
    with grpc.insecure_channel(stack.target) as channel:
        call = _caller(stack, channel)
        for method in VALID:
            string_field_1 = method.endswith(("Explain", "Submit", "Get"))
            for body in ANY_MESSAGE + ([INVALID_UTF8] if string_field_1 else []):
                error = call(method, bytes.fromhex(body))
                assert error is not None, (method, body)
                assert (error.code(), _reason(error)) == (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "MALFORMED_REQUEST",
                ), (method, body, error.details())


def test_mutated_query_bodies_never_answer_internal(stack: Stack) -> None:
    rng = random.Random(10)  # the same 300 inputs every run
    seen: Counter[tuple[str, str, str]] = Counter()
    with grpc.insecure_channel(stack.target) as channel:
        call = _caller(stack, channel)
        for method, message in VALID.items():
            valid = message.SerializeToString()
            for _ in range(60):
                error = call(method, _mutate(rng, valid))
                status = "OK" if error is None else error.code().name
                reason = "" if error is None else _reason(error)
                seen[(method.rsplit("/", 1)[1], status, reason)] += 1
    bad = {
        k: n
        for k, n in seen.items()
        if k[1] in ("INTERNAL", "UNKNOWN") or (k[1] != "OK" and not k[2])
    }
    assert bad == {}, seen
    assert any(k[1] == "OK" for k in seen) and any(k[2] == "MALFORMED_REQUEST" for k in seen)


def _needles(export: Export) -> list[str]:
    """An ID number, a name and a phone number of the registry the zone serves."""
    id_number = next(v for v in export.clear_values if len(v) == 18)
    name = next(v for v in export.clear_values if not v.isascii())
    phone = next(v for v in export.clear_values if v.isdigit() and len(v) == 11)
    return [id_number, name, phone]


def test_no_identifier_sent_in_a_query_reaches_the_log_or_the_state_in_clear(
    stack: Stack, export: Export, tmp_path: Path
) -> None:
    with grpc.insecure_channel(stack.target) as channel:
        call = _caller(stack, channel)
        for text in _needles(export):
            quoted = text.replace("'", "''")
            in_sql = (
                "SELECT province, COUNT(*) AS n FROM claims_analysis"
                f" WHERE province = '{quoted}' GROUP BY province"
            )
            in_identifier = f'SELECT "{text}", COUNT(*) AS n FROM claims_analysis GROUP BY 1'
            parameter = query_pb2.QueryParameter(name="p", text=text)
            with_parameter = (
                "SELECT province, COUNT(*) AS n FROM claims_analysis"
                " WHERE province = :p GROUP BY province"
            )
            requests: list[tuple[str, Message]] = [
                ("Explain", query_pb2.ExplainRequest(sql=in_sql, purpose=UW)),
                ("Explain", query_pb2.ExplainRequest(sql=in_identifier, purpose=UW)),
                ("Submit", query_pb2.SubmitRequest(sql=in_sql, purpose=UW)),
                ("Submit", query_pb2.SubmitRequest(sql=in_identifier, purpose=UW)),
                ("Run", query_pb2.RunRequest(sql=in_sql, purpose=UW)),
                (
                    "Run",
                    query_pb2.RunRequest(sql=with_parameter, parameters=[parameter], purpose=UW),
                ),
                ("Run", query_pb2.RunRequest(template=text, purpose=UW)),
                ("Run", query_pb2.RunRequest(query_id=text, purpose=UW)),
                ("Get", query_pb2.QueryServiceGetRequest(query_id=text)),
                ("List", query_pb2.QueryServiceListRequest(page_token=text)),
            ]
            for method, request in requests:
                error = call(SERVICE + method, request.SerializeToString())
                if error is not None:
                    assert error.code() is not grpc.StatusCode.INTERNAL, (method, text)
            stored = channel.unary_unary(
                SERVICE + "Submit",
                query_pb2.SubmitRequest.SerializeToString,
                query_pb2.SubmitResponse.FromString,
            )(requests[2][1], metadata=_metadata(stack), timeout=30)
            assert stored.status == query_pb2.QUERY_STATUS_ACCEPTED  # sealed on disk, below
    stack.log.checkpoint()
    events = stack.log.tail(10_000)
    leaves = "\n".join(e.to_json() for e in events)
    assert len(events) > 60
    state = tmp_path / "state"
    blobs = b"".join(p.read_bytes() for p in sorted(state.iterdir()) if p.is_file())
    for needle in _needles(export):
        assert needle not in leaves, needle
        for encoding in ("utf-8", "utf-16-le"):
            assert needle.encode(encoding) not in blobs, (needle, encoding)
