"""The partner's side of encrypted scoring (issue 12): keys, model cards, the auditor's
signature, decrypting the zone's answers. The partner's secret keys never leave this module's
objects: the zone gets the public key and the encrypted weights only.

Paillier (phe with gmpy2; the zone accepts 3072-bit keys only), one person per score::

    from dataward.client import compute

    keys = compute.PaillierKeys.generate()               # seconds: keep it (save_private)
    card = compute.paillier_model_card(
        keys, model_id="loan-risk", version=1, feature_set="credit_v1",
        weights=[0.5, -1.25, ...], exponent=-4, output_bits=32, purpose="LOAN_ORIGINATION",
    )
    compute.save_card(card, "loan-risk-v1.json")          # what the auditor signs
    # ... the auditor runs `dataward compute sign-model --card loan-risk-v1.json ...`
    attestation = compute.load_attestation("loan-risk-v1.attestation.json")
    client.register_model(card, attestation)
    answer = client.paillier_score(id_number, "LOAN_ORIGINATION", "loan-risk", 1)
    score = compute.decrypt_paillier_score(keys, answer)  # a Fraction

CKKS (TenSEAL, N=8192, coefficient moduli [60, 40, 40, 60], scale 2^40, no Galois keys),
up to 4096 persons per call, approximate (about 1e-5 absolute)::

    keys = compute.CkksKeys.generate()
    card = compute.ckks_model_card(keys, model_id="loan-risk-he", version=1, ...)
    answer = client.ckks_batch_score("loan-risk-he", 1, "LOAN_ORIGINATION", id_numbers)
    scores = compute.decrypt_ckks_scores(keys, answer)    # None where a slot was not scored

**Paillier weights** are encrypted as fixed-point mantissas at the model's ONE exponent
(:func:`dataward.compute.weight_mantissa`: weight ~= mantissa * 16**exponent), each with
``raw_encrypt(mantissa % n)`` and a fresh random ``r``, 768 bytes big-endian each; the zone's
answer carries that exponent back, and :func:`decrypt_paillier_score` decodes the low
``output_bits`` bits of ``raw_decrypt`` (:func:`dataward.compute.decode_score`). The score
is exact when the score's mantissa (plus the policy's noise) fits ``output_bits`` bits,
signed; declare a wider model otherwise.

**CKKS weights**: one serialized CKKSVector per feature, the weight in all 4096 slots; the
public context is serialized WITHOUT the secret key and without Galois keys (the zone refuses
both).

**Encrypted face match** (issue 13): the partner computes a selfie's 128-d face embedding
itself (dlib's ResNet descriptor, as the zone's templates), encrypts it normalised to unit
length, zero-padded to all 4096 slots, under a context WITH Galois keys (the zone sums by
rotations; ~35 MB public); the zone answers every slot holding
``y = s*(cosine - tau) + r*(|q|^2 - 1)`` with fresh blinding, so only the sign means
anything::

    keys = compute.FaceMatchKeys.generate()               # ~2 s; reuse for many matches
    answer = client.encrypted_face_match(
        id_number, "IDENTITY_VERIFICATION",
        context=keys.public_context_bytes(), query=keys.encrypt_embedding(embedding),
    )
    compute.face_match_result(keys, answer).matched       # True: cosine > tau

**Model cards** (:class:`dataward.compute.ModelCard`) are what the auditor attests:
:func:`save_card` writes a JSON file (format :data:`CARD_FORMAT`, base64 blobs, the digest
in hex for the auditor to read); :func:`load_card` refuses a malformed file, or one whose
stated digest is not the recomputed one, with :class:`CardFileInvalid` (a ``ValueError``).
:func:`sign_card` is the auditor's Ed25519 signature over
:func:`dataward.compute.attestation_message`; :func:`save_attestation` /
:func:`load_attestation` carry it back to the partner as JSON.

**Secret keys on disk**: :meth:`PaillierKeys.save_private` and :meth:`CkksKeys.save_secret`
write a new file with mode 0600 and refuse to overwrite one; nothing here logs or prints a
key. Every bad input is a ``ValueError`` saying which.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import phe
import tenseal as ts
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dataward.access import Purpose
from dataward.client._attestation import (
    ATTESTATION_FORMAT,
    CardFileInvalid,
    parse_attestation,
)
from dataward.client._attestation import (
    attestation_of as _attestation_of,
)
from dataward.client._attestation import (
    unb64 as _unb64,
)
from dataward.client._scoring import ModelAttestation
from dataward.compute import (
    ModelCard,
    attestation_message,
    decode_score,
    paillier_public_key,
    weight_mantissa,
)

__all__ = [
    "ATTESTATION_FORMAT",
    "CARD_FORMAT",
    "CKKS_COEFF_MODULUS_BITS",
    "CKKS_POLY_MODULUS_DEGREE",
    "CKKS_SCALE",
    "CKKS_SLOTS",
    "PAILLIER_KEY_BITS",
    "CardFileInvalid",
    "CkksAnswer",
    "CkksKeys",
    "FaceMatchKeys",
    "FaceMatchResult",
    "ModelAttestation",
    "PaillierAnswer",
    "PaillierKeys",
    "ckks_model_card",
    "decrypt_ckks_scores",
    "decrypt_paillier_score",
    "face_match_result",
    "load_attestation",
    "load_card",
    "paillier_model_card",
    "parse_attestation",
    "save_attestation",
    "save_card",
    "sign_card",
    "verify_attestation",
]

PAILLIER_KEY_BITS = 3072
"""The only Paillier modulus size the zone accepts."""

CKKS_POLY_MODULUS_DEGREE = 8192
CKKS_COEFF_MODULUS_BITS = (60, 40, 40, 60)
CKKS_SCALE = 2.0**40
CKKS_SLOTS = CKKS_POLY_MODULUS_DEGREE // 2

CARD_FORMAT = "dataward-model-card/1"
_PAILLIER_KEY_FORMAT = "dataward-paillier-private-key/1"
_MAX_CARD_FILE_BYTES = 200_000_000  # a CKKS card: a 40 MB context and 4096 x 1 MB at most


# -- keys -------------------------------------------------------------------------------------
def _write_secret(path: str | os.PathLike[str], data: bytes) -> None:
    """A NEW file, mode 0600 from its creation (never widened, never an existing file)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        message = f"{os.fspath(path)} exists; a key file is never overwritten"
        raise FileExistsError(message) from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


