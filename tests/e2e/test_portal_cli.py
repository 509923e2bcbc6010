"""`dataward portal` as a real subprocess: the management subcommands and serving."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from dataward.transparency import verify_log_entries
from enclave.keys import init_zone
from portal import Portal, PortalConfig, PortalKey, create_app, read_portal_log
from portal.errors import AuthenticationError
from tests.support.portal_keys import write_legacy_keys

ROOT = Path(__file__).resolve().parents[2]
PORTAL_KEY = "portal-cli-test-portal-key"
# No DATAWARD_* from the caller's environment; the portal key only.
ENV = {"PATH": "/usr/bin:/bin", "DATAWARD_PORTAL_KEY": PORTAL_KEY}
PASSWORD = "correct horse battery"


def _cli(
    zone: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher", "portal", "--zone", str(zone), *args],
        cwd=ROOT,
        env=ENV if env is None else env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _config(zone: Path) -> PortalConfig:
    return PortalConfig(
        state_dir=zone / "portal", key=PortalKey(PORTAL_KEY.encode()), cookie_secure=False
    )


def _users(zone: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(zone / "portal" / "portal.db") as db:
        return db.execute("SELECT username, role FROM users ORDER BY id").fetchall()


def _all_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file())


@pytest.fixture
def zone(tmp_path: Path) -> Path:
    # a real zone: `dataward portal` refuses a directory that is not one (issue 14)
    zone = tmp_path / "zone"
    init_zone(zone, b"the zone's master key, not the portal's")
    return zone


def test_create_steward_reads_the_password_from_stdin(zone: Path) -> None:
    done = _cli(zone, "create-steward", "--username", "alice", stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "steward created (user id 1)\n" and done.stderr == ""

    opened = Portal.open(_config(zone))
    try:
        user = opened.admin.authenticate("alice", PASSWORD)
        assert user.username == "alice" and user.role == "STEWARD"
        with pytest.raises(AuthenticationError, match="wrong username or password"):
            opened.admin.authenticate("alice", "not the password")
    finally:
        opened.close()
    assert PASSWORD.encode() not in _all_bytes(zone)  # only the argon2 hash is stored


@pytest.mark.parametrize(
    "stdin", ["short\n", "", "\n"], ids=["too-short", "no-input", "empty-line"]
)
def test_a_too_short_password_is_refused_with_exit_65(zone: Path, stdin: str) -> None:
    done = _cli(zone, "create-steward", "--username", "alice", stdin=stdin)
    assert done.returncode == 65  # EX_DATAERR
    assert done.stderr == "error: the password must be at least 10 characters long\n"
    assert done.stdout == ""
    assert _users(zone) == []  # nothing half-created


def test_an_existing_username_is_refused_with_exit_73(zone: Path) -> None:
    assert _cli(zone, "create-steward", "--username", "alice", stdin=PASSWORD).returncode == 0
    done = _cli(zone, "create-steward", "--username", "alice", stdin="another long password\n")
    assert done.returncode == 73  # EX_CANTCREAT
    assert done.stderr == "error: this username is taken\n" and done.stdout == ""
    assert _users(zone) == [("alice", "STEWARD")]
    opened = Portal.open(_config(zone))
    try:  # the first password still works: the account was not overwritten
        assert opened.admin.authenticate("alice", PASSWORD).username == "alice"
    finally:
        opened.close()


def test_create_zone_client_prints_the_secret_once_and_stores_a_hash(zone: Path) -> None:
    done = _cli(zone, "create-zone-client")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("client_id=")
    assert lines[1].startswith("client_secret=")
    client_id = lines[0].removeprefix("client_id=")
    secret = lines[1].removeprefix("client_secret=")
    assert len(secret) >= 32

    assert secret.encode() not in _all_bytes(zone)  # db, WAL, keys: never in clear
    with sqlite3.connect(zone / "portal" / "portal.db") as db:
        (stored,) = db.execute(
            "SELECT secret_hash FROM clients WHERE client_id = ?", (client_id,)
        ).fetchone()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()

    # the printed secret authenticates the zone's client at its revocation feed
    client = create_app(_config(zone)).test_client()
    assert client.get("/oauth/revocations", auth=(client_id, secret)).status_code == 200
    assert client.get("/oauth/revocations", auth=(client_id, "x" * 43)).status_code == 401


def test_rotate_key_adds_a_kid_published_beside_the_old_one_and_logged(zone: Path) -> None:
    def jwks_kids() -> set[str]:
        app = create_app(_config(zone))
        keys = app.test_client().get("/.well-known/jwks.json").get_json()["keys"]
        return {k["kid"] for k in keys}

    before = jwks_kids()
    assert len(before) == 1
    done = _cli(zone, "rotate-key")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("new signing key ")
    kid = done.stdout.removeprefix("new signing key ").strip()
    assert kid not in before
    assert jwks_kids() == before | {kid}

    leaves = [json.loads(e.leaf) for e in read_portal_log(zone / "portal").entries]
    rotations = [leaf for leaf in leaves if leaf["kind"] == "signing_key_rotated"]
    assert rotations == [
        {
            "kind": "signing_key_rotated",
            "at": rotations[0]["at"],
            "kid": kid,
            "retired_kids": sorted(before),
        }
    ]


def test_serve_prints_its_url_answers_and_stops_cleanly_on_sigterm(zone: Path) -> None:
    assert _cli(zone, "create-steward", "--username", "alice", stdin=PASSWORD).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "launcher", "portal", "--zone", str(zone), "--bind", "127.0.0.1:0"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("portal listening on http://127.0.0.1:"), line
        url = line.removeprefix("portal listening on ").strip()
        assert not url.endswith(":0")
        metadata = requests.get(f"{url}/.well-known/oauth-authorization-server", timeout=10)
        assert metadata.status_code == 200
        assert metadata.json()["issuer"] == url
        assert metadata.json()["token_endpoint"] == f"{url}/oauth/token"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == "portal stopped\n"
    # stderr is the operational log: JSON lines only (launcher._oplog)
    events = [json.loads(line)["event"] for line in err.splitlines()]
    assert events[0] == "portal_started" and events[-1] == "portal_stopped", err

    export = read_portal_log(zone / "portal")
    summary = verify_log_entries(
        export.entries, export.checkpoints, export.key_name, export.public_key, origin=export.origin
    )
    assert summary.entries == len(export.entries) > 0
    assert summary.unsigned_entries == 0  # the shutdown checkpoint covers every entry


@pytest.mark.parametrize(
    "args", [("create-steward", "--username", "alice"), ("--bind", "127.0.0.1:0")]
)
def test_without_a_portal_key_nothing_starts_exit_78_naming_the_variables(
    zone: Path, args: tuple[str, ...]
) -> None:
    done = _cli(zone, *args, stdin=PASSWORD, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 78, done.stderr
    assert "the portal key is missing: set DATAWARD_PORTAL_KEY or DATAWARD_PORTAL_KEY_FILE" in (
        done.stderr
    )
    assert not (zone / "portal").exists()


def test_the_wrong_portal_key_is_refused_with_exit_77(zone: Path) -> None:
    assert _cli(zone, "create-steward", "--username", "alice", stdin=PASSWORD).returncode == 0
    other = {**ENV, "DATAWARD_PORTAL_KEY": "not the key these were sealed under"}
    for args in (("rotate-key",), ("--bind", "127.0.0.1:0")):
        done = _cli(zone, *args, env=other)
        assert done.returncode == 77, done.stderr
        assert done.stderr == (
            f"error: wrong portal key: the keys in {zone / 'portal' / 'keys'} were sealed "
            "under another one\n"
        )


def test_the_serving_portal_refuses_to_hold_the_master_key(zone: Path) -> None:
    env = {**ENV, "DATAWARD_MASTER_KEY": "the zone's master key, never here"}
    done = _cli(zone, "--bind", "127.0.0.1:0", env=env)
    assert done.returncode == 78
    assert "the serving portal must not hold the master key" in done.stderr
    assert not (zone / "portal").exists()


def test_the_operator_subcommands_may_derive_the_key_from_the_master_key(zone: Path) -> None:
    master_only = {"PATH": "/usr/bin:/bin", "DATAWARD_MASTER_KEY": "the zone's master key!!"}
    done = _cli(zone, "create-steward", "--username", "alice", stdin=PASSWORD, env=master_only)
    assert done.returncode == 0, done.stderr
    assert _cli(zone, "rotate-key", env=master_only).returncode == 0
    assert _cli(zone, "rotate-key").returncode == 77  # an explicit key is another key


def test_seal_keys_migrates_an_earlier_releases_plain_key_files(zone: Path) -> None:
    kid, _ = write_legacy_keys(zone / "portal")
    refused = _cli(zone, "create-steward", "--username", "alice", stdin=PASSWORD)
    assert refused.returncode == 78
    assert "3 key files in clear" in refused.stderr and "dataward portal seal-keys" in (
        refused.stderr
    )

    done = _cli(zone, "seal-keys")
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == (
        f"sealed 3 key files: jwt/{kid}.json, portal-log-key.pem, session.key "
        "(the session key replaced)"
    )
    assert second.startswith("new signing key ") and kid not in second
    assert _cli(zone, "seal-keys").stdout == "no key files in clear: nothing to seal\n"
    assert _cli(zone, "create-steward", "--username", "alice", stdin=PASSWORD).returncode == 0
    data = _all_bytes(zone / "portal" / "keys")
    assert b"PRIVATE KEY" not in data and b'"d"' not in data
