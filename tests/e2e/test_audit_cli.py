"""`dataward audit verify | checkpoint | tail | who-checked` against a real zone directory."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from dataward.transparency import load_public_key, open_checkpoint
from enclave.audit import AuditLog, Decision, RequestReceived, zone_log_name
from enclave.keys import PUBLIC_KEY_FILE, init_zone, open_keyring
from launcher._cmd_audit import AUDIT_DB
from launcher.settings import AuditSettings
from portal import Portal, PortalConfig, PortalKey

MASTER = "correct horse battery staple"
PERSON = "110101199003070134"
ROOT = Path(__file__).resolve().parents[2]
R1, R2 = "1" * 32, "2" * 32


def _run(
    *args: str, stdin: str | None = None, master_key: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if master_key:
        env["DATAWARD_MASTER_KEY"] = MASTER
    return subprocess.run(
        [sys.executable, "-c", "from launcher.cli import main; main()", "audit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
    )


def _open_log(zone: Path) -> AuditLog:
    """The zone's own log (created by ``init_zone``), opened for writing as ``serve`` does."""
    keyring = open_keyring(zone, MASTER.encode())
    name = zone_log_name(keyring.zone_id)
    return AuditLog.open(zone / AUDIT_DB, AuditSettings(), keyring.signing_key, name, name)


def _request(i: int) -> RequestReceived:
    return RequestReceived(
        f"app-{i}", "insurer-a", "Check", "underwriting", None, None, f"{i:032x}"
    )


def _zone_with_entries(tmp_path: Path, *batches: int) -> Path:
    """A zone whose log holds ``sum(batches)`` entries, a checkpoint signed after each batch."""
    zone = tmp_path / "zone"
    init_zone(zone, MASTER.encode())
    log = _open_log(zone)
    n = 0
    for size in batches:
        for _ in range(size):
            log.append(_request(n))
            n += 1
        log.checkpoint()
    log.close()
    return zone


def _sql(zone: Path, *statements: str) -> None:
    conn = sqlite3.connect(zone / AUDIT_DB)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def _save_checkpoint(zone: Path, path: Path) -> str:
    result = _run("checkpoint", "--zone", str(zone))
    assert result.returncode == 0, result.stderr
    path.write_text(result.stdout, encoding="utf-8")
    return result.stdout


def test_verify_tail_who_checked_and_a_tampered_entry(tmp_path: Path) -> None:
    zone = tmp_path / "zone"
    init_zone(zone, MASTER.encode())
    keyring = open_keyring(zone, MASTER.encode())
    token = keyring.token("id_number", PERSON).hex()
    log = _open_log(zone)
    log.append(RequestReceived("app-1", "insurer-a", "Check", "underwriting", None, token, R1))
    log.append(Decision(R1, True, ("consent",), "v1"))
    log.append(RequestReceived("app-2", "bank-b", "Verify", "loan", None, "00" * 32, R2))
    log.checkpoint()
    log.close()

    ok = _run("verify", "--zone", str(zone))
    assert ok.returncode == 0, ok.stderr
    # zone init's checkpoint of size 0, and the one signed over the 3 entries
    assert ok.stdout.strip() == "zone log ok: 3 entries, 2 checkpoints verified"

    tail = _run("tail", "--zone", str(zone), "-n", "2")
    assert [json.loads(x)["kind"] for x in tail.stdout.splitlines()] == [
        "decision",
        "request_received",
    ]

    who = _run("who-checked", "--zone", str(zone), stdin=PERSON + "\n")
    assert who.returncode == 0, who.stderr
    (line,) = who.stdout.splitlines()
    entry = json.loads(line)
    assert set(entry) == {
        "time",
        "organization",
        "organization_name",
        "client_id",
        "purpose",
        "decision",
    }
    assert (entry["organization"], entry["decision"]) == ("insurer-a", "allow")
    assert entry["organization_name"] == "insurer-a"  # no portal here: the slug itself
    assert PERSON not in who.stdout + who.stderr

    _sql(zone, "UPDATE leaves SET leaf = replace(leaf, 'bank-b', 'bank-c') WHERE idx = 2")
    bad = _run("verify", "--zone", str(zone))
    assert bad.returncode == 65
    assert "entry 2" in bad.stderr


