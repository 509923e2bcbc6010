"""Errors of the Paillier scoring core (part of the zone's one tree, :mod:`enclave.errors`;
the CKKS core's are in :mod:`enclave.compute.ckks_errors`)::

    ZoneError
    └── PaillierError                  a wiring bug (e.g. a pool of another key): INTERNAL
        ├── GmpyMissing               phe runs without gmpy2 (about 50x slower): refuse to start
        ├── PartnerKeyRefused         the partner's public key is not a 3072-bit Paillier
        │                             modulus; ``check`` names the check it failed
        ├── WeightsRefused            the encrypted weights are malformed: a ciphertext outside
        │                             [1, n^2) or not coprime with n (``index``), the wrong
        │                             count, a bad exponent
        ├── ModelInvalid              the model's declared shape is wrong: width, noise, bounds
        ├── FeatureOutOfBounds        a feature value outside its declared bounds: a bug of the
        │                             zone's feature pipeline (INTERNAL), never the partner's
        └── ObfuscatorPoolClosed      ``take()`` on a closed pool (INTERNAL)

Public messages name the check, the feature or the index, never a value (no ciphertext, no
modulus, no feature value).
"""

from __future__ import annotations

from typing import ClassVar

from enclave.errors import ZoneError

__all__ = [
    "FeatureOutOfBounds",
    "GmpyMissing",
    "ModelInvalid",
    "ObfuscatorPoolClosed",
    "PaillierError",
    "PartnerKeyRefused",
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
    ``prime``, ``type``)."""

    reason: ClassVar[str] = "FIELD_INVALID"

    def __init__(self, check: str, problem: str) -> None:
        self.check = check
        super().__init__(f"the partner's Paillier public key is refused ({check}): {problem}")


class WeightsRefused(PaillierError):  # noqa: N818 (API names)
    """``index`` is the weight's position (None when the problem is the whole set)."""

    reason: ClassVar[str] = "FIELD_INVALID"

    def __init__(self, problem: str, index: int | None = None) -> None:
        self.index = index
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
