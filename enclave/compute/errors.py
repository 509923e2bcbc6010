"""Errors of the Paillier scoring core and of feature sets and the credit band (part of the
zone's one tree, :mod:`enclave.errors`; the CKKS core's are in
:mod:`enclave.compute.ckks_errors`)::

    ZoneError
    └── PaillierError                  a wiring bug (e.g. a pool of another key): INTERNAL
        ├── GmpyMissing               phe runs without gmpy2 (about 50x slower): refuse to start
        ├── PartnerKeyRefused         the partner's public key is not a 3072-bit Paillier
        │                             modulus; ``check`` names the check it failed
        │                             (WEIGHTS_INVALID)
        ├── WeightsRefused            the encrypted weights are malformed: a ciphertext outside
        │                             [1, n^2) or not coprime with n (``index``), the wrong
        │                             count, a bad exponent (WEIGHTS_INVALID)
        ├── ModelInvalid              the model's declared shape is wrong: width, noise, bounds
        ├── FeatureOutOfBounds        a feature value outside its declared bounds: a bug of the
        │                             zone's feature pipeline (INTERNAL), never the partner's
        └── ObfuscatorPoolClosed      ``take()`` on a closed pool (INTERNAL)

    ZoneError
    └── FeatureError
        ├── FeatureSetUnknown          the policy in force has no feature set of this name
        ├── ScorecardUnknown           the policy in force has no scorecard of this name
        ├── FeatureRequestInvalid      no person, or a person id that is not an integer
        ├── FeatureBatchTooLarge       more persons than one batch may hold
        ├── FeaturePersonUnknown       the registry has no such person (which one is not said)
        └── FeatureComputationFailed   the engine failed on a feature set, or a feature's SQL
                                       yielded more than one row for a person

    ZoneError
    └── ModelError                     a registry fault (INTERNAL)
        ├── ModelCardInvalid           a card's declared field is out of range (FIELD_INVALID,
        │                              ``field``)
        ├── ModelNotAttested           the model has no attestation that verifies now
        │   │                          (MODEL_NOT_ATTESTED, ``problem``: UNSIGNED, SIGNATURE,
        │   │                          EXPIRED, AUDITOR_UNKNOWN)
        │   └── AttestationInvalid     an attestation SUBMITTED (RegisterModel, AttestModel)
        │                              does not verify: the same reason, the caller's input
        ├── ModelNotFound              the organization has no model of this id and version
        ├── ModelExists                the organization registered this id and version before
        ├── ModelMismatch              the card does not fit the policy in force: no such
        │                              feature set, another number of features (or, for a
        │                              caller, another purpose)
        ├── ModelPurposeNotGranted     the card's purpose is not one the caller's app holds
        │                              (PURPOSE_NOT_GRANTED)
        ├── ModelUploadTooLarge        a part of the upload is past its limit
        │                              (MESSAGE_TOO_LARGE, ``part``)
        └── ScoreAlreadyGiven          this consent was used for a score of this model version

Public messages name the check, the feature or the index, never a value (no ciphertext, no
modulus, no feature value); the feature errors name feature sets and limits (the steward's
names), never a person id, a token or a feature value; the model errors name fields and
problem codes, never a key, a ciphertext or a consent reference.
"""

from __future__ import annotations

from typing import ClassVar

from enclave.errors import ZoneError

__all__ = [
    "ATTESTATION_PROBLEMS",
    "AttestationInvalid",
    "FeatureBatchTooLarge",
    "FeatureComputationFailed",
    "FeatureError",
    "FeatureOutOfBounds",
    "FeaturePersonUnknown",
    "FeatureRequestInvalid",
    "FeatureSetUnknown",
    "GmpyMissing",
    "ModelCardInvalid",
    "ModelError",
    "ModelExists",
    "ModelInvalid",
    "ModelMismatch",
    "ModelNotAttested",
    "ModelNotFound",
    "ModelPurposeNotGranted",
    "ModelUploadTooLarge",
    "ObfuscatorPoolClosed",
    "PaillierError",
    "PartnerKeyRefused",
    "ScoreAlreadyGiven",
    "ScorecardUnknown",
    "WeightsRefused",
]


class PaillierError(ZoneError):
    reason: ClassVar[str] = "INTERNAL"
    default_message = "Paillier compute error"


