"""Interoperability: a real portal on 127.0.0.1:0, a token from Authlib's requests client,
and the ES256 signature checked with `cryptography` directly against the served JWKS
(independent of joserfc, which signed it)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from portal import PortalConfig, PortalServer, serve


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PortalServer]:
    running = serve(
        PortalConfig(state_dir=tmp_path / "portal", bind="127.0.0.1:0", cookie_secure=False)
    )
    running.start_in_thread()
    yield running
    running.shutdown()


def test_authlib_client_gets_a_token_verified_independently(server: PortalServer) -> None:
    admin = server.portal.admin
    steward = admin.create_steward("steward", "correct horse battery")
    org = admin.create_organization("Insurer", "INSURER")
    user = admin.create_partner_user(org, "ins", "correct horse battery")
    app = admin.register_app(user, "pricing", ["query:run"], ["INSURANCE_UNDERWRITING"], "why")
    creds = admin.approve_app(steward, app.client_id)

    with OAuth2Session(creds.client_id, creds.client_secret, scope="query:run") as session:
        token = session.fetch_token(f"{server.url}/oauth/token", grant_type="client_credentials")
    access = token["access_token"]

    jwks = requests.get(f"{server.url}/.well-known/jwks.json", timeout=10).json()
    head_b64, payload_b64, sig_b64 = access.split(".")
    header = json.loads(_b64(head_b64))
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64(jwk["x"]), "big"), int.from_bytes(_b64(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    raw = _b64(sig_b64)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{head_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(_b64(payload_b64))
    assert claims["iss"] == server.url  # port 0 resolved into the issuer
    assert claims["scope"] == "query:run" and claims["org_kind"] == "INSURER"

    metadata = requests.get(
        f"{server.url}/.well-known/oauth-authorization-server", timeout=10
    ).json()
    assert metadata["issuer"] == server.url and metadata["jwks_uri"].startswith(server.url)


def test_rotation_keeps_the_old_key_published(server: PortalServer) -> None:
    from portal import rotate_signing_key

    before = requests.get(f"{server.url}/.well-known/jwks.json", timeout=10).json()["keys"]
    new_kid = rotate_signing_key(server.portal)
    after = requests.get(f"{server.url}/.well-known/jwks.json", timeout=10).json()["keys"]
    assert {k["kid"] for k in after} == {before[0]["kid"], new_kid}
    assert all("d" not in k for k in after)  # never a private part
