"""The partner's side of encrypted scoring: what the plaintext of a zone's Paillier answer means,
and the model card an auditor attests (:class:`ModelCard`, :func:`attestation_message`).

Pure functions of integers, shared by the zone and the SDK so they cannot drift (issue 12).

**What the zone returns.** For a model whose weights the partner encrypted as fixed-point
mantissas ``m_j`` with ONE exponent ``e`` (weight ``w_j = m_j * 16**e``, phe's
``EncodedNumber.BASE`` is 16), and a person's integer features ``x_j``, the zone returns a
ciphertext ``c`` (re-randomised) and the model's exponent ``e`` unchanged. Let
``S = sum(m_j * x_j)`` (an integer, possibly negative), ``eta`` the low-bit noise the policy
adds (uniform in ``[-noise, noise]``, in units of ``16**e``), ``n`` the partner's modulus and
``H = 2**(n.bit_length() - 130)``. The raw plaintext of ``c`` is::

    D = (S + eta + H + 2**width * R) mod n        R uniform in [0, (n - 2*H) // 2**width)

For every score of honest size (``|S| + noise < H``, about 2**2942 for a 3072-bit key) there
is no wrap modulo ``n``: ``D`` is the integer ``S + eta + H + 2**width * R`` and, since ``H`` is
a multiple of ``2**width``, ``D mod 2**width == (S + eta) mod 2**width``. Everything above the
low ``width`` bits is hidden by ``R`` (statistical distance below 2**-128 between any two
honest scores that agree in their low ``width`` bits). For ANY weights (even ones that make
``S`` wrap modulo ``n``), ``D`` is uniform over a set of ``(n - 2H) // 2**width`` residues for
each value of ``S mod n``, so one score tells the partner at most ``width`` bits (plus less
than 2**-127) about the features.

**How to encrypt the weights** (so the exponent is the model's, not the weights'): each
weight's mantissa :func:`weight_mantissa` at the model's one exponent, encrypted as
``public_key.raw_encrypt(mantissa % n)`` (or ``encrypt(EncodedNumber(public_key, mantissa %
n, exponent))``), never ``public_key.encrypt(weight)``, which picks an exponent per weight
from its float precision.

**How to decode.** Decrypt with ``PaillierPrivateKey.raw_decrypt`` (an integer in
``[0, n)``), never with phe's ``decrypt``: ``D`` is usually above phe's ``max_int`` (``n/3``),
which phe would read as an overflow or a negative number. Then :func:`decode_score`: the low
``width`` bits read as a two's-complement integer and scaled by ``16**exponent``. The value
is exact when the true score mantissa plus noise lies in ``[-2**(width-1), 2**(width-1))``;
outside that range it is the true value modulo ``2**width`` (declare a wider model).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "ATTESTATION_DOMAIN",
    "CARD_DOMAIN",
    "ENCODING_BASE",
    "MASK_MARGIN_BITS",
    "MAX_MODEL_VERSION",
    "MAX_WIDTH",
    "MODEL_ID",
    "MODULUS_PROOF_DOMAIN",
    "MODULUS_PROOF_ROUNDS",
    "PAILLIER_MODULUS_BYTES",
    "SCHEMES",
    "ModelCard",
    "attestation_message",
    "decode_score",
    "low_bits_signed",
    "modulus_challenges",
    "paillier_public_key",
    "split_paillier_public_key",
    "weight_mantissa",
]

ENCODING_BASE = 16
"""phe's ``EncodedNumber.BASE``: a weight ``w`` is the mantissa ``w * 16**-exponent``."""

MAX_WIDTH = 64
"""The widest output a model may declare, in bits."""

MASK_MARGIN_BITS = 130
"""``H = 2**(bit_length(n) - MASK_MARGIN_BITS)``: the offset the zone adds and the bound of an
honest score's magnitude (the 128-bit statistical margin plus the two bits ``2H`` takes)."""


def _check_width(width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"width must be an integer from 1 to {MAX_WIDTH} bits")


