"""Budget ledger: charges per second, synchronous=FULL and NORMAL, against a bare SQLite
transaction with the same pragmas (issue 11).

    .venv/bin/python -m bench.budget [--charges 1024] [--threads 8] [--rounds 5]

A charge is what the query path does before a DP query runs: :meth:`BudgetLedger.charge` of a
new query key, one ``BEGIN IMMEDIATE ... COMMIT`` transaction (look the key up, sum the three
cumulative limits over the earlier entries, read the chain's last hash, hash and insert the
entry). The baseline, measured in the same run, is a bare SQLite transaction on a file opened
with the same pragmas (WAL, the same ``synchronous``, ``busy_timeout`` 10 s, autocommit):
``BEGIN IMMEDIATE``, an INSERT of a row of the same ten columns into a table with no index,
trigger or read, ``COMMIT`` -- the floor of one durable write.

1. The fixed cost: each charge by its own partner on its own dataset version, so the limits'
   sums find no earlier entry (a zone's ledger is small: at the default limits a dataset
   version holds at most 100 charges of epsilon 1, a partner's day 2). Three shapes, each for
   FULL and NORMAL:

   * 1 thread;
   * ``--threads`` threads sharing one ledger, as the server's threads share the zone's: the
     ledger serialises them with its lock (one connection), so this measures that lock, not
     parallel commits; the baseline shares one connection under a lock alike;
   * 2 processes on the same file, each with its own ledger (its own connection), started
     together: SQLite's write lock and busy handler serialise them; the baseline alike.

   Every (shape, synchronous) pair runs the ledger and the baseline alternately (the first of
   the two swaps each round) for ``--rounds`` rounds, each run on a fresh file of
   ``--charges`` transactions in all, every ledger verified whole afterwards (untimed); the
   median rate of each is printed with the ratio of time per charge to time per bare
   transaction, then FULL against NORMAL.
2. The cost of earlier entries: a charge sums the limits over the partner's day, the
   partner's version and the version, so it reads every earlier entry of theirs. Ledgers of
   ``--entries`` charges of one partner on one version are written once (through the ledger,
   synchronous=OFF); each round times ``--grown-charges`` more, 1 thread, FULL and NORMAL
   (the summing is CPU: NORMAL shows it without fsync's noise), each on a fresh copy;
   median rates, against the ledger with none.

The machine's load average before and after.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import multiprocessing
import os
import secrets
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from enclave.budget import MICRO_EPSILON, BudgetLedger, BudgetLimits

PARTNER = "2"
VERSION = "bench-dataset-version"
# No cumulative limit in the way: every charge of the bench passes (per query 1 epsilon).
LIMITS = BudgetLimits(
    per_query=MICRO_EPSILON,
    per_partner_per_day=10**15,
    per_partner_per_dataset_version=10**15,
    total_per_dataset_version=10**15,
)
SYNCS = ("FULL", "NORMAL")
BUSY_TIMEOUT_MS = 10_000  # BudgetLedger.open's default
_BARE_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, charge_id TEXT NOT NULL, partner TEXT NOT NULL,
    dataset_version TEXT NOT NULL, query_key TEXT NOT NULL, micro_epsilon INTEGER NOT NULL,
    day TEXT NOT NULL, charged_at INTEGER NOT NULL, prev_hash BLOB NOT NULL,
    entry_hash BLOB NOT NULL
)
"""


class _Writer(Protocol):
    def write(self, key: str) -> None: ...

    def close(self) -> None: ...


class _Ledger:
    """The real ledger: one charge of epsilon 1 under a new key per write, by its own partner
    on its own dataset version (``spread``) or all by one partner on one version."""

    def __init__(self, path: Path, synchronous: str, *, spread: bool = True) -> None:
        self.ledger = BudgetLedger.open(path, LIMITS, synchronous=synchronous)
        self.spread = spread

    def write(self, key: str) -> None:
        partner, version = (
            (f"partner-{key}", f"version-{key}") if self.spread else (PARTNER, VERSION)
        )
        charge = self.ledger.charge(partner, version, key, MICRO_EPSILON, dt.datetime.now(dt.UTC))
        if not charge.new:
            raise RuntimeError(f"query key {key} was already charged")

    def close(self) -> None:
        self.ledger.close()