@dataclass(frozen=True, eq=False)
class PaillierKeys:
    """A partner's Paillier key pair (phe). ``repr`` shows the modulus size only."""

    public: phe.PaillierPublicKey = field(repr=False)
    private: phe.PaillierPrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if self.private.public_key.n != self.public.n:
            raise ValueError("the private key is not the public key's")

    def __repr__(self) -> str:
        return f"PaillierKeys(bits={self.public.n.bit_length()})"

    @classmethod
    def generate(cls, bits: int = PAILLIER_KEY_BITS) -> PaillierKeys:
        """A fresh key pair (phe; a few seconds at 3072 bits). The zone accepts 3072 only."""
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1024 or bits % 8:
            raise ValueError("bits must be a multiple of 8 from 1024 (the zone accepts 3072)")
        public, private = phe.generate_paillier_keypair(n_length=bits)
        return cls(public, private)

    @property
    def key_bytes(self) -> int:
        """The width of the modulus in bytes (384 at 3072 bits); a ciphertext is twice that."""
        n: int = self.public.n
        return (n.bit_length() + 7) // 8

    def public_key_bytes(self) -> bytes:
        """The card's public key: the modulus ``n`` big-endian, :attr:`key_bytes` wide,
        followed by the proof that ``gcd(n, phi(n)) = 1`` the zone requires
        (:func:`dataward.compute.paillier_public_key`)."""
        return paillier_public_key(self.public.n, self.private.p, self.private.q)

    def save_private(self, path: str | os.PathLike[str]) -> None:
        """Write the private key (``p``, ``q``) to a NEW file with mode 0600."""
        document = {
            "format": _PAILLIER_KEY_FORMAT,
            "n": str(self.public.n),
            "p": str(self.private.p),
            "q": str(self.private.q),
        }
        _write_secret(path, json.dumps(document).encode("ascii"))

    @classmethod
    def load_private(cls, path: str | os.PathLike[str]) -> PaillierKeys:
        """The key pair :meth:`save_private` wrote; ``ValueError`` for anything else."""
        try:
            document = json.loads(Path(path).read_bytes())
            if document.get("format") != _PAILLIER_KEY_FORMAT:
                raise ValueError("not a Dataward Paillier private key file")
            n, p, q = (int(document[name]) for name in ("n", "p", "q"))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError, TypeError):
            raise ValueError("not a Dataward Paillier private key file") from None
        if p < 2 or q < 2 or p * q != n:
            raise ValueError("the private key file's factors are not its modulus's")
        public = phe.PaillierPublicKey(n)
        return cls(public, phe.PaillierPrivateKey(public, p, q))