def low_bits_signed(plaintext: int, width: int) -> int:
    """The low ``width`` bits of ``plaintext`` as a two's-complement integer, in
    ``[-2**(width-1), 2**(width-1))``: the score mantissa plus noise, modulo ``2**width``."""
    _check_width(width)
    if isinstance(plaintext, bool) or not isinstance(plaintext, int) or plaintext < 0:
        raise ValueError("the plaintext must be a non-negative integer (raw_decrypt's answer)")
    low = plaintext & ((1 << width) - 1)
    return low - (1 << width) if low >> (width - 1) else low


def decode_score(plaintext: int, width: int, exponent: int) -> Fraction:
    """The score a zone's Paillier answer carries: :func:`low_bits_signed` of the raw
    plaintext times ``16**exponent``, exactly (a :class:`~fractions.Fraction`; ``float()``
    it if you like). ``exponent`` is the one the answer came with (the model's)."""
    if isinstance(exponent, bool) or not isinstance(exponent, int):
        raise ValueError("the exponent must be an integer")
    return low_bits_signed(plaintext, width) * Fraction(ENCODING_BASE) ** exponent


def weight_mantissa(weight: int | float | Fraction, exponent: int) -> int:
    """The integer ``m`` with ``m * 16**exponent`` nearest to ``weight`` (half to even, as
    phe's ``EncodedNumber.encode`` rounds): what the partner encrypts for a model whose one
    exponent is ``exponent``."""
    if isinstance(exponent, bool) or not isinstance(exponent, int):
        raise ValueError("the exponent must be an integer")
    if isinstance(weight, bool) or not isinstance(weight, int | float | Fraction):
        raise ValueError("a weight must be an int, a float or a Fraction")
    return round(Fraction(weight) * Fraction(ENCODING_BASE) ** -exponent)


# -- the Paillier public key and its proof of a well-formed modulus --------------------------

PAILLIER_MODULUS_BYTES = 384
"""A 3072-bit modulus, big-endian."""

MODULUS_PROOF_ROUNDS = 8
"""How many ``n``-th roots a Paillier public key carries (soundness ``2**-16`` each, since
the zone refuses a modulus with a prime factor below ``2**16``: ``2**-128`` in all)."""

MODULUS_PROOF_DOMAIN = b"dataward-paillier-modulus-proof/v1"

_PROOF_EXPAND = 3072 + 256  # bits hashed per challenge before reducing mod n (bias < 2**-256)