class GmpyMissing(PaillierError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "UNAVAILABLE"
    default_message = (
        "phe is running without gmpy2 (pure-Python big integers, about 50x slower); "
        "install it with `pip install gmpy2` (it needs the GMP library) and restart"
    )


class PartnerKeyRefused(PaillierError):  # noqa: N818 (API names)
    """The modulus failed ``check`` (``size``, ``odd``, ``small_factor``, ``perfect_power``,
    ``prime``, ``type``, ``proof``)."""

    reason: ClassVar[str] = "WEIGHTS_INVALID"

    def __init__(self, check: str, problem: str) -> None:
        self.check = check
        super().__init__(f"the partner's Paillier public key is refused ({check}): {problem}")


class WeightsRefused(PaillierError):  # noqa: N818 (API names)
    """``index`` is the weight's position (None when the problem is the whole set);
    ``check`` the rule broken (``range``, ``coprime``, ``size``, ``count``, ``exponent``)."""

    reason: ClassVar[str] = "WEIGHTS_INVALID"

    def __init__(self, problem: str, index: int | None = None, *, check: str = "weights") -> None:
        self.index = index
        self.check = check
        where = "" if index is None else f" (weight {index})"
        super().__init__(f"the encrypted weights are refused{where}: {problem}")


class ModelInvalid(PaillierError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "FIELD_INVALID"

    def __init__(self, problem: str) -> None:
        super().__init__(f"the scoring model is invalid: {problem}")


class FeatureOutOfBounds(PaillierError):  # noqa: N818 (API names)
    """Feature ``name`` (position ``index``) is outside ``[low, high]`` or not an integer; the
    value itself is never in the message."""

    reason: ClassVar[str] = "INTERNAL"

    def __init__(self, name: str, index: int, low: int, high: int) -> None:
        self.name, self.index, self.low, self.high = name, index, low, high
        super().__init__(
            f"feature {name!r} (position {index}) is not an integer in its declared "
            f"bounds [{low}, {high}]"
        )


class ObfuscatorPoolClosed(PaillierError):  # noqa: N818 (API names)
    default_message = "the obfuscator pool is closed"


class FeatureError(ZoneError):
    reason: ClassVar[str] = "INTERNAL"
    default_message = "feature computation error"


class FeatureSetUnknown(FeatureError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "NOT_FOUND"

    def __init__(self, feature_set: str) -> None:
        self.feature_set = feature_set
        super().__init__("the policy in force has no feature set of this name")


class ScorecardUnknown(FeatureError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "NOT_FOUND"

    def __init__(self, scorecard: str) -> None:
        self.scorecard = scorecard
        super().__init__("the policy in force has no scorecard of this name")


class FeatureRequestInvalid(FeatureError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "FIELD_INVALID"
    default_message = "give at least one person, each by the registry's integer person id"


class FeatureBatchTooLarge(FeatureError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "BATCH_TOO_LARGE"

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"a batch holds at most {limit} persons")


class FeaturePersonUnknown(FeatureError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "NOT_FOUND"

    def __init__(self, unknown: int = 1) -> None:
        self.unknown = unknown
        super().__init__(
            "the registry has no person for this request"
            if unknown == 1
            else f"the registry has no person for {unknown} of the request's persons"
        )


class FeatureComputationFailed(FeatureError):  # noqa: N818 (API names)
    """The engine failed (``problem`` is its error's class name or the rule broken), never
    the partner's request: a limit reached or a feature's SQL that does not hold its
    contract."""

    reason: ClassVar[str] = "INTERNAL"

    def __init__(self, feature_set: str, problem: str) -> None:
        self.feature_set = feature_set
        self.problem = problem
        super().__init__(f"computing feature set {feature_set!r} failed: {problem}")


class ModelError(ZoneError):
    reason: ClassVar[str] = "INTERNAL"
    default_message = "model registry error"


class ModelCardInvalid(ModelError):  # noqa: N818 (API names)
    """The card's ``field`` is out of range (:meth:`dataward.compute.ModelCard.problems`)."""

    reason: ClassVar[str] = "FIELD_INVALID"

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"the model card's {field} is invalid: {problem}")


#: The problems of an attestation, in the order they are checked.
ATTESTATION_PROBLEMS = ("UNSIGNED", "AUDITOR_UNKNOWN", "SIGNATURE", "EXPIRED")
_NOT_ATTESTED = {
    "UNSIGNED": "the model card has no auditor's attestation",
    "AUDITOR_UNKNOWN": "the attestation's auditor is not one the policy in force lists",
    "SIGNATURE": "the attestation's signature does not verify for this model card",
    "EXPIRED": "the attestation has expired",
}


class ModelNotAttested(ModelError):  # noqa: N818 (API names)
    """No attestation of the model verifies now; ``problem`` is one of
    :data:`ATTESTATION_PROBLEMS`."""

    reason: ClassVar[str] = "MODEL_NOT_ATTESTED"

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"{_NOT_ATTESTED.get(problem, 'the model is not attested')} ({problem})")


class AttestationInvalid(ModelNotAttested):
    """An attestation the caller submitted does not verify (its input, not the model's
    state: INVALID_ARGUMENT at the boundary, the same reason and ``problem``)."""


class ModelNotFound(ModelError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "MODEL_NOT_FOUND"
    default_message = "no model of this organization has this id and version"


class ModelExists(ModelError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "MODEL_EXISTS"
    default_message = (
        "this organization registered a model of this id and version before: register a new version"
    )


class ModelMismatch(ModelError):  # noqa: N818 (API names)
    """The card does not fit: ``problem`` says what (a message of names and counts)."""

    reason: ClassVar[str] = "MODEL_MISMATCH"

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"the model does not fit: {problem}")


class ModelPurposeNotGranted(ModelError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "PURPOSE_NOT_GRANTED"
    default_message = "the app is not granted the model card's purpose"


class ModelUploadTooLarge(ModelError):  # noqa: N818 (API names)
    """``part`` (``public_key``, ``weight_ciphertext``) is past ``limit`` (bytes, or for
    ``weight_ciphertexts`` a count)."""

    reason: ClassVar[str] = "MESSAGE_TOO_LARGE"

    def __init__(self, part: str, limit: int, unit: str = "bytes") -> None:
        self.part, self.limit = part, limit
        super().__init__(f"the model's {part} is past its limit of {limit} {unit}")


class ScoreAlreadyGiven(ModelError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "SCORE_ALREADY_GIVEN"
    default_message = (
        "this consent was already used for a score under this model version: one score per "
        "consent and model version"
    )
