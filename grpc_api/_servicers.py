# ruff: noqa: N802 (method names are the RPC names of the generated base classes)
"""The servicers: proto -> domain -> proto, nothing else.

They raise; the interceptor (:class:`grpc_api._guard.AuthInterceptor`) maps every exception
through the one status table once per method, and logs a refusal the zone has not logged (a
field the conversion refuses) through :meth:`Guard.refused` first. The purpose check is the
zone's (:class:`enclave.persons.PersonChecks`, given the purposes the token grants).
``CheckBatch`` turns each item's refusal into an item error -- a fault of the zone on one item
(UNAVAILABLE, INTERNAL) too, with the code the unary call would have failed with: the zone
logged it, and any item of the group it released, so every item of a group is answered
(issue 15). An INTERNAL item (a bug on that item) lets the stream go on; an UNAVAILABLE one
(the zone's dataset, keyring or a store is down) ends the stream UNAVAILABLE once its group is
answered, and so does a fault of the group itself (the audit log is down: nothing released).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

import grpc
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.attestation import MAX_CHALLENGE_BYTES, MIN_CHALLENGE_BYTES
from dataward.transparency import Receipt
from dataward.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    compute_pb2,
    compute_pb2_grpc,
    eligibility_pb2,
    eligibility_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
    query_pb2,
    steward_pb2,
    steward_pb2_grpc,
)
from enclave.analytics import QueryReviews
from enclave.audit import LogBrowser
from enclave.compute import ModelCards
from enclave.persons import Answer, EligibilityDecision, EligibilityQuery, PersonChecks
from enclave.policy import AppliedVersion, PolicyStore
from enclave.release import Caller
from grpc_api import _audit_view as audit_view
from grpc_api import _convert as convert
from grpc_api import _models as models
from grpc_api import _review as review
from grpc_api._facematch import face_match_query
from grpc_api._grouped import GroupedChecks
from grpc_api._guard import Guard, principal_of
from grpc_api._status import refusal_for
from grpc_api._stream_reader import StreamReader
from grpc_api._tokens import Principal
from grpc_api.errors import InvalidRequest, NotServed, RateLimited, TooManyItems, Unavailable

__all__ = [
    "CHECK_BATCH",
    "AuditServicer",
    "ComputeServicer",
    "EligibilityServicer",
    "IdentityServicer",
    "ReceiptSource",
    "StewardServicer",
]


class ReceiptSource(Protocol):
    def receipt(self, leaf_index: int, *, sign: bool = True) -> Receipt:
        """The entry's receipt; with ``sign=False`` never signs a new checkpoint for it."""

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The RFC 9162 proof that the tree of ``new_size`` extends that of ``old_size``."""


CHECK_BATCH = "/dataward.v1.EligibilityService/CheckBatch"
# An item refused with one of these codes is the zone's fault, not the item's: still that item's
# error, but the operator's log gets a batch_item_failed line (UNAVAILABLE also ends the stream).
_FAULTS = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL)
_log = logging.getLogger("dataward.grpc")


def partner_caller(principal: Principal) -> Caller:
    """A partner as the zone sees it: its client, organization and granted purposes."""
    return Caller(principal.client_id, principal.organization, principal.purposes)


def _steward(principal: Principal) -> Caller:
    return Caller(principal.client_id, principal.organization)


class EligibilityServicer(eligibility_pb2_grpc.EligibilityServiceServicer):
    def __init__(
        self,
        checks: PersonChecks,
        guard: Guard,
        max_batch_items: int,
        batch_group: int = 64,
        *,
        grouped: GroupedChecks,
        max_response_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        """``max_response_bytes``: a packed response's bound (the server's send limit halved:
        a group's answers past it go in more responses, never one the server cannot send).
        ``grouped``: where unary checks are checked, in groups."""
        self._checks = checks
        self._grouped = grouped
        self._guard = guard
        self._max_batch_items = max_batch_items
        self._batch_group = batch_group
        self._max_response_bytes = max_response_bytes

    def _one(
        self, request: eligibility_pb2.CheckRequest, principal: Principal
    ) -> eligibility_pb2.CheckResponse:
        query = convert.eligibility_query(request)
        answer = self._grouped.check(partner_caller(principal), query)
        return convert.decision_to_proto(answer.value, answer.receipt, request_id=answer.request_id)

    def Check(
        self, request: eligibility_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> eligibility_pb2.CheckResponse:
        return self._one(request, principal_of(context))

    def CheckBatch(
        self,
        request_iterator: Iterator[eligibility_pb2.CheckBatchRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[eligibility_pb2.CheckBatchResponse]:
        # Issue 15: a reader thread reads the stream (at most batch_group items unanswered),
        # and what has arrived is checked as one group: one zone call, one audit commit. Each
        # item is still admitted like a unary call (token expiry and revocation, scope, one
        # rate-limit token, deadline); a refused admission ends the stream with its status
        # once the items before it are answered. A packed stream (its first message carries
        # `items`) is answered a group per response.
        form = _Form()
        reader: StreamReader[eligibility_pb2.CheckRequest | None] = StreamReader(
            _items(request_iterator, form), bound=self._batch_group
        )
        # The call's end (a cancel too) stops the reader, even while this generator is
        # suspended and never resumed (gRPC drops a cancelled call's response iterator).
        if not context.add_callback(reader.close):
            reader.close()
        index = 0
        try:
            while True:
                items, ending = reader.take(self._batch_group)
                # form.packed was set by the reader before it handed out the first item
                index += yield from self._group(items, index, context, packed=form.packed)
                if ending is not None:
                    if ending.error is None or not context.is_active():
                        return  # the client half-closed, or cancelled: nobody to answer
                    raise ending.error
        finally:
            reader.close()

    def _group(
        self,
        items: Sequence[eligibility_pb2.CheckRequest | None],
        first: int,
        context: grpc.ServicerContext,
        *,
        packed: bool,
    ) -> Generator[eligibility_pb2.CheckBatchResponse, None, int]:
        """Admit, check and answer one group, in order (packed: in as few responses as fit);
        returns how many items it held (None, an empty message of a packed stream, is charged
        a rate-limit token like an item but is no item). Raises what ends the stream -- a
        refused admission or the stream's cap after the items before it, an UNAVAILABLE item
        after the whole group, a fault of the group itself (the audit log is down) before any
        of it."""
        stop: BaseException | None = None
        admitted: list[tuple[eligibility_pb2.CheckRequest, Principal]] = []
        for item in items:
            if item is not None and first + len(admitted) >= self._max_batch_items:
                stop = TooManyItems(self._max_batch_items)
                break
            try:
                principal = self._guard.admit(CHECK_BATCH, context)
            except Exception as exc:  # logged by the guard: the stream ends with it
                stop = exc
                break
            if item is not None:
                admitted.append((item, principal))
        if admitted:
            # An item the conversion refuses is that item's error (logged here); the others
            # go to the zone together. One token verified them all: the last admission's.
            principal = admitted[-1][1]
            outcomes: list[EligibilityQuery | BaseException] = []
            for request, item_principal in admitted:
                try:
                    outcomes.append(convert.eligibility_query(request))
                except Exception as exc:
                    outcomes.append(self._guard.logged(CHECK_BATCH, item_principal, exc))
            queries = [q for q in outcomes if isinstance(q, EligibilityQuery)]
            answers = iter(
                self._checks.check_eligibility_many(partner_caller(principal), queries)
                if queries
                else []
            )
            outage: BaseException | None = None
            answered: list[eligibility_pb2.CheckBatchItem] = []
            size = 0
            for k, outcome in enumerate(outcomes):
                answer = next(answers) if isinstance(outcome, EligibilityQuery) else outcome
                result, error = self._outcome(first + k, answer)
                if packed:
                    one = eligibility_pb2.CheckBatchItem(
                        index=first + k, result=result, error=error
                    )
                    grows = one.ByteSize() + 8  # with its tag and length
                    if answered and size + grows > self._max_response_bytes:
                        yield eligibility_pb2.CheckBatchResponse(items=answered)
                        answered, size = [], 0
                    answered.append(one)
                    size += grows
                else:
                    yield eligibility_pb2.CheckBatchResponse(
                        index=first + k, result=result, error=error
                    )
                if outage is None and isinstance(answer, BaseException) and _unavailable(answer):
                    outage = answer
            if answered:
                yield eligibility_pb2.CheckBatchResponse(items=answered)
            # The zone is down for this group (its dataset, keyring or a store): every item
            # of it is answered, then the stream ends UNAVAILABLE as a unary call would, so a
            # client retries later instead of reading a stream of outages as refusals.
            stop = outage or stop
        if stop is not None:
            raise stop
        return len(admitted)

    def _outcome(
        self, index: int, answer: Answer[EligibilityDecision] | BaseException
    ) -> tuple[eligibility_pb2.CheckResponse | None, eligibility_pb2.ItemError | None]:
        """One item's outcome: its result, or its error."""
        if isinstance(answer, Answer):
            result = convert.decision_to_proto(
                answer.value, answer.receipt, request_id=answer.request_id
            )
            return result, None
        refusal = refusal_for(answer)
        if refusal.code in _FAULTS:  # logged by the zone, answered like the others; the
            # operator sees its kind, never its message (it may hold a value)
            cause = answer.__cause__ or answer
            _log.error(
                "batch_item_failed",
                extra={
                    "method": CHECK_BATCH,
                    "index": index,
                    "audit_request_id": getattr(answer, "request_id", ""),
                    "status": refusal.code.name,
                    "reason": refusal.reason,
                    "error": type(cause).__name__,
                },
            )
        error = eligibility_pb2.ItemError(
            code=refusal.code.value[0], reason=refusal.reason, message=refusal.message
        )
        return None, error