def modulus_challenges(n: int) -> list[int]:
    """The :data:`MODULUS_PROOF_ROUNDS` challenges ``rho_i`` in ``[0, n)`` derived from ``n``
    alone (SHAKE-256 under :data:`MODULUS_PROOF_DOMAIN`): the partner proves
    ``gcd(n, phi(n)) = 1`` by giving an ``n``-th root modulo ``n`` of each.

    Why the zone needs it: Paillier's re-randomisation and the zone's high-bit mask hide
    everything but the declared bits only when ``Z*_{n^2} = <1+n> x (Z*_n)^n``, i.e. when
    ``gcd(n, phi(n)) = 1``. For a crafted modulus (``n = p*q`` with ``p | q-1``, or
    ``p^2 | n``) that group has a quotient the zone's mask and obfuscator never touch, and
    weights carrying a component there hand the partner ``sum(a_j * x_j) mod p`` in clear
    beside the masked score. When ``gcd(n, phi(n)) > 1`` with a prime ``p`` dividing it,
    the ``n``-th powers are a subgroup of index at least ``p`` of ``Z*_n``, so a challenge
    has a root with probability at most ``1/p``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 3:
        raise ValueError("the modulus must be an integer above 2")
    seed = MODULUS_PROOF_DOMAIN + b"\x00" + n.to_bytes((n.bit_length() + 7) // 8, "big")
    out: list[int] = []
    for index in range(MODULUS_PROOF_ROUNDS):
        data = hashlib.shake_256(seed + index.to_bytes(4, "big")).digest(_PROOF_EXPAND // 8)
        out.append(int.from_bytes(data, "big") % n)
    return out


def paillier_public_key(n: int, p: int, q: int) -> bytes:
    """A card's Paillier public key: ``n`` (:data:`PAILLIER_MODULUS_BYTES`, big-endian)
    followed by the ``n``-th root modulo ``n`` of each of :func:`modulus_challenges`, same
    width -- made by the partner, who alone knows ``p`` and ``q``. ``ValueError`` when
    ``p * q != n`` or ``gcd(n, phi(n)) != 1``."""
    if p * q != n or p < 2 or q < 2:
        raise ValueError("p * q must be the modulus")
    phi = (p - 1) * (q - 1)
    try:
        d = pow(n, -1, phi)
    except ValueError:
        raise ValueError("gcd(n, phi(n)) must be 1") from None
    width = PAILLIER_MODULUS_BYTES
    if n.bit_length() > 8 * width:
        raise ValueError(f"the modulus must fit {width} bytes")
    roots = [pow(rho, d, n) for rho in modulus_challenges(n)]
    return n.to_bytes(width, "big") + b"".join(r.to_bytes(width, "big") for r in roots)


def split_paillier_public_key(data: bytes) -> tuple[int, tuple[int, ...]]:
    """``(n, roots)`` of a key :func:`paillier_public_key` made; ``ValueError`` when the
    size is not ``(1 + MODULUS_PROOF_ROUNDS) * PAILLIER_MODULUS_BYTES``. Nothing is
    verified here (the zone does: ``enclave.compute.PartnerKey.check_proof``)."""
    width = PAILLIER_MODULUS_BYTES
    if not isinstance(data, bytes) or len(data) != (1 + MODULUS_PROOF_ROUNDS) * width:
        raise ValueError(
            f"a Paillier public key is {(1 + MODULUS_PROOF_ROUNDS) * width} bytes: the modulus"
            f" and {MODULUS_PROOF_ROUNDS} roots, {width} bytes each"
        )
    parts = [int.from_bytes(data[i : i + width], "big") for i in range(0, len(data), width)]
    return parts[0], tuple(parts[1:])


# -- model cards and their attestation (shared by the zone, the SDK and the auditor's CLI) ----

CARD_DOMAIN = b"dataward-model-card/v1"
"""The first bytes hashed into a card's digest (so a digest is never mistaken for another)."""

ATTESTATION_DOMAIN = b"dataward-model-attestation/v1"
"""The first bytes of what an auditor signs."""

MODEL_ID = re.compile(r"(?!(?:[^0-9]*[0-9]){7})[a-z0-9][a-z0-9_.-]{0,63}")
"""A model id (and a feature set's or an auditor's name): 1..64 characters of a-z 0-9 _ . -,
starting with a letter or digit, with at most 6 digits in all -- a partner's free text the
zone stores and shows, so never an ID or phone number, with or without separators."""

MAX_MODEL_VERSION = 1_000_000

SCHEMES = ("PAILLIER", "CKKS")
"""The schemes a card may name (the proto's ``ModelScheme`` without its prefix)."""


def _framed(*parts: bytes) -> bytes:
    """Each part prefixed by its length (8 bytes, big-endian): no two part lists encode alike."""
    return b"".join(len(part).to_bytes(8, "big") + part for part in parts)


def _int_bytes(value: int) -> bytes:
    return str(int(value)).encode("ascii")


