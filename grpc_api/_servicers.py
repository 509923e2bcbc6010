# ruff: noqa: N802 (method names are the RPC names of the generated base classes)
"""The servicers: proto → domain → proto, plus the purpose check against the token.

Every refusal goes through the one status table (:mod:`grpc_api._status`). A refusal made
here, before the zone has logged the request (a malformed field, a purpose not granted), is
logged through :meth:`Guard.refused` first; the zone logs its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import grpc
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.transparency import Receipt
from dataward.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    eligibility_pb2,
    eligibility_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
    steward_pb2,
    steward_pb2_grpc,
)
from enclave.person_checks import Caller, PersonChecks
from grpc_api import _convert as convert
from grpc_api._guard import Guard, principal_of
from grpc_api._status import abort, refusal_for
from grpc_api._tokens import Principal
from grpc_api.errors import ApiError, PermissionRefused, TooManyItems, Unavailable

__all__ = [
    "AuditServicer",
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


_CHECK = "/dataward.v1.EligibilityService/Check"
_BATCH = "/dataward.v1.EligibilityService/CheckBatch"
_VERIFY = "/dataward.v1.IdentityService/Verify"
_GRANT = "/dataward.v1.StewardService/GrantConsent"
_REVOKE = "/dataward.v1.StewardService/RevokeConsent"


def _caller(principal: Principal, purpose: str | None = None) -> Caller:
    if purpose is not None and not principal.has_purpose(purpose):
        raise PermissionRefused("the app is not granted this purpose", reason="PURPOSE_NOT_GRANTED")
    return Caller(principal.client_id, principal.organization)


class EligibilityServicer(eligibility_pb2_grpc.EligibilityServiceServicer):
    def __init__(self, checks: PersonChecks, guard: Guard, max_batch_items: int) -> None:
        self._checks = checks
        self._guard = guard
        self._max_batch_items = max_batch_items

    def _one(
        self, request: eligibility_pb2.CheckRequest, principal: Principal, method: str
    ) -> eligibility_pb2.CheckResponse:
        purpose = ""
        try:
            query = convert.eligibility_query(request)
            purpose = query.purpose
            caller = _caller(principal, query.purpose)
        except ApiError as exc:
            raise self._guard.refused(method, principal, purpose, exc)  # noqa: B904
        answer = self._checks.check_eligibility(caller, query)
        return convert.decision_to_proto(answer.value, answer.receipt, request_id=answer.request_id)

    def Check(
        self, request: eligibility_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> eligibility_pb2.CheckResponse:
        try:
            return self._one(request, principal_of(context), _CHECK)
        except Exception as exc:
            abort(context, exc)

    def CheckBatch(
        self,
        request_iterator: Iterator[eligibility_pb2.CheckBatchRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[eligibility_pb2.CheckBatchResponse]:
        # Each item is admitted like a unary call (token expiry and revocation, scope, one
        # rate-limit token, deadline); a refused admission ends the stream with its status.
        for index, item in enumerate(request_iterator):
            if index >= self._max_batch_items:
                too_many = TooManyItems(self._max_batch_items)
                abort(context, self._guard.refused(_BATCH, principal_of(context), "", too_many))
            try:
                principal = self._guard.admit(_BATCH, context)
            except ApiError as exc:  # logged by the guard
                abort(context, exc)
            try:
                result = self._one(item.item, principal, _BATCH)
            except Unavailable as exc:  # the refusal could not be logged: answer nothing more
                abort(context, exc)
            except Exception as exc:
                refusal = refusal_for(exc)
                yield eligibility_pb2.CheckBatchResponse(
                    index=index,
                    error=eligibility_pb2.ItemError(
                        code=refusal.code.value[0], reason=refusal.reason, message=refusal.message
                    ),
                )
            else:
                yield eligibility_pb2.CheckBatchResponse(index=index, result=result)


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, checks: PersonChecks, guard: Guard) -> None:
        self._checks = checks
        self._guard = guard

    def Verify(
        self, request: identity_pb2.VerifyRequest, context: grpc.ServicerContext
    ) -> identity_pb2.VerifyResponse:
        principal = principal_of(context)
        purpose = ""
        try:
            query = convert.identity_query(request)
            purpose = query.purpose
            caller = _caller(principal, query.purpose)
        except ApiError as exc:
            abort(context, self._guard.refused(_VERIFY, principal, purpose, exc))
        try:
            answer = self._checks.verify_identity(caller, query)
            return convert.verdict_to_proto(
                answer.value, answer.receipt, request_id=answer.request_id
            )
        except Exception as exc:
            abort(context, exc)


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, key_name: str, public_key_raw: bytes, receipts: ReceiptSource) -> None:
        self._key_name = key_name
        self._public_key = public_key_raw
        self._receipts = receipts

    def GetPublicKey(
        self, request: audit_pb2.GetPublicKeyRequest, context: grpc.ServicerContext
    ) -> audit_pb2.GetPublicKeyResponse:
        return audit_pb2.GetPublicKeyResponse(key_name=self._key_name, public_key=self._public_key)

    def GetReceipt(
        self, request: audit_pb2.GetReceiptRequest, context: grpc.ServicerContext
    ) -> audit_pb2.GetReceiptResponse:
        try:
            # Against the latest checkpoint only: a partner cannot force a signature per call.
            receipt = self._receipts.receipt(request.leaf_index, sign=False)
            return audit_pb2.GetReceiptResponse(
                receipt=convert.receipt_to_proto(receipt, request_id="")
            )
        except Exception as exc:
            abort(context, exc)

    def GetConsistencyProof(
        self, request: audit_pb2.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> audit_pb2.GetConsistencyProofResponse:
        try:
            proof = self._receipts.consistency_proof(request.old_size, request.new_size)
            return audit_pb2.GetConsistencyProofResponse(proof=proof)
        except Exception as exc:
            abort(context, exc)


class StewardServicer(steward_pb2_grpc.StewardServiceServicer):
    def __init__(self, checks: PersonChecks, guard: Guard) -> None:
        self._checks = checks
        self._guard = guard

    def GrantConsent(
        self, request: steward_pb2.GrantConsentRequest, context: grpc.ServicerContext
    ) -> steward_pb2.GrantConsentResponse:
        principal = principal_of(context)
        try:
            convert.check_fields(
                id_number=request.id_number,
                partner=request.partner,
                client_nonce=request.client_nonce,
            )
            purpose = convert.purpose_from_proto(request.purpose).value
        except ApiError as exc:
            abort(context, self._guard.refused(_GRANT, principal, "", exc))
        try:
            answer = self._checks.grant_consent(
                _caller(principal),
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
        except Exception as exc:
            abort(context, exc)

    def RevokeConsent(
        self, request: steward_pb2.RevokeConsentRequest, context: grpc.ServicerContext
    ) -> steward_pb2.RevokeConsentResponse:
        principal = principal_of(context)
        try:
            convert.check_fields(consent_ref=request.consent_ref)
        except ApiError as exc:
            abort(context, self._guard.refused(_REVOKE, principal, "", exc))
        try:
            answer = self._checks.revoke_consent(_caller(principal), request.consent_ref)
            return steward_pb2.RevokeConsentResponse(
                receipt=convert.receipt_to_proto(answer.receipt, request_id=answer.request_id)
            )
        except Exception as exc:
            abort(context, exc)


def raw_public_key(key: object) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)  # type: ignore[attr-defined, no-any-return]