@dataclass(frozen=True, eq=False)
class CkksKeys:
    """A partner's CKKS context WITH its secret key (TenSEAL). ``repr`` shows nothing of it."""

    context: ts.Context = field(repr=False)

    def __post_init__(self) -> None:
        if not self.context.is_private():
            raise ValueError("CkksKeys needs the context with its secret key")

    @classmethod
    def generate(cls) -> CkksKeys:
        """A fresh context: CKKS, N=8192, moduli [60, 40, 40, 60], scale 2^40, public and
        relinearisation keys, NO Galois keys (the zone never rotates, and refuses them)."""
        context = ts.context(
            ts.SCHEME_TYPE.CKKS,
            CKKS_POLY_MODULUS_DEGREE,
            coeff_mod_bit_sizes=list(CKKS_COEFF_MODULUS_BITS),
        )
        context.global_scale = CKKS_SCALE
        return cls(context)

    def public_context_bytes(self) -> bytes:
        """The context serialized without the secret key and without Galois keys: the card's
        public key (about 1.9 MB)."""
        data: bytes = self.context.serialize(
            save_public_key=True,
            save_secret_key=False,
            save_galois_keys=False,
            save_relin_keys=True,
        )
        return data

    def save_secret(self, path: str | os.PathLike[str]) -> None:
        """Write the context with its secret key to a NEW file with mode 0600."""
        data: bytes = self.context.serialize(save_secret_key=True, save_galois_keys=False)
        _write_secret(path, data)

    @classmethod
    def load_secret(cls, path: str | os.PathLike[str]) -> CkksKeys:
        """The context :meth:`save_secret` wrote; ``ValueError`` for anything else."""
        try:
            context = ts.context_from(Path(path).read_bytes())
        except (ValueError, RuntimeError, TypeError) as exc:
            raise ValueError("not a TenSEAL context file") from exc
        if not context.is_private():
            raise ValueError("the context file holds no secret key")
        context.global_scale = CKKS_SCALE
        return cls(context)


# -- model cards ------------------------------------------------------------------------------
def _checked(card: ModelCard) -> ModelCard:
    problems = card.problems()
    if problems:
        raise ValueError("; ".join(f"{name}: {problem}" for name, problem in problems))
    return card


def _purpose(purpose: Purpose | str) -> str:
    try:
        return Purpose(purpose).value
    except ValueError:
        raise ValueError(f"purpose must be one of {', '.join(p.value for p in Purpose)}") from None


