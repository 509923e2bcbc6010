"""`start_serving` runs the portal as a separate process that never sees the master key.

Real zone, real child process (`python -m launcher portal`), real servers on port 0.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from launcher._binds import AddressInUseError
from launcher._cmd_portal import portal_config
from launcher._portal_process import PortalProcess, PortalProcessError, portal_settings_toml
from launcher._wiring import Serving, start_serving
from launcher.settings import Secret, Settings, SettingsError, load_settings
from portal import Portal, PortalConfig, PortalKey
from portal.errors import WrongPortalKeyError
from tests.support.zone_source import make_source

MASTER = b"portal-process-master-key-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def zone_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    zone = root / "zone"
    init_zone(zone, MASTER)
    ingest(zone, make_source(12).write(root / "src"), open_keyring(zone, MASTER))
    return zone


def _settings(zone_dir: Path, environ: dict[str, str] | None = None) -> Settings:
    settings = load_settings(
        overrides={
            "zone": {"dir": zone_dir},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": {"bind": "127.0.0.1:0"},
            "audit": {"sqlite_synchronous": "NORMAL"},
        },
        environ=environ or {},
    )
    return dataclasses.replace(
        settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER))
    )


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie (its new parent may never reap it here)."""
    try:
        os.kill(pid, 0)
        status = Path(f"/proc/{pid}/status").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return True
    return "\nState:\tZ" in status


