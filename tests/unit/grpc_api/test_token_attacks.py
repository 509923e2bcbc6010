"""The token attacks of issue 8's attack run that held, kept as regression tests, plus the
operator tokens of the single-writer fix (fault 1) and not-yet-valid tokens (fault 5).

Against the real :class:`TokenVerifier` with a key source that serves one ES256 key (the fake
implements ``keys_for`` as :class:`grpc_api.JwksCache` does)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from grpc_api import OperatorKey, TokenVerifier, Unauthenticated, mint_operator_token
from grpc_api._operator import OPERATOR_KID

ISSUER, AUDIENCE = "https://portal.example", "dataward-zone"
KEY = ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256"})
STRANGER = ECKey.generate_key("P-256", parameters={"kid": "k1", "alg": "ES256"})
ZONE_KEY = Ed25519PrivateKey.generate()
OPERATOR = OperatorKey("urn:dataward:operator:zone-1", ZONE_KEY.public_key())


class _Keys:
    """Serves the portal's one public key under its kid (the JwksCache interface)."""

    def keys_for(self, kid: str) -> KeySet:
        if kid != "k1":
            raise Unauthenticated("the access token names an unknown key")
        return KeySet([ECKey.import_key(KEY.as_dict(private=False))])


def _verifier(**kw: Any) -> TokenVerifier:
    return TokenVerifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks=_Keys(),  # type: ignore[arg-type]
        revocations=None,
        operator=OPERATOR,
        **kw,
    )


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "app-1",
        "client_id": "app-1",
        "scope": "eligibility:check",
        "jti": "j1",
        "iat": now,
        "exp": now + 600,
        "org": "acme",
        "purposes": ["INSURANCE_UNDERWRITING"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _token(claims: dict[str, Any] | None = None, key: ECKey = KEY, kid: str = "k1") -> str:
    header = {"alg": "ES256", "typ": "at+jwt", "kid": kid}
    return jwt.encode(header, claims or _claims(), key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


def test_a_good_token_verifies() -> None:
    assert _verifier().verify(_token()).client_id == "app-1"


def _refused(token: str, reason: str = "TOKEN_INVALID", **kw: Any) -> None:
    with pytest.raises(Unauthenticated) as refused:
        _verifier(**kw).verify(token)
    assert refused.value.reason == reason


def test_alg_none_is_refused() -> None:
    _refused(_raw({"alg": "none", "typ": "at+jwt", "kid": "k1"}, _claims()))


def test_hs256_keyed_with_the_public_key_is_refused() -> None:
    header = {"alg": "HS256", "typ": "at+jwt", "kid": "k1"}
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(_claims()).encode())
    public_pem = ECKey.import_key(KEY.as_dict(private=False)).as_pem()
    mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    _refused(f"{head}.{body}.{_b64(mac)}")


def test_a_foreign_key_is_refused_with_or_without_the_same_kid() -> None:
    _refused(_token(key=STRANGER))
    _refused(_token(key=STRANGER, kid="k9"))


def test_an_edited_payload_is_refused() -> None:
    head, _, signature = _token().split(".")
    edited = _b64(json.dumps(_claims(scope="steward:admin")).encode())
    _refused(f"{head}.{edited}.{signature}")


@pytest.mark.parametrize("missing", ["exp", "jti", "client_id"])
def test_a_token_without_exp_jti_or_client_id_is_refused(missing: str) -> None:
    _refused(_token(_claims(**{missing: None})))


def test_expired_wrong_audience_and_issuer() -> None:
    _refused(_token(_claims(exp=int(time.time()) - 5)), "TOKEN_EXPIRED")
    _refused(_token(_claims(aud="another-zone")), "TOKEN_AUDIENCE")
    _refused(_token(_claims(iss="https://evil.example")), "TOKEN_ISSUER")


def test_not_yet_valid_beyond_the_leeway_and_accepted_within_it() -> None:
    now = int(time.time())
    _refused(_token(_claims(nbf=now + 600)), "TOKEN_NOT_YET_VALID")
    _refused(_token(_claims(iat=now + 3600)), "TOKEN_NOT_YET_VALID")
    _refused(_token(_claims(nbf=now + 30)), "TOKEN_NOT_YET_VALID", leeway_seconds=0)
    assert _verifier().verify(_token(_claims(nbf=now + 30, iat=now + 30)))
    _refused(_token(_claims(nbf=True)))
    _refused(_token(_claims(iat="soon")))


def test_a_cached_token_becomes_valid_when_its_time_comes() -> None:
    clock = [time.time()]
    verifier = _verifier(clock=lambda: clock[0], leeway_seconds=0)
    token = _token(_claims(nbf=int(clock[0]) + 100))
    with pytest.raises(Unauthenticated):
        verifier.verify(token)
    clock[0] += 101
    assert verifier.verify(token).client_id == "app-1"


# -- operator tokens (fault 1: the CLI's writes go through the server) ----------------------


def test_an_operator_token_carries_steward_admin_only() -> None:
    token = mint_operator_token(ZONE_KEY, issuer=OPERATOR.issuer, audience=AUDIENCE)
    principal = _verifier().verify(token)
    assert (principal.client_id, principal.organization) == ("cli", "operator")
    assert principal.scopes == frozenset({"steward:admin"})


def test_an_operator_token_from_another_zone_key_is_refused() -> None:
    other = Ed25519PrivateKey.generate()
    _refused(mint_operator_token(other, issuer=OPERATOR.issuer, audience=AUDIENCE))


def test_operator_tokens_are_refused_without_the_zone_key_configured() -> None:
    token = mint_operator_token(ZONE_KEY, issuer=OPERATOR.issuer, audience=AUDIENCE)
    verifier = TokenVerifier(
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks=_Keys(),  # type: ignore[arg-type]
        revocations=None,
    )
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def test_a_portal_style_token_under_the_operator_kid_is_refused() -> None:
    # The portal's key signing a token that names the operator kid: the zone key must verify.
    _refused(_token(kid=OPERATOR_KID))


def _operator(claims: dict[str, Any]) -> str:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )
    from joserfc.jwk import OKPKey

    pem = ZONE_KEY.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    key = OKPKey.import_key(pem)
    header = {"alg": "Ed25519", "typ": "at+jwt", "kid": OPERATOR_KID}
    return jwt.encode(header, claims, key, algorithms=["Ed25519"])


def test_an_operator_token_with_more_scope_a_long_life_or_the_portal_issuer_is_refused() -> None:
    now = int(time.time())
    base = _claims(
        iss=OPERATOR.issuer,
        scope="steward:admin",
        purposes=None,
        nbf=now,
        exp=now + 60,
        client_id="cli",
        org="operator",
    )
    assert _verifier().verify(_operator(base))
    _refused(_operator({**base, "scope": "steward:admin eligibility:check"}))
    _refused(_operator({**base, "purposes": ["INSURANCE_UNDERWRITING"]}))
    _refused(_operator({**base, "exp": now + 3600}))
    _refused(_operator({k: v for k, v in base.items() if k not in ("nbf", "iat")}))
    _refused(_operator({**base, "iss": ISSUER}), "TOKEN_ISSUER")
    # Issue 8 review: an operator token naming a partner would log the operator's steward
    # actions as that partner's.
    _refused(_operator({**base, "org": "2"}))
    _refused(_operator({**base, "client_id": "dw_insurer"}))


def test_minting_refuses_a_long_lived_operator_token() -> None:
    with pytest.raises(ValueError, match=r"1\.\.300"):
        mint_operator_token(ZONE_KEY, issuer=OPERATOR.issuer, audience=AUDIENCE, ttl_seconds=3600)
