"""The public key a partner registers for private_key_jwt (issue 14): what is taken, what
is refused and why -- a private key pasted by mistake above all."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from joserfc import jwk

from portal._client_keys import parse_public_key
from portal.errors import InvalidInputError

Private = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def _public_pem(key: Private) -> str:
    public = key.public_key()
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        (ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (rsa.generate_private_key(65537, 2048), "PS256"),
        (ed25519.Ed25519PrivateKey.generate(), "Ed25519"),
    ],
)
def test_a_pem_or_jwk_public_key_becomes_a_one_key_set(key: Private, alg: str) -> None:
    stored = parse_public_key(_public_pem(key))
    (member,) = stored["keys"]
    assert member["alg"] == alg and member["use"] == "sig" and "d" not in member
    kty = member["kty"]
    public = jwk.import_key(_public_pem(key), kty)
    assert member["kid"] == public.thumbprint()
    as_jwk = json.dumps(public.as_dict(private=False))
    assert parse_public_key(as_jwk) == stored  # the same key as a JWK
    assert parse_public_key(json.dumps({"keys": [public.as_dict()]})) == stored


def test_a_private_key_is_refused_without_being_kept() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    with pytest.raises(InvalidInputError, match="PRIVATE key") as caught:
        parse_public_key(pem)
    assert pem.splitlines()[1] not in caught.value.public_message
    private_jwk = jwk.import_key(pem, "EC").as_dict(private=True)
    with pytest.raises(InvalidInputError, match="PRIVATE key"):
        parse_public_key(json.dumps(private_jwk))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "paste the app's public key"),
        ("x" * 20_000, "at most"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "not a PEM public key"),
        ("hello", "neither a PEM public key nor a JWK"),
        ("[1]", "a JSON object with a 'kty'"),
        ('{"keys": []}', "exactly one key"),
        ('{"kty": "oct", "k": "c2VjcmV0"}', "PRIVATE key"),  # a symmetric key is a secret
        ('{"kty": "OKP", "crv": "X25519", "x": "AAAA"}', "not a valid key"),
        ('{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}', "not a valid key"),
        ('{"kty": "XYZ"}', "kty must be EC, RSA or OKP"),
    ],
)
def test_what_is_not_a_usable_public_key_is_refused(text: str, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        parse_public_key(text)


def test_weak_or_other_curves_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="P-256"):
        parse_public_key(_public_pem(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(InvalidInputError, match="at least 2048 bits"):
        parse_public_key(_public_pem(rsa.generate_private_key(65537, 1024)))