class _Form:
    """Whether a CheckBatch stream is packed: decided by its first message (False before)."""

    packed: bool = False


def _items(
    messages: Iterator[eligibility_pb2.CheckBatchRequest], form: _Form
) -> Iterator[eligibility_pb2.CheckRequest | None]:
    """The stream's items, one at a time (the reader takes a slot per item, so a packed
    message holds no more of the reader's bound than its items one by one); None for an
    empty message of a packed stream, which is charged like an item (else a stream of empty
    messages, or of unknown fields alone, would cost the zone CPU and the partner nothing)."""
    first = True
    for message in messages:
        if first:
            form.packed, first = len(message.items) > 0, False
        if message.items:
            if message.HasField("item"):
                raise InvalidRequest("items", "a message carries item or items, not both")
            yield from message.items
        elif form.packed and not message.HasField("item"):
            yield None  # an empty message of a packed stream: charged, no item to answer
        else:
            yield message.item  # the one-item form: each message is an item, even unset


def _unavailable(answer: BaseException) -> bool:
    return refusal_for(answer).code is grpc.StatusCode.UNAVAILABLE


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, grouped: GroupedChecks) -> None:
        """``grouped``: where calls are checked (those without a selfie in groups)."""
        self._grouped = grouped

    def Verify(
        self, request: identity_pb2.VerifyRequest, context: grpc.ServicerContext
    ) -> identity_pb2.VerifyResponse:
        query = convert.identity_query(request)
        answer = self._grouped.verify(partner_caller(principal_of(context)), query)
        return convert.verdict_to_proto(answer.value, answer.receipt, request_id=answer.request_id)


