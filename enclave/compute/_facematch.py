"""The encrypted face match, zone side (issue 13, ``ComputeService.EncryptedFaceMatch``): the
partner encrypts a selfie's normalised 128-d embedding ``q`` under its own CKKS key; the
zone answers ONE blinded number, encrypted, from which the partner learns whether the
cosine of ``q`` and the person's enrolled template ``t`` passes the threshold ``tau`` -- and
nothing of ``t``.

**The computation.** With ``t`` the template scaled to unit length and zero-padded to all
:data:`CKKS_SLOTS` slots, a fresh blinding ``s > 0`` and ``r`` (from :mod:`secrets`, never
reused, never sent anywhere), the zone computes, slot-wise, ``q * (s*t + r*conj(q))`` (one
multiply by a scalar, one ciphertext product: depth 2 of the [60, 40, 40, 60] chain), adds
the constant ``-(s*tau + r)`` to slot 0, sums over ALL 4096 slots by rotations (powers of two
over the full width, so every slot ends holding the same total), and answers that sum plus
its complex conjugate -- its real part (the blinding is halved to make up for the two)::

    y = s * (Re<q, t> - tau) + r * (|q|^2 - 1)

CKKS slots are complex; TenSEAL encodes reals only, but a partner using SEAL directly can send
``q = a + ib``. Without the conjugations, ``|a|^2 - |b|^2 = 1`` and ``<a,b> = 0`` cancelled the
offset of a plain ``q*q``, and the imaginary part ``s*<b,t>`` over the real part cancelled
``s``: one linear equation on the template per answer (issue 13 review). With them the
imaginary part is zero and ``|q|^2`` is the true ``|a|^2 + |b|^2``. SEAL's conjugation needs the
partner's conjugation Galois key (TenSEAL's default Galois keys have it).

then adds a fresh encryption of zero under the partner's public key (re-randomisation: the
evaluation itself never leaves). For an honest query (``|q| = 1``) the sign of ``y`` is the
sign of ``cosine - tau``; its magnitude is scaled by the fresh ``s``. A query that is not
unit length (a probe of ``t`` by scaling) gets ``r * (|q|^2 - 1)`` added with a random sign
and a magnitude of the same order as ``s``: its sign is noise. Slots past 128 count in
``|q|^2`` too, so values hidden there only randomise the partner's own answer.

**Why rotations are allowed here.** The batch scorer (:mod:`enclave.compute._ckks`) never
rotates, because a rotate-and-add over a partial width leaves partial sums of zone data in
the other slots. Here the sum runs over the full cyclic width: every slot holds the full
total, the blinded ``y`` (a test decrypts every slot). The answer is serialized as a
4096-slot vector, so the partner's decryption shows exactly that.

**Contexts.** As :func:`load_public_context` (CKKS, N=8192, [60, 40, 40, 60], a public key,
NO secret key, the zone's own evaluation flags) except that Galois keys and relinearisation
keys are REQUIRED; the size limit is :data:`FACE_MATCH_LIMITS` (48 MB: TenSEAL's default
power-of-two Galois keys are ~35 MB at N=8192). A context missing a rotation step the sum
needs is refused (``ContextInvalid`` ``GALOIS_KEYS_MISSING``) when the sum fails. The query
is one fresh top-level 4096-slot vector (:func:`load_ciphertext`).

**Precision.** Scale 2^40; after two rescales the 60-bit prime leaves ~19 bits of headroom:
``|y|`` stays below 2^9 for an honest query (``s`` <= 256, ``|r|`` <= 256). Measured: the
decrypted ``y`` is within ~1e-4 of the clear value (slots agree within ~1e-5), so the sign
is wrong only when the cosine is within ~1e-6 of ``tau``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import secrets
from typing import Any

import numpy as np
import numpy.typing as npt
import tenseal as ts
from google.protobuf import descriptor_pb2, message_factory
from google.protobuf.message import DecodeError
from tenseal import sealapi

from enclave.compute._ckks import (
    _PARSE_ERRORS,
    CKKS_SLOTS,
    CkksCiphertext,
    CkksContext,
    CkksLimits,
    _load_context,
    _vector_proto,
    load_ciphertext,
)
from enclave.compute.ckks_errors import CiphertextInvalid, CkksError, ContextInvalid

__all__ = [
    "FACE_MATCH_LIMITS",
    "FaceBlinding",
    "face_match",
    "load_face_match_context",
    "match_face",
    "screen_face_match",
]

#: Upload limits of the face match: the context carries Galois keys (~35 MB at N=8192).
FACE_MATCH_LIMITS = CkksLimits(context_bytes=48_000_000, ciphertext_bytes=1_000_000)
_BLINDING_MAX = 256.0
# enclave.biometrics.TEMPLATE_DIM (not imported: the CKKS workers never load the face stack)
TEMPLATE_DIM = 128


@dataclasses.dataclass(frozen=True, slots=True)
class FaceBlinding:
    """The blinding of one answer: ``scale`` (s > 0) and ``offset`` (r) of the module
    docstring. :meth:`fresh` draws both from :mod:`secrets`; tests pass known ones."""

    scale: float
    offset: float

    def __post_init__(self) -> None:
        if not (0.0 < self.scale <= _BLINDING_MAX and abs(self.offset) <= _BLINDING_MAX):
            raise ValueError(f"the blinding must satisfy 0 < s <= {_BLINDING_MAX:g}, |r| <= it")

    @classmethod
    def fresh(cls) -> FaceBlinding:
        unit = 2.0**-53
        scale = 1.0 + (_BLINDING_MAX - 1.0) * secrets.randbits(53) * unit
        offset = _BLINDING_MAX * (2.0 * secrets.randbits(53) * unit - 1.0)
        return cls(scale, offset)


def load_face_match_context(data: bytes, limits: CkksLimits = FACE_MATCH_LIMITS) -> CkksContext:
    """Deserialize and validate a partner's face-match context (public key, Galois and
    relinearisation keys, no secret key); :class:`ContextInvalid` on any breach."""
    return _load_context(data, limits, rotations=True)


@functools.cache
def _context_proto() -> Any:
    """TenSEAL's ``TenSEALContextProto`` (tenseal/proto/tensealcontext.proto) as a protobuf
    class: which keys a context carries, read without SEAL."""
    types = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="dataward_tenseal_context.proto", package="dataward_tenseal_ctx", syntax="proto3"
    )
    public = file.message_type.add(name="TenSEALPublicProto")
    for name, number, kind in (
        ("public_key", 1, types.TYPE_BYTES),
        ("auto_flags", 2, types.TYPE_UINT32),
        ("scale", 3, types.TYPE_DOUBLE),
        ("relin_keys", 4, types.TYPE_BYTES),
        ("galois_keys", 5, types.TYPE_BYTES),
    ):
        public.field.add(name=name, number=number, type=kind, label=types.LABEL_OPTIONAL)
    private = file.message_type.add(name="TenSEALPrivateProto")
    private.field.add(name="secret_key", number=1, type=types.TYPE_BYTES)
    top = file.message_type.add(name="TenSEALContextProto")
    top.field.add(name="encryption_parameters", number=1, type=types.TYPE_BYTES)
    top.field.add(
        name="public_context",
        number=2,
        type=types.TYPE_MESSAGE,
        type_name=".dataward_tenseal_ctx.TenSEALPublicProto",
    )
    top.field.add(
        name="private_context",
        number=3,
        type=types.TYPE_MESSAGE,
        type_name=".dataward_tenseal_ctx.TenSEALPrivateProto",
    )
    classes = message_factory.GetMessages([file])
    return classes["dataward_tenseal_ctx.TenSEALContextProto"]


def screen_face_match(context: bytes, query: bytes, limits: CkksLimits = FACE_MATCH_LIMITS) -> None:
    """The cheap checks of a face match's bytes, in the serving process BEFORE a face
    attempt is counted (so a misconfigured client does not spend a person's attempts): the
    sizes, then the context's and the query's protobuf envelopes only (never SEAL): a
    context with a secret key, without Galois, relinearisation or public keys, a query that
    is not one 4096-slot vector. :class:`ContextInvalid` / :class:`CiphertextInvalid` with
    the same problem codes as the full validation in the workers, which still runs."""
    if len(context) > limits.context_bytes:
        raise ContextInvalid(
            "TOO_LARGE", f"{len(context)} bytes, the limit is {limits.context_bytes} bytes"
        )
    if len(query) > limits.ciphertext_bytes:
        raise CiphertextInvalid(
            "TOO_LARGE", f"{len(query)} bytes, the limit is {limits.ciphertext_bytes} bytes"
        )
    try:
        envelope = _context_proto().FromString(context)
    except DecodeError as exc:
        raise ContextInvalid("MALFORMED", "the bytes are not a TenSEAL context") from exc
    if not envelope.encryption_parameters or not envelope.HasField("public_context"):
        raise ContextInvalid("MALFORMED", "the bytes are not a TenSEAL context")
    if envelope.HasField("private_context") and envelope.private_context.secret_key:
        raise ContextInvalid(
            "SECRET_KEY", "the context holds a secret key; upload the public context only"
        )
    public = envelope.public_context
    if not public.public_key:
        raise ContextInvalid("NO_PUBLIC_KEY", "the context holds no public key")
    if not public.galois_keys:
        raise ContextInvalid(
            "NO_GALOIS_KEYS",
            "the context holds no Galois keys; the face match sums by rotations: generate them",
        )
    if not public.relin_keys:
        raise ContextInvalid(
            "NO_RELIN_KEYS",
            "the context holds no relinearisation keys; the face match multiplies ciphertexts",
        )
    try:
        vector = _vector_proto().FromString(query)
    except DecodeError as exc:
        raise CiphertextInvalid("MALFORMED", "the bytes are not a CKKS vector") from exc
    if list(vector.sizes) != [CKKS_SLOTS] or len(vector.ciphertexts) != 1:
        raise CiphertextInvalid("SLOTS", f"the query must be one vector of all {CKKS_SLOTS} slots")


def _template_slots(template: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The reference template as unit length, zero-padded to every slot."""
    values = np.asarray(template, dtype=np.float64)
    if values.shape != (TEMPLATE_DIM,) or not np.isfinite(values).all():
        raise CkksError("the reference template is not a finite 128-d vector")
    norm = float(np.linalg.norm(values))
    if norm == 0.0:
        raise CkksError("the reference template is zero")
    slots = np.zeros(CKKS_SLOTS, dtype=np.float64)
    slots[:TEMPLATE_DIM] = values / norm
    return slots


def face_match(
    query: CkksCiphertext,
    template: npt.ArrayLike,
    tau: float,
    *,
    blinding: FaceBlinding | None = None,
) -> bytes:
    """The serialized answer (a 4096-slot CKKS vector, every slot ``y`` of the module
    docstring) for a validated query and the person's template; ``blinding`` fresh unless
    given (tests). Raises :class:`ContextInvalid` (``GALOIS_KEYS_MISSING``) or a plain
    :class:`CkksError` (a bug)."""
    if not -1.0 < tau < 1.0:
        raise CkksError("the cosine threshold must be inside (-1, 1)")
    blind = blinding if blinding is not None else FaceBlinding.fresh()
    # Halved: the answer is the sum plus its conjugate, twice its real part (see below).
    scale, offset = blind.scale / 2.0, blind.offset / 2.0
    template_slots = scale * _template_slots(template)
    constant = np.zeros(CKKS_SLOTS, dtype=np.float64)
    constant[0] = -(scale * tau + offset)
    context = query.context
    with context._lock:
        vector = query._vector
        conjugate = _conjugated(context, vector)
        try:
            # q * (s*t + r*conj(q)): one scalar product, one ciphertext product (depth 2);
            # q_j * conj(q_j) = |q_j|^2 is real whatever the partner put in the slots.
            weighted = conjugate.mul(offset)
            weighted.add_(template_slots)
            total = vector.mul(weighted)
            total.add_(constant)
        except _PARSE_ERRORS as exc:
            raise CkksError("the CKKS evaluation failed") from exc
        try:
            # Over the full cyclic width: every slot ends holding the whole sum.
            total.sum_()
        except _PARSE_ERRORS as exc:
            raise ContextInvalid(
                "GALOIS_KEYS_MISSING",
                "the context's Galois keys lack a power-of-two rotation the sum needs",
            ) from exc
        # The sum plus its complex conjugate: twice its real part. A query with imaginary
        # parts (q = a + ib, possible through SEAL's complex encoding) would otherwise read
        # s*<b,t> in the imaginary part, and Im/Re cancels s: one linear equation on t per
        # answer (issue 13 review).
        total.add_(_conjugated(context, total))
        try:
            total.add_(ts.ckks_vector(context._ts, [0.0]))  # a fresh Enc_pk(0): re-randomised
            raw = bytes(total.serialize())
        except _PARSE_ERRORS as exc:
            raise CkksError("the CKKS evaluation failed") from exc
    # TenSEAL marks a summed vector as one slot; all 4096 hold the total, and say so.
    message = _vector_proto().FromString(raw)
    message.ClearField("sizes")
    message.sizes.append(CKKS_SLOTS)
    return bytes(message.SerializeToString())


def _conjugated(context: CkksContext, vector: Any) -> Any:
    """The slot-wise complex conjugate of ``vector`` (a TenSEAL CKKSVector of ``context``,
    whose lock the caller holds), by SEAL's evaluator with the partner's conjugation Galois
    key: TenSEAL's Python API has no conjugation, so the SEAL ciphertext goes through an
    anonymous in-memory file (``memfd``, never the disk) both ways."""
    try:
        message = _vector_proto().FromString(bytes(vector.serialize()))
        seal_context = context._ts.seal_context().data
        galois = context._ts.galois_keys().data
        fd = os.memfd_create("dataward-ckks", os.MFD_CLOEXEC)
        try:
            path = f"/proc/self/fd/{fd}"
            with open(fd, "wb", closefd=False) as handle:
                handle.write(message.ciphertexts[0])
            ciphertext = sealapi.Ciphertext()
            ciphertext.load(seal_context, path)
            conjugate = sealapi.Ciphertext()
            sealapi.Evaluator(seal_context).complex_conjugate(ciphertext, galois, conjugate)
            os.ftruncate(fd, 0)
            conjugate.save(path)
            with open(path, "rb") as handle:
                message.ciphertexts[0] = handle.read()
        finally:
            os.close(fd)
        return ts.ckks_vector_from(context._ts, message.SerializeToString())
    except _PARSE_ERRORS as exc:
        raise ContextInvalid(
            "GALOIS_KEYS_MISSING",
            "the context's Galois keys lack the complex conjugation the match needs",
        ) from exc


def match_face(
    *,
    context: bytes,
    query: bytes,
    template: npt.ArrayLike,
    tau: float,
    limits: CkksLimits = FACE_MATCH_LIMITS,
) -> bytes:
    """Validate the partner's context and query bytes and answer (:func:`face_match`, fresh
    blinding): what :class:`enclave.compute.LocalCkks` and a CKKS worker run."""
    loaded = load_face_match_context(context, limits)
    return face_match(load_ciphertext(loaded, query, limits), template, tau)
