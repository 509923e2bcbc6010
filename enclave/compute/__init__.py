"""Compute under encryption on zone data (issue 12; DESIGN.md, "Homomorphic compute"): the
partner's keys always stay with the partner, the zone never holds a secret key.

CKKS (TenSEAL, N=8192, coefficient moduli [60, 40, 40, 60], scale 2^40): a partner's
uploaded public context and weight ciphertexts are validated (:func:`load_public_context`,
:func:`load_ciphertext`), and :class:`CkksBatchScorer` scores a batch of up to 4096 persons
column-packed, one slot per person, only consented persons' slots filled, by slot-wise
multiply-by-plaintext and add only. The encrypted face match (issue 13,
:func:`match_face`: :func:`load_face_match_context` with Galois keys required,
:func:`face_match` answering one blinded value in every slot) is the one place that rotates,
over the full width. :class:`CkksWorkers` runs it in worker processes (one
TenSEAL context per process, a model's bytes sent once per worker, each worker's address
space capped; a worker that dies or passes the timeout is replaced: :class:`CkksWorkerFailed`,
:class:`CkksWorkerTimeout`), :class:`LocalCkks` in the calling process. Its errors are in
:mod:`enclave.compute.ckks_errors`.

Paillier (phe with gmpy2, 3072-bit keys): :class:`PaillierScorer` computes one person's
score under a partner's key (:class:`PartnerKey`, validated) from the partner's
:class:`EncryptedWeights` (one exponent for the model) and the person's bounded integer
features (:class:`FeatureBound`, the same feature set as CKKS), with a fixed exponent, every
bit above the model's declared width masked, the policy's low-bit noise added and a fresh
obfuscator from an :class:`ObfuscatorPool`; it answers a :class:`PaillierScore` of plain
integers, never a phe object. The partner decodes it with
:func:`dataward.compute.decode_score`. Its errors are in :mod:`enclave.compute.errors`.

Feature sets: :class:`FeatureComputer` computes a policy's feature set (``Policy.feature_sets``)
for one person or a batch on the live dataset version, each a :class:`FeatureVector` of ints
within the declared bounds, coarsened -- values that never leave the zone in clear
(:func:`feature_bounds` gives the set's bounds as the scorers' :class:`FeatureBound`\\ s). The
zone-owned credit evaluation: :class:`CreditEvaluator` bands persons by a policy's scorecard
(``Policy.scorecards``); only a :class:`CreditBand` (the band A-E and the policy version)
leaves. Their errors are :class:`FeatureError`\\ s, in :mod:`enclave.compute.errors` too.

Model cards: :class:`ModelRegistry` (``ZONE/state/models.db``) stores a partner's
:class:`dataward.compute.ModelCard` once its fields, its feature set in the policy in force
and its key and ciphertexts (the cores above) hold up, with auditors' :class:`Attestation`\\ s
(Ed25519 over :func:`dataward.compute.attestation_message`, the auditors the policy lists:
``Policy.auditors``; :func:`attestation_problem`). :meth:`ModelRegistry.scorable` re-verifies
the attestation over the digest recomputed from the stored bytes at every call (a
:class:`RegisteredModel`'s :class:`ModelStatus`: PENDING_ATTESTATION, ATTESTED, LAPSED), and
:meth:`ModelRegistry.claim_score` keeps one score per consent and model version.
:class:`ModelCards` serves ``RegisterModel`` (an upload of :data:`UploadPart`\\ s, checked and
bounded while read), ``GetModel``, ``ListPendingModels`` and ``AttestModel`` as audited
answers (:class:`ModelAnswer`). Their errors are :class:`ModelError`\\ s, in
:mod:`enclave.compute.errors` too.

The credit band is served as a person-level answer (consent, release leaf, receipt) by
:meth:`enclave.persons.PersonChecks.credit_band` (``ComputeService.CreditBand``), the
encrypted scores by ``PersonChecks.paillier_score`` and ``ckks_batch_score`` over a scorable
model of the registry.
"""

