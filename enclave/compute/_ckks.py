"""CKKS batch scoring, zone side (issue 12): validate a partner's uploaded TenSEAL context and
weight ciphertexts, score a batch of persons column-packed, return only the result's bytes.

**Packing.** Slot ``i`` of every ciphertext is person ``i`` of the batch (N=8192: 4096 slots,
so at most 4096 persons per batch). The partner sends ONE ciphertext per feature ``j``,
holding its weight ``w_j`` in every slot (all 4096 encrypted, :data:`CKKS_SLOTS`). The zone
computes, slot-wise, ``score = Enc(0) + sum_j Enc(w_j) * plain(x_j)`` where ``plain(x_j)``
holds feature ``j`` of person ``i`` in slot ``i`` if that person consented, and ZERO in the
slot of every person who did not and in every slot past the batch. Slot ``i`` of the result
is therefore ``sum_j w_j * x_ij`` for a consented person and 0 elsewhere. The fresh
encryption of zero under the partner's public key re-randomises the result: two answers for
the same inputs are different ciphertexts.

**Only slot-wise multiply-by-plaintext and add.** Never TenSEAL's ``dot``, ``matmul``,
``sum`` or any rotation on zone data: they rotate and add, so the slots they do not return
carry partial sums of the zone's values (DESIGN.md, "Homomorphic compute"). A test reads this
module's source and fails on any such call.

**Contexts.** An uploaded context must be CKKS with N=8192 and the coefficient moduli
[60, 40, 40, 60] exactly, hold a public key (a probe encryption of zero must work) and NO
secret key. Galois keys are REFUSED, not
dropped: this code never rotates, a context carrying them (35 MB at N=8192) only costs memory,
and refusing tells a partner at once that its client is misconfigured. Relinearisation keys
are accepted (TenSEAL makes them by default) and never needed. The zone sets the evaluation
flags itself (automatic rescale, relinearisation, modulus switching; scale 2^40): the flags
serialized in the partner's bytes are not trusted. Sizes are checked before parsing.

**Threads.** A TenSEAL context (and SEAL's evaluator behind it) is not meant to be used from
several threads at once. Each :class:`CkksContext` carries its own lock, and every TenSEAL
call on it or on a ciphertext linked to it (loading, scoring, serializing) holds that lock;
contexts are loaded with one TenSEAL thread. The intended deployment is one TenSEAL context
per worker process, parallelism by processes (a later step).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import tenseal as ts
import tenseal.sealapi  # registers seal::Modulus, so coeff_modulus() converts
from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.message import DecodeError

from enclave.compute.ckks_errors import (
    CiphertextInvalid,
    CkksBatchTooLarge,
    CkksError,
    ContextInvalid,
    FeaturesInvalid,
)

__all__ = [
    "CKKS_COEFF_MODULUS_BITS",
    "CKKS_POLY_MODULUS_DEGREE",
    "CKKS_SCALE",
    "CKKS_SLOTS",
    "CkksBatchScorer",
    "CkksCiphertext",
    "CkksContext",
    "CkksLimits",
    "FeatureBound",
    "load_ciphertext",
    "load_public_context",
]

CKKS_POLY_MODULUS_DEGREE = 8192
CKKS_COEFF_MODULUS_BITS = (60, 40, 40, 60)
CKKS_SCALE = 2.0**40
CKKS_SLOTS = CKKS_POLY_MODULUS_DEGREE // 2
# |score| * 2^40 must stay well inside the 100-bit modulus left after one rescale (and the
# relative error of CKKS grows as values shrink): feature bounds past this are refused.
MAX_FEATURE_MAGNITUDE = 2**20


@dataclasses.dataclass(frozen=True, slots=True)
class CkksLimits:
    """Size limits of uploads, in bytes (decimal megabytes), checked before any parsing."""

    context_bytes: int = 40_000_000
    ciphertext_bytes: int = 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class FeatureBound:
    """A feature of the steward-approved feature set: its name and declared integer bounds."""

    name: str
    low: int
    high: int

    def __post_init__(self) -> None:
        if not (-MAX_FEATURE_MAGNITUDE <= self.low <= self.high <= MAX_FEATURE_MAGNITUDE):
            raise ValueError(
                f"feature {self.name!r}: bounds must satisfy "
                f"-{MAX_FEATURE_MAGNITUDE} <= low <= high <= {MAX_FEATURE_MAGNITUDE}"
            )


class CkksContext:
    """A validated, public-only partner context (build it with :func:`load_public_context`)."""

    __slots__ = ("_lock", "_ts", "size_bytes")

    def __init__(self, context: ts.Context, size_bytes: int) -> None:
        self._ts = context
        self._lock = threading.Lock()
        self.size_bytes = size_bytes

    @property
    def slots(self) -> int:
        return CKKS_SLOTS


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class CkksCiphertext:
    """A validated ciphertext of ``context`` (build it with :func:`load_ciphertext`)."""

    context: CkksContext
    _vector: Any  # ts.CKKSVector, linked to context
    size_bytes: int


_PARSE_ERRORS = (ValueError, RuntimeError, TypeError, OverflowError, MemoryError, DecodeError)


@functools.cache
def _vector_proto() -> Any:
    """TenSEAL's ``CKKSVectorProto`` (tenseal/proto/tensors.proto) as a protobuf class: the
    vector's own scale (what TenSEAL encodes plaintexts with) is not exposed by its Python
    API, so it is read from the validated bytes with protobuf, never by hand."""
    file = descriptor_pb2.FileDescriptorProto(
        name="dataward_tenseal_tensors.proto", package="dataward_tenseal", syntax="proto3"
    )
    message = file.message_type.add(name="CKKSVectorProto")
    label, types = descriptor_pb2.FieldDescriptorProto, descriptor_pb2.FieldDescriptorProto
    message.field.add(name="sizes", number=1, type=types.TYPE_UINT32, label=label.LABEL_REPEATED)
    message.field.add(
        name="ciphertexts", number=2, type=types.TYPE_BYTES, label=label.LABEL_REPEATED
    )
    message.field.add(name="scale", number=3, type=types.TYPE_DOUBLE, label=label.LABEL_OPTIONAL)
    classes = message_factory.GetMessages([file])
    return classes["dataward_tenseal.CKKSVectorProto"]


def load_public_context(data: bytes, limits: CkksLimits = CkksLimits()) -> CkksContext:
    """Deserialize and validate a partner's TenSEAL context; :class:`ContextInvalid` (with a
    ``problem`` code) on any breach. Nothing of a refused context is kept."""
    return _load_context(data, limits, rotations=False)


def _load_context(data: bytes, limits: CkksLimits, *, rotations: bool) -> CkksContext:
    """The checks of :func:`load_public_context`; with ``rotations`` (the encrypted face
    match, :mod:`enclave.compute._facematch`) Galois and relinearisation keys are REQUIRED
    instead of Galois keys refused."""
    if not isinstance(data, bytes):
        raise ContextInvalid("MALFORMED", "a serialized context must be bytes")
    if len(data) > limits.context_bytes:
        raise ContextInvalid(
            "TOO_LARGE", f"{len(data)} bytes, the limit is {limits.context_bytes} bytes"
        )
    try:
        context = ts.context_from(data, n_threads=1)
        seal = context.seal_context().data
        parms = seal.key_context_data().parms()
        scheme, degree = parms.scheme(), parms.poly_modulus_degree()
        bits = tuple(q.bit_count() for q in parms.coeff_modulus())
        private, galois = context.is_private(), context.has_galois_keys()
        public, relin = context.has_public_key(), context.has_relin_keys()
    except _PARSE_ERRORS as exc:
        raise ContextInvalid("MALFORMED", "the bytes are not a TenSEAL context") from exc
    if scheme != ts._ts_cpp.SCHEME_TYPE.CKKS:
        raise ContextInvalid("NOT_CKKS", "the scheme must be CKKS")
    if degree != CKKS_POLY_MODULUS_DEGREE:
        raise ContextInvalid(
            "POLY_MODULUS_DEGREE",
            f"the poly modulus degree must be {CKKS_POLY_MODULUS_DEGREE}, not {degree}",
        )
    if bits != CKKS_COEFF_MODULUS_BITS:
        raise ContextInvalid(
            "COEFF_MODULUS",
            f"the coefficient moduli must be {list(CKKS_COEFF_MODULUS_BITS)} bits, "
            f"not {list(bits)}",
        )
    if private:
        raise ContextInvalid(
            "SECRET_KEY", "the context holds a secret key; upload the public context only"
        )
    if galois and not rotations:
        raise ContextInvalid(
            "GALOIS_KEYS", "the context holds Galois keys; the zone never rotates: drop them"
        )
    if rotations and not galois:
        raise ContextInvalid(
            "NO_GALOIS_KEYS",
            "the context holds no Galois keys; the face match sums by rotations: generate them",
        )
    if rotations and not relin:
        raise ContextInvalid(
            "NO_RELIN_KEYS",
            "the context holds no relinearisation keys; the face match multiplies ciphertexts",
        )
    if not public:
        raise ContextInvalid("NO_PUBLIC_KEY", "the context holds no public key")
    # The zone's evaluation settings, not the flags serialized by the partner.
    context.auto_rescale = True
    context.auto_relin = True
    context.auto_mod_switch = True
    context.global_scale = CKKS_SCALE
    try:
        # What every score starts with: an encryption of zero under the partner's public key.
        ts.ckks_vector(context, [0.0] * CKKS_SLOTS)
    except _PARSE_ERRORS as exc:
        raise ContextInvalid(
            "PUBLIC_KEY", "the context cannot encrypt with its public key"
        ) from exc
    return CkksContext(context, len(data))


def load_ciphertext(
    context: CkksContext, data: bytes, limits: CkksLimits = CkksLimits()
) -> CkksCiphertext:
    """Deserialize and validate one weight ciphertext for ``context``: one fresh SEAL
    ciphertext at the top level of the chain, scale 2^40, all :data:`CKKS_SLOTS` slots
    encrypted. :class:`CiphertextInvalid` (with a ``problem`` code) on any breach."""
    if not isinstance(data, bytes):
        raise CiphertextInvalid("MALFORMED", "a serialized ciphertext must be bytes")
    if len(data) > limits.ciphertext_bytes:
        raise CiphertextInvalid(
            "TOO_LARGE", f"{len(data)} bytes, the limit is {limits.ciphertext_bytes} bytes"
        )
    with context._lock:
        try:
            vector = ts.ckks_vector_from(context._ts, data)
            size = vector.size()
            scale = _vector_proto().FromString(data).scale
            chunks = vector.ciphertext()
            first = context._ts.seal_context().data.first_parms_id()
            shapes = [
                (c.size(), c.poly_modulus_degree(), c.parms_id() == first, c.scale, c.is_ntt_form())
                for c in chunks
            ]
            transparent = any(c.is_transparent() for c in chunks)
        except _PARSE_ERRORS as exc:
            raise CiphertextInvalid("MALFORMED", "the bytes are not a CKKS vector") from exc
    if size != CKKS_SLOTS:
        raise CiphertextInvalid(
            "SLOTS", f"the vector must encrypt all {CKKS_SLOTS} slots, not {size}"
        )
    if len(shapes) != 1:
        raise CiphertextInvalid("CHUNKS", "the vector must be one SEAL ciphertext")
    polys, degree, top_level, inner_scale, ntt = shapes[0]
    if polys != 2 or degree != CKKS_POLY_MODULUS_DEGREE or not ntt or transparent:
        raise CiphertextInvalid(
            "SHAPE", "the ciphertext must be a fresh (two-polynomial) encryption at N=8192"
        )
    if not top_level:
        raise CiphertextInvalid(
            "LEVEL", "the ciphertext must be at the top level of the context's modulus chain"
        )
    if scale != CKKS_SCALE or inner_scale != CKKS_SCALE:
        raise CiphertextInvalid("SCALE", "the ciphertext's scale must be 2^40")
    return CkksCiphertext(context, vector, len(data))


class CkksBatchScorer:
    """Scores batches of persons over one feature set (``bounds``, in column order)."""

    def __init__(self, bounds: Sequence[FeatureBound]) -> None:
        if not bounds:
            raise ValueError("a feature set has at least one feature")
        self.bounds = tuple(bounds)
        self._low = np.array([b.low for b in self.bounds], dtype=np.int64)
        self._high = np.array([b.high for b in self.bounds], dtype=np.int64)

    def score(
        self,
        context: CkksContext,
        weight_ciphertexts: Sequence[CkksCiphertext],
        features: npt.ArrayLike,
        consented: npt.ArrayLike,
    ) -> bytes:
        """The serialized result ciphertext: slot ``i`` holds person ``i``'s score
        ``sum_j w_j * features[i][j]`` if ``consented[i]``, else 0; slots past the batch 0.

        ``features`` is an integer matrix (persons x features, at most :data:`CKKS_SLOTS`
        rows); ``consented`` one boolean per row. Raises :class:`CiphertextInvalid`
        (``COUNT``, ``CONTEXT``), :class:`CkksBatchTooLarge` or :class:`FeaturesInvalid`.
        """
        if len(weight_ciphertexts) != len(self.bounds):
            raise CiphertextInvalid(
                "COUNT",
                f"the model needs one ciphertext per feature: {len(self.bounds)}, "
                f"not {len(weight_ciphertexts)}",
            )
        if any(w.context is not context for w in weight_ciphertexts):
            raise CiphertextInvalid("CONTEXT", "every ciphertext must be loaded with the context")
        columns = self._plain_columns(features, consented)
        with context._lock:
            try:
                # Enc_pk(0) first: re-randomises the result (the raw evaluation never leaves).
                result = ts.ckks_vector(context._ts, [0.0] * CKKS_SLOTS)
                for weight, column in zip(weight_ciphertexts, columns, strict=True):
                    result.add_(weight._vector.mul(column))
                return bytes(result.serialize())
            except _PARSE_ERRORS as exc:
                # Validated inputs never get here: a bug, and never a raw library error.
                raise CkksError("the CKKS evaluation failed") from exc

    def _plain_columns(
        self, features: npt.ArrayLike, consented: npt.ArrayLike
    ) -> list[npt.NDArray[np.float64]]:
        """Feature ``j`` over all slots, zero for the unconsented and past the batch."""
        matrix = np.asarray(features)
        mask = np.asarray(consented)
        if matrix.ndim != 2 or matrix.shape[1] != len(self.bounds):
            raise FeaturesInvalid(
                "SHAPE", f"the matrix must be persons x {len(self.bounds)} features"
            )
        persons = matrix.shape[0]
        if persons > CKKS_SLOTS:
            raise CkksBatchTooLarge(persons, CKKS_SLOTS)
        if mask.shape != (persons,) or mask.dtype != np.bool_:
            raise FeaturesInvalid("CONSENT", "consent must be one boolean per person")
        if matrix.dtype == np.bool_ or not np.issubdtype(matrix.dtype, np.integer):
            raise FeaturesInvalid("NOT_INTEGER", "features must be integers")
        outside = (matrix < self._low) | (matrix > self._high)
        if outside.any():
            bad = self.bounds[int(np.flatnonzero(outside.any(axis=0))[0])]
            raise FeaturesInvalid(
                "OUT_OF_BOUNDS", f"feature {bad.name!r} is outside its declared bounds", bad.name
            )
        plain = np.zeros((len(self.bounds), CKKS_SLOTS), dtype=np.float64)
        plain[:, :persons] = np.where(mask[:, None], matrix, 0).T
        # Rows of a float64 array: TenSEAL makes its plaintext from them in one copy (a list
        # would be converted to an array and back).
        return list(plain)
