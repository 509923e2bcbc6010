"""The EncryptedFaceMatch stream into the zone's :class:`enclave.persons.FaceMatchQuery`
(issue 13): the header first, exactly once; then the public context in chunks of at most
:data:`enclave.compute.MAX_KEY_CHUNK_BYTES` (1 MiB) up to the face match's context limit; last,
exactly once, the query ciphertext up to its limit. Sizes are checked while reading, before
anything is kept past them, so a client cannot make the server hold more than ~49 MB for one
call. A stream out of this order is ``FIELD_INVALID`` naming the part, refused before the
zone's request leaf (the interceptor logs it: :meth:`Guard.refused`). A context or query past
its limit stops the reading and is ``CONTEXT_INVALID`` / ``CIPHERTEXT_INVALID`` ``TOO_LARGE``
(the zone's own check), refused by the zone after its request leaf
(``FaceMatchQuery.upload_problem``)."""

from __future__ import annotations

from collections.abc import Iterator

from dataward.v1 import compute_pb2
from enclave.compute import (
    FACE_MATCH_LIMITS,
    MAX_KEY_CHUNK_BYTES,
    CiphertextInvalid,
    CkksLimits,
    ContextInvalid,
)
from enclave.persons import FaceMatchQuery
from grpc_api._convert import purpose_from_proto
from grpc_api.errors import ApiError, InvalidRequest

__all__ = ["face_match_query"]


def face_match_query(
    requests: Iterator[compute_pb2.EncryptedFaceMatchRequest],
    limits: CkksLimits = FACE_MATCH_LIMITS,
) -> FaceMatchQuery:
    """The whole stream, read and bounded (see the module docstring)."""
    first = next(requests, None)
    if first is None or first.WhichOneof("part") != "header":
        raise InvalidRequest("header", "the first message, exactly once")
    header = first.header
    try:
        purpose = purpose_from_proto(header.purpose).value
    except ApiError:
        purpose = ""  # the zone refuses it naming `purpose`, after its request leaf
    try:
        context, query = _upload(requests, limits)
    except (ContextInvalid, CiphertextInvalid) as exc:
        return FaceMatchQuery(
            id_number=header.id_number,
            purpose=purpose,
            context=b"",
            query=b"",
            consent_ref=header.consent_ref,
            client_nonce=header.client_nonce,
            upload_problem=exc,
        )
    return FaceMatchQuery(
        id_number=header.id_number,
        purpose=purpose,
        context=context,
        query=query,
        consent_ref=header.consent_ref,
        client_nonce=header.client_nonce,
    )


def _upload(
    requests: Iterator[compute_pb2.EncryptedFaceMatchRequest], limits: CkksLimits
) -> tuple[bytes, bytes]:
    """The context's chunks joined and the query, in order and within their limits."""
    chunks: list[bytes] = []
    size = 0
    query: bytes | None = None
    for request in requests:
        which = request.WhichOneof("part")
        if query is not None:
            raise InvalidRequest("query_ciphertext", "the last message, exactly once")
        if which == "context_chunk":
            chunk = request.context_chunk
            if not chunk or len(chunk) > MAX_KEY_CHUNK_BYTES:
                raise InvalidRequest("context_chunk", f"1..{MAX_KEY_CHUNK_BYTES} bytes")
            size += len(chunk)
            if size > limits.context_bytes:
                raise ContextInvalid("TOO_LARGE", f"the limit is {limits.context_bytes} bytes")
            chunks.append(bytes(chunk))
        elif which == "query_ciphertext":
            if not chunks:
                raise InvalidRequest("context_chunk", "required, before the query ciphertext")
            if len(request.query_ciphertext) > limits.ciphertext_bytes:
                raise CiphertextInvalid(
                    "TOO_LARGE", f"the limit is {limits.ciphertext_bytes} bytes"
                )
            query = bytes(request.query_ciphertext)
        elif which == "header":
            raise InvalidRequest("header", "the first message, exactly once")
        else:
            raise InvalidRequest("part", "every message carries one part")
    if not chunks:
        raise InvalidRequest("context_chunk", "required, before the query ciphertext")
    if not query:
        raise InvalidRequest("query_ciphertext", "required, the last message")
    return b"".join(chunks), query
