"""A partner app's registered public key for ``private_key_jwt`` (RFC 7523, issue 14).

The partner pastes the PUBLIC half of the key its app signs assertions with, as a PEM
``PUBLIC KEY`` block or a JWK (or a JWK Set of one key); the portal keeps it as a JWK Set of
that one key, with ``kid`` its RFC 7638 thumbprint and ``alg`` the one algorithm its type
signs with (the SDK's choice too, ``dataward.client._keys``): EC P-256 -> ES256, RSA of 2048
bits and up -> PS256, Ed25519 -> Ed25519. Anything else is :class:`InvalidInputError` naming
what is wrong -- and a private key pasted by mistake is refused without being kept or
echoed (its owner should replace it: it was typed into a web form).
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from joserfc import jwk
from joserfc.errors import JoseError

from portal.errors import InvalidInputError

__all__ = ["ALGORITHMS", "MAX_KEY_CHARS", "parse_public_key"]

#: The algorithms a registered key may sign with, one per key type.
ALGORITHMS = ("ES256", "PS256", "Ed25519")
MAX_KEY_CHARS = 16_384
_MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
_PRIVATE = InvalidInputError(
    "public_key: this is a PRIVATE key -- it was not kept; register its public half only "
    "(and replace this key: it was pasted into a web form)"
)


def _from_pem(text: str) -> Any:
    if "PRIVATE KEY" in text:
        raise _PRIVATE
    try:
        return load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise InvalidInputError("public_key: not a PEM public key") from None


def _from_jwk(text: str) -> Any:
    try:
        document = json.loads(text)
    except ValueError:
        raise InvalidInputError("public_key: neither a PEM public key nor a JWK (JSON)") from None
    if isinstance(document, dict) and isinstance(document.get("keys"), list):
        if len(document["keys"]) != 1:
            raise InvalidInputError("public_key: a JWK Set of exactly one key")
        document = document["keys"][0]
    if not isinstance(document, dict) or not isinstance(document.get("kty"), str):
        raise InvalidInputError("public_key: a JWK is a JSON object with a 'kty'")
    if _PRIVATE_MEMBERS & set(document):
        raise _PRIVATE
    kty = document["kty"]
    if kty not in ("EC", "RSA", "OKP"):
        raise InvalidInputError("public_key: kty must be EC, RSA or OKP")
    try:
        key = jwk.import_key(document, kty)
    except (JoseError, ValueError, TypeError):
        raise InvalidInputError("public_key: the JWK's members are not a valid key") from None
    return key.public_key


def _algorithm(key: Any) -> tuple[str, str]:
    """``(kty, alg)`` of a public key the portal takes."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidInputError("public_key: an EC key must be on P-256 (ES256)")
        return "EC", "ES256"
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise InvalidInputError(f"public_key: an RSA key has at least {_MIN_RSA_BITS} bits")
        return "RSA", "PS256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "OKP", "Ed25519"
    raise InvalidInputError("public_key: an EC P-256, RSA or Ed25519 public key")


def parse_public_key(text: str) -> dict[str, Any]:
    """The JWK Set (one public key, with ``kid``, ``alg`` and ``use``) to store for ``text``."""
    text = text.strip()
    if not text:
        raise InvalidInputError("public_key: paste the app's public key (PEM or JWK)")
    if len(text) > MAX_KEY_CHARS:
        raise InvalidInputError(f"public_key: at most {MAX_KEY_CHARS} characters")
    key = _from_pem(text) if text.startswith("-----BEGIN") else _from_jwk(text)
    kty, alg = _algorithm(key)
    pem = key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    public = jwk.import_key(pem, kty)  # type: ignore[call-overload]
    member = public.as_dict(private=False)
    member.update({"kid": public.thumbprint(), "alg": alg, "use": "sig"})
    return {"keys": [member]}
