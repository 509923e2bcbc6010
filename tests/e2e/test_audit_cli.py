"""`dataward audit verify | tail | who-checked` against a real zone directory."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from enclave import init_zone, open_keyring
from enclave.audit import AuditLog, Decision, RequestReceived
from launcher._cmd_audit import AUDIT_DB
from launcher.settings import AuditSettings

MASTER = "correct horse battery staple"
PERSON = "110101199003070134"
ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from launcher.cli import main; main()", "audit", *args],
        cwd=ROOT,
        env={"DATAWARD_MASTER_KEY": MASTER, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
    )


def test_verify_tail_who_checked_and_a_tampered_entry(tmp_path: Path) -> None:
    zone = tmp_path / "zone"
    init_zone(zone, MASTER.encode())
    keyring = open_keyring(zone, MASTER.encode())
    origin = f"dataward.zone/{keyring.zone_id}"
    token = keyring.token("id_number", PERSON).hex()
    log = AuditLog.open(zone / AUDIT_DB, AuditSettings(), keyring.signing_key, origin, origin)
    log.append(RequestReceived("app-1", "Insurer A", "Check", "underwriting", "c1", token, "r1"))
    log.append(Decision("r1", True, ("consent",), "v1"))
    log.append(RequestReceived("app-2", "Bank B", "Verify", "loan", "c2", "00" * 32, "r2"))
    log.checkpoint()
    log.close()

    ok = _run("verify", "--zone", str(zone))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "zone log ok: 3 entries, 1 checkpoints verified"

    tail = _run("tail", "--zone", str(zone), "-n", "2")
    assert [json.loads(x)["kind"] for x in tail.stdout.splitlines()] == [
        "decision",
        "request_received",
    ]

    who = _run("who-checked", "--zone", str(zone), stdin=PERSON + "\n")
    assert who.returncode == 0, who.stderr
    (line,) = who.stdout.splitlines()
    entry = json.loads(line)
    assert set(entry) == {"time", "organization", "client_id", "purpose", "decision"}
    assert (entry["organization"], entry["decision"]) == ("Insurer A", "allow")
    assert PERSON not in who.stdout + who.stderr

    conn = sqlite3.connect(zone / AUDIT_DB)
    with conn:
        conn.execute("UPDATE leaves SET leaf = replace(leaf, 'Bank B', 'Bank C') WHERE idx = 2")
    conn.close()
    bad = _run("verify", "--zone", str(zone))
    assert bad.returncode == 65
    assert "entry 2" in bad.stderr


def test_verify_without_a_log_is_an_io_error(tmp_path: Path) -> None:
    zone = tmp_path / "zone"
    init_zone(zone, MASTER.encode())
    result = _run("verify", "--zone", str(zone))
    assert result.returncode == 74
    assert "no audit log" in result.stderr
