"""The EncryptedFaceMatch stream reader (issue 13): the parts in order, each bounded while it
is read; an oversize context or query stops the reading and becomes the zone's refusal
(``upload_problem``), logged after its request leaf."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dataward.v1 import common_pb2, compute_pb2
from enclave.compute import CiphertextInvalid, CkksLimits, ContextInvalid
from grpc_api._facematch import face_match_query
from grpc_api.errors import InvalidRequest

R = compute_pb2.EncryptedFaceMatchRequest
HEADER = R(
    header=compute_pb2.FaceMatchHeader(
        id_number="123",
        purpose=common_pb2.PURPOSE_IDENTITY_VERIFICATION,
        consent_ref="cns_x",
        client_nonce="n",
    )
)
LIMITS = CkksLimits(context_bytes=10, ciphertext_bytes=4)


def test_a_whole_stream_is_joined() -> None:
    query = face_match_query(
        iter([HEADER, R(context_chunk=b"abc"), R(context_chunk=b"de"), R(query_ciphertext=b"q")]),
        LIMITS,
    )
    assert (query.context, query.query, query.purpose) == (b"abcde", b"q", "IDENTITY_VERIFICATION")
    assert (query.id_number, query.consent_ref, query.client_nonce) == ("123", "cns_x", "n")
    assert query.upload_problem is None


def test_an_unspecified_purpose_is_left_to_the_zone() -> None:
    header = R(header=compute_pb2.FaceMatchHeader(id_number="1"))
    query = face_match_query(iter([header, R(context_chunk=b"c"), R(query_ciphertext=b"q")]))
    assert query.purpose == ""


@pytest.mark.parametrize(
    ("stream", "field"),
    [
        ([], "header"),
        ([R(context_chunk=b"c")], "header"),
        ([HEADER, R(query_ciphertext=b"q")], "context_chunk"),
        ([HEADER, R(context_chunk=b"c")], "query_ciphertext"),
        ([HEADER, R(context_chunk=b"c"), R(query_ciphertext=b"")], "query_ciphertext"),
        (
            [HEADER, R(context_chunk=b"c"), R(query_ciphertext=b"q"), R(context_chunk=b"c")],
            "query_ciphertext",
        ),
        ([HEADER, HEADER], "header"),
        ([HEADER, R()], "part"),
        ([HEADER, R(context_chunk=b"")], "context_chunk"),
    ],
)
def test_a_stream_out_of_order_names_the_part(stream: list[R], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        face_match_query(iter(stream), LIMITS)
    assert caught.value.field == field


def test_oversize_parts_stop_the_reading_and_go_to_the_zone() -> None:
    def stream(*parts: R) -> Iterator[R]:
        yield HEADER
        yield from parts
        raise AssertionError("read past the limit")

    big = face_match_query(
        stream(R(context_chunk=b"x" * 6), R(context_chunk=b"x" * 5)),
        LIMITS,
    )
    assert isinstance(big.upload_problem, ContextInvalid)
    assert big.upload_problem.problem == "TOO_LARGE" and big.context == b""
    assert big.id_number == "123"  # the zone's request leaf still names the person (by token)
    long = face_match_query(
        stream(R(context_chunk=b"x"), R(query_ciphertext=b"qqqqq")),
        LIMITS,
    )
    assert isinstance(long.upload_problem, CiphertextInvalid)
    assert long.upload_problem.problem == "TOO_LARGE"
    with pytest.raises(InvalidRequest):
        face_match_query(iter([HEADER, R(context_chunk=b"x" * ((1 << 20) + 1))]))
