"""Crash safety of differentially private answers, with real processes and kill -9 (issue 11).

A child process (``tests.support.dp_child``: the real query path over the real SQLite audit
log, budget ledger file and DuckDB) answers one DP query and SIGKILLs itself at one point --
between the charge and the release, during the result store, during the release -- the
fault injected by subclassing or wrapping in the child only. Then a fresh process (this one)
opens the same files and asks the same query twice. Whatever the point:

- never a double charge: the ledger holds one charge, the query's, and verifies;
- never an un-noised release: what is released is the stored noisy result, byte for byte,
  and every release leaf in the log hashes exactly a release of that stored result;
- never a second draw for one charge: a result stored before the kill is the one released
  after it;
- the audit log verifies, and every charge in the ledger is named by a ``budget_charged``
  leaf with the ledger entry's hash.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from dataward import receipts
from enclave.audit import AuditReader, Release, SqliteAuditStore, decode_leaf, verify_log
from enclave.audit.events import BudgetCharged
from enclave.budget import BudgetLedger, BudgetLimits
from policies import default_policy
from tests.support.dp_child import CRASH_POINTS, DATASET_VERSION, INSURER, KEY, NAME, build
from tests.support.query_export import Export, synthetic_export

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 12, 2, 10, 30, tzinfo=dt.UTC)
LIMITS = BudgetLimits()  # DESIGN.md's: 1.0 a query, 2.0 a day, 10 a dataset version
PRICE = 1_000_000  # enrolment_analysis: epsilon 1.0 a query
QUERY = (
    "SELECT scheme, status, COUNT(*) AS n, COUNT(DISTINCT person_key) AS persons"
    " FROM enrolment_analysis GROUP BY scheme, status"
)
#: The crash points before which no noisy result was stored.
NOTHING_STORED = frozenset({"after-charge", "in-engine", "store-before-commit"})


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("dp-crash"))


def _killed_child(state: Path, export: Export, crash: str) -> list[dict[str, Any]]:
    """Run the child until it kills itself at ``crash``; its printed lines."""
    config = {
        "audit": str(state / "audit.db"),
        "ledger": str(state / "budget.db"),
        "files": {table: list(paths) for table, paths in export.files.items()},
        "limits": {
            "per_query": LIMITS.per_query,
            "per_partner_per_day": LIMITS.per_partner_per_day,
            "per_partner_per_dataset_version": LIMITS.per_partner_per_dataset_version,
            "total_per_dataset_version": LIMITS.total_per_dataset_version,
        },
        "now": NOW.isoformat(),
        "crash": crash,
        "queries": [QUERY],
    }
    child = subprocess.run(
        [sys.executable, "-m", "tests.support.dp_child", json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    return [json.loads(line) for line in child.stdout.splitlines()]


def _charges(ledger_db: Path) -> list[tuple[str, str, int, str]]:
    """Every ledger entry: charge id, query key, amount, entry hash (hex)."""
    db = sqlite3.connect(f"file:{ledger_db}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT charge_id, query_key, micro_epsilon, entry_hash FROM charges ORDER BY seq"
        ).fetchall()
    finally:
        db.close()
    return [(str(c), str(k), int(m), bytes(h).hex()) for c, k, m, h in rows]


def _ipc(stored: bytes) -> bytes:
    return base64.b64decode(json.loads(stored)["ipc"])


def _release_hashes(
    stored: bytes, request_id: str, charge_id: str, spent: int, left: int
) -> set[str]:
    """The result hashes a release of the ``stored`` result to ``request_id`` can have
    (replayed or not): the fields :func:`dataward.receipts.query_run_fields` defines."""
    form = json.loads(stored)
    noise = [
        receipts.noise_text(
            column=str(column),
            mechanism=str(mechanism),
            scale=float(scale),
            error_bound_95=float(bound),
            epsilon_micro=int(micro),
            threshold=None if threshold is None else int(threshold),
        )
        for column, micro, scale, bound, mechanism, threshold in form["noise"]
    ]
    hashes = set()
    for replayed in (False, True):
        fields = receipts.query_run_fields(
            arrow_ipc=_ipc(stored),
            suppressed_cells=int(form["suppressed_cells"]),
            policy_version=default_policy().version,
            release_mode="dp",
            columns=[(str(name), str(kind)) for name, kind in form["columns"]],
            dp=receipts.dp_run_fields(
                charge_id=charge_id,
                epsilon_micro=PRICE,
                epsilon_spent_micro=spent,
                replayed=replayed,
                noise=noise,
                budget_left_micro=left,
                delta=float(form.get("delta", 0.0)),
            ),
        )
        hashes.add(receipts.result_hash(receipts.QUERY_RUN, request_id, fields).hex())
    return hashes


def _events(audit_db: Path) -> list[object]:
    store = SqliteAuditStore.open(audit_db, read_only=True)
    try:
        return [decode_leaf(stored.leaf).event for stored in store.leaves()]
    finally:
        store.close()


@pytest.mark.parametrize("crash", CRASH_POINTS)
def test_a_kill_9_never_double_charges_never_releases_unnoised_never_draws_twice(
    tmp_path: Path, export: Export, crash: str
) -> None:
    state = tmp_path / "state"
    printed = _killed_child(state, export, crash)
    assert printed == [{"crash": crash}]  # it died where it was meant to, having released nothing

    # what the kill left: the one charge, and a stored result only past the store's commit
    charges = _charges(state / "budget.db")
    assert len(charges) == 1
    charge_id, _key, amount, entry_hash = charges[0]
    assert amount == PRICE
    ledger = BudgetLedger.open(state / "budget.db", LIMITS)
    try:
        assert ledger.verify() == 1
        stored_before = ledger.result(charge_id)
    finally:
        ledger.close()
    assert (stored_before is None) == (crash in NOTHING_STORED)

    # the restarted zone, a fresh process on the same files, answers the same query twice
    zone = build(state / "audit.db", state / "budget.db", export.files, LIMITS, NOW)
    try:
        answer = zone.queries.run(INSURER, QUERY, {}, "RESEARCH")
        again = zone.queries.run(INSURER, QUERY, {}, "RESEARCH")
        left = zone.ledger.state(INSURER.organization, DATASET_VERSION, NOW)
        stored = zone.ledger.result(charge_id)
        assert zone.ledger.verify() == 1  # never a double charge
    finally:
        zone.close()
    assert _charges(state / "budget.db") == charges
    assert left.limits[0].spent == PRICE
    dp, dp_again = answer.value.dp, again.value.dp
    assert dp is not None and dp_again is not None
    assert dp.charge_id == dp_again.charge_id == charge_id
    assert dp.epsilon_spent_micro == 0 and dp_again.epsilon_spent_micro == 0  # charged before
    assert stored is not None
    if stored_before is not None:  # never a second draw: the stored result is the answer
        assert stored == stored_before and dp.replayed
    else:  # the kill came before any result was durable: this is the first and only draw
        assert not dp.replayed
    assert dp_again.replayed
    # never un-noised: what left is the stored noisy result, with its noise in its schema
    assert answer.value.ipc == again.value.ipc == _ipc(stored)
    schema = pa.ipc.open_stream(answer.value.ipc).schema
    assert schema.metadata[b"dataward.release_mode"] == b"dp"
    assert float((schema.field("n").metadata or {})[b"dataward.noise_scale"]) > 0

    # the audit log verifies; every charge is logged with its entry hash; every release leaf
    # is a release of the stored result, spent once at most
    reader = AuditReader.open_read_only(state / "audit.db")
    try:
        verify_log(reader, KEY.public_key())
    finally:
        reader.close()
    events = _events(state / "audit.db")
    charged = [e for e in events if isinstance(e, BudgetCharged)]
    assert {(e.charge_id, e.entry_hash, e.micro_epsilon) for e in charged} == {
        (charge_id, entry_hash, PRICE)
    }
    assert sum(e.new for e in charged) == (0 if crash == "after-charge" else 1)
    by_request = {e.request_id: e for e in charged}
    releases = [e for e in events if isinstance(e, Release)]
    assert len(releases) == (3 if crash == "release-after-leaves" else 2)
    for release in releases:
        assert by_request[release.request_id].charge_id == charge_id  # no release uncharged
        hashes = _release_hashes(
            stored, release.request_id, charge_id, release.epsilon_spent_micro, left.available
        )
        assert release.result_hash in hashes
    assert sum(release.epsilon_spent_micro for release in releases) == (
        PRICE if crash == "release-after-leaves" else 0
    )
    # and the partner's receipt proves the answer it got
    for given in (answer, again):
        assert given.value.dp is not None
        fields = receipts.query_run_fields(
            arrow_ipc=given.value.ipc,
            suppressed_cells=given.value.suppressed_cells,
            policy_version=given.value.policy_version,
            release_mode="dp",
            columns=given.value.columns,
            dp=receipts.dp_run_fields(
                charge_id=given.value.dp.charge_id,
                epsilon_micro=given.value.dp.epsilon_micro,
                epsilon_spent_micro=given.value.dp.epsilon_spent_micro,
                replayed=given.value.dp.replayed,
                noise=[
                    receipts.noise_text(
                        column=i.column,
                        mechanism=i.mechanism,
                        scale=i.scale,
                        error_bound_95=i.error_bound_95,
                        epsilon_micro=i.epsilon_micro,
                        threshold=i.threshold,
                    )
                    for i in given.value.dp.noise
                ],
                budget_left_micro=given.value.dp.budget.available,
                delta=given.value.dp.delta,
            ),
        )
        receipts.verify_release(
            given.receipt,
            method=receipts.QUERY_RUN,
            request_id=given.request_id,
            fields=fields,
            key_name=NAME,
            public_key=KEY.public_key(),
        )
