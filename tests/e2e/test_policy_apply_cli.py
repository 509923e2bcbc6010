"""`dataward policy apply|show|history` as an operator runs them: real processes, a real zone,
and `policy apply` while `dataward serve` runs on it (issue 10: the policy in force).

Offline, `apply` opens the zone as its audit log's one writer; while a server serves the zone
it goes through that server (attestation, operator token, StewardService.ApplyPolicy, receipt
verified), and the running server answers GetPolicy with the new version without a restart.
`show` and `history` read the store read-only and work while the server serves.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from dataward.v1 import steward_pb2, steward_pb2_grpc
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.policy import empty_policy
from grpc_api import mint_operator_token, operator_issuer
from launcher._wiring import Serving, start_serving
from launcher.settings import Secret, Settings, load_settings
from policies import default_policy, default_policy_text
from tests.support.zone_source import make_source

ROOT = Path(__file__).resolve().parents[2]
MASTER = b"policy-cli-master-key-0123456789abc"
TYPO = default_policy_text().replace("min_persons:", "min_person:", 1)
SMALLER = default_policy_text().replace("min_persons: 11", "min_persons: 20", 1)


def _cli(*args: str, master: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.defpath, "LC_ALL": "C.UTF-8"}
    if master:
        env["DATAWARD_MASTER_KEY"] = MASTER.decode()
    return subprocess.run(
        [sys.executable, "-m", "launcher", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def zone(tmp_path: Path) -> Path:
    zone_dir = tmp_path / "zone"
    init_zone(zone_dir, MASTER)
    ingest(zone_dir, make_source(12).write(tmp_path / "src"), open_keyring(zone_dir, MASTER))
    return zone_dir


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_apply_show_history_offline(zone: Path, tmp_path: Path) -> None:
    shown = _cli("policy", "show", "--zone", str(zone), master=False)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "no policy applied: every query is refused"

    policy = _file(tmp_path, "policy.yaml", default_policy_text())
    done = _cli("policy", "apply", "--zone", str(zone), str(policy))
    assert done.returncode == 0, done.stderr
    version = default_policy().version
    lines = done.stdout.splitlines()
    assert lines[0] == f"version {version}" and lines[1] == "changed"
    assert lines[2].startswith("in force since ") and lines[3].startswith("audit leaf ")

    again = _cli("policy", "apply", "--zone", str(zone), str(policy))
    assert again.returncode == 0, again.stderr
    assert "unchanged: this version was already in force" in again.stdout
    assert again.stdout.splitlines()[2] == lines[2]  # since when: the first application

    shown = _cli("policy", "show", "--zone", str(zone), master=False)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"version {version}\nin force since ")
    assert "applied #1 by cli of operator" in shown.stdout
    assert "  claims_analysis " in shown.stdout and "release exact" in shown.stdout
    assert "grants (" in shown.stdout

    history = _cli("policy", "history", "--zone", str(zone), master=False)
    assert history.returncode == 0, history.stderr
    [entry] = history.stdout.splitlines()
    assert entry.split()[:2] == ["1", version] and "by cli of operator" in entry


def test_a_typo_exits_65_with_file_path_and_problem_and_the_policy_stays(
    zone: Path, tmp_path: Path
) -> None:
    good = _file(tmp_path, "policy.yaml", default_policy_text())
    assert _cli("policy", "apply", "--zone", str(zone), str(good)).returncode == 0
    typo = _file(tmp_path, "typo.yaml", TYPO)
    done = _cli("policy", "apply", "--zone", str(zone), str(typo))
    assert done.returncode == 65, done.stdout + done.stderr
    assert str(typo) in done.stderr and "min_person" in done.stderr
    assert "the policy in force stays" in done.stderr and "Traceback" not in done.stderr
    shown = _cli("policy", "show", "--zone", str(zone), master=False)
    assert shown.stdout.startswith(f"version {default_policy().version}\n")
    history = _cli("policy", "history", "--zone", str(zone), master=False)
    assert len(history.stdout.splitlines()) == 1


def test_bad_zone_and_missing_file_are_precise_errors(zone: Path, tmp_path: Path) -> None:
    missing = _cli("policy", "apply", "--zone", str(zone), str(tmp_path / "nope.yaml"))
    assert missing.returncode == 66 and "nope.yaml" in missing.stderr
    nozone = _cli("policy", "show", "--zone", str(tmp_path / "elsewhere"), master=False)
    assert nozone.returncode == 66 and "not initialized" in nozone.stderr
    nokey = _cli(
        "policy",
        "apply",
        "--zone",
        str(zone),
        str(_file(tmp_path, "p.yaml", "views: {}\ngrants: []\n")),
        master=False,
    )
    assert nokey.returncode == 78 and "DATAWARD_MASTER_KEY" in nokey.stderr


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


@pytest.fixture
def served(zone: Path) -> Iterator[Serving]:
    serving = start_serving(_settings(zone))
    try:
        yield serving
    finally:
        serving.stop()


def _get_policy(serving: Serving) -> steward_pb2.GetPolicyResponse:
    core = serving.core
    token = mint_operator_token(
        core.keyring.signing_key,
        issuer=operator_issuer(core.key_name),
        audience=_settings(Path(".")).portal.audience,
    )
    with grpc.insecure_channel(f"127.0.0.1:{serving.api.port}") as channel:
        response = steward_pb2_grpc.StewardServiceStub(channel).GetPolicy(
            steward_pb2.GetPolicyRequest(), metadata=(("authorization", f"Bearer {token}"),)
        )
    assert isinstance(response, steward_pb2.GetPolicyResponse)
    return response


def test_apply_while_serving_goes_through_the_server_without_a_restart(
    served: Serving, zone: Path, tmp_path: Path
) -> None:
    assert _get_policy(served).version == empty_policy().version
    size = served.core.audit.size
    done = _cli("policy", "apply", "--zone", str(zone), str(_file(tmp_path, "p.yaml", SMALLER)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "applied through the running server" in done.stdout
    got = _get_policy(served)
    assert got.version != empty_policy().version and done.stdout.startswith(
        f"version {got.version}"
    )
    assert served.core.policies.current().version == got.version  # the server's own snapshot
    # logged and stored under the operator's names, the same as the offline path
    assert (got.in_force.applied_by_client, got.in_force.applied_by_organization) == (
        "cli",
        "operator",
    )
    assert served.core.audit.size > size
    # read-only commands work while the server holds the zone
    shown = _cli("policy", "show", "--zone", str(zone), master=False)
    assert shown.returncode == 0 and shown.stdout.startswith(f"version {got.version}\n")
    history = _cli("policy", "history", "--zone", str(zone), master=False)
    assert history.returncode == 0 and len(history.stdout.splitlines()) == 1
    # a typo through the path that reaches the server changes nothing either
    typo = _cli("policy", "apply", "--zone", str(zone), str(_file(tmp_path, "t.yaml", TYPO)))
    assert typo.returncode == 65 and "min_person" in typo.stderr
    assert _get_policy(served).version == got.version
    # over the 1 MB document limit: a precise refusal (65) before anything is sent
    big = _file(tmp_path, "big.yaml", default_policy_text() + ("#" * 99 + "\n") * 11_000)
    too_big = _cli("policy", "apply", "--zone", str(zone), str(big))
    assert too_big.returncode == 65, too_big.stdout + too_big.stderr
    assert "over 1048576 bytes" in too_big.stderr and str(big) in too_big.stderr
    assert _get_policy(served).version == got.version
    verify = _cli("audit", "verify", "--zone", str(zone))
    assert verify.returncode == 0, verify.stdout + verify.stderr
