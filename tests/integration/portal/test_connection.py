"""How a partner connects (issue 14): the portal's RFC 8414 metadata names the zone's gRPC
target and checkpoint key, and ``Client.from_issuer`` sets a client up from it alone.

A real portal on 127.0.0.1:0; where serve would have published the zone, the test writes the
same file with :func:`portal.write_zone_target`. The metadata documents that no portal
would serve (an issuer mix-up, a token endpoint elsewhere, a forged key line) come from a
stand-in HTTP server: the attacker's, the one boundary faked here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.client import Client, DiscoveryError, discover
from dataward.client._discovery import metadata_url
from dataward.transparency import verifier_key
from portal import InvalidOptionError, PortalConfig, PortalServer, serve, write_zone_target

ZONE_NAME = "dataward-zone-zone-00112233aabbccdd"
ZONE_KEY = Ed25519PrivateKey.generate().public_key()


def _serve(tmp_path: Path, **options: Any) -> PortalServer:
    running = serve(
        PortalConfig(
            state_dir=tmp_path / "portal", bind="127.0.0.1:0", cookie_secure=False, **options
        )
    )
    running.start_in_thread()
    return running


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PortalServer]:
    running = _serve(tmp_path)
    yield running
    running.shutdown()


def _approved(server: PortalServer) -> tuple[str, str]:
    admin = server.portal.admin
    steward = admin.create_steward("steward", "correct horse battery")
    org = admin.create_organization("Insurer", "INSURER")
    user = admin.create_partner_user(org, "ins", "correct horse battery")
    app = admin.register_app(user, "pricing", ["query:run"], ["INSURANCE_UNDERWRITING"], "why")
    creds = admin.approve_app(steward, app.client_id)
    return creds.client_id, creds.client_secret


def _metadata(server: PortalServer) -> dict[str, Any]:
    got = requests.get(f"{server.url}/.well-known/oauth-authorization-server", timeout=10)
    assert got.status_code == 200
    body: dict[str, Any] = got.json()
    return body


def _publish(server: PortalServer, target: str = "127.0.0.1:50999", tls: bool = False) -> None:
    cert = Path("/nonexistent/cert.pem") if tls else None
    write_zone_target(
        server.portal.config.state_dir, target, cert, zone_key=verifier_key(ZONE_NAME, ZONE_KEY)
    )


def test_the_metadata_names_the_zone_once_serve_published_it(server: PortalServer) -> None:
    assert not any(k.startswith("dataward_") for k in _metadata(server))  # serving alone
    _publish(server)
    metadata = _metadata(server)
    assert metadata["dataward_grpc_target"] == "127.0.0.1:50999"
    assert metadata["dataward_grpc_tls"] is False
    assert metadata["dataward_zone_key_name"] == ZONE_NAME
    assert metadata["dataward_zone_public_key"] == verifier_key(ZONE_NAME, ZONE_KEY)


def test_a_zone_key_line_that_does_not_verify_is_not_published(server: PortalServer) -> None:
    name, key_id, blob = verifier_key(ZONE_NAME, ZONE_KEY).split("+", 2)
    write_zone_target(
        server.portal.config.state_dir, "127.0.0.1:1", None, zone_key=f"{name}x+{key_id}+{blob}"
    )
    metadata = _metadata(server)
    assert metadata["dataward_grpc_target"] == "127.0.0.1:1"
    assert "dataward_zone_public_key" not in metadata
    assert "dataward_zone_key_name" not in metadata


def test_the_grpc_target_setting_is_what_partners_are_told(tmp_path: Path) -> None:
    running = _serve(tmp_path, grpc_target="zone.example:443", grpc_tls=True)
    try:
        _publish(running)  # serve's loopback address: not what a partner dials
        metadata = _metadata(running)
        assert metadata["dataward_grpc_target"] == "zone.example:443"
        assert metadata["dataward_grpc_tls"] is True
    finally:
        running.shutdown()


@pytest.mark.parametrize(
    "target", ["zone.example", "zone.example:0", "https://zone:443", "a:70000"]
)
def test_a_grpc_target_that_is_not_host_port_is_refused(tmp_path: Path, target: str) -> None:
    with pytest.raises(InvalidOptionError, match="grpc_target must be host:port"):
        PortalConfig(state_dir=tmp_path, grpc_target=target)


def test_from_issuer_needs_only_the_portal_url_id_and_secret(server: PortalServer) -> None:
    client_id, secret = _approved(server)
    _publish(server, tls=True)
    with Client.from_issuer(server.url, client_id, secret, scope="query:run") as client:
        assert client.target == "127.0.0.1:50999"
        assert client.audit_public_key()[0] == ZONE_NAME  # pinned, not asked of the zone
        assert client.audit_public_key()[1].public_bytes_raw() == ZONE_KEY.public_bytes_raw()
        assert client._tokens.token().count(".") == 2  # a real token from the real portal
    with Client.from_issuer(
        server.url + "/", client_id, secret, scope="query:run", target="127.0.0.1:1"
    ) as client:
        assert client.target == "127.0.0.1:1"


def test_from_issuer_without_a_published_zone_asks_for_the_target(server: PortalServer) -> None:
    client_id, secret = _approved(server)
    with pytest.raises(DiscoveryError, match="pass target="):
        Client.from_issuer(server.url, client_id, secret, scope="query:run")
    with Client.from_issuer(
        server.url, client_id, secret, scope="query:run", target="127.0.0.1:2"
    ) as client:
        assert client.target == "127.0.0.1:2"


def test_from_issuer_takes_exactly_one_credential(server: PortalServer) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Client.from_issuer(server.url, "id", scope="query:run")
    with pytest.raises(ValueError, match="exactly one"):
        Client.from_issuer(server.url, "id", "secret", private_key=b"pem", scope="query:run")


def test_an_issuer_that_is_not_the_portals_is_refused(tmp_path: Path) -> None:
    running = _serve(tmp_path, issuer="http://portal.example")
    try:  # the document says another issuer than the URL it was fetched from
        with pytest.raises(DiscoveryError, match=r"RFC 8414 §3\.3"):
            discover(running.url)
    finally:
        running.shutdown()


def test_unreachable_or_wrong_urls_are_discovery_errors(server: PortalServer) -> None:
    with pytest.raises(DiscoveryError, match="HTTP 404"):
        discover(f"{server.url}/elsewhere")
    with pytest.raises(DiscoveryError, match="unreachable"):
        discover("http://127.0.0.1:9", timeout=2)
    with pytest.raises(DiscoveryError, match="http"):
        discover("ftp://portal.example")
    with pytest.raises(DiscoveryError, match="no query or fragment"):
        discover("https://portal.example/?x=1")


def test_the_metadata_url_keeps_the_issuers_path() -> None:  # RFC 8414 §3.1
    assert (
        metadata_url("https://p.example/tenant")
        == "https://p.example/.well-known/oauth-authorization-server/tenant"
    )
    assert metadata_url("https://p.example") == (
        "https://p.example/.well-known/oauth-authorization-server"
    )


class _Attacker:
    """A server answering one fixed metadata document (or raw bytes) for any path."""

    def __init__(self) -> None:
        self.body = b"{}"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, **document: object) -> None:
        self.body = json.dumps({"issuer": self.url, **document}).encode()


@pytest.fixture
def attacker() -> Iterator[_Attacker]:
    running = _Attacker()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_metadata_that_does_not_hold_together_is_refused(attacker: _Attacker) -> None:
    token = f"{attacker.url}/oauth/token"
    attacker.answer(token_endpoint="https://evil.example/oauth/token")
    with pytest.raises(DiscoveryError, match="token_endpoint is not on the issuer's origin"):
        discover(attacker.url)
    attacker.answer()
    with pytest.raises(DiscoveryError, match="token_endpoint"):
        discover(attacker.url)
    line = verifier_key(ZONE_NAME, ZONE_KEY)
    attacker.answer(
        token_endpoint=token, dataward_zone_public_key=line, dataward_zone_key_name="other"
    )
    with pytest.raises(DiscoveryError, match="not the name in the zone's key line"):
        discover(attacker.url)
    name, key_id, blob = line.split("+", 2)
    attacker.answer(
        token_endpoint=token,
        dataward_zone_public_key=f"{name}+{key_id}+{blob[:-4]}AAA=",
        dataward_zone_key_name=name,
    )
    with pytest.raises(DiscoveryError, match="dataward_zone_public_key"):
        discover(attacker.url)
    attacker.answer(token_endpoint=token, dataward_zone_public_key=7)
    with pytest.raises(DiscoveryError, match="not a verifier key line"):
        discover(attacker.url)
    attacker.answer(token_endpoint=token, dataward_grpc_target=5)
    with pytest.raises(DiscoveryError, match="dataward_grpc_target"):
        discover(attacker.url)
    attacker.body = b"[1, 2]"
    with pytest.raises(DiscoveryError, match="not a JSON object"):
        discover(attacker.url)
    attacker.body = b"<html>"
    with pytest.raises(DiscoveryError, match="not JSON"):
        discover(attacker.url)
    attacker.answer(token_endpoint=token, dataward_grpc_target="zone.example:1")
    got = discover(attacker.url)
    assert got.grpc_target == "zone.example:1" and got.zone_key is None
    assert not got.grpc_tls
