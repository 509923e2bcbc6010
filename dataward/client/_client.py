"""The typed client: one method per API call, typed results, typed errors, receipt checks."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dataward import receipts
from dataward.access import Purpose
from dataward.client._checkpoints import CheckpointTracker
from dataward.client._tokens import TokenSource
from dataward.client.errors import DatawardError, ReceiptInvalid, error_for, error_from_rpc
from dataward.transparency import (
    Checkpoint,
    Receipt,
    TransparencyError,
    open_checkpoint,
    verify_receipt,
)
from dataward.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    common_pb2,
    eligibility_pb2,
    eligibility_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
    steward_pb2,
    steward_pb2_grpc,
)

__all__ = [
    "BatchItem",
    "Benefit",
    "Client",
    "ConsentGrant",
    "EligibilityQuery",
    "EligibilityResult",
    "IdentityResult",
]


class Benefit(enum.StrEnum):
    OUTPATIENT = "OUTPATIENT"
    INPATIENT = "INPATIENT"
    PHARMACY = "PHARMACY"
    CHRONIC = "CHRONIC"
    MATERNITY = "MATERNITY"
    WORK_INJURY = "WORK_INJURY"


@dataclass(frozen=True)
class EligibilityQuery:
    id_number: str
    benefit: Benefit
    purpose: Purpose
    as_of: dt.date | None = None
    consent_ref: str = ""


@dataclass(frozen=True)
class EligibilityResult:
    eligible: bool
    coverage_class: str | None  # EMPLOYEE | RESIDENT
    reasons: tuple[str, ...]
    receipt: Receipt
    request_id: str = ""  # the zone's id of this answer, as logged in the release leaf
    client_nonce: str = ""  # the nonce THIS client sent (never read from the answer)


@dataclass(frozen=True)
class IdentityResult:
    id_number_valid: bool
    name_matches: bool
    registry_status: str  # ACTIVE | DECEASED | EMIGRATED | NOT_FOUND
    receipt: Receipt
    request_id: str = ""
    client_nonce: str = ""


@dataclass(frozen=True)
class BatchItem:
    index: int
    result: EligibilityResult | None
    error: DatawardError | None


@dataclass(frozen=True)
class ConsentGrant:
    consent_ref: str
    valid_until: dt.date
    receipt: Receipt
    request_id: str = ""
    client_nonce: str = ""


def _receipt(message: common_pb2.Receipt) -> Receipt:
    return Receipt(
        message.leaf_index,
        bytes(message.leaf_hash),
        message.checkpoint_note,
        tuple(bytes(p) for p in message.inclusion_proof),
        bytes(message.leaf) or None,
    )


def _release(
    result: EligibilityResult | IdentityResult | ConsentGrant,
) -> tuple[str, receipts.ResultFields]:
    """The method and result fields the zone hashed into the release of ``result``."""
    if isinstance(result, EligibilityResult):
        fields = receipts.eligibility_fields(
            eligible=result.eligible, coverage_class=result.coverage_class, reasons=result.reasons
        )
        return receipts.ELIGIBILITY_CHECK, fields
    if isinstance(result, IdentityResult):
        fields = receipts.identity_fields(
            id_number_valid=result.id_number_valid,
            name_matches=result.name_matches,
            registry_status=result.registry_status,
        )
        return receipts.IDENTITY_VERIFY, fields
    if isinstance(result, ConsentGrant):
        fields = receipts.consent_grant_fields(
            consent_ref=result.consent_ref, valid_until=result.valid_until
        )
        return receipts.GRANT_CONSENT, fields
    raise TypeError(f"not an answer with a receipt: {type(result).__name__}")


def _enum_name(wrapper: Any, value: int, prefix: str) -> str | None:
    name = str(wrapper.Name(value))
    return None if name.endswith("_UNSPECIFIED") else name.removeprefix(prefix)


def new_nonce() -> str:
    """A fresh request nonce: 32 URL-safe characters (192 random bits)."""
    return secrets.token_urlsafe(24)


def _check_request(query: EligibilityQuery, nonce: str) -> eligibility_pb2.CheckRequest:
    request = eligibility_pb2.CheckRequest(
        id_number=query.id_number,
        benefit=eligibility_pb2.Benefit.Value(f"BENEFIT_{Benefit(query.benefit).value}"),
        purpose=common_pb2.Purpose.Value(f"PURPOSE_{Purpose(query.purpose).value}"),
        consent_ref=query.consent_ref,
        client_nonce=nonce,
    )
    if query.as_of is not None:
        request.as_of.CopyFrom(
            common_pb2.Date(year=query.as_of.year, month=query.as_of.month, day=query.as_of.day)
        )
    return request


def _eligibility(response: eligibility_pb2.CheckResponse, nonce: str) -> EligibilityResult:
    reasons = tuple(
        _enum_name(eligibility_pb2.EligibilityReason, r, "ELIGIBILITY_REASON_") or ""
        for r in response.reasons
    )
    return EligibilityResult(
        response.eligible,
        _enum_name(eligibility_pb2.CoverageClass, response.coverage_class, "COVERAGE_CLASS_"),
        reasons,
        _receipt(response.receipt),
        response.receipt.request_id,
        nonce,
    )


class Client:
    """A partner's connection to the zone.

    ``target`` is ``host:port``; ``credentials`` (``grpc.ssl_channel_credentials(...)``) make
    the channel TLS (mutual TLS with a client key and certificate). Every call sends
    ``authorization: Bearer <token>`` from ``token_source``; ``timeout`` is each call's
    deadline in seconds.

    ``audit_key`` pins the zone's checkpoint key, ``(key_name, Ed25519PublicKey)``, used by
    :meth:`verify_answer`: load it out of band from the zone's published
    ``ZONE/public/zone-signing-key.pub`` with :func:`dataward.transparency.load_public_key`.
    Without it the key is fetched from the server being verified (see :meth:`audit_public_key`).

    The client keeps the largest checkpoint of the zone's log it has seen and holds every
    receipt's checkpoint to it, CT-style (:mod:`dataward.client._checkpoints`): a newer one
    must extend it, an older one must be a prefix of it, each proved by the zone
    (:meth:`consistency_proof`, scope ``audit:read``); otherwise :meth:`verify_answer` raises
    :class:`LogForked` or :class:`LogRolledBack`. ``trusted_checkpoint`` (a signed note,
    e.g. :meth:`largest_checkpoint` kept from an earlier session or ``dataward audit
    checkpoint``'s output) seeds it, so that even the first answer is held to it; it needs
    the pinned ``audit_key``.
    """

    def __init__(
        self,
        target: str,
        token_source: TokenSource,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = 10.0,
        max_message_bytes: int = 4 * 1024 * 1024,
        audit_key: tuple[str, Ed25519PublicKey] | None = None,
        trusted_checkpoint: str | None = None,
    ) -> None:
        if trusted_checkpoint is not None and audit_key is None:
            raise ValueError("a trusted checkpoint needs the pinned audit_key it was signed by")
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        self._channel = (
            grpc.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.insecure_channel(target, options=options)
        )
        self._tokens = token_source
        self._timeout = timeout
        self._eligibility = eligibility_pb2_grpc.EligibilityServiceStub(self._channel)
        self._identity = identity_pb2_grpc.IdentityServiceStub(self._channel)
        self._audit = audit_pb2_grpc.AuditServiceStub(self._channel)
        self._steward = steward_pb2_grpc.StewardServiceStub(self._channel)
        self._audit_key = audit_key
        self._checkpoints = CheckpointTracker()
        if trusted_checkpoint is not None and audit_key is not None:
            try:
                seed = open_checkpoint(trusted_checkpoint, *audit_key)
            except TransparencyError as exc:
                self._channel.close()
                raise ReceiptInvalid(f"the trusted checkpoint does not verify: {exc}") from exc
            # The tracker is empty: the seed is kept as it is, no proof is fetched.
            self._checkpoints.observe(
                audit_key[0], seed, trusted_checkpoint, self.consistency_proof
            )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self._tokens.token()}"),)

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, metadata=self._metadata(), timeout=timeout or self._timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    # -- partner calls -------------------------------------------------------------------
    def check_eligibility(
        self,
        id_number: str,
        benefit: Benefit | str,
        purpose: Purpose | str,
        *,
        as_of: dt.date | None = None,
        consent_ref: str = "",
        timeout: float | None = None,
    ) -> EligibilityResult:
        query = EligibilityQuery(id_number, Benefit(benefit), Purpose(purpose), as_of, consent_ref)
        nonce = new_nonce()
        response = self._call(self._eligibility.Check, _check_request(query, nonce), timeout)
        return _eligibility(response, nonce)

    def check_eligibility_batch(
        self, queries: Iterable[EligibilityQuery], *, timeout: float | None = None
    ) -> Iterator[BatchItem]:
        """One :class:`BatchItem` per query, in order; a refused item carries its error."""
        nonces: list[str] = []  # by item index; an answer comes after its item was sent

        def requests() -> Iterator[eligibility_pb2.CheckBatchRequest]:
            for query in queries:
                nonces.append(new_nonce())
                yield eligibility_pb2.CheckBatchRequest(item=_check_request(query, nonces[-1]))

        try:
            for response in self._eligibility.CheckBatch(
                requests(), metadata=self._metadata(), timeout=timeout or self._timeout
            ):
                if response.HasField("result"):
                    nonce = nonces[response.index] if response.index < len(nonces) else ""
                    yield BatchItem(response.index, _eligibility(response.result, nonce), None)
                else:
                    error = response.error
                    kind = _item_error(error.code, error.reason, error.message)
                    yield BatchItem(response.index, None, kind)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def verify_identity(
        self,
        id_number: str,
        name: str,
        purpose: Purpose | str,
        *,
        consent_ref: str = "",
        selfie: bytes = b"",
        timeout: float | None = None,
    ) -> IdentityResult:
        request = identity_pb2.VerifyRequest(
            id_number=id_number,
            name=name,
            purpose=common_pb2.Purpose.Value(f"PURPOSE_{Purpose(purpose).value}"),
            consent_ref=consent_ref,
            selfie=selfie,
            client_nonce=(nonce := new_nonce()),
        )
        response = self._call(self._identity.Verify, request, timeout)
        return IdentityResult(
            response.id_number_valid,
            response.name_matches,
            _enum_name(identity_pb2.RegistryStatus, response.registry_status, "REGISTRY_STATUS_")
            or "",
            _receipt(response.receipt),
            response.receipt.request_id,
            nonce,
        )

    # -- receipts ------------------------------------------------------------------------
    def audit_public_key(self) -> tuple[str, Ed25519PublicKey]:
        """The zone's checkpoint key: the pinned ``audit_key``, else fetched once from the server.

        A fetched key TRUSTS THE SERVER: a zone that serves its own key can sign whatever it
        likes, so receipts checked against it prove nothing against that server. Real assurance
        needs a pinned key (``Client(..., audit_key=...)``) loaded from the zone's published
        ``ZONE/public/zone-signing-key.pub`` with :func:`dataward.transparency.load_public_key`.
        """
        if self._audit_key is None:
            response = self._call(self._audit.GetPublicKey, audit_pb2.GetPublicKeyRequest(), None)
            key = Ed25519PublicKey.from_public_bytes(bytes(response.public_key))
            self._audit_key = (response.key_name, key)
        return self._audit_key

    def verify_receipt(
        self,
        receipt: Receipt,
        *,
        key_name: str | None = None,
        public_key: Ed25519PublicKey | None = None,
    ) -> Checkpoint:
        """Check that ``receipt``'s leaf is in the zone's signed log (key given, or as
        :meth:`audit_public_key`).

        This alone does not tie the receipt to an answer: use :meth:`verify_answer` for that.
        """
        if key_name is None or public_key is None:
            key_name, public_key = self.audit_public_key()
        try:
            return verify_receipt(receipt, key_name, public_key)
        except TransparencyError as exc:
            raise ReceiptInvalid(str(exc)) from exc

    def verify_answer(
        self, result: EligibilityResult | IdentityResult | ConsentGrant
    ) -> Checkpoint:
        """Check that ``result`` is exactly what the zone logged; one call per answer.

        Recomputes the result hash from the answer's own fields, its ``request_id`` and its
        method (:func:`dataward.receipts.result_hash`), checks it equals the ``result_hash`` of
        the release leaf the receipt carries, and checks the inclusion proof of THAT leaf
        against a checkpoint signed by the zone's key (:meth:`audit_public_key`). Then holds
        that checkpoint to the largest one seen (see the class docstring), fetching a
        consistency proof when their sizes differ. Returns the checkpoint. Raises
        :class:`ReceiptInvalid` for a receipt of another answer, an edited field, a leaf the
        proof does not cover, or a bad signature; :class:`LogForked` or :class:`LogRolledBack`
        (both ``ReceiptInvalid``) for a checkpoint that contradicts one seen before.
        """
        method, fields = _release(result)
        key_name, public_key = self.audit_public_key()
        try:
            checkpoint = receipts.verify_release(
                result.receipt,
                method=method,
                request_id=result.request_id,
                fields=fields,
                key_name=key_name,
                public_key=public_key,
                client_nonce=result.client_nonce,
            )
        except TransparencyError as exc:
            raise ReceiptInvalid(str(exc)) from exc
        note = result.receipt.checkpoint_note
        self._checkpoints.observe(key_name, checkpoint, note, self.consistency_proof)
        return checkpoint

    def consistency_proof(
        self, old_size: int, new_size: int, *, timeout: float | None = None
    ) -> list[bytes]:
        """The zone's RFC 9162 proof that its log of ``new_size`` entries extends the one of
        ``old_size`` (``AuditService.GetConsistencyProof``, scope ``audit:read``); check it
        with :func:`dataward.transparency.verify_consistency` against two signed roots.
        Raises :class:`NotFound` for a size past the zone's log."""
        request = audit_pb2.GetConsistencyProofRequest(old_size=old_size, new_size=new_size)
        response = self._call(self._audit.GetConsistencyProof, request, timeout)
        return [bytes(p) for p in response.proof]

    def largest_checkpoint(self) -> str | None:
        """The signed note of the largest checkpoint of the zone's log this client has seen
        and held every other one to (``None`` before the first): keep it, and pass it as
        ``trusted_checkpoint`` to the next client so the zone cannot roll back unseen."""
        key_name = self._audit_key[0] if self._audit_key is not None else None
        return self._checkpoints.largest(key_name) if key_name is not None else None

    # -- steward calls -------------------------------------------------------------------
    def grant_consent(
        self,
        id_number: str,
        partner: str,
        purpose: Purpose | str,
        *,
        valid_days: int = 365,
        single_use: bool = False,
    ) -> ConsentGrant:
        request = steward_pb2.GrantConsentRequest(
            id_number=id_number,
            partner=partner,
            purpose=common_pb2.Purpose.Value(f"PURPOSE_{Purpose(purpose).value}"),
            valid_days=valid_days,
            single_use=single_use,
            client_nonce=new_nonce(),
        )
        response = self._call(self._steward.GrantConsent, request, None)
        until = response.valid_until
        return ConsentGrant(
            response.consent_ref,
            dt.date(until.year, until.month, until.day),
            _receipt(response.receipt),
            response.receipt.request_id,
            request.client_nonce,
        )

    def revoke_consent(self, consent_ref: str) -> Receipt:
        request = steward_pb2.RevokeConsentRequest(consent_ref=consent_ref)
        return _receipt(self._call(self._steward.RevokeConsent, request, None).receipt)


def _item_error(code: int, reason: str, message: str) -> DatawardError:
    status = next((s for s in grpc.StatusCode if s.value[0] == code), None)
    return error_for(status, reason, message)