def test_who_checked_names_each_organization_as_the_portal_knows_it(tmp_path: Path) -> None:
    """Issue 14: the zone logs the token's `org` (a slug); the line shows the portal's name
    for it, read from the zone's portal database (and the slug for one it does not know)."""
    zone = tmp_path / "zone"
    init_zone(zone, MASTER.encode())
    token = open_keyring(zone, MASTER.encode()).token("id_number", PERSON).hex()
    log = _open_log(zone)
    log.append(RequestReceived("app-1", "insurer-a", "Check", "underwriting", None, token, R1))
    log.append(Decision(R1, True, ("consent",), "v1"))
    log.append(RequestReceived("app-2", "gone-bank", "Verify", "loan", None, token, R2))
    log.close()
    portal = Portal.open(
        PortalConfig(state_dir=zone / "portal", key=PortalKey(b"who-checked-portal-key"))
    )
    try:
        portal.admin.create_organization("Insurer A AG", "INSURER", slug="insurer-a")
    finally:
        portal.close()
    who = _run("who-checked", "--zone", str(zone), stdin=PERSON + "\n")
    assert who.returncode == 0, who.stderr
    named = [
        (e["organization"], e["organization_name"])
        for e in map(json.loads, who.stdout.splitlines())
    ]
    assert named == [("insurer-a", "Insurer A AG"), ("gone-bank", "gone-bank")]


def test_a_new_zone_has_a_log_that_verifies_with_zero_entries(tmp_path: Path) -> None:
    zone = tmp_path / "zone"
    init_zone(zone, MASTER.encode())
    result = _run("verify", "--zone", str(zone))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "zone log ok: 0 entries, 1 checkpoints verified"
    note = _run("checkpoint", "--zone", str(zone)).stdout
    assert note.splitlines()[1:3] == ["0", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="]


def test_a_log_that_goes_missing_is_an_error(tmp_path: Path) -> None:
    zone = _zone_with_entries(tmp_path, 2)
    for path in zone.glob("state/audit.db*"):
        path.unlink()
    result = _run("verify", "--zone", str(zone))
    assert result.returncode == 74
    assert "zone log: no audit log" in result.stderr


def test_checkpoint_prints_the_latest_signed_note_without_a_secret(tmp_path: Path) -> None:
    zone = _zone_with_entries(tmp_path, 2, 3)
    result = _run("checkpoint", "--zone", str(zone), master_key=False)
    assert result.returncode == 0, result.stderr
    keyring = open_keyring(zone, MASTER.encode())
    name = zone_log_name(keyring.zone_id)
    public_key = load_public_key((zone / PUBLIC_KEY_FILE).read_bytes())
    cp = open_checkpoint(result.stdout, name, public_key)
    assert (cp.origin, cp.size) == (name, 5)


def test_truncating_the_newest_entries_and_every_checkpoint_fails(tmp_path: Path) -> None:
    """Issue 8, item 6: this very tampering used to verify (ok, exit 0)."""
    zone = _zone_with_entries(tmp_path, 3, 4)
    trusted = tmp_path / "trusted.note"
    _save_checkpoint(zone, trusted)
    _sql(zone, "DELETE FROM leaves WHERE idx >= 3", "DELETE FROM checkpoints")

    plain = _run("verify", "--zone", str(zone))
    assert plain.returncode == 65, plain.stdout
    assert "no signed checkpoint" in plain.stderr

    held = _run("verify", "--zone", str(zone), "--trusted", str(trusted))
    assert held.returncode == 65, held.stdout
    assert "smaller than the trusted checkpoint" in held.stderr
    assert "covers 7 entries, only 3 are stored" in held.stderr


def test_truncating_back_to_an_older_checkpoint_fails_only_against_a_trusted_one(
    tmp_path: Path,
) -> None:
    zone = _zone_with_entries(tmp_path, 3, 4)
    trusted = tmp_path / "trusted.note"
    _save_checkpoint(zone, trusted)
    # Delete the newest entries and the checkpoints covering them; keep the older ones.
    _sql(zone, "DELETE FROM leaves WHERE idx >= 3", "DELETE FROM checkpoints WHERE size > 3")

    # Without outside trust this is indistinguishable from a log that stopped at 3 entries.
    assert _run("verify", "--zone", str(zone)).returncode == 0
    held = _run("verify", "--zone", str(zone), "--trusted", str(trusted))
    assert held.returncode == 65
    assert "zone log: the log is smaller than the trusted checkpoint" in held.stderr
    assert "entry 3 is the first missing" in held.stderr


def test_truncating_entries_the_latest_checkpoint_covers_fails(tmp_path: Path) -> None:
    zone = _zone_with_entries(tmp_path, 3, 4)
    _sql(zone, "DELETE FROM leaves WHERE idx >= 5")
    result = _run("verify", "--zone", str(zone))
    assert result.returncode == 65
    assert "truncated" in result.stderr and "entry 5 is the first missing" in result.stderr


def test_a_grown_log_is_consistent_with_a_trusted_checkpoint(tmp_path: Path) -> None:
    zone = _zone_with_entries(tmp_path, 3)
    trusted = tmp_path / "trusted.note"
    _save_checkpoint(zone, trusted)
    log = _open_log(zone)
    log.append(_request(100))
    log.checkpoint()
    log.append(_request(101))  # not signed yet
    log.close()
    result = _run("verify", "--zone", str(zone), "--trusted", str(trusted))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "zone log ok: 5 entries, 3 checkpoints verified (1 not yet signed); "
        "consistent with the trusted checkpoint of size 3"
    )