# Encrypted face match uploads read at once, server-wide: each holds up to ~96 MB while its
# 48 MB context is read and joined, before consent is looked at (issue 13 review).
MAX_FACE_MATCH_UPLOADS = 4


class ComputeServicer(compute_pb2_grpc.ComputeServiceServicer):
    def __init__(self, checks: PersonChecks, cards: ModelCards | None = None) -> None:
        self._checks = checks
        self._cards = cards
        self._face_uploads = threading.BoundedSemaphore(MAX_FACE_MATCH_UPLOADS)

    def _model_cards(self) -> ModelCards:
        if self._cards is None:
            raise NotServed("model registration is not served by this server")
        return self._cards

    def CreditBand(
        self, request: compute_pb2.CreditBandRequest, context: grpc.ServicerContext
    ) -> compute_pb2.CreditBandResponse:
        if not self._checks.serves_credit:
            raise NotServed("this zone does not serve credit bands")
        query = convert.credit_band_query(request)
        answer = self._checks.credit_band(partner_caller(principal_of(context)), query)
        return convert.band_to_proto(answer.value, answer.receipt, request_id=answer.request_id)

    def RegisterModel(
        self,
        request_iterator: Iterator[compute_pb2.RegisterModelRequest],
        context: grpc.ServicerContext,
    ) -> compute_pb2.RegisterModelResponse:
        # The stream is read by the zone after its request leaf, one message at a time.
        answer = self._model_cards().register(
            partner_caller(principal_of(context)), models.upload_parts(request_iterator)
        )
        return compute_pb2.RegisterModelResponse(
            model=models.model_info_to_proto(answer.value),
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

    def GetModel(
        self, request: compute_pb2.GetModelRequest, context: grpc.ServicerContext
    ) -> compute_pb2.GetModelResponse:
        model_id, version = models.checked_model(request.model_id, request.version)
        answer = self._model_cards().get(partner_caller(principal_of(context)), model_id, version)
        return compute_pb2.GetModelResponse(
            model=models.model_info_to_proto(answer.value),
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

    def PaillierScore(
        self, request: compute_pb2.PaillierScoreRequest, context: grpc.ServicerContext
    ) -> compute_pb2.PaillierScoreResponse:
        if not self._checks.serves_scores:
            raise NotServed("this zone does not serve encrypted scores")
        query = convert.paillier_score_query(request)
        answer = self._checks.paillier_score(partner_caller(principal_of(context)), query)
        return convert.encrypted_score_to_proto(
            answer.value, answer.receipt, request_id=answer.request_id
        )

    def CkksBatchScore(
        self, request: compute_pb2.CkksBatchScoreRequest, context: grpc.ServicerContext
    ) -> compute_pb2.CkksBatchScoreResponse:
        if not self._checks.serves_scores:
            raise NotServed("this zone does not serve encrypted scores")
        query = convert.ckks_batch_query(request)
        answer = self._checks.ckks_batch_score(partner_caller(principal_of(context)), query)
        return convert.batch_scores_to_proto(
            answer.value, answer.receipt, request_id=answer.request_id
        )

    def EncryptedFaceMatch(
        self,
        request_iterator: Iterator[compute_pb2.EncryptedFaceMatchRequest],
        context: grpc.ServicerContext,
    ) -> compute_pb2.EncryptedFaceMatchResponse:
        if not self._checks.serves_face_match:
            raise NotServed("this zone does not serve encrypted face matches")
        # The whole stream, bounded while read; the zone parses the bytes in its workers. At
        # most MAX_FACE_MATCH_UPLOADS are read at once: past it RATE_LIMITED, retry.
        if not self._face_uploads.acquire(blocking=False):
            raise RateLimited(
                1.0,
                f"at most {MAX_FACE_MATCH_UPLOADS} encrypted face matches are read at once; "
                "retry later",
            )
        try:
            query = face_match_query(request_iterator)
            answer = self._checks.encrypted_face_match(partner_caller(principal_of(context)), query)
        finally:
            self._face_uploads.release()
        return compute_pb2.EncryptedFaceMatchResponse(
            ciphertext=answer.value.ciphertext,
            validated_on=answer.value.validated_on,
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(
        self,
        key_name: str,
        public_key_raw: bytes,
        receipts: ReceiptSource,
        attest: Callable[[bytes], bytes] | None = None,
        *,
        events: LogBrowser | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._key_name = key_name
        self._public_key = public_key_raw
        self._receipts = receipts
        self._attest = attest
        self._events = events
        self._clock = clock

    def _log(self) -> LogBrowser:
        if self._events is None:
            raise Unavailable("this server does not read the zone's log for stewards")
        return self._events

    def ListEvents(
        self, request: audit_pb2.ListEventsRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListEventsResponse:
        flt = audit_view.event_filter(request)
        size = audit_view.events_page_size(request.page_size)
        before = audit_view.page_before(request.page_token)
        convert.check_fields(client_nonce=request.client_nonce)
        # logged like any answer: request leaf, decision, release with its receipt
        answer = self._log().list_events(
            review.reviewer_caller(principal_of(context)),
            flt,
            page_size=size,
            before=before,
            client_nonce=request.client_nonce,
        )
        response = audit_view.page_to_proto(answer.value)
        response.receipt.CopyFrom(
            convert.receipt_to_proto(answer.receipt, request_id=answer.request_id)
        )
        return response

    def UsageSummary(
        self, request: audit_pb2.UsageSummaryRequest, context: grpc.ServicerContext
    ) -> audit_pb2.UsageSummaryResponse:
        organization, client_id = audit_view.usage_filter(request)
        since, until = audit_view.usage_window(request, self._clock())
        convert.check_fields(client_nonce=request.client_nonce)
        answer = self._log().usage_summary(
            review.reviewer_caller(principal_of(context)),
            since=since,
            until=until,
            organization=organization,
            client_id=client_id,
            client_nonce=request.client_nonce,
        )
        response = audit_view.usage_to_proto(answer.value)
        response.receipt.CopyFrom(
            convert.receipt_to_proto(answer.receipt, request_id=answer.request_id)
        )
        return response

    def Attest(
        self, request: audit_pb2.AttestRequest, context: grpc.ServicerContext
    ) -> audit_pb2.AttestResponse:
        # Public (no token): the interceptor maps what this raises, but logs nothing for it.
        if self._attest is None:
            raise Unavailable("this server does not attest to the zone's key")
        challenge = bytes(request.challenge)
        if not MIN_CHALLENGE_BYTES <= len(challenge) <= MAX_CHALLENGE_BYTES:
            raise InvalidRequest("challenge", f"{MIN_CHALLENGE_BYTES}..{MAX_CHALLENGE_BYTES} bytes")
        return audit_pb2.AttestResponse(key_name=self._key_name, signature=self._attest(challenge))

    def GetPublicKey(
        self, request: audit_pb2.GetPublicKeyRequest, context: grpc.ServicerContext
    ) -> audit_pb2.GetPublicKeyResponse:
        return audit_pb2.GetPublicKeyResponse(key_name=self._key_name, public_key=self._public_key)

    def GetReceipt(
        self, request: audit_pb2.GetReceiptRequest, context: grpc.ServicerContext
    ) -> audit_pb2.GetReceiptResponse:
        # Against the latest checkpoint only: a partner cannot force a signature per call.
        receipt = self._receipts.receipt(request.leaf_index, sign=False)
        return audit_pb2.GetReceiptResponse(
            receipt=convert.receipt_to_proto(receipt, request_id="")
        )

    def GetConsistencyProof(
        self, request: audit_pb2.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> audit_pb2.GetConsistencyProofResponse:
        proof = self._receipts.consistency_proof(request.old_size, request.new_size)
        return audit_pb2.GetConsistencyProofResponse(proof=proof)


#: The largest policy document ApplyPolicy takes (bytes of UTF-8).
MAX_POLICY_BYTES = 1024 * 1024
MAX_SOURCE_NAME = 256
_RULES = {
    "aggregation": steward_pb2.POLICY_RULE_KIND_AGGREGATION,
    "templates": steward_pb2.POLICY_RULE_KIND_TEMPLATES,
}
_RELEASE = {"exact": query_pb2.RELEASE_MODE_EXACT, "dp": query_pb2.RELEASE_MODE_DP}


def _applied_to_proto(applied: AppliedVersion) -> steward_pb2.AppliedPolicyVersion:
    return steward_pb2.AppliedPolicyVersion(
        sequence=applied.sequence,
        version=applied.version,
        applied_at=int(applied.applied_at.timestamp()),
        applied_by_client=applied.client_id,
        applied_by_organization=applied.organization,
    )


class StewardServicer(steward_pb2_grpc.StewardServiceServicer):
    def __init__(
        self,
        checks: PersonChecks,
        policies: PolicyStore | None = None,
        reviews: QueryReviews | None = None,
        cards: ModelCards | None = None,
    ) -> None:
        self._checks = checks
        self._policies = policies
        self._reviews = reviews
        self._cards = cards

    def _policy_store(self) -> PolicyStore:
        if self._policies is None:
            raise Unavailable("this server does not hold the zone's policy store")
        return self._policies

    def ApplyPolicy(
        self, request: steward_pb2.ApplyPolicyRequest, context: grpc.ServicerContext
    ) -> steward_pb2.ApplyPolicyResponse:
        if len(request.document.encode("utf-8")) > MAX_POLICY_BYTES:
            raise InvalidRequest("document", f"at most {MAX_POLICY_BYTES} bytes of UTF-8")
        if len(request.source_name) > MAX_SOURCE_NAME or not request.source_name.isprintable():
            raise InvalidRequest("source_name", f"at most {MAX_SOURCE_NAME} printable characters")
        convert.check_fields(client_nonce=request.client_nonce)
        answer = self._policy_store().apply(
            request.document,
            _steward(principal_of(context)),
            request.source_name or "<policy>",
            client_nonce=request.client_nonce,
        )
        return steward_pb2.ApplyPolicyResponse(
            version=answer.version,
            changed=answer.changed,
            applied_at=int(answer.applied_at.timestamp()),
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

    def GetPolicy(
        self, request: steward_pb2.GetPolicyRequest, context: grpc.ServicerContext
    ) -> steward_pb2.GetPolicyResponse:
        answer = self._policy_store().read(_steward(principal_of(context)))
        in_force = answer.in_force
        response = steward_pb2.GetPolicyResponse(
            version=in_force.version,
            document=in_force.document,
            views=[
                steward_pb2.PolicyView(
                    name=v.name,
                    rule=_RULES[v.rule],
                    release_mode=_RELEASE.get(v.release_mode, query_pb2.RELEASE_MODE_UNSPECIFIED),
                    templates=v.templates,
                )
                for v in in_force.views
            ],
            grants=[
                steward_pb2.PolicyGrant(
                    organization=g.organization, purpose=g.purpose, views=g.views
                )
                for g in in_force.grants
            ],
            history=[_applied_to_proto(a) for a in answer.history],
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )
        if in_force.applied is not None:
            response.in_force.CopyFrom(_applied_to_proto(in_force.applied))
        return response

    def GrantConsent(
        self, request: steward_pb2.GrantConsentRequest, context: grpc.ServicerContext
    ) -> steward_pb2.GrantConsentResponse:
        convert.check_fields(
            id_number=request.id_number, partner=request.partner, client_nonce=request.client_nonce
        )
        purpose = convert.purpose_from_proto(request.purpose).value
        answer = self._checks.grant_consent(
            _steward(principal_of(context)),
            id_number=request.id_number,
            partner=request.partner,
            purpose=purpose,
            valid_days=request.valid_days or 365,
            single_use=request.single_use,
            client_nonce=request.client_nonce,
        )
        return steward_pb2.GrantConsentResponse(
            consent_ref=answer.value.consent_ref,
            valid_until=convert.date_to_proto(answer.value.valid_until.date()),
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

    def RevokeConsent(
        self, request: steward_pb2.RevokeConsentRequest, context: grpc.ServicerContext
    ) -> steward_pb2.RevokeConsentResponse:
        convert.check_fields(consent_ref=request.consent_ref)
        answer = self._checks.revoke_consent(_steward(principal_of(context)), request.consent_ref)
        return steward_pb2.RevokeConsentResponse(
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id)
        )

    # -- steward review (issue 11) -------------------------------------------------------------
    def _query_reviews(self) -> QueryReviews:
        if self._reviews is None:
            raise Unavailable("this server does not hold the zone's query store")
        return self._reviews

    def ListPendingQueries(
        self, request: steward_pb2.ListPendingQueriesRequest, context: grpc.ServicerContext
    ) -> steward_pb2.ListPendingQueriesResponse:
        convert.check_fields(client_nonce=request.client_nonce)
        size = review.page_size(request.page_size, request.page_token)
        answer = self._query_reviews().pending(
            review.reviewer_caller(principal_of(context)),
            page_size=size,
            page_token=request.page_token,
            client_nonce=request.client_nonce,
        )
        return steward_pb2.ListPendingQueriesResponse(
            queries=[review.review_to_proto(r) for r in answer.value.reviews],
            next_page_token=answer.value.next_token,
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

    def GetQueryReview(
        self, request: steward_pb2.GetQueryReviewRequest, context: grpc.ServicerContext
    ) -> steward_pb2.GetQueryReviewResponse:
        convert.check_fields(client_nonce=request.client_nonce)
        answer = self._query_reviews().review(
            review.reviewer_caller(principal_of(context)),
            review.checked_query_id(request.query_id),
            client_nonce=request.client_nonce,
        )
        return steward_pb2.GetQueryReviewResponse(
            review=review.review_to_proto(answer.value),
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

    def ApproveQuery(
        self, request: steward_pb2.ApproveQueryRequest, context: grpc.ServicerContext
    ) -> steward_pb2.ApproveQueryResponse:
        convert.check_fields(client_nonce=request.client_nonce)
        query_id = review.checked_query_id(request.query_id)
        asked = review.asked_conditions(request.conditions)
        answer = self._query_reviews().approve(
            review.reviewer_caller(principal_of(context)),
            query_id,
            asked,
            client_nonce=request.client_nonce,
        )
        decision = answer.value
        response = steward_pb2.ApproveQueryResponse(
            status=review.STATUS[decision.status],
            approvals=decision.approvals,
            approvals_needed=decision.approvals_needed,
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )
        if decision.conditions is not None:
            response.conditions.CopyFrom(review.conditions_to_proto(decision.conditions))
        return response

    def RejectQuery(
        self, request: steward_pb2.RejectQueryRequest, context: grpc.ServicerContext
    ) -> steward_pb2.RejectQueryResponse:
        convert.check_fields(client_nonce=request.client_nonce)
        query_id = review.checked_query_id(request.query_id)
        answer = self._query_reviews().reject(
            review.reviewer_caller(principal_of(context)),
            query_id,
            review.checked_reason(request.reason),
            client_nonce=request.client_nonce,
        )
        return steward_pb2.RejectQueryResponse(
            status=review.STATUS[answer.value.status],
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

    # -- model cards (issue 12) ----------------------------------------------------------------
    def _model_cards(self) -> ModelCards:
        if self._cards is None:
            raise Unavailable("this server does not hold the zone's model registry")
        return self._cards

    def ListPendingModels(
        self, request: steward_pb2.ListPendingModelsRequest, context: grpc.ServicerContext
    ) -> steward_pb2.ListPendingModelsResponse:
        answer = self._model_cards().pending(review.reviewer_caller(principal_of(context)))
        return steward_pb2.ListPendingModelsResponse(
            models=[models.model_info_to_proto(view) for view in answer.value],
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )

    def AttestModel(
        self, request: steward_pb2.AttestModelRequest, context: grpc.ServicerContext
    ) -> steward_pb2.AttestModelResponse:
        convert.check_fields(partner=request.organization)
        if not request.organization:
            raise InvalidRequest("organization", "required: the partner that registered it")
        model_id, version = models.checked_model(request.model_id, request.version)
        if not request.HasField("attestation"):
            raise InvalidRequest("attestation", "required")
        answer = self._model_cards().attest(
            review.reviewer_caller(principal_of(context)),
            request.organization,
            model_id,
            version,
            models.attestation_from_proto(request.attestation),
        )
        return steward_pb2.AttestModelResponse(
            model=models.model_info_to_proto(answer.value),
            receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id),
        )


def raw_public_key(key: object) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)  # type: ignore[attr-defined, no-any-return]
