"""The partner's credentials page (issue 14): token URL, gRPC target, the zone's key and its
name, and a snippet that connects -- and who may see it."""

from __future__ import annotations

import ast
import html
import re

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import dataward.client
from dataward.transparency import load_named_public_key, verifier_key
from portal import ClientCredentials, write_zone_target
from tests.integration.portal.conftest import PASSWORD, Env, csrf_of, sign_in

ZONE_NAME = "dataward-zone-zone-0011223344556677"
ZONE_KEY = Ed25519PrivateKey.generate().public_key()


def _approved(env: Env) -> ClientCredentials:
    app = env.portal.admin.register_app(
        env.partner, "Claims desk", ["eligibility:check"], ["INSURANCE_UNDERWRITING"], "why"
    )
    return env.portal.admin.approve_app(env.steward, app.client_id)


def _field(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert match, element_id
    return html.unescape(match.group(1)).strip()


def _snippet(page: str) -> str:
    match = re.search(r'<pre class="snippet" id="snippet">(.*?)</pre>', page, re.S)
    assert match
    return html.unescape(match.group(1))


def test_the_page_says_how_to_connect_once_the_zone_is_published(env: Env) -> None:
    creds = _approved(env)
    partner = env.client()
    sign_in(partner, "banker")
    before = partner.get(f"/partner/apps/{creds.client_id}").get_data(as_text=True)
    assert "not published" in _field(before, "grpc-target")
    assert "not published" in _field(before, "zone-public-key")
    assert 'target="ZONE-HOST:PORT"' in _snippet(before)

    line = verifier_key(ZONE_NAME, ZONE_KEY)
    write_zone_target(env.portal.config.state_dir, "127.0.0.1:50051", None, zone_key=line)
    page = partner.get(f"/partner/apps/{creds.client_id}").get_data(as_text=True)
    issuer = env.portal.issuer()
    assert _field(page, "app-client-id") == creds.client_id
    assert _field(page, "token-url") == f"{issuer}/oauth/token"
    assert _field(page, "grpc-target") == "127.0.0.1:50051"
    assert _field(page, "zone-key-name") == ZONE_NAME
    assert _field(page, "zone-public-key") == line
    name, key = load_named_public_key(line.encode())  # what the page shows pins the key
    assert name == ZONE_NAME and key.public_bytes_raw() == ZONE_KEY.public_bytes_raw()

    snippet = _snippet(page)
    tree = ast.parse(snippet)  # real Python
    assert f'"{issuer}"' in snippet and f'"{creds.client_id}"' in snippet
    assert 'os.environ["DATAWARD_CLIENT_SECRET"]' in snippet
    assert f'load_named_public_key(b"{line}")' in snippet
    assert 'scope="eligibility:check"' in snippet
    assert "Purpose.INSURANCE_UNDERWRITING" in snippet
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "dataward.client"
        for alias in node.names
    }
    assert imported <= set(dataward.client.__all__)
    assert creds.client_secret not in page


def test_the_secret_is_shown_once_with_the_connection_details(env: Env) -> None:
    creds = _approved(env)
    partner = env.client()
    sign_in(partner, "banker")
    page = partner.get(f"/partner/apps/{creds.client_id}").get_data(as_text=True)
    shown = partner.post(
        f"/partner/apps/{creds.client_id}/secret", data={"csrf_token": csrf_of(page)}
    ).get_data(as_text=True)
    secret = _field(shown, "client-secret")
    assert len(secret) >= 40
    assert _field(shown, "token-url").endswith("/oauth/token")
    assert secret not in _snippet(shown)  # the snippet reads it from the environment
    again = partner.get(f"/partner/apps/{creds.client_id}").get_data(as_text=True)
    assert secret not in again and 'id="client-secret"' not in again
    assert "Rotate secret" in again
    listing = partner.get("/partner").get_data(as_text=True)
    assert f"/partner/apps/{creds.client_id}" in listing  # "How to connect"


