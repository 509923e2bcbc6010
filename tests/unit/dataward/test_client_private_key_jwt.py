"""The SDK's private_key_jwt assertions (RFC 7523 §2.2, issue 14): what they claim, which keys
sign them, and what is refused before any request is made."""

from __future__ import annotations

import base64
import json
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from joserfc import jwk, jwt

from dataward.client import PrivateKeyJwtTokenSource
from dataward.client._keys import signing_key

TOKEN_URL = "https://portal.example/oauth/token"


def _part(token: str, index: int) -> dict[str, object]:
    raw = token.split(".")[index]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return decoded


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


@pytest.mark.parametrize(
    ("make", "alg", "kty"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256", "EC"),
        (lambda: rsa.generate_private_key(65537, 2048), "PS256", "RSA"),
        (ed25519.Ed25519PrivateKey.generate, "Ed25519", "OKP"),
    ],
)
def test_an_assertion_says_who_for_whom_and_how_long(make: object, alg: str, kty: str) -> None:
    private = make()  # type: ignore[operator]
    source = PrivateKeyJwtTokenSource(
        TOKEN_URL, "app-1", _pem(private), "query:run", clock=lambda: 1_000_000.0
    )
    first, second = source.assertion(), source.assertion()
    header, claims = _part(first, 0), _part(first, 1)
    assert header["alg"] == alg and header["typ"] == "JWT"
    assert claims["iss"] == claims["sub"] == "app-1"
    assert claims["aud"] == TOKEN_URL  # RFC 7523 3: the token endpoint
    assert claims["iat"] == 1_000_000 and claims["exp"] == 1_000_060
    assert claims["jti"] != _part(second, 1)["jti"]  # a fresh jti every time
    public = jwk.import_key(private.public_key(), kty)  # type: ignore[call-overload]
    assert jwt.decode(first, public, algorithms=[alg]).claims["sub"] == "app-1"
    assert header["kid"] == public.thumbprint()


def test_a_cryptography_key_object_is_taken_too() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    source = PrivateKeyJwtTokenSource(TOKEN_URL, "app-1", key, "query:run")
    assert _part(source.assertion(), 0)["alg"] == "ES256"
    assert "BEGIN" not in repr(source) and "private key" in repr(source)


def test_keys_the_portal_does_not_take_are_refused_here() -> None:
    with pytest.raises(ValueError, match="P-256"):
        signing_key(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ValueError, match="at least 2048 bits"):
        signing_key(_pem(rsa.generate_private_key(65537, 1024)))
    encrypted = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"passphrase")
    )
    with pytest.raises(ValueError, match="unencrypted PEM private key"):
        signing_key(encrypted)
    with pytest.raises(ValueError, match="unencrypted PEM private key"):
        signing_key("not a key")
    with pytest.raises(ValueError, match="EC P-256, RSA or Ed25519"):
        signing_key(Ed448PrivateKey.generate())  # type: ignore[arg-type]


def test_assertion_lifetime_is_bounded_by_what_the_portal_takes() -> None:
    key = _pem(ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(ValueError, match=r"1\.\.300"):
        PrivateKeyJwtTokenSource(TOKEN_URL, "a", key, "s", assertion_lifetime=301)
    with pytest.raises(ValueError, match=r"1\.\.300"):
        PrivateKeyJwtTokenSource(TOKEN_URL, "a", key, "s", assertion_lifetime=0)
    with pytest.raises(ValueError, match="http"):
        PrivateKeyJwtTokenSource("portal.example/token", "a", key, "s")


def test_without_joserfc_it_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "joserfc", None)
    with pytest.raises(ModuleNotFoundError, match=r"dataward-sdk\[jwt\]"):
        signing_key(ed25519.Ed25519PrivateKey.generate())