class _Bare:
    """The baseline: the same pragmas, one INSERT of a ledger-shaped row per transaction."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.executescript(_BARE_SCHEMA)
        self.lock = threading.Lock()

    def write(self, key: str) -> None:
        now = dt.datetime.now(dt.UTC)
        charge_id = f"chg_{secrets.token_urlsafe(18)}"
        day, at = now.date().isoformat(), int(now.timestamp() * 1e6)
        row = (charge_id, PARTNER, VERSION, key, MICRO_EPSILON, day, at, bytes(32), bytes(32))
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT INTO charges (charge_id, partner, dataset_version, query_key,"
                " micro_epsilon, day, charged_at, prev_hash, entry_hash)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                row,
            )
            self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


_KINDS: dict[str, Callable[[Path, str], _Writer]] = {"ledger": _Ledger, "bare": _Bare}


def _count(kind: str, path: Path) -> int:
    """How many transactions ``path`` holds; a ledger's chain verified whole first."""
    if kind == "ledger":
        ledger = BudgetLedger.open(path, LIMITS)
        try:
            return ledger.verify()
        finally:
            ledger.close()
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM charges").fetchone()[0])


def _writes(writer: _Writer, tag: str, n: int) -> None:
    for i in range(n):
        writer.write(f"{tag}-{i:08d}")


def _threaded(kind: str, path: Path, synchronous: str, total: int, threads: int) -> float:
    """Seconds for ``total`` writes by ``threads`` threads sharing one writer."""
    return _timed(_KINDS[kind](path, synchronous), kind, total, threads)


def _timed(writer: _Writer, kind: str, total: int, threads: int) -> float:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            _writes(writer, f"t{t}", total // threads)
        except BaseException as exc:  # the bench must fail loudly, not time failures
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    writer.close()
    if errors:
        raise SystemExit(f"bench.budget: {kind} writes failed: {errors[0]!r}")
    return elapsed


def _child(
    kind: str, path: Path, synchronous: str, n: int, tag: str, barrier: Any, out: Any
) -> None:
    """In a spawned process: open the writer, wait for the other, write ``n``, report when."""
    writer = _KINDS[kind](path, synchronous)
    barrier.wait(timeout=120)  # the other process failed to start: fail, do not hang
    start = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
    _writes(writer, tag, n)
    out.put((start, time.monotonic()))
    writer.close()


def _two_processes(kind: str, path: Path, synchronous: str, total: int) -> float:
    """Seconds from the first start to the last end of two processes writing ``total`` in
    all to the same file (the file created first, so neither races the schema)."""
    _KINDS[kind](path, synchronous).close()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    each = total // 2
    procs = [
        ctx.Process(target=_child, args=(kind, path, synchronous, each, f"p{p}", barrier, out))
        for p in range(2)
    ]
    for proc in procs:
        proc.start()
    spans: list[tuple[float, float]] = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"bench.budget: a {kind} process failed ({proc.exitcode})")
    return max(end for _, end in spans) - min(start for start, _ in spans)


@dataclasses.dataclass
class _Cell:
    shape: str
    synchronous: str
    run: Callable[[str, Path, str, int], float]
    rates: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: {kind: [] for kind in _KINDS}
    )

    def median(self, kind: str) -> float:
        return statistics.median(self.rates[kind])


def _measure(cell: _Cell, kind: str, root: Path, total: int) -> None:
    path = Path(tempfile.mkdtemp(dir=root)) / f"{kind}.db"
    elapsed = cell.run(kind, path, cell.synchronous, total)
    done = _count(kind, path)
    if done != total:
        raise SystemExit(f"bench.budget: {done} {kind} transactions stored, {total} sent")
    cell.rates[kind].append(done / elapsed)


def _grown_ledgers(root: Path, levels: list[int]) -> dict[int, Path]:
    """For each level, a closed ledger of that many charges of one partner on one version."""
    made = {}
    for entries in levels:
        path = root / f"grown-{entries}" / "budget.db"
        writer = _Ledger(path, "OFF", spread=False)
        _writes(writer, "old", entries)
        writer.close()  # the last connection: the WAL is checkpointed and removed
        made[entries] = path
    return made


