"""Model cards as audited answers (issue 12): ``ComputeService.RegisterModel`` and
``GetModel`` for a partner, ``StewardService.ListPendingModels`` and ``AttestModel`` for a
steward. :class:`ModelCards` runs each call through the release skeleton
(:class:`enclave.release.Releaser`) under one snapshot of the policy in force: the checks,
then a refusal logged with its request in one commit, or the release of
:func:`dataward.receipts.model_fields` with its receipt (request, decision and release in one
commit) -- a registration and an attestation make their request leaf durable first
(:meth:`Releaser.log_now`), before the registry stores anything.
An attestation is also a ``steward_action`` leaf naming the steward, durable before the
attestation is stored.

An upload is a sequence of parts (:data:`UploadPart`): the card's declared fields
(:class:`CardHeader`) first and once, then the public key in chunks, then one ciphertext per
weight, then optionally the attestation. Anything else is :class:`ModelCardInvalid` naming the
part; the limits (:class:`CkksLimits`: the key at most ``context_bytes``, each ciphertext at
most ``ciphertext_bytes``, a key chunk at most :data:`MAX_KEY_CHUNK_BYTES`, at most
``weight_count`` ciphertexts) hold WHILE reading, so nothing is buffered past them
(:class:`ModelUploadTooLarge`). The declared fields, the purpose (one the caller's app holds:
:class:`ModelPurposeNotGranted`) and the feature set (:class:`ModelMismatch`) are checked as
soon as the header arrives, before the key and weights are read.

A partner sees its own organization's models only (another's is :class:`ModelNotFound`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, NoReturn, Protocol, TypeVar

from dataward import receipts
from dataward.compute import ModelCard
from dataward.transparency import Receipt
from enclave.compute._attest import Attestation
from enclave.compute._ckks import CkksLimits
from enclave.compute._models import ModelRegistry, ModelStatus, RegisteredModel
from enclave.compute.ckks_errors import CiphertextInvalid, CkksError, ContextInvalid
from enclave.compute.errors import (
    ModelCardInvalid,
    ModelError,
    ModelMismatch,
    ModelPurposeNotGranted,
    ModelUploadTooLarge,
    PaillierError,
)
from enclave.errors import ZoneError
from enclave.release import AuditTrail, Caller, Releaser, Request, answers
from policies import Policy

__all__ = [
    "MAX_KEY_CHUNK_BYTES",
    "CardHeader",
    "CardTrail",
    "KeyChunk",
    "ModelAnswer",
    "ModelCards",
    "ModelView",
    "PolicySource",
    "UploadPart",
    "WeightCiphertext",
]

MAX_KEY_CHUNK_BYTES = 1 << 20
"""The largest chunk of a public key one message carries (1 MiB)."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class CardHeader:
    """A card's declared fields: everything but the key and the ciphertexts."""

    model_id: str
    version: int
    feature_set: str
    weight_count: int
    output_bits: int
    purpose: str
    scheme: str
    exponent: int


@dataclass(frozen=True)
class KeyChunk:
    data: bytes


@dataclass(frozen=True)
class WeightCiphertext:
    data: bytes


UploadPart = CardHeader | KeyChunk | WeightCiphertext | Attestation


@dataclass(frozen=True)
class ModelView:
    """A model as an answer reports it: the stored model and its status under the policy in
    force now."""

    model: RegisteredModel
    status: ModelStatus

    @property
    def public_key_sha256(self) -> bytes:
        return hashlib.sha256(self.model.card.public_key).digest()


@dataclass(frozen=True)
class ModelAnswer(Generic[_T]):
    value: _T
    receipt: Receipt
    request_id: str


class PolicySource(Protocol):
    def current(self) -> Policy: ...


class CardTrail(AuditTrail, Protocol):
    """The release skeleton's trail, plus the ``steward_action`` leaf of an attestation."""

    def steward_action(self, *, steward: str, action: str, target: str, detail: str) -> None:
        """Log the action (durable on return)."""


_REFUSALS = (ModelError, PaillierError, CkksError)


