"""Fixtures: a portal on a temporary state dir with a settable clock, and its accounts."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import ClientCredentials, Portal, PortalConfig, UserView, create_app

PASSWORD = "correct horse battery"
REDIRECT = "http://127.0.0.1:9999/callback"


class Clock:
    """A settable clock (real time plus an offset) the portal reads instead of time.time."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Env:
    portal: Portal
    app: Flask
    clock: Clock
    steward: UserView
    partner: UserView
    sign_in_client: str

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def approved_app(self, scopes: list[str] | None = None) -> ClientCredentials:
        app = self.portal.admin.register_app(
            self.partner,
            f"app-{secrets.token_hex(3)}",
            scopes or ["eligibility:check", "identity:verify"],
            ["LOAN_ORIGINATION"],
            "testing",
        )
        return self.portal.admin.approve_app(self.steward, app.client_id)


@pytest.fixture
def make_env(tmp_path: Path) -> Callable[..., Env]:
    def make(**overrides: object) -> Env:
        clock = Clock()
        settings: dict[str, object] = {"cookie_secure": False, **overrides}
        config = PortalConfig(state_dir=tmp_path / "portal", **settings)  # type: ignore[arg-type]
        portal = Portal.open(config, clock=clock)
        app = create_app(config, portal=portal)
        admin = portal.admin
        steward = admin.create_steward("steward", PASSWORD)
        org = admin.create_organization("Demo Bank", "BANK")
        partner = admin.create_partner_user(org, "banker", PASSWORD)
        sign_in = admin.create_sign_in_client("dataward-cli", [REDIRECT])
        return Env(portal, app, clock, steward, partner, sign_in)

    return make


@pytest.fixture
def env(make_env: Callable[..., Env]) -> Env:
    return make_env()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> None:
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_of(page)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def authorization_code(
    client: FlaskClient,
    client_id: str,
    challenge: str,
    scope: str = "audit:read",
    method: str = "S256",
) -> str:
    """Run the consent page as a signed-in user; return the code from the redirect."""
    query = (
        f"/oauth/authorize?response_type=code&client_id={client_id}"
        f"&redirect_uri={REDIRECT}&scope={scope}&state=xyz"
        f"&code_challenge={challenge}&code_challenge_method={method}"
    )
    page = client.get(query)
    assert page.status_code == 200, page.get_data(as_text=True)
    response = client.post(
        query, data={"csrf_token": csrf_of(page.get_data(as_text=True)), "decision": "approve"}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    params = parse_qs(urlsplit(response.headers["Location"]).query)
    assert params["state"] == ["xyz"]
    return params["code"][0]
