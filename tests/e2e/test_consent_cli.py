"""`dataward consent grant` against a real zone: the ID number only ever on stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.persons import check_character
from portal import Portal, PortalConfig, PortalKey
from tests.support.zone_source import MASTER_KEY, make_source

ROOT = Path(__file__).resolve().parents[2]


def _grant(zone: Path, *extra: str, stdin: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher", "consent", "grant", "--zone", str(zone), *extra],
        cwd=ROOT,
        env={"PATH": os.defpath, "DATAWARD_MASTER_KEY": MASTER_KEY.decode()},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def zone(tmp_path: Path) -> tuple[Path, list[str]]:
    """A zone whose portal has an active insurer (``acme``), a suspended bank and stewards."""
    source = make_source(10)
    z = tmp_path / "zone"
    init_zone(z, MASTER_KEY)
    ingest(z, source.write(tmp_path / "src"), open_keyring(z, MASTER_KEY))
    portal = Portal.open(
        PortalConfig(state_dir=z / "portal", key=PortalKey(b"consent-cli-portal-key"))
    )
    try:
        portal.admin.create_organization("Acme Insurance", "INSURER", slug="acme")
        portal.admin.create_organization("Paused Bank", "BANK", slug="paused-bank")
        portal.admin.suspend_organization("paused-bank")
        portal.admin.create_steward("steward", "correct horse battery staple")
    finally:
        portal.close()
    return z, source.column("persons", "id_number")


PARTNER = ("--partner", "acme", "--purpose", "INSURANCE_UNDERWRITING")


def test_grant_reads_the_number_from_stdin_and_logs_it(zone: tuple[Path, list[str]]) -> None:
    z, ids = zone
    done = _grant(z, *PARTNER, "--single-use", stdin=ids[0] + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("consent ") and "audit leaf " in done.stdout
    assert ids[0] not in done.stdout + done.stderr
    tail = subprocess.run(
        [sys.executable, "-m", "launcher", "audit", "tail", "--zone", str(z), "-n", "5"],
        cwd=ROOT,
        env={"PATH": os.defpath},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "StewardService/GrantConsent" in tail.stdout and ids[0] not in tail.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (("--id-number", "{id}"), None, 2, "shell history"),
        ((), "", 2, "no ID number on stdin"),
        ((), "{id}X", 65, "identity number"),
        ((), "{unknown}", 66, "holds no person"),
        (("--days", "0"), "{id}", 65, "valid_days"),
    ],
)
def test_bad_input_is_refused_precisely(
    zone: tuple[Path, list[str]], args: tuple[str, ...], stdin: str | None, code: int, message: str
) -> None:
    z, ids = zone
    unknown = ids[0][:14] + "999" + check_character(ids[0][:14] + "999")
    fill = {"id": ids[0], "unknown": unknown}
    done = _grant(
        z,
        *PARTNER,
        *(a.format(**fill) for a in args),
        stdin=None if stdin is None else stdin.format(**fill) + "\n",
    )
    assert done.returncode == code, (done.stdout, done.stderr)
    assert message in done.stderr
    assert ids[0] not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("partner", "message"),
    [
        ("7", "no partner organization has the slug '7' in this zone's portal"),
        ("acme-typo", "no partner organization has the slug 'acme-typo'"),
        ("data-stewards", "no partner organization has the slug 'data-stewards'"),
        ("paused-bank", "the partner organization 'paused-bank' is suspended"),
    ],
)
def test_a_partner_that_is_not_an_active_organization_is_refused_with_exit_65(
    zone: tuple[Path, list[str]], partner: str, message: str
) -> None:
    """Issue 14: before, any string was accepted and made a consent no call could match."""
    z, ids = zone
    done = _grant(
        z, "--partner", partner, "--purpose", "INSURANCE_UNDERWRITING", stdin=ids[0] + "\n"
    )
    assert (done.returncode, done.stdout) == (65, ""), done.stderr
    assert done.stderr == f"error: {message}" + done.stderr.split(message, 1)[1]
    assert done.stderr.count("\n") == 1 and ids[0] not in done.stderr


def test_a_zone_without_a_portal_knows_no_partner(tmp_path: Path) -> None:
    source = make_source(3)
    z = tmp_path / "zone"
    init_zone(z, MASTER_KEY)
    ingest(z, source.write(tmp_path / "src"), open_keyring(z, MASTER_KEY))
    done = _grant(z, *PARTNER, stdin=source.column("persons", "id_number")[0] + "\n")
    assert done.returncode == 65
    assert "no partner organization has the slug 'acme'" in done.stderr