def test_a_rewritten_and_resigned_log_fails_against_a_trusted_checkpoint(tmp_path: Path) -> None:
    """Whoever holds the zone key can rebuild the whole log and re-sign every checkpoint;
    only a checkpoint saved outside the zone catches it."""
    zone = _zone_with_entries(tmp_path, 3)
    trusted = tmp_path / "trusted.note"
    _save_checkpoint(zone, trusted)
    for path in zone.glob("state/audit.db*"):
        path.unlink()
    keyring = open_keyring(zone, MASTER.encode())
    name = zone_log_name(keyring.zone_id)
    log = AuditLog.open(zone / AUDIT_DB, AuditSettings(), keyring.signing_key, name, name)
    log.checkpoint()
    for i in (0, 1, 2, 3):  # a different history: other request ids
        log.append(_request(50 + i))
    log.checkpoint()
    log.close()

    assert _run("verify", "--zone", str(zone)).returncode == 0  # consistent in itself
    held = _run("verify", "--zone", str(zone), "--trusted", str(trusted))
    assert held.returncode == 65
    assert "do not match the trusted checkpoint (size 3)" in held.stderr


def test_a_trusted_checkpoint_must_be_signed_by_the_zone(tmp_path: Path) -> None:
    zone = _zone_with_entries(tmp_path, 2)
    trusted = tmp_path / "trusted.note"
    note = _save_checkpoint(zone, trusted)
    body, _, signature = note.partition("\n\n")
    forged = body.replace("\n2\n", "\n1\n") + "\n\n" + signature
    trusted.write_text(forged, encoding="utf-8")
    result = _run("verify", "--zone", str(zone), "--trusted", str(trusted))
    assert result.returncode == 65
    assert "trusted checkpoint" in result.stderr and "does not verify" in result.stderr

    other = _zone_with_entries(tmp_path / "other", 2)
    _save_checkpoint(other, trusted)
    result = _run("verify", "--zone", str(zone), "--trusted", str(trusted))
    assert result.returncode == 65
    assert "trusted checkpoint" in result.stderr


def test_a_missing_trusted_file_is_a_usage_error(tmp_path: Path) -> None:
    zone = _zone_with_entries(tmp_path, 1)
    result = _run("verify", "--zone", str(zone), "--trusted", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert "--trusted" in result.stderr