@dataclass(frozen=True)
class ModelCard:
    """A partner's scoring model: what it declares, its public key and its encrypted weights.

    ``purpose`` is a :class:`dataward.access.Purpose` value (e.g. ``"LOAN_ORIGINATION"``),
    ``scheme`` one of :data:`SCHEMES`. ``public_key``: Paillier, the modulus ``n`` big-endian
    (384 bytes for 3072 bits) and its proof of ``gcd(n, phi(n)) = 1``
    (:func:`paillier_public_key`); CKKS, the serialized public TenSEAL context.
    ``weight_ciphertexts``: one per weight, in the feature set's order (Paillier, 768 bytes
    big-endian each; CKKS, a serialized CKKSVector). Nothing here is checked but the shape of
    the declared fields (:meth:`problems`); the zone checks the key and ciphertexts itself.
    """

    model_id: str
    version: int
    feature_set: str
    weight_count: int
    output_bits: int
    purpose: str
    scheme: str
    exponent: int
    public_key: bytes
    weight_ciphertexts: tuple[bytes, ...]

    def problems(self) -> list[tuple[str, str]]:
        """(field, problem) for each declared field out of range; empty when the card is
        well formed."""
        found: list[tuple[str, str]] = []
        if not isinstance(self.model_id, str) or not MODEL_ID.fullmatch(self.model_id):
            found.append(("model_id", "1..64 characters of a-z 0-9 _ . -, at most 6 digits"))
        if not _is_count(self.version, MAX_MODEL_VERSION):
            found.append(("version", f"an integer from 1 to {MAX_MODEL_VERSION}"))
        if not isinstance(self.feature_set, str) or not MODEL_ID.fullmatch(self.feature_set):
            found.append(("feature_set", "a feature set's name"))
        if not _is_count(self.weight_count, 4096):
            found.append(("weight_count", "an integer from 1 to 4096"))
        if not _is_count(self.output_bits, MAX_WIDTH):
            found.append(("output_bits", f"an integer from 1 to {MAX_WIDTH}"))
        if self.scheme not in SCHEMES:
            found.append(("scheme", "PAILLIER or CKKS"))
        if not isinstance(self.purpose, str) or not self.purpose:
            found.append(("purpose", "required"))
        bad_exponent = isinstance(self.exponent, bool) or not isinstance(self.exponent, int)
        if bad_exponent or not -64 <= self.exponent <= 64:
            found.append(("exponent", "an integer from -64 to 64"))
        elif self.scheme == "CKKS" and self.exponent != 0:
            found.append(("exponent", "0 for a CKKS model"))
        if not isinstance(self.public_key, bytes) or not self.public_key:
            found.append(("public_key", "required"))
        ciphertexts = self.weight_ciphertexts
        if not isinstance(ciphertexts, tuple) or not all(isinstance(c, bytes) for c in ciphertexts):
            found.append(("weight_ciphertexts", "a tuple of bytes"))
        elif isinstance(self.weight_count, int) and len(ciphertexts) != self.weight_count:
            found.append(("weight_ciphertexts", "one per weight (weight_count)"))
        return found

    def digest(self) -> bytes:
        """SHA-256 over the card's every field, the public key and each ciphertext (framed,
        under :data:`CARD_DOMAIN`): what an auditor's attestation covers. Any change to the
        key, a ciphertext, the id, the version or a declared field changes it."""
        head = _framed(
            CARD_DOMAIN,
            self.model_id.encode("utf-8"),
            _int_bytes(self.version),
            self.feature_set.encode("utf-8"),
            _int_bytes(self.weight_count),
            _int_bytes(self.output_bits),
            self.purpose.encode("utf-8"),
            self.scheme.encode("utf-8"),
            _int_bytes(self.exponent),
            hashlib.sha256(self.public_key).digest(),
            _int_bytes(len(self.weight_ciphertexts)),
        )
        hasher = hashlib.sha256(head)
        for ciphertext in self.weight_ciphertexts:
            hasher.update(hashlib.sha256(ciphertext).digest())
        return hasher.digest()


def _is_count(value: object, top: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= top


def attestation_message(card_digest: bytes, auditor: str, expires_at: int) -> bytes:
    """What an auditor signs with Ed25519 for a card: the domain, the card's digest, the
    auditor's name and the expiry (Unix seconds), framed."""
    if not isinstance(card_digest, bytes) or len(card_digest) != 32:
        raise ValueError("a card digest is 32 bytes (SHA-256)")
    if not isinstance(auditor, str) or not MODEL_ID.fullmatch(auditor):
        raise ValueError("an auditor's name is 1..64 characters of a-z 0-9 _ . -")
    if isinstance(expires_at, bool) or not isinstance(expires_at, int) or expires_at <= 0:
        raise ValueError("the expiry is a positive number of Unix seconds")
    return _framed(ATTESTATION_DOMAIN, card_digest, auditor.encode("utf-8"), _int_bytes(expires_at))
