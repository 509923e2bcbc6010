"""`dataward audit verify` on a zone with a portal checks the portal's log too."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from enclave.audit import AuditLog, Decision, RequestReceived, zone_log_name
from enclave.keys import init_zone, open_keyring
from launcher._verify import AUDIT_DB, verify_all_logs
from launcher.settings import AuditSettings
from portal import Portal, PortalConfig

MASTER = "correct horse battery staple"
ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from launcher.cli import main; main()", "audit", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def zone(tmp_path: Path) -> Path:
    """A zone with 2 audit entries (2 checkpoints: zone init's of size 0 and one of size 2)
    and a portal with a checkpoint per action."""
    zone = tmp_path / "zone"
    init_zone(zone, MASTER.encode())
    keyring = open_keyring(zone, MASTER.encode())
    origin = zone_log_name(keyring.zone_id)  # the log init_zone created
    log = AuditLog.open(zone / AUDIT_DB, AuditSettings(), keyring.signing_key, origin, origin)
    log.append(
        RequestReceived("app-1", "insurer-a", "Check", "underwriting", None, "00" * 32, "1" * 32)
    )
    log.append(Decision("1" * 32, True, ("consent",), "v1"))
    log.checkpoint()
    log.close()
    portal = Portal.open(PortalConfig(state_dir=zone / "portal"))
    try:
        portal.admin.create_steward("steward", "correct horse battery")
        portal.checkpoint()
        org = portal.admin.create_organization("Demo Bank", "BANK")
        portal.checkpoint()
        portal.admin.create_partner_user(org, "banker", "correct horse battery")
        portal.checkpoint()
    finally:
        portal.close()
    return zone


def _portal_entries(zone: Path) -> int:
    with sqlite3.connect(zone / "portal" / "portal.db") as conn:
        (count,) = conn.execute("SELECT count(*) FROM log_entries").fetchone()
    return int(count)


def test_a_clean_zone_and_portal_both_verify(zone: Path) -> None:
    entries = _portal_entries(zone)
    result = _run("verify", "--zone", str(zone))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "zone log ok: 2 entries, 2 checkpoints verified",
        f"portal log ok: {entries} entries, 3 checkpoints verified",
    ]
    assert verify_all_logs(zone) == [
        "zone log ok: 2 entries, 2 checkpoints verified",
        f"portal log ok: {entries} entries, 3 checkpoints verified",
    ]


def test_an_edited_portal_leaf_fails_naming_the_portal_log_and_the_entry(zone: Path) -> None:
    last = _portal_entries(zone)  # ids are 1-based: the last entry is index last - 1
    with sqlite3.connect(zone / "portal" / "portal.db") as conn:
        (leaf,) = conn.execute("SELECT leaf FROM log_entries WHERE id = ?", (last,)).fetchone()
        event = json.loads(leaf)
        event["at"] -= 3600  # backdate the event, keeping it canonical JSON
        edited = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
        conn.execute("UPDATE log_entries SET leaf = ? WHERE id = ?", (edited, last))
    result = _run("verify", "--zone", str(zone))
    assert result.returncode == 65, result.stdout + result.stderr
    assert "portal log" in result.stderr
    assert f"first bad entry: {last - 1}" in result.stderr


def test_a_portal_without_its_database_is_an_error_not_a_pass(zone: Path) -> None:
    (zone / "portal" / "portal.db").unlink()
    result = _run("verify", "--zone", str(zone))
    assert result.returncode == 74
    assert "portal log: no portal database" in result.stderr


def test_a_bad_zone_log_is_named_as_the_zone_log(zone: Path) -> None:
    with sqlite3.connect(zone / AUDIT_DB) as conn:
        conn.execute("UPDATE leaves SET leaf = replace(leaf, 'insurer-a', 'insurer-b')")
    result = _run("verify", "--zone", str(zone))
    assert result.returncode == 65
    assert "zone log" in result.stderr and "entry 0" in result.stderr