@dataclass(frozen=True)
class _Call:
    policy: Policy
    release: Releaser
    request: Request

    def refuse(self, refusal: ZoneError) -> NoReturn:
        self.release.refuse(self.request, refusal)


class ModelCards:
    """The zone's side of the model-card calls (see the module docstring)."""

    def __init__(
        self,
        registry: ModelRegistry,
        policies: PolicySource,
        audit: CardTrail,
        *,
        limits: CkksLimits | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._registry = registry
        self._policies = policies
        self._audit = audit
        self._limits = limits or CkksLimits()
        self._clock = clock

    def _begin(self, caller: Caller, method: str) -> _Call:
        policy = self._policies.current()  # one snapshot for the whole answer
        release = Releaser(self._audit, policy.version)
        return _Call(policy, release, release.begin(caller, method))

    def _released(
        self, call: _Call, model: RegisteredModel, now: dt.datetime
    ) -> ModelAnswer[ModelView]:
        view = ModelView(model, model.status(call.policy.auditors, now))
        fields = receipts.model_fields(
            organization=model.organization,
            model_id=model.card.model_id,
            version=model.card.version,
            status=view.status.value,
            card_digest=model.digest,
        )
        receipt = call.release.release(call.request, fields)
        return ModelAnswer(view, receipt, call.request.request_id)

    # -- partner ------------------------------------------------------------------------------
    @answers
    def register(self, caller: Caller, parts: Iterable[UploadPart]) -> ModelAnswer[ModelView]:
        """Register the card the ``parts`` upload (consumed here; the request leaf is durable
        before the registry stores it) for the caller's organization; its status is ATTESTED
        if an attestation came with it."""
        call = self._begin(caller, receipts.COMPUTE_REGISTER_MODEL)
        try:
            card, attestation = self._assemble(call.policy, caller, parts)
            now = self._clock()
            call.release.log_now(call.request)  # the registration is durable: its request first
            model = self._registry.register(
                caller.organization,
                card,
                attestation,
                feature_sets=call.policy.feature_sets,
                auditors=call.policy.auditors,
                now=now,
            )
        except _REFUSALS as refused:
            call.refuse(refused)
        return self._released(call, model, now)

    @answers
    def get(self, caller: Caller, model_id: str, version: int) -> ModelAnswer[ModelView]:
        """One of the caller's organization's models; :class:`ModelNotFound` otherwise."""
        call = self._begin(caller, receipts.COMPUTE_GET_MODEL)
        try:
            model = self._registry.get(caller.organization, model_id, version)
        except ModelError as refused:
            call.refuse(refused)
        return self._released(call, model, self._clock())

    # -- steward ------------------------------------------------------------------------------
    @answers
    def pending(self, caller: Caller) -> ModelAnswer[tuple[ModelView, ...]]:
        """Every model never attested, oldest first (any organization's: the steward's)."""
        call = self._begin(caller, receipts.MODELS_LIST_PENDING)
        now = self._clock()
        views = tuple(
            ModelView(m, m.status(call.policy.auditors, now)) for m in self._registry.pending()
        )
        fields = receipts.model_list_fields(
            models=[
                f"{v.model.organization}/{v.model.card.model_id}/{v.model.card.version}"
                for v in views
            ]
        )
        receipt = call.release.release(call.request, fields)
        return ModelAnswer(views, receipt, call.request.request_id)

    @answers
    def attest(
        self,
        caller: Caller,
        organization: str,
        model_id: str,
        version: int,
        attestation: Attestation,
    ) -> ModelAnswer[ModelView]:
        """Attach ``attestation`` to the model once it verifies over the stored card under the
        policy in force's auditors (:class:`AttestationInvalid`, :class:`ModelNotFound`); a
        ``steward_action`` leaf names the steward, durable before the attestation is."""
        call = self._begin(caller, receipts.MODELS_ATTEST)
        call.release.log_now(call.request)  # its steward_action and the attestation follow
        steward = caller.subject or caller.client_id
        now = self._clock()

        def record() -> None:
            self._audit.steward_action(
                steward=steward,
                action="attest_model",
                target=f"{organization}/{model_id}/{version}",
                detail=f"{call.request.request_id}/{attestation.auditor}",
            )

        try:
            model = self._registry.attest(
                organization,
                model_id,
                version,
                attestation,
                auditors=call.policy.auditors,
                now=now,
                record=record,
            )
        except ModelError as refused:
            call.refuse(refused)
        return self._released(call, model, now)

    # -- the upload ---------------------------------------------------------------------------
    def _assemble(
        self, policy: Policy, caller: Caller, parts: Iterable[UploadPart]
    ) -> tuple[ModelCard, Attestation | None]:
        header: CardHeader | None = None
        key = bytearray()
        weights: list[bytes] = []
        attestation: Attestation | None = None
        limits = self._limits
        for part in parts:
            if header is None:
                if not isinstance(part, CardHeader):
                    raise ModelCardInvalid("card", "the first message must be the card")
                header = part
                self._check_header(policy, caller, header)
                continue
            if attestation is not None:
                raise ModelCardInvalid("attestation", "the attestation comes last, once")
            if isinstance(part, CardHeader):
                raise ModelCardInvalid("card", "the card comes once, first")
            if isinstance(part, KeyChunk):
                if weights:
                    raise ModelCardInvalid(
                        "public_key_chunk", "the public key comes before the weight ciphertexts"
                    )
                if len(part.data) > MAX_KEY_CHUNK_BYTES:
                    raise ModelUploadTooLarge("public_key_chunk", MAX_KEY_CHUNK_BYTES)
                if len(key) + len(part.data) > limits.context_bytes:
                    if header.scheme == "CKKS":  # the context's own rule (CONTEXT_INVALID)
                        raise ContextInvalid(
                            "TOO_LARGE", f"the limit is {limits.context_bytes} bytes"
                        )
                    raise ModelUploadTooLarge("public_key", limits.context_bytes)
                key += part.data
            elif isinstance(part, WeightCiphertext):
                if len(part.data) > limits.ciphertext_bytes:
                    if header.scheme == "CKKS":  # the ciphertext's own rule (CIPHERTEXT_INVALID)
                        raise CiphertextInvalid(
                            "TOO_LARGE", f"the limit is {limits.ciphertext_bytes} bytes"
                        )
                    raise ModelUploadTooLarge("weight_ciphertext", limits.ciphertext_bytes)
                if len(weights) >= header.weight_count:
                    raise ModelUploadTooLarge(
                        "weight_ciphertexts", header.weight_count, "ciphertexts (weight_count)"
                    )
                weights.append(part.data)
            else:
                attestation = part
        if header is None:
            raise ModelCardInvalid("card", "required: the first message must be the card")
        card = ModelCard(
            model_id=header.model_id,
            version=header.version,
            feature_set=header.feature_set,
            weight_count=header.weight_count,
            output_bits=header.output_bits,
            purpose=header.purpose,
            scheme=header.scheme,
            exponent=header.exponent,
            public_key=bytes(key),
            weight_ciphertexts=tuple(weights),
        )
        return card, attestation

    def _check_header(self, policy: Policy, caller: Caller, header: CardHeader) -> None:
        """The declared fields, the purpose and the feature set, before the blobs are read."""
        provisional = ModelCard(
            **dataclasses.asdict(header), public_key=b"-", weight_ciphertexts=()
        )
        for field, problem in provisional.problems():
            if field not in ("public_key", "weight_ciphertexts"):
                raise ModelCardInvalid(field, problem)
        if caller.purposes is not None and header.purpose not in caller.purposes:
            raise ModelPurposeNotGranted()
        found = policy.feature_sets.get(header.feature_set)
        if found is None:
            raise ModelMismatch(f"the policy in force has no feature set {header.feature_set!r}")
        if len(found.features) != header.weight_count:
            raise ModelMismatch(
                f"feature set {header.feature_set!r} has {len(found.features)} features, the "
                f"card declares {header.weight_count} weights"
            )
