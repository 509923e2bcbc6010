"""The zone's audit log has one writer (issue 8, fault 1).

Reproduces the attack run's finding: with `dataward serve` running, `dataward consent grant`
(the README's own step) appended to the same log from another process, and from then on every
partner call answered INTERNAL until restart. Now the CLI's write goes through the server and
a second server on the same zone is refused, naming the running one. Real zone, real
portal process, real gRPC server on port 0, the CLI as a subprocess.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from dataward.client import Client, ClientCredentialsTokenSource, ConsentRequired
from dataward.v1 import audit_pb2
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from launcher._wiring import Serving, start_serving
from launcher.settings import Secret, Settings, load_settings
from tests.support.zone_source import make_source

ROOT = Path(__file__).resolve().parents[2]
MASTER = b"single-writer-master-key-0123456789"
UW = "INSURANCE_UNDERWRITING"


def _settings(zone_dir: Path) -> Settings:
    settings = load_settings(
        overrides={
            "zone": {"dir": zone_dir},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": {"bind": "127.0.0.1:0"},
            "audit": {"sqlite_synchronous": "NORMAL"},
        },
        environ={},
    )
    return dataclasses.replace(
        settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER))
    )


def _cli(
    *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher", *args],
        cwd=ROOT,
        env={"PATH": os.defpath, "DATAWARD_MASTER_KEY": MASTER.decode()},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Serving, list[str], Path]]:
    zone_dir = tmp_path / "zone"
    source = make_source(12)
    init_zone(zone_dir, MASTER)
    ingest(zone_dir, source.write(tmp_path / "src"), open_keyring(zone_dir, MASTER))
    serving = start_serving(_settings(zone_dir))
    try:
        yield serving, source.column("persons", "id_number"), zone_dir
    finally:
        serving.stop()


def _partner_client(serving: Serving) -> tuple[Client, str]:
    admin = serving.admin
    org = admin.create_organization("Acme Insurance", "INSURER")
    steward = admin.create_steward("steward", "correct horse battery staple 1")
    partner = admin.create_partner_user(org, "acme", "correct horse battery staple 2")
    # audit:read: verify_answer holds each receipt to the largest checkpoint seen (proofs)
    scopes = ["eligibility:check", "audit:read"]
    app = admin.register_app(partner, "underwriting", scopes, [UW], "pricing")
    creds = admin.approve_app(steward, app.client_id)
    tokens = ClientCredentialsTokenSource(
        f"{serving.portal_url}/oauth/token",
        creds.client_id,
        creds.client_secret,
        " ".join(scopes),
    )
    key = (serving.core.key_name, serving.core.keyring.public_key)
    return Client(f"127.0.0.1:{serving.api.port}", tokens, audit_key=key), org.slug


def test_consent_granted_by_the_cli_while_serving_is_seen_and_breaks_nothing(
    served: tuple[Serving, list[str], Path],
) -> None:
    serving, ids, zone = served
    client, org = _partner_client(serving)
    with client:
        with pytest.raises(ConsentRequired):
            client.check_eligibility(ids[0], "OUTPATIENT", UW)
        size_before = serving.core.audit.size
        done = _cli(
            "consent",
            "grant",
            "--zone",
            str(zone),
            "--partner",
            org,
            "--purpose",
            UW,
            stdin=ids[0] + "\n",
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("consent cns_") and "audit leaf " in done.stdout
        assert ids[0] not in done.stdout + done.stderr
        # The server wrote it: its own log grew, and the partner's next calls all succeed.
        assert serving.core.audit.size > size_before
        for _ in range(20):
            result = client.check_eligibility(ids[0], "OUTPATIENT", UW)
            client.verify_answer(result)
    verify = _cli("audit", "verify", "--zone", str(zone))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_second_server_on_the_same_zone_is_refused_naming_the_first(
    served: tuple[Serving, list[str], Path],
) -> None:
    serving, _, zone = served
    done = _cli(
        "serve",
        "--zone",
        str(zone),
        "--grpc-bind",
        f"127.0.0.1:{serving.api.port}",
        "--portal-bind",
        "127.0.0.1:0",
        timeout=60,
    )
    assert done.returncode == 75, (done.stdout, done.stderr)
    assert f"pid {os.getpid()}" in done.stderr
    assert f"127.0.0.1:{serving.api.port}" in done.stderr
    assert "grpc listening" not in done.stdout


class _Impostor(grpc.GenericRpcHandler):  # type: ignore[type-arg]
    """Answers every method; records what callers sent it (metadata and body sizes)."""

    def __init__(self, key_name: str) -> None:
        self.key_name = key_name
        self.calls: list[tuple[str, tuple[tuple[str, str | bytes], ...], bytes]] = []

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[bytes, bytes]:
        method = details.method

        def answer(body: bytes, context: grpc.ServicerContext) -> bytes:
            self.calls.append((method, tuple(context.invocation_metadata()), body))
            if method.endswith("/Attest"):  # a signature it cannot make
                return audit_pb2.AttestResponse(
                    key_name=self.key_name, signature=b"\0" * 64
                ).SerializeToString()
            context.abort(grpc.StatusCode.UNAVAILABLE, "try later")
            raise AssertionError("unreachable")

        return grpc.unary_unary_rpc_method_handler(answer)


def test_a_rewritten_holder_file_cannot_catch_the_operators_token_or_an_id_number(
    served: tuple[Serving, list[str], Path],
) -> None:
    """Issue 8 review (HIGH): someone who can write ZONE/state but lacks the master key
    pointed the holder file at their own server and caught the operator's steward:admin token
    and the clear ID number. The CLI now has the server prove it holds the zone's key first."""
    serving, ids, zone = served
    org = serving.admin.create_organization("Acme Insurance", "INSURER")  # --partner is checked
    impostor = _Impostor(serving.core.key_name)
    fake = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    fake.add_generic_rpc_handlers((impostor,))
    port = fake.add_insecure_port("127.0.0.1:0")
    fake.start()
    try:
        holder = zone / "state" / "audit.db.writer"
        holder.write_text(
            json.dumps({"pid": os.getpid(), "role": "server", "grpc": f"127.0.0.1:{port}"})
        )
        done = _cli(
            "consent",
            "grant",
            "--zone",
            str(zone),
            "--partner",
            org.slug,
            "--purpose",
            UW,
            stdin=ids[1] + "\n",
        )
    finally:
        fake.stop(None)
    assert done.returncode != 0 and "zone's key" in done.stderr, done.stderr
    assert [m for m, _, _ in impostor.calls] == ["/dataward.v1.AuditService/Attest"]
    sent = b"".join(body for _, _, body in impostor.calls)
    assert ids[1].encode() not in sent
    assert all(k != "authorization" for _, metadata, _ in impostor.calls for k, _ in metadata)