def test_only_the_apps_organization_sees_its_page(env: Env) -> None:
    creds = _approved(env)
    other_org = env.portal.admin.create_organization("Other Insurer", "INSURER")
    env.portal.admin.create_partner_user(other_org, "stranger", PASSWORD)
    stranger = env.client()
    sign_in(stranger, "stranger")
    assert stranger.get(f"/partner/apps/{creds.client_id}").status_code == 403
    page = stranger.get("/partner").get_data(as_text=True)
    posted = stranger.post(
        f"/partner/apps/{creds.client_id}/secret", data={"csrf_token": csrf_of(page)}
    )
    assert posted.status_code == 403
    steward = env.client()
    sign_in(steward, "steward")
    assert steward.get(f"/partner/apps/{creds.client_id}").status_code == 403
    partner = env.client()
    sign_in(partner, "banker")
    assert partner.get("/partner/apps/app-does-not-exist").status_code == 404
    anonymous = env.client().get(f"/partner/apps/{creds.client_id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_a_pending_app_has_its_details_but_no_secret_form(env: Env) -> None:
    app = env.portal.admin.register_app(
        env.partner, "Later", ["query:run"], ["RESEARCH"], "analytics"
    )
    partner = env.client()
    sign_in(partner, "banker")
    page = partner.get(f"/partner/apps/{app.client_id}").get_data(as_text=True)
    assert "only once a steward approved" in page
    assert "Get credentials" not in page
    ast.parse(_snippet(page))


def _public_pem() -> str:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def test_registering_a_public_key_switches_the_app_to_private_key_jwt(env: Env) -> None:
    creds = _approved(env)
    partner = env.client()
    sign_in(partner, "banker")
    page = partner.get(f"/partner/apps/{creds.client_id}").get_data(as_text=True)
    refused = partner.post(
        f"/partner/apps/{creds.client_id}/key",
        data={"csrf_token": csrf_of(page), "public_key": "not a key"},
    )
    assert refused.status_code == 400
    assert "neither a PEM public key nor a JWK" in _field(
        refused.get_data(as_text=True), "key-error"
    )
    done = partner.post(
        f"/partner/apps/{creds.client_id}/key",
        data={"csrf_token": csrf_of(page), "public_key": _public_pem()},
    )
    assert done.status_code == 302
    page = partner.get(f"/partner/apps/{creds.client_id}").get_data(as_text=True)
    kid = env.portal.admin.get_app(creds.client_id).key_id
    assert kid and _field(page, "key-id") == kid and "Registered the public key" in page
    assert "private_key_jwt" in page
    snippet = _snippet(page)
    ast.parse(snippet)
    assert 'private_key=open("app-key.pem", "rb").read()' in snippet
    assert "DATAWARD_CLIENT_SECRET" not in snippet


def test_only_the_apps_organization_registers_its_key(env: Env) -> None:
    creds = _approved(env)
    other_org = env.portal.admin.create_organization("Other Bank", "BANK")
    env.portal.admin.create_partner_user(other_org, "stranger", PASSWORD)
    stranger = env.client()
    sign_in(stranger, "stranger")
    page = stranger.get("/partner").get_data(as_text=True)
    posted = stranger.post(
        f"/partner/apps/{creds.client_id}/key",
        data={"csrf_token": csrf_of(page), "public_key": _public_pem()},
    )
    assert posted.status_code == 403
    assert env.portal.admin.get_app(creds.client_id).key_id is None
    pending = env.portal.admin.register_app(env.partner, "Later", ["query:run"], ["RESEARCH"], "x")
    partner = env.client()
    sign_in(partner, "banker")
    page = partner.get("/partner").get_data(as_text=True)
    posted = partner.post(
        f"/partner/apps/{pending.client_id}/key",
        data={"csrf_token": csrf_of(page), "public_key": _public_pem()},
    )
    assert posted.status_code == 409
