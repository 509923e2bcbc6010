"""A partner app's private key for ``private_key_jwt``, as a joserfc key and its algorithm.

One algorithm per key type, so that the portal knows what to expect from a registered key:
EC P-256 -> ES256, RSA (2048 bits and up) -> PS256, Ed25519 -> Ed25519 (RFC 9864's
fully-specified name). Anything else is refused here, before a request is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

if TYPE_CHECKING:
    from joserfc import jwk

__all__ = ["JOSERFC_MISSING", "MIN_RSA_BITS", "PrivateKey", "signing_key"]

JOSERFC_MISSING = (
    "private_key_jwt signs with joserfc, which is not installed: pip install 'dataward-sdk[jwt]'"
)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
MIN_RSA_BITS = 2048


def _pkcs8(key: PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def signing_key(private_key: bytes | str | PrivateKey) -> tuple[jwk.Key, str]:
    """The joserfc key and JWS ``alg`` of ``private_key`` (a PEM or a ``cryptography`` key).

    Raises ``ValueError`` naming what is wrong (never the key), ``ModuleNotFoundError``
    (saying what to install) without joserfc: it is imported only here, so the SDK installs
    without it for apps that authenticate with a secret.
    """
    try:
        from joserfc import jwk
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(JOSERFC_MISSING, name="joserfc") from error
    if isinstance(private_key, (bytes, str)):
        data = private_key.encode("ascii") if isinstance(private_key, str) else private_key
        try:
            loaded = load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError("private_key is not an unencrypted PEM private key") from exc
    else:
        loaded = private_key  # type: ignore[assignment]
    if isinstance(loaded, ec.EllipticCurvePrivateKey):
        if not isinstance(loaded.curve, ec.SECP256R1):
            raise ValueError("an EC private_key must be on P-256 (ES256)")
        return jwk.import_key(_pkcs8(loaded), "EC"), "ES256"
    if isinstance(loaded, rsa.RSAPrivateKey):
        if loaded.key_size < MIN_RSA_BITS:
            raise ValueError(f"an RSA private_key has at least {MIN_RSA_BITS} bits")
        return jwk.import_key(_pkcs8(loaded), "RSA"), "PS256"
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        return jwk.import_key(_pkcs8(loaded), "OKP"), "Ed25519"
    raise ValueError("private_key must be an EC P-256, RSA or Ed25519 private key")
