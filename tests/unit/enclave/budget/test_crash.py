"""The ledger with real processes (issue 11): kill -9 between the charge and the result store
leaves the charge there exactly once, no result stored, and the restarted zone never charges the
query again; processes racing on one file never pass a limit together."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

from enclave.budget import BUDGET_DB, MICRO_EPSILON, BudgetLedger

ROOT = Path(__file__).resolve().parents[4]
NOW = dt.datetime(2026, 12, 2, 10, 30, tzinfo=dt.UTC)
# The child charges, says so, and waits where the query would run: it is killed right there.
_CHILD = """
import datetime as dt, sys, time
from pathlib import Path
from enclave.budget import BudgetLedger
ledger = BudgetLedger.open(Path(sys.argv[1]))
now = dt.datetime.fromisoformat(sys.argv[2])
charge = ledger.charge("insurer-a", "v1", "the-query", 700_000, now)
print(charge.charge_id, flush=True)
time.sleep(60)
ledger.store_result(charge.charge_id, b"never stored")
"""


def test_kill_between_charge_and_result_store_never_charges_twice(tmp_path: Path) -> None:
    path = tmp_path / BUDGET_DB
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), NOW.isoformat()],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={"PATH": os.defpath, "PYTHONPATH": str(ROOT)},
    ) as child:
        try:
            assert child.stdout is not None
            charge_id = child.stdout.readline().strip()
            assert charge_id.startswith("chg_")
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    ledger = BudgetLedger.open(path)
    try:
        assert ledger.verify() == 1
        assert ledger.result(charge_id) is None
        again = ledger.charge("insurer-a", "v1", "the-query", 700_000, NOW)
        assert not again.new and again.charge_id == charge_id
        assert ledger.verify() == 1
        day = ledger.state("insurer-a", "v1", NOW).limits[0]
        assert day.spent == 700_000 and day.left == 2 * MICRO_EPSILON - 700_000
        # the restarted zone runs the query under the same charge and stores its one result
        ledger.store_result(charge_id, b"noisy")
        assert ledger.result(charge_id) == b"noisy"
    finally:
        ledger.close()


_RACER = """
import datetime as dt, sys
from pathlib import Path
from enclave.budget import BudgetExhausted, BudgetLedger
ledger = BudgetLedger.open(Path(sys.argv[1]))
try:
    ledger.charge("insurer-a", "v1", sys.argv[3], 500_000, dt.datetime.fromisoformat(sys.argv[2]))
    print("charged")
except BudgetExhausted:
    print("refused")
"""


def test_processes_racing_on_one_file_never_pass_a_limit(tmp_path: Path) -> None:
    # 8 processes at 0.5 each against a daily budget of 2.0: exactly 4 are charged
    path = tmp_path / BUDGET_DB
    BudgetLedger.open(path).close()  # the schema exists before the race
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(path), NOW.isoformat(), f"q{i}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={"PATH": os.defpath, "PYTHONPATH": str(ROOT)},
        )
        for i in range(8)
    ]
    outcomes = []
    for child in children:
        out, _ = child.communicate(timeout=30)
        assert child.returncode == 0
        outcomes.append(out.strip())
    assert sorted(outcomes) == ["charged"] * 4 + ["refused"] * 4
    ledger = BudgetLedger.open(path)
    try:
        assert ledger.verify() == 4
        assert ledger.state("insurer-a", "v1", NOW).limits[0].spent == 2 * MICRO_EPSILON
    finally:
        ledger.close()