def _zone_clients(zone_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(zone_dir / "portal" / "portal.db") as db:
        return db.execute("SELECT client_id, status FROM clients WHERE kind = 'ZONE'").fetchall()


def test_the_portal_is_another_process_without_the_master_key(
    zone_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "master.key"
    key_file.write_bytes(MASTER)
    # The operator's shell had both set; the child must get neither.
    monkeypatch.setenv("DATAWARD_MASTER_KEY", MASTER.decode())
    monkeypatch.setenv("DATAWARD_MASTER_KEY_FILE", str(key_file))
    serving = start_serving(_settings(zone_dir))
    pid = serving.portal.pid
    try:
        assert pid != os.getpid()
        child_env = _environ(pid)
        assert "DATAWARD_MASTER_KEY" not in child_env
        assert "DATAWARD_MASTER_KEY_FILE" not in child_env
        assert not any(MASTER.decode() in value for value in child_env.values())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[1:4] == [b"-m", b"launcher", b"portal"]
        assert serving.portal_url.startswith("http://127.0.0.1:")
        assert serving.api.port > 0
        assert not serving.portal_failed
        # This process runs no portal HTTP server (the in-process one ran as "portal-http").
        assert "portal-http" not in {thread.name for thread in threading.enumerate()}
    finally:
        serving.stop()
    assert _gone(pid)
    assert serving.portal.returncode == 0  # SIGTERM: a clean stop with its last checkpoint
    serving.stop()  # idempotent


def test_each_start_replaces_the_zone_client_and_revokes_the_old_one(zone_dir: Path) -> None:
    before = {client_id for client_id, _ in _zone_clients(zone_dir)}
    for _ in range(2):
        start_serving(_settings(zone_dir)).stop()
    clients = dict(_zone_clients(zone_dir))
    new = [client_id for client_id in clients if client_id not in before]
    assert len(new) == 2
    assert [status for status in clients.values()].count("APPROVED") == 1
    assert clients[new[0]] == "REVOKED" and clients[new[1]] == "APPROVED"


def test_a_dead_portal_stops_the_grpc_api(zone_dir: Path) -> None:
    serving: Serving = start_serving(_settings(zone_dir))
    try:
        os.kill(serving.portal.pid, 9)
        timed_out = serving.api.server.wait_for_termination(timeout=20)
        assert not timed_out, "the gRPC API kept serving without its portal"
        assert serving.portal_failed
    finally:
        serving.stop()
    assert _gone(serving.portal.pid)


def test_a_portal_that_cannot_start_is_a_clear_error(zone_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortalProcessError, match="exited before serving") as raised:
            PortalProcess.start(_settings(zone_dir), f"127.0.0.1:{port}", timeout=120)
    assert "stderr ends with" in str(raised.value)
    assert f"--bind: 127.0.0.1:{port} is already in use" in str(raised.value)


def test_a_taken_portal_address_stops_serve_before_the_portal_starts(zone_dir: Path) -> None:
    # issue 14: tried before anything starts, the option named (exit 69), not the child's tail
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AddressInUseError) as raised:
            start_serving(_settings(zone_dir), portal_bind=f"127.0.0.1:{port}")
    assert str(raised.value).startswith(f"--portal-bind: 127.0.0.1:{port} is already in use")


# A parent that starts the portal child exactly as `dataward serve` does, says who it started,
# and then waits to be killed.
_PARENT = """
import dataclasses, sys, time
from pathlib import Path
from launcher._portal_process import PortalProcess
from launcher.settings import load_settings
settings = load_settings(
    overrides={"zone": {"dir": Path(sys.argv[1])}, "portal": {"cookie_secure": False}},
    environ={"DATAWARD_PORTAL_KEY": "a portal key of its own"},
)
child = PortalProcess.start(settings, "127.0.0.1:0")
print(child.pid, child.url, flush=True)
time.sleep(600)
"""


def test_a_sigkilled_parent_leaves_no_portal_running(tmp_path: Path) -> None:
    init_zone(tmp_path / "zone", MASTER)  # the portal serves only a zone (issue 14)
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(tmp_path / "zone")],
        cwd=ROOT,
        env={"PATH": os.defpath},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    child_pid = 0
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line, "the parent exited before starting its portal"
        pid_text, url = line.split()
        child_pid = int(pid_text)
        with urllib.request.urlopen(f"{url}/.well-known/jwks.json", timeout=5) as response:
            assert response.status == 200
        parent.send_signal(signal.SIGKILL)  # no finally, no atexit: only the kernel knows
        parent.wait(10)
        deadline = time.monotonic() + 20
        while not _gone(child_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(child_pid), "the portal outlived its SIGKILLed parent"
        with pytest.raises((urllib.error.URLError, OSError)):
            urllib.request.urlopen(f"{url}/.well-known/jwks.json", timeout=2)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        if child_pid and not _gone(child_pid):
            os.kill(child_pid, signal.SIGKILL)


PORTAL_KEY = "the portal's own key, 32 bytes.."


def _new_zone(root: Path) -> Path:
    zone = root / "zone"
    init_zone(zone, MASTER)
    ingest(zone, make_source(4).write(root / "src"), open_keyring(zone, MASTER))
    return zone


def test_the_portal_key_reaches_the_child_through_a_pipe_and_seals_its_keys(
    tmp_path: Path,
) -> None:
    zone_dir = _new_zone(tmp_path)
    settings = _settings(zone_dir, {"DATAWARD_PORTAL_KEY": PORTAL_KEY})
    assert PORTAL_KEY not in portal_settings_toml(settings, "127.0.0.1:0")
    assert "key =" not in portal_settings_toml(settings, "127.0.0.1:0")
    serving = start_serving(settings)
    pid = serving.portal.pid
    try:
        child_env = _environ(pid)
        assert "DATAWARD_PORTAL_KEY" not in child_env
        named = child_env["DATAWARD_PORTAL_KEY_FILE"]
        assert named.startswith("/dev/fd/")
        assert os.readlink(f"/proc/{pid}/fd/{named.removeprefix('/dev/fd/')}").startswith("pipe:")
        visible = Path(f"/proc/{pid}/cmdline").read_bytes() + repr(child_env).encode()
        assert PORTAL_KEY.encode() not in visible and MASTER not in visible
    finally:
        serving.stop()
    assert serving.portal.returncode == 0
    # Sealed under that key, and only that one: not the one `serve` derives without it.
    Portal.open(
        PortalConfig(state_dir=zone_dir / "portal", key=PortalKey(PORTAL_KEY.encode()))
    ).close()
    with pytest.raises(WrongPortalKeyError):
        Portal.open(portal_config(_settings(zone_dir)))
    for path in (zone_dir / "portal" / "keys").rglob("*"):
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes() and b'"d"' not in path.read_bytes()


def test_without_a_portal_key_serve_derives_one_from_the_master_key(zone_dir: Path) -> None:
    start_serving(_settings(zone_dir)).stop()
    derived = portal_config(_settings(zone_dir)).key
    assert derived is not None and MASTER not in derived.value
    Portal.open(portal_config(_settings(zone_dir))).close()  # what the child sealed with
    with pytest.raises(WrongPortalKeyError):
        Portal.open(PortalConfig(state_dir=zone_dir / "portal", key=PortalKey(MASTER)))


def test_the_portal_key_may_not_be_the_master_key(tmp_path: Path) -> None:
    zone_dir = _new_zone(tmp_path)
    with pytest.raises(SettingsError, match="must not be the master key"):
        start_serving(_settings(zone_dir, {"DATAWARD_PORTAL_KEY": MASTER.decode()}))
    assert not (zone_dir / "portal").exists()