def _weights(weights: Sequence[int | float | Fraction]) -> list[int | float | Fraction]:
    if isinstance(weights, str | bytes) or not isinstance(weights, Sequence) or not weights:
        raise ValueError("weights must be a non-empty sequence, one per feature")
    for index, weight in enumerate(weights):
        if isinstance(weight, bool) or not isinstance(weight, int | float | Fraction):
            raise ValueError(f"weights[{index}] must be an int, a float or a Fraction")
        if isinstance(weight, float) and not math.isfinite(weight):
            raise ValueError(f"weights[{index}] must be finite")
    return list(weights)


def paillier_model_card(
    keys: PaillierKeys,
    *,
    model_id: str,
    version: int,
    feature_set: str,
    weights: Sequence[int | float | Fraction],
    exponent: int,
    output_bits: int,
    purpose: Purpose | str,
) -> ModelCard:
    """A Paillier model card: each weight's mantissa at ``exponent`` (weight ~= mantissa *
    16**exponent; a weight too fine for it rounds, half to even) encrypted with phe's
    ``raw_encrypt`` and a fresh random ``r``, 768 bytes big-endian each. ``weights`` in the
    feature set's order. ``ValueError`` naming the field for anything out of range."""
    values = _weights(weights)
    n: int = keys.public.n
    width = 2 * keys.key_bytes
    ciphertexts = []
    for index, weight in enumerate(values):
        mantissa = weight_mantissa(weight, exponent)
        if abs(mantissa) >= n // 4:  # far past any honest score; keeps the sign readable
            raise ValueError(f"weights[{index}] is too large for the key at this exponent")
        ciphertext: int = keys.public.raw_encrypt(mantissa % n)
        ciphertexts.append(ciphertext.to_bytes(width, "big"))
    return _checked(
        ModelCard(
            model_id=model_id,
            version=version,
            feature_set=feature_set,
            weight_count=len(values),
            output_bits=output_bits,
            purpose=_purpose(purpose),
            scheme="PAILLIER",
            exponent=exponent,
            public_key=keys.public_key_bytes(),
            weight_ciphertexts=tuple(ciphertexts),
        )
    )


