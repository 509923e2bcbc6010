"""`dataward portal org|user ...`: onboarding without Python (issue 14).

The onboarding flow runs real subprocesses; the refusals run ``launcher.cli.main`` in-process
(the same code path, exit code and message; a subprocess costs seconds of imports each).
"""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from enclave.keys import init_zone
from launcher.cli import main
from portal import Portal, PortalConfig, PortalKey, read_portal_log

ROOT = Path(__file__).resolve().parents[2]
PORTAL_KEY = "portal-accounts-cli-test-key"
ENV = {"PATH": "/usr/bin:/bin", "DATAWARD_PORTAL_KEY": PORTAL_KEY}
PASSWORD = "correct horse battery"


def _cli(zone: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher", "portal", "--zone", str(zone), *args],
        cwd=ROOT,
        env=ENV,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _ok(zone: Path, *args: str, stdin: str = "") -> str:
    done = _cli(zone, *args, stdin=stdin)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A portal with an insurer (derived slug), a public body (given slug), a partner user and
    a steward."""
    z = tmp_path_factory.mktemp("accounts") / "zone"
    init_zone(z, b"the zone's master key, not the portal's")  # `portal` needs a zone (66)
    _ok(z, "org", "create", "--name", "Acme Insurance AG", "--kind", "insurer")
    _ok(
        z,
        "org",
        "create",
        "--name",
        "Statistics Office",
        "--kind",
        "PUBLIC_BODY",
        "--slug",
        "stats",
    )
    _ok(z, "user", "create", "--username", "ann", "--org", "acme-insurance-ag", stdin=PASSWORD)
    assert _ok(z, "user", "create", "--username", "sam", "--role", "steward", stdin=PASSWORD) == (
        "steward user sam created in data-stewards\n"
    )
    return z


def test_operators_onboard_an_organization_and_its_users_from_the_cli(zone: Path) -> None:
    assert _ok(zone, "org", "list").splitlines() == [
        "SLUG               NAME               KIND         STATUS  APPS  USERS",
        "acme-insurance-ag  Acme Insurance AG  INSURER      ACTIVE  0     1",
        "data-stewards      Data stewards      STEWARD      ACTIVE  0     1",
        "stats              Statistics Office  PUBLIC_BODY  ACTIVE  0     0",
    ]
    assert _ok(
        zone,
        "user",
        "create",
        "--username",
        "sam2",
        "--org",
        "data-stewards",
        "--role",
        "STEWARD",
        stdin=PASSWORD,
    ) == ("steward user sam2 created in data-stewards\n")
    assert _ok(zone, "user", "list", "--org", "acme-insurance-ag").splitlines() == [
        "USERNAME  ROLE     ORG                STATUS",
        "ann       PARTNER  acme-insurance-ag  ACTIVE",
    ]
    assert _ok(zone, "org", "suspend", "stats") == (
        "organization stats suspended; its live tokens are revoked\n"
    )
    assert "stats              Statistics Office  PUBLIC_BODY  SUSPENDED" in _ok(
        zone, "org", "list"
    )
    assert _ok(zone, "org", "resume", "stats") == "organization stats resumed\n"
    opened = Portal.open(
        PortalConfig(state_dir=zone / "portal", key=PortalKey(PORTAL_KEY.encode()))
    )
    try:
        assert opened.admin.authenticate("ann", PASSWORD).org_slug == "acme-insurance-ag"
    finally:
        opened.close()
    assert PASSWORD not in (zone / "portal" / "portal.db").read_bytes().decode("latin-1")


def test_a_disabled_user_is_listed_so_and_every_change_is_a_portal_log_event(zone: Path) -> None:
    _ok(zone, "user", "create", "--username", "leaver", "--org", "stats", stdin=PASSWORD)
    assert _ok(zone, "user", "disable", "leaver") == (
        "user leaver disabled; their live tokens are revoked\n"
    )
    assert "leaver    PARTNER  stats  DISABLED" in _ok(zone, "user", "list", "--org", "stats")
    kinds = [json.loads(e.leaf)["kind"] for e in read_portal_log(zone / "portal").entries]
    for kind in (
        "organization_created",
        "user_created",
        "organization_status_changed",
        "user_disabled",
    ):
        assert kind in kinds
    log = b"".join(e.leaf for e in read_portal_log(zone / "portal").entries)
    assert b"leaver" not in log and b"Statistics" not in log  # ids only


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (
            ("org", "create", "--name", "Acme Insurance AG", "--kind", "BANK"),
            "",
            73,
            "an organization with this name exists",
        ),
        (
            ("org", "create", "--name", "Other", "--kind", "BANK", "--slug", "stats"),
            "",
            73,
            "an organization with the slug 'stats' exists",
        ),
        (
            ("org", "create", "--name", "Other", "--kind", "BANK", "--slug", "Not A Slug"),
            "",
            65,
            "the slug must be 2 to 32 characters",
        ),
        (
            ("org", "create", "--name", "Other", "--kind", "CASINO"),
            "",
            2,
            "Invalid value for '--kind'",
        ),
        (
            ("org", "create", "--name", " ", "--kind", "BANK"),
            "",
            65,
            "the organization needs a name",
        ),
        (("org", "suspend", "nope"), "", 65, "no organization has the slug 'nope'"),
        (
            ("org", "resume", "acme-insurance-ag"),
            "",
            65,
            "the organization 'acme-insurance-ag' is not suspended",
        ),
        (
            ("org", "suspend", "data-stewards"),
            "",
            65,
            "the stewards' organization cannot be suspended",
        ),
        (
            ("user", "create", "--username", "x1", "--org", "nope"),
            PASSWORD,
            65,
            "no organization has the slug 'nope'",
        ),
        (
            ("user", "create", "--username", "x1"),
            PASSWORD,
            65,
            "a partner user needs an organization",
        ),
        (
            ("user", "create", "--username", "x1", "--org", "stats", "--role", "steward"),
            PASSWORD,
            65,
            "a steward belongs to the stewards' organization",
        ),
        (
            ("user", "create", "--username", "x1", "--org", "stats"),
            "short\n",
            65,
            "the password must be at least 10 characters long",
        ),
        (
            ("user", "create", "--username", "x1", "--org", "stats"),
            "",
            65,
            "the password must be at least 10 characters long",
        ),
        (
            ("user", "create", "--username", "ann", "--org", "stats"),
            PASSWORD,
            73,
            "this username is taken",
        ),
        (
            ("user", "create", "--username", "x1", "--org", "stats", "--password", PASSWORD),
            "",
            2,
            "No such option '--password'",
        ),
        (("user", "list", "--org", "nope"), "", 65, "no organization has the slug 'nope'"),
        (("user", "disable", "nobody"), "", 65, "no user has the username 'nobody'"),
    ],
)
def test_every_refusal_has_its_exit_code_and_message(
    zone: Path,
    args: tuple[str, ...],
    stdin: str,
    code: int,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("DATAWARD_CONFIG", "DATAWARD_MASTER_KEY", "DATAWARD_MASTER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATAWARD_PORTAL_KEY", PORTAL_KEY)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exited:
        main(["portal", "--zone", str(zone), *args])
    out, err = capsys.readouterr()
    assert exited.value.code == code, err
    assert message in err and out == ""
    if code != 2:  # one line, the public message (click's usage errors have their own form)
        assert err.startswith("error: ") and err.count("\n") == 1


def test_disabling_twice_is_refused(zone: Path) -> None:
    _ok(zone, "user", "create", "--username", "twice", "--org", "stats", stdin=PASSWORD)
    _ok(zone, "user", "disable", "twice")
    done = _cli(zone, "user", "disable", "twice")
    assert (done.returncode, done.stderr) == (65, "error: the user 'twice' is already disabled\n")


CREATE_TYPED = (sys.executable, "-m", "launcher", "portal")


def test_at_a_terminal_the_password_is_a_hidden_prompt_typed_twice(zone: Path) -> None:
    """stdin a terminal (a pty): the password is asked twice with echo off, never shown."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [
            *CREATE_TYPED,
            "--zone",
            str(zone),
            "user",
            "create",
            "--username",
            "typed",
            "--org",
            "stats",
        ],
        cwd=ROOT,
        env=ENV,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,  # no controlling terminal: getpass reads the pty on stdin
    )
    os.close(slave)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        while marker not in seen:
            ready, _, _ = select.select([master], [], [], 120)
            assert ready, seen
            seen += os.read(master, 1024)

    try:
        read_until(b"Password: ")
        os.write(master, PASSWORD.encode() + b"\n")
        read_until(b"Repeat for confirmation: ")
        os.write(master, PASSWORD.encode() + b"\n")
        read_until(b"created in stats")
        assert process.wait(timeout=120) == 0
    finally:
        process.kill()
        os.close(master)
    assert PASSWORD.encode() not in seen  # echo was off
    assert "typed     PARTNER  stats" in _ok(zone, "user", "list", "--org", "stats")