def _grown_rate(template: Path, root: Path, synchronous: str, total: int) -> float:
    """Charges/s of ``total`` more, 1 thread, on a fresh copy of ``template``."""
    path = Path(tempfile.mkdtemp(dir=root)) / "budget.db"
    shutil.copyfile(template, path)
    before = _count("ledger", path)
    elapsed = _timed(_Ledger(path, synchronous, spread=False), "ledger", total, 1)
    if _count("ledger", path) != before + total:
        raise SystemExit("bench.budget: the grown ledger lost charges")
    return total / elapsed


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _rate(per_second: float) -> str:
    return f"{per_second:7,.0f}/s ({1e3 / per_second:6.3f} ms)"


def _levels(text: str) -> list[int]:
    return sorted({0, *(int(part) for part in text.split(",") if part)})


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.budget")
    parser.add_argument("--charges", type=int, default=1024, help="transactions per run")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="runs of each, interleaved")
    parser.add_argument(
        "--entries", type=_levels, default=[0, 100, 1000, 10_000], help="earlier charges, a,b,c"
    )
    parser.add_argument("--grown-charges", type=int, default=100, help="timed, per round")
    parser.add_argument("--dir", type=Path, help="where the files go (default: a temp dir)")
    args = parser.parse_args()
    threads = args.threads
    total = args.charges - args.charges % (2 * threads)  # every thread and process alike

    def one(kind: str, path: Path, sync: str, n: int) -> float:
        return _threaded(kind, path, sync, n, 1)

    def many(kind: str, path: Path, sync: str, n: int) -> float:
        return _threaded(kind, path, sync, n, threads)

    cells = [
        _Cell(shape, sync, run)
        for sync in SYNCS
        for shape, run in (
            ("1 thread", one),
            (f"{threads} threads", many),
            ("2 processes", _two_processes),
        )
    ]
    grown: dict[tuple[int, str], list[float]] = {
        (entries, sync): [] for entries in args.entries for sync in SYNCS
    }
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="bench-budget-", dir=args.dir) as tmp:
        root = Path(tmp)
        templates = _grown_ledgers(root, args.entries)
        for round_ in range(args.rounds):
            for cell in cells:
                kinds = list(_KINDS) if round_ % 2 == 0 else list(reversed(_KINDS))
                for kind in kinds:
                    _measure(cell, kind, root, total)
            for (entries, sync), rates in grown.items():
                rates.append(_grown_rate(templates[entries], root, sync, args.grown_charges))
        where = root.parent
    load_after = _load()
    print(
        f"budget ledger: BudgetLedger.charge (a new key each: one BEGIN IMMEDIATE transaction) "
        f"vs a bare SQLite BEGIN IMMEDIATE + INSERT + COMMIT with the same pragmas (WAL, "
        f"busy_timeout {BUSY_TIMEOUT_MS} ms); {total:,} per run, median of {args.rounds} "
        f"interleaved runs, each on a fresh file in {where}, every ledger verified"
    )
    print("  each charge by its own partner on its own dataset version (no earlier entry summed):")
    for cell in cells:
        ledger, bare = cell.median("ledger"), cell.median("bare")
        print(
            f"  synchronous={cell.synchronous:<6} {cell.shape:<11}  charges {_rate(ledger)}  "
            f"bare {_rate(bare)}  charge/bare {bare / ledger:5.2f}x"
        )
    by_shape = {(c.shape, c.synchronous): c for c in cells}
    for kind, what in (("ledger", "charge"), ("bare", "bare transaction")):
        ratios = ", ".join(
            f"{shape} {by_shape[shape, 'NORMAL'].median(kind) / cell.median(kind):.1f}x"
            for (shape, sync), cell in by_shape.items()
            if sync == "FULL"
        )
        print(f"  time per {what}, FULL/NORMAL: {ratios}")
    print(
        f"  after earlier charges of one partner on one version (summed by each charge), "
        f"1 thread, {args.grown_charges} more per round on a fresh copy, median of "
        f"{args.rounds}:"
    )
    for entries in args.entries:
        medians = {sync: statistics.median(grown[entries, sync]) for sync in SYNCS}
        print(
            f"    {entries:>7,} earlier: "
            + "  ".join(
                f"{sync} charges {_rate(rate)} {rate / statistics.median(grown[0, sync]):5.2f}x"
                for sync, rate in medians.items()
            )
            + " the rate with none"
        )
    print(f"load average before {load_before}, after {load_after} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