def ckks_model_card(
    keys: CkksKeys,
    *,
    model_id: str,
    version: int,
    feature_set: str,
    weights: Sequence[int | float | Fraction],
    output_bits: int,
    purpose: Purpose | str,
) -> ModelCard:
    """A CKKS model card: the public context (:meth:`CkksKeys.public_context_bytes`) and one
    serialized CKKSVector per weight, the weight in all 4096 slots (about 330 kB each).
    ``output_bits`` is declared for the steward (CKKS scores are approximate)."""
    values = _weights(weights)
    ciphertexts = []
    for weight in values:
        vector = ts.ckks_vector(keys.context, [float(weight)] * CKKS_SLOTS)
        serialized: bytes = vector.serialize()
        ciphertexts.append(serialized)
    return _checked(
        ModelCard(
            model_id=model_id,
            version=version,
            feature_set=feature_set,
            weight_count=len(values),
            output_bits=output_bits,
            purpose=_purpose(purpose),
            scheme="CKKS",
            exponent=0,
            public_key=keys.public_context_bytes(),
            weight_ciphertexts=tuple(ciphertexts),
        )
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _write_document(path: str | os.PathLike[str], document: dict[str, Any]) -> None:
    """Write JSON to ``path`` through a temporary file and a rename: never half a file."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="ascii")
    temporary.replace(target)


def _read_document(path: str | os.PathLike[str], kind: str, fmt: str) -> dict[str, Any]:
    target = Path(path)
    try:
        if target.stat().st_size > _MAX_CARD_FILE_BYTES:
            raise CardFileInvalid(f"{target}: too large for a {kind} file")
        document = json.loads(target.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CardFileInvalid(f"{target}: not a JSON {kind} file") from None
    if not isinstance(document, dict) or document.get("format") != fmt:
        raise CardFileInvalid(f"{target}: not a {kind} file of format {fmt}")
    return document


def save_card(card: ModelCard, path: str | os.PathLike[str]) -> None:
    """Write ``card`` as the JSON file the partner hands to the auditor: format
    :data:`CARD_FORMAT`, the declared fields, the public key and each ciphertext in base64,
    and the card's digest in hex (what the auditor signs; :func:`load_card` checks it)."""
    _checked(card)
    document = {
        "format": CARD_FORMAT,
        "model_id": card.model_id,
        "version": card.version,
        "feature_set": card.feature_set,
        "weight_count": card.weight_count,
        "output_bits": card.output_bits,
        "purpose": card.purpose,
        "scheme": card.scheme,
        "exponent": card.exponent,
        "digest": card.digest().hex(),
        "public_key": _b64(card.public_key),
        "weight_ciphertexts": [_b64(c) for c in card.weight_ciphertexts],
    }
    _write_document(path, document)


_CARD_TEXT = ("model_id", "feature_set", "purpose", "scheme")
_CARD_INTS = ("version", "weight_count", "output_bits", "exponent")


def load_card(path: str | os.PathLike[str]) -> ModelCard:
    """The card :func:`save_card` wrote. :class:`CardFileInvalid` for a file that is not JSON,
    of another format, missing a field or with one of the wrong type, bad base64, a card whose
    fields are out of range (:meth:`ModelCard.problems`), or whose stated digest is not the
    one recomputed from its contents (the file was altered or damaged)."""
    document = _read_document(path, "model card", CARD_FORMAT)
    for name in _CARD_TEXT:
        if not isinstance(document.get(name), str):
            raise CardFileInvalid(f"{name}: text required")
    for name in _CARD_INTS:
        value = document.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise CardFileInvalid(f"{name}: an integer required")
    blobs = document.get("weight_ciphertexts")
    if not isinstance(blobs, list):
        raise CardFileInvalid("weight_ciphertexts: a list of base64 texts required")
    card = ModelCard(
        model_id=document["model_id"],
        version=document["version"],
        feature_set=document["feature_set"],
        weight_count=document["weight_count"],
        output_bits=document["output_bits"],
        purpose=document["purpose"],
        scheme=document["scheme"],
        exponent=document["exponent"],
        public_key=_unb64(document.get("public_key"), "public_key"),
        weight_ciphertexts=tuple(
            _unb64(blob, f"weight_ciphertexts[{index}]") for index, blob in enumerate(blobs)
        ),
    )
    problems = card.problems()
    if problems:
        raise CardFileInvalid("; ".join(f"{name}: {problem}" for name, problem in problems))
    if card.purpose not in {p.value for p in Purpose}:
        raise CardFileInvalid("purpose: not a purpose the zone knows")
    stated = document.get("digest")
    if not isinstance(stated, str) or stated != card.digest().hex():
        raise CardFileInvalid("digest: not the digest of the card's contents (altered or damaged)")
    return card


# -- the auditor's attestation ----------------------------------------------------------------
def _expiry(expires_at: int | dt.datetime) -> int:
    if isinstance(expires_at, dt.datetime):
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware (e.g. UTC)")
        return int(expires_at.timestamp())
    if isinstance(expires_at, bool) or not isinstance(expires_at, int) or expires_at <= 0:
        raise ValueError("expires_at must be a positive number of Unix seconds or a datetime")
    return expires_at


def sign_card(
    card: ModelCard,
    private_key: Ed25519PrivateKey,
    auditor: str,
    expires_at: int | dt.datetime,
) -> ModelAttestation:
    """The auditor's attestation of ``card`` until ``expires_at`` (its name as the policy's
    ``compute.auditors`` lists it). ``ValueError`` for a malformed card, name or expiry."""
    _checked(card)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise ValueError("the auditor's key must be an Ed25519 private key")
    expiry = _expiry(expires_at)
    message = attestation_message(card.digest(), auditor, expiry)
    return ModelAttestation(auditor, expiry, private_key.sign(message))


def verify_attestation(
    card: ModelCard, attestation: ModelAttestation, public_key: Ed25519PublicKey
) -> bool:
    """Whether ``attestation`` is a valid signature of ``card`` under ``public_key`` (expiry
    not checked: the zone holds it to its own clock)."""
    try:
        message = attestation_message(card.digest(), attestation.auditor, attestation.expires_at)
        public_key.verify(attestation.signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def save_attestation(attestation: ModelAttestation, path: str | os.PathLike[str]) -> None:
    """Write ``attestation`` as JSON (format :data:`ATTESTATION_FORMAT`)."""
    document = {
        "format": ATTESTATION_FORMAT,
        "auditor": attestation.auditor,
        "expires_at": attestation.expires_at,
        "signature": _b64(attestation.signature),
    }
    _write_document(path, document)


def load_attestation(path: str | os.PathLike[str]) -> ModelAttestation:
    """The attestation :func:`save_attestation` wrote; :class:`CardFileInvalid` otherwise."""
    return _attestation_of(_read_document(path, "model attestation", ATTESTATION_FORMAT))


# -- the zone's answers -----------------------------------------------------------------------
class PaillierAnswer(Protocol):
    """What :func:`decrypt_paillier_score` reads (``Client.paillier_score``'s answer)."""

    @property
    def ciphertext(self) -> bytes: ...
    @property
    def exponent(self) -> int: ...
    @property
    def output_bits(self) -> int: ...


class CkksAnswer(Protocol):
    """What :func:`decrypt_ckks_scores` reads (``Client.ckks_batch_score``'s answer)."""

    @property
    def ciphertext(self) -> bytes: ...
    @property
    def scored(self) -> Sequence[bool]: ...


def decrypt_paillier_score(keys: PaillierKeys, answer: PaillierAnswer) -> Fraction:
    """The score the answer carries, exactly: ``raw_decrypt`` of its ciphertext, decoded by
    :func:`dataward.compute.decode_score` with the answer's ``output_bits`` and
    ``exponent``. ``ValueError`` for a ciphertext that is not one of this key's."""
    data = answer.ciphertext
    n: int = keys.public.n
    if not isinstance(data, bytes) or len(data) != 2 * keys.key_bytes:
        raise ValueError(f"a ciphertext of this key is {2 * keys.key_bytes} bytes")
    ciphertext = int.from_bytes(data, "big")
    if not 0 < ciphertext < n * n or math.gcd(ciphertext, n) != 1:
        raise ValueError("the ciphertext is not one of this key's")
    plaintext: int = keys.private.raw_decrypt(ciphertext)
    return decode_score(plaintext, answer.output_bits, answer.exponent)


def decrypt_ckks_scores(keys: CkksKeys, answer: CkksAnswer) -> list[float | None]:
    """One value per requested person, in order: slot ``i`` decrypted where ``scored[i]``,
    else ``None``. ``ValueError`` for a ciphertext that is not a CKKS vector of this context."""
    scored = list(answer.scored)
    if len(scored) > CKKS_SLOTS:
        raise ValueError(f"a batch has at most {CKKS_SLOTS} persons")
    try:
        values = ts.ckks_vector_from(keys.context, answer.ciphertext).decrypt()
    except (ValueError, RuntimeError, TypeError) as exc:
        raise ValueError("the answer's ciphertext is not a CKKS vector of this context") from exc
    if len(values) < len(scored):
        raise ValueError("the answer's ciphertext holds fewer slots than persons asked")
    return [float(values[i]) if hit else None for i, hit in enumerate(scored)]


# -- encrypted face match (issue 13) ------------------------------------------------------
FACE_EMBEDDING_DIM = 128
# The slots of an honest answer agree far closer than this (measured ~1e-5 at s, r <= 256).
_FACE_SLOT_SPREAD = 1e-2


@dataclass(frozen=True, eq=False)
class FaceMatchKeys:
    """A partner's CKKS context for the encrypted face match: WITH its secret key and Galois
    keys (TenSEAL). ``repr`` shows nothing of it."""

    context: ts.Context = field(repr=False)

    def __post_init__(self) -> None:
        if not self.context.is_private() or not self.context.has_galois_keys():
            raise ValueError("FaceMatchKeys needs the context with its secret and Galois keys")

    @classmethod
    def generate(cls) -> FaceMatchKeys:
        """A fresh context: CKKS, N=8192, moduli [60, 40, 40, 60], scale 2^40, public,
        relinearisation and power-of-two Galois keys."""
        context = ts.context(
            ts.SCHEME_TYPE.CKKS,
            CKKS_POLY_MODULUS_DEGREE,
            coeff_mod_bit_sizes=list(CKKS_COEFF_MODULUS_BITS),
        )
        context.global_scale = CKKS_SCALE
        context.generate_galois_keys()
        return cls(context)

    def public_context_bytes(self) -> bytes:
        """The context without the secret key, with Galois and relinearisation keys (about
        35 MB): what the zone computes under."""
        data: bytes = self.context.serialize(
            save_public_key=True,
            save_secret_key=False,
            save_galois_keys=True,
            save_relin_keys=True,
        )
        return data

    def encrypt_embedding(self, embedding: Sequence[float]) -> bytes:
        """A 128-d face embedding scaled to unit length, zero-padded to all 4096 slots, as a
        serialized CKKSVector (~330 KB). ``ValueError`` for another length, a non-finite
        value or a zero vector."""
        values = [float(v) for v in embedding]
        if len(values) != FACE_EMBEDDING_DIM:
            raise ValueError(f"a face embedding has {FACE_EMBEDDING_DIM} values, not {len(values)}")
        if not all(math.isfinite(v) for v in values):
            raise ValueError("a face embedding's values must be finite")
        norm = math.sqrt(math.fsum(v * v for v in values))
        if norm == 0.0:
            raise ValueError("a face embedding cannot be zero")
        slots = [v / norm for v in values] + [0.0] * (CKKS_SLOTS - FACE_EMBEDDING_DIM)
        data: bytes = ts.ckks_vector(self.context, slots).serialize()
        return data


class FaceMatchAnswerLike(Protocol):
    @property
    def ciphertext(self) -> bytes: ...
    @property
    def validated_on(self) -> str: ...


@dataclass(frozen=True)
class FaceMatchResult:
    """The decrypted face match: ``matched`` (the cosine passed the zone's threshold) and the
    sentence on what that threshold was validated on. The blinded value itself means nothing
    beyond its sign, and is not kept."""

    matched: bool
    validated_on: str


def face_match_result(keys: FaceMatchKeys, answer: FaceMatchAnswerLike) -> FaceMatchResult:
    """Decrypt every slot of the zone's answer: they must agree (one blinded value), and
    ``matched`` is that value > 0. ``ValueError`` for a ciphertext that is not a 4096-slot
    CKKS vector of this context or whose slots disagree."""
    try:
        values = ts.ckks_vector_from(keys.context, answer.ciphertext).decrypt()
    except (ValueError, RuntimeError, TypeError) as exc:
        raise ValueError("the answer's ciphertext is not a CKKS vector of this context") from exc
    if len(values) != CKKS_SLOTS:
        raise ValueError(f"the answer must hold all {CKKS_SLOTS} slots, not {len(values)}")
    low, high = min(values), max(values)
    if high - low > _FACE_SLOT_SPREAD * max(1.0, abs(high), abs(low)):
        raise ValueError("the answer's slots disagree: not one blinded value")
    return FaceMatchResult(matched=math.fsum(values) > 0.0, validated_on=answer.validated_on)
