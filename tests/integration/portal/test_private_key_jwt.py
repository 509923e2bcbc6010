"""private_key_jwt client authentication (RFC 7523, issue 14) against a real portal on
127.0.0.1:0: the SDK's assertions buy tokens, and every assertion the RFC or the portal's
rules refuse is ``invalid_client`` -- a replayed jti, another audience, an exp too far ahead
or past, a missing jti or exp, another key, iss not sub, an unsigned or HMAC'd token."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from joserfc import jwk, jwt

from dataward.client import Client, PrivateKeyJwtTokenSource, TokenError
from portal import PortalConfig, PortalServer, serve

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PortalServer]:
    running = serve(
        PortalConfig(
            state_dir=tmp_path / "portal",
            bind="127.0.0.1:0",
            cookie_secure=False,
            client_auth_max_failures=40,
        )
    )
    running.start_in_thread()
    yield running
    running.shutdown()


class App:
    def __init__(self, server: PortalServer) -> None:
        admin = server.portal.admin
        steward = admin.create_steward(f"s{secrets.token_hex(2)}", "correct horse battery")
        org = admin.create_organization(f"Bank {secrets.token_hex(2)}", "BANK")
        self.user = admin.create_partner_user(org, f"b{secrets.token_hex(2)}", "correct horse x")
        app = admin.register_app(self.user, "scoring", ["query:run"], ["LOAN_ORIGINATION"], "y")
        creds = admin.approve_app(steward, app.client_id)
        self.client_id, self.secret = creds.client_id, creds.client_secret
        self.key = ec.generate_private_key(ec.SECP256R1())
        public = self.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        self.view = admin.register_public_key(self.user, app.client_id, public.decode())
        self.token_url = f"{server.url}/oauth/token"
        self.pem = self.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())

    def assertion(self, key: Any = None, alg: str = "ES256", **changes: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 60,
            **changes,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        signer = key if key is not None else jwk.import_key(self.pem, "EC")
        return jwt.encode({"alg": alg}, claims, signer, algorithms=[alg])

    def post(self, assertion: str, **form: str) -> requests.Response:
        return requests.post(
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "scope": "query:run",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
                **form,
            },
            timeout=10,
        )


@pytest.fixture
def app(server: PortalServer) -> App:
    return App(server)


def _refused(response: requests.Response, words: str) -> None:
    # RFC 6749 5.2: 400 (401 only when the client tried an Authorization header).
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_client", body
    assert words in body.get("error_description", ""), body


def test_the_sdk_gets_tokens_with_the_registered_key(server: PortalServer, app: App) -> None:
    source = PrivateKeyJwtTokenSource(app.token_url, app.client_id, app.pem, "query:run")
    access = source.token()
    payload = access.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["client_id"] == app.client_id and claims["scope"] == "query:run"
    assert app.view.key_id and app.view.key_id == server.portal.admin.get_app(app.client_id).key_id
    with Client.from_issuer(
        server.url, app.client_id, private_key=app.pem, scope="query:run", target="127.0.0.1:1"
    ) as client:
        assert client._tokens.token().count(".") == 2
    metadata = requests.get(
        f"{server.url}/.well-known/oauth-authorization-server", timeout=10
    ).json()
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert metadata["token_endpoint_auth_signing_alg_values_supported"] == [
        "ES256",
        "PS256",
        "Ed25519",
    ]


def test_the_secret_stops_working_once_a_key_is_registered(app: App) -> None:
    got = requests.post(
        app.token_url,
        data={"grant_type": "client_credentials", "scope": "query:run"},
        auth=(app.client_id, app.secret),
        timeout=10,
    )
    assert got.status_code == 401 and got.json()["error"] == "invalid_client"
    with pytest.raises(TokenError, match="invalid_client"):
        from dataward.client import ClientCredentialsTokenSource

        ClientCredentialsTokenSource(app.token_url, app.client_id, app.secret, "query:run").token()


def test_a_replayed_assertion_is_refused(app: App) -> None:
    assertion = app.assertion()
    assert app.post(assertion).status_code == 200
    _refused(app.post(assertion), "used before")


def test_the_audience_must_be_the_token_endpoint(server: PortalServer, app: App) -> None:
    _refused(app.post(app.assertion(aud=server.url)), "aud")
    _refused(app.post(app.assertion(aud="https://elsewhere.example/oauth/token")), "aud")


def test_exp_is_required_short_and_not_past(app: App) -> None:
    now = int(time.time())
    _refused(app.post(app.assertion(exp=now + 600)), "more than 300 s ahead")
    _refused(app.post(app.assertion(exp=now - 120, iat=now - 180)), "exp")
    _refused(app.post(app.assertion(exp=None)), "exp")
    assert app.post(app.assertion(exp=now + 290)).status_code == 200


def test_jti_iss_and_sub_are_required_as_the_rfc_says(app: App) -> None:
    _refused(app.post(app.assertion(jti=None)), "JWT ID")
    _refused(app.post(app.assertion(iss="someone-else")), "Issuer and Subject")
    _refused(app.post(app.assertion(sub=None)), "sub")
    _refused(app.post(app.assertion(sub="app-unknown", iss="app-unknown")), "does not exist")


def test_only_the_registered_key_and_its_algorithms_verify(app: App) -> None:
    stranger = jwk.import_key(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        ),
        "EC",
    )
    _refused(app.post(app.assertion(key=stranger)), "The assertion does not verify")
    hmac = jwk.import_key(b"k" * 32, "oct")
    _refused(app.post(app.assertion(key=hmac, alg="HS256")), "The assertion does not verify")
    head = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    body = app.assertion().split(".")[1]
    _refused(app.post(f"{head}.{body}."), "The assertion does not verify")
    _refused(app.post("not-a-jwt"), "Invalid JWT")


def test_an_app_with_a_secret_cannot_use_an_assertion(server: PortalServer) -> None:
    admin = server.portal.admin
    other = App(server)
    admin.issue_secret(other.user, other.client_id)  # back to a secret: the key is dropped
    assert admin.get_app(other.client_id).key_id is None
    _refused(other.post(other.assertion()), "no registered public key")


def test_failed_assertions_count_towards_the_throttle(tmp_path: Path) -> None:
    running = serve(
        PortalConfig(
            state_dir=tmp_path / "p2",
            bind="127.0.0.1:0",
            cookie_secure=False,
            client_auth_max_failures=3,
        )
    )
    running.start_in_thread()
    try:
        app = App(running)
        now = int(time.time())
        for _ in range(3):
            _refused(app.post(app.assertion(exp=now + 900)), "more than")
        throttled = app.post(app.assertion())  # the right key, but after three failures
        assert throttled.status_code == 429 and throttled.json()["error"] == "slow_down"
    finally:
        running.shutdown()


def test_the_registration_is_logged_by_thumbprint_only(server: PortalServer, app: App) -> None:
    leaves = [entry.leaf.decode() for entry in server.portal.export_log().entries]
    registered = [leaf for leaf in leaves if "client_key_registered" in leaf]
    assert len(registered) == 1
    assert app.view.key_id is not None
    assert app.view.key_id in registered[0] and "BEGIN" not in registered[0]


def test_a_key_app_revokes_and_introspects_with_assertions(app: App) -> None:
    base = app.token_url.removesuffix("/oauth/token")
    access = app.post(app.assertion()).json()["access_token"]
    form = {"client_assertion_type": ASSERTION_TYPE, "token": access}
    seen = requests.post(
        f"{base}/oauth/introspect", data={**form, "client_assertion": app.assertion()}, timeout=10
    )
    assert seen.status_code == 200 and seen.json()["active"] is True
    done = requests.post(
        f"{base}/oauth/revoke", data={**form, "client_assertion": app.assertion()}, timeout=10
    )
    assert done.status_code == 200
    again = requests.post(
        f"{base}/oauth/introspect", data={**form, "client_assertion": app.assertion()}, timeout=10
    )
    assert again.json() == {"active": False}
    # ...and the secret it had before its key does not work there either.
    refused = requests.post(
        f"{base}/oauth/introspect",
        data={"token": access},
        auth=(app.client_id, app.secret),
        timeout=10,
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_a_client_id_beside_the_assertion_must_be_its_sub(server: PortalServer, app: App) -> None:
    other = App(server)
    _refused(app.post(app.assertion(), client_id=other.client_id), "client_id is not")
    assert app.post(app.assertion(), client_id=app.client_id).status_code == 200