from enclave.compute._attest import Attestation, attestation_problem
from enclave.compute._cards import (
    MAX_KEY_CHUNK_BYTES,
    CardHeader,
    CardTrail,
    KeyChunk,
    ModelAnswer,
    ModelCards,
    ModelView,
    UploadPart,
    WeightCiphertext,
)
from enclave.compute._ckks import (
    CKKS_COEFF_MODULUS_BITS,
    CKKS_POLY_MODULUS_DEGREE,
    CKKS_SCALE,
    CKKS_SLOTS,
    CkksBatchScorer,
    CkksCiphertext,
    CkksContext,
    CkksLimits,
    FeatureBound,
    load_ciphertext,
    load_public_context,
)
from enclave.compute._credit import CreditBand, CreditEvaluator
from enclave.compute._facematch import (
    FACE_MATCH_LIMITS,
    FaceBlinding,
    face_match,
    load_face_match_context,
    match_face,
    screen_face_match,
)
from enclave.compute._features import (
    DEFAULT_FEATURE_LIMITS,
    MAX_BATCH_PERSONS,
    DatasetFiles,
    FeatureComputer,
    FeatureVector,
    feature_bounds,
)
from enclave.compute._key import KEY_BITS, SMALL_FACTOR_BOUND, PartnerKey, require_gmpy2
from enclave.compute._local import LocalCkks
from enclave.compute._models import ModelRegistry, ModelStatus, RegisteredModel
from enclave.compute._paillier import (
    EXPONENT_LIMIT,
    NOISE_LIMIT,
    EncryptedWeights,
    PaillierScore,
    PaillierScorer,
)
from enclave.compute._pool import ObfuscatorPool, PoolStats, fresh_obfuscator
from enclave.compute._workers import DEFAULT_WORKER_MEMORY, CkksWorkers
from enclave.compute.ckks_errors import (
    CiphertextInvalid,
    CkksBatchTooLarge,
    CkksError,
    CkksWorkerFailed,
    CkksWorkerTimeout,
    ContextInvalid,
    FeaturesInvalid,
)
from enclave.compute.errors import (
    ATTESTATION_PROBLEMS,
    AttestationInvalid,
    FeatureBatchTooLarge,
    FeatureComputationFailed,
    FeatureError,
    FeatureOutOfBounds,
    FeaturePersonUnknown,
    FeatureRequestInvalid,
    FeatureSetUnknown,
    GmpyMissing,
    ModelCardInvalid,
    ModelError,
    ModelExists,
    ModelInvalid,
    ModelMismatch,
    ModelNotAttested,
    ModelNotFound,
    ModelPurposeNotGranted,
    ModelUploadTooLarge,
    ObfuscatorPoolClosed,
    PaillierError,
    PartnerKeyRefused,
    ScoreAlreadyGiven,
    ScorecardUnknown,
    WeightsRefused,
)

__all__ = [
    "ATTESTATION_PROBLEMS",
    "CKKS_COEFF_MODULUS_BITS",
    "CKKS_POLY_MODULUS_DEGREE",
    "CKKS_SCALE",
    "CKKS_SLOTS",
    "DEFAULT_FEATURE_LIMITS",
    "DEFAULT_WORKER_MEMORY",
    "EXPONENT_LIMIT",
    "FACE_MATCH_LIMITS",
    "KEY_BITS",
    "MAX_BATCH_PERSONS",
    "MAX_KEY_CHUNK_BYTES",
    "NOISE_LIMIT",
    "SMALL_FACTOR_BOUND",
    "Attestation",
    "AttestationInvalid",
    "CardHeader",
    "CardTrail",
    "CiphertextInvalid",
    "CkksBatchScorer",
    "CkksBatchTooLarge",
    "CkksCiphertext",
    "CkksContext",
    "CkksError",
    "CkksLimits",
    "CkksWorkerFailed",
    "CkksWorkerTimeout",
    "CkksWorkers",
    "ContextInvalid",
    "CreditBand",
    "CreditEvaluator",
    "DatasetFiles",
    "EncryptedWeights",
    "FaceBlinding",
    "FeatureBatchTooLarge",
    "FeatureBound",
    "FeatureComputationFailed",
    "FeatureComputer",
    "FeatureError",
    "FeatureOutOfBounds",
    "FeaturePersonUnknown",
    "FeatureRequestInvalid",
    "FeatureSetUnknown",
    "FeatureVector",
    "FeaturesInvalid",
    "GmpyMissing",
    "KeyChunk",
    "LocalCkks",
    "ModelAnswer",
    "ModelCardInvalid",
    "ModelCards",
    "ModelError",
    "ModelExists",
    "ModelInvalid",
    "ModelMismatch",
    "ModelNotAttested",
    "ModelNotFound",
    "ModelPurposeNotGranted",
    "ModelRegistry",
    "ModelStatus",
    "ModelUploadTooLarge",
    "ModelView",
    "ObfuscatorPool",
    "ObfuscatorPoolClosed",
    "PaillierError",
    "PaillierScore",
    "PaillierScorer",
    "PartnerKey",
    "PartnerKeyRefused",
    "PoolStats",
    "RegisteredModel",
    "ScoreAlreadyGiven",
    "ScorecardUnknown",
    "UploadPart",
    "WeightCiphertext",
    "WeightsRefused",
    "attestation_problem",
    "face_match",
    "feature_bounds",
    "fresh_obfuscator",
    "load_ciphertext",
    "load_face_match_context",
    "load_public_context",
    "match_face",
    "require_gmpy2",
    "screen_face_match",
]
