"""`dataward serve` prints the addresses it really listens on (issue 14: it printed the bare
gRPC port, and port 0 or a wrong port left the operator guessing). A real process, its
stdout read, each printed address answered."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from tests.support.zone_source import MASTER_KEY, make_source

ROOT = Path(__file__).resolve().parents[2]


def test_serve_prints_the_host_and_port_each_server_really_listens_on(tmp_path: Path) -> None:
    zone = tmp_path / "zone"
    init_zone(zone, MASTER_KEY)
    ingest(zone, make_source(10).write(tmp_path / "src"), open_keyring(zone, MASTER_KEY))
    env = {"PATH": "/usr/bin:/bin", "DATAWARD_MASTER_KEY": MASTER_KEY.decode()}
    command = [sys.executable, "-m", "launcher", "serve", "--zone", str(zone)]
    command += ["--grpc-bind", "127.0.0.1:0", "--portal-bind", "127.0.0.1:0"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        portal_line, grpc_line = proc.stdout.readline(), proc.stdout.readline()
        portal = re.fullmatch(r"portal listening on (http://127\.0\.0\.1:([0-9]+))\n", portal_line)
        served = re.fullmatch(r"grpc listening on (127\.0\.0\.1:([0-9]+))\n", grpc_line)
        assert portal is not None, portal_line + grpc_line
        assert served is not None, grpc_line
        assert int(portal[2]) > 0 and int(served[2]) > 0
        with urllib.request.urlopen(f"{portal[1]}/.well-known/jwks.json", timeout=10) as answer:
            assert answer.status == 200
        with grpc.insecure_channel(served[1]) as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
