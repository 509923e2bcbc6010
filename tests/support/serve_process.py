"""`dataward serve` as a real subprocess on port 0, for the tests of its stderr and metrics."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.zone_source import MASTER_KEY

__all__ = ["DATAWARD", "Served", "start_serve", "stop_serve"]

DATAWARD = [sys.executable, "-c", "from launcher.cli import main; main()"]


@dataclass
class Served:
    process: subprocess.Popen[str]
    grpc_port: int
    portal_url: str
    stdout: list[str]
    metrics_url: str = ""


def start_serve(zone: Path, env: dict[str, str]) -> Served:
    """Start serve and read its stdout up to the last address it prints."""
    base = {
        "LC_ALL": "C.UTF-8",
        "PATH": "/usr/bin:/bin",
        "DATAWARD_MASTER_KEY": MASTER_KEY.decode(),
        "DATAWARD_AUDIT_SYNCHRONOUS": "NORMAL",
    }
    binds = ["--grpc-bind", "127.0.0.1:0", "--portal-bind", "127.0.0.1:0"]
    process = subprocess.Popen(
        [*DATAWARD, "serve", "--zone", str(zone), *binds],
        env={**base, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    grpc_port, portal_url, metrics_url = 0, "", ""
    metrics = bool(env.get("DATAWARD_METRICS_BIND"))
    while not grpc_port or (metrics and not metrics_url):
        line = process.stdout.readline()
        if not line:
            process.kill()
            raise AssertionError(f"serve exited: {process.communicate(timeout=30)}")
        lines.append(line)
        if line.startswith("portal listening on "):
            portal_url = line.removeprefix("portal listening on ").strip()
        if line.startswith("grpc listening on "):
            grpc_port = int(line.rsplit(":", 1)[1])  # "grpc listening on HOST:PORT"
        if line.startswith("metrics listening on "):
            metrics_url = line.removeprefix("metrics listening on ").strip()
    return Served(process, grpc_port, portal_url, lines, metrics_url)


def stop_serve(served: Served) -> tuple[int, list[dict[str, Any]], str]:
    served.process.send_signal(signal.SIGTERM)
    out, err = served.process.communicate(timeout=60)
    served.stdout.append(out)
    return served.process.returncode, [json.loads(line) for line in err.splitlines()], err
