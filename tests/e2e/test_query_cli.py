"""`dataward query explain|run` as a partner would run them, against `serve`'s stack: a real
portal issuing the app's token, the real gRPC server, the policy the steward put in force;
every receipt verified against the zone's published key; refusals are exit codes."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.release import Caller
from launcher._wiring import Serving, start_serving
from launcher.settings import Secret, load_settings
from policies import default_policy_text
from synthetic import generate

ROOT = Path(__file__).resolve().parents[2]
MASTER = b"query-cli-master-key-0123456789"
UW = "INSURANCE_UNDERWRITING"
RESEARCH = "RESEARCH"
BY_SCHEME = "SELECT scheme, status, COUNT(*) AS n FROM enrolment_analysis GROUP BY scheme, status"
BY_AGE = (
    "SELECT age_band, COUNT(DISTINCT person_key) AS persons, SUM(total_cents) AS total"
    " FROM claims_analysis GROUP BY age_band ORDER BY age_band"
)


@dataclass(frozen=True)
class Partner:
    serving: Serving
    zone: Path
    client_id: str
    secret_file: Path


@pytest.fixture(scope="module")
def partner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Partner]:
    root = tmp_path_factory.mktemp("query-cli")
    zone = root / "zone"
    generate(root / "src", persons=300, seed=11)
    init_zone(zone, MASTER)
    ingest(zone, root / "src", open_keyring(zone, MASTER))
    settings = load_settings(
        overrides={
            "zone": {"dir": zone},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": {"bind": "127.0.0.1:0"},
            "audit": {"sqlite_synchronous": "NORMAL"},
        },
        environ={},
    )
    settings = dataclasses.replace(
        settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER))
    )
    serving = start_serving(settings)
    try:
        admin = serving.admin
        org = admin.create_organization("Acme Insurance", "INSURER")
        steward = admin.create_steward("steward", "correct horse battery staple 1")
        user = admin.create_partner_user(org, "acme", "correct horse battery staple 2")
        scopes = ["query:submit", "query:run"]
        app = admin.register_app(user, "pricing", scopes, [UW, RESEARCH], "price and study")
        creds = admin.approve_app(steward, app.client_id)
        policy = default_policy_text().replace(
            "organization: demo-insurer", f"organization: {org.slug}"
        )
        serving.core.policies.apply(policy, Caller("test", "zone-stewards"), "test-policy.yaml")
        secret_file = root / "secret"
        secret_file.write_text(creds.client_secret + "\n", encoding="utf-8")
        yield Partner(serving, zone, creds.client_id, secret_file)
    finally:
        serving.stop()


def _query(
    partner: Partner, *args: str, sql: str = "", purpose: str | None = UW
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "launcher",
            "query",
            *args,
            "--zone",
            str(partner.zone),
            "--client-id",
            partner.client_id,
            "--client-secret-file",
            str(partner.secret_file),
            *(("--purpose", purpose) if purpose else ()),
        ],
        cwd=ROOT,
        env={"PATH": os.defpath},
        input=sql,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_explain_prints_the_rule_the_checks_and_the_verified_receipt(partner: Partner) -> None:
    done = _query(partner, "explain", sql=BY_AGE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("allowed: view claims_analysis, rule aggregation")
    assert "check: a cell of fewer than 11 distinct persons is suppressed" in done.stdout
    assert "note: exact release" in done.stdout
    assert "verified" in done.stdout.splitlines()[-1]


def test_explain_of_a_refused_query_names_the_rule_and_exits_65(partner: Partner) -> None:
    sql = "SELECT person_key, COUNT(*) AS n FROM claims_analysis GROUP BY person_key"
    done = _query(partner, "explain", sql=sql)
    assert done.returncode == 65, done.stderr
    assert "rejected: COLUMN_HIDDEN(person_key)" in done.stdout


def test_run_prints_the_gated_table_and_writes_csv(partner: Partner, tmp_path: Path) -> None:
    done = _query(partner, "run", sql=BY_AGE)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["age_band", "persons", "total", "suppressed"]
    assert "exact release under policy" in lines[-1] and lines[-1].endswith("verified")
    out = tmp_path / "by-age.csv"
    written = _query(partner, "run", "--output", str(out), sql=BY_AGE)
    assert written.returncode == 0, written.stderr
    table = pacsv.read_csv(out)
    assert table.column_names == ["age_band", "persons", "total", "suppressed"]
    assert table.num_rows == len(lines) - 2  # header and summary line


@pytest.mark.parametrize(
    ("args", "sql", "code", "message"),
    [
        (("run",), "SELECT * FROM claims_analysis", 65, "query rejected: CONSTRUCT_NOT_ALLOWED"),
        (
            ("run",),
            "SELECT scheme, COUNT(*) AS n FROM enrolment_analysis GROUP BY scheme",
            77,
            "not granted",
        ),
        (("run", "--output", "x.json"), BY_AGE, 2, "FILE.csv or FILE.parquet"),
        (("run", "--int-param", "n=x"), BY_AGE, 2, "not an integer"),
        (("run",), "   ", 2, "no SQL given"),
    ],
)
def test_refusals_are_exit_codes_with_precise_messages(
    partner: Partner, args: tuple[str, ...], sql: str, code: int, message: str
) -> None:
    done = _query(partner, *args, sql=sql)
    assert done.returncode == code, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_dp_run_prints_its_noise_and_cost_and_the_same_query_again_is_free(
    partner: Partner,
) -> None:
    first = _query(partner, "run", sql=BY_SCHEME, purpose=RESEARCH)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "dp release under policy" in first.stdout
    assert "differential privacy: epsilon 1 spent" in first.stdout
    # COUNT(*): sensitivity 3 (contribution limit) over half of epsilon 1 (n and the persons)
    assert "noise of n: scale 6, 95% within" in first.stdout
    assert "noise of __persons (behind the threshold, not released)" in first.stdout
    again = _query(partner, "run", sql=BY_SCHEME, purpose=RESEARCH)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "the stored answer of the same query, no charge" in again.stdout
    # the very same numbers: the table lines are identical
    table = [
        line for line in first.stdout.splitlines() if line.startswith(("EMPLOYEE", "RESIDENT"))
    ]
    assert len(table) == 6
    assert table == [
        line for line in again.stdout.splitlines() if line.startswith(("EMPLOYEE", "RESIDENT"))
    ]
    budget = _query(partner, "budget", purpose=None)
    assert budget.returncode == 0, budget.stdout + budget.stderr
    assert "per partner per day" in budget.stdout
    assert "receipt: audit leaf" in budget.stdout and "verified" in budget.stdout
    # spend the rest of the day's 2.0 with a rephrased query, then the budget refuses: exit 75
    rephrased = BY_SCHEME.replace("COUNT(*) AS n", "COUNT(*) AS rows")
    assert _query(partner, "run", sql=rephrased, purpose=RESEARCH).returncode == 0
    refused = _query(partner, "run", sql=BY_SCHEME + " ORDER BY n", purpose=RESEARCH)
    assert refused.returncode == 75, refused.stdout + refused.stderr
    assert "privacy budget exhausted" in refused.stderr
    assert "Traceback" not in refused.stderr
