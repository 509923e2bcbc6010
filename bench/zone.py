"""Zone ingest throughput and memory, and person-lookup latency, against baselines.

    .venv/bin/python -m bench.zone --source /tmp/dw-1m-source      # an existing export
    .venv/bin/python -m bench.zone --persons 100000                # generated with datagen

Ingest: ``--runs`` ingests (default 3), each into a new zone in a child process (the ingest
the CLI runs, with ``zone.ingest_memory_mb``), min/median/max of rows/s and of the child's
peak resident memory (VmHWM: the goal is at most 2 GiB whatever the export's size), beside
the time to read every table of the export once (pyarrow, the floor of any ingest). Each line
starts with the machine's load average and warns when it is above the number of cores. Then
lookup latency by ID number (p50/p99 over random
lookups, 10% unknown) for ``Zone.find_person`` (validate + HMAC + binary search over the
memory-mapped index) beside two baselines: a plain Python dict token -> row (validation and
HMAC included: the same work, with the index replaced by a dict held in RAM) and a DuckDB
point query on the zone's persons Parquet by token.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow.parquet as pq

from bench._stats import load_line, spread
from enclave.dataset import Zone
from enclave.keys import open_keyring
from enclave.persons import check_character, is_valid
from synthetic import generate

MASTER_KEY = b"bench master key, not a secret"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    a = np.array(samples) * 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def _unknown_numbers(count: int, known: set[str], rng: random.Random) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        first17 = f"110101{rng.randint(1950, 2010)}0{rng.randint(1, 9)}1{rng.randint(0, 8)}"
        first17 += f"{rng.randint(0, 999):03d}"
        number = first17 + check_character(first17)
        if number not in known:
            out.append(number)
    return out


_CHILD = """
import json, sys, time
from pathlib import Path
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
zone, source, batch_rows, memory_mb, key = sys.argv[1:6]
init_zone(Path(zone), key.encode())
keyring = open_keyring(Path(zone), key.encode())
started = time.perf_counter()
report = ingest(Path(zone), Path(source), keyring, batch_rows=int(batch_rows),
                memory_mb=int(memory_mb), max_reject_share=1.0)
seconds = time.perf_counter() - started
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "version": report.version, "peak_kib": peak,
                  "rows": sum(t.source_rows for t in report.tables.values()),
                  "rejected": sum(t.rejected for t in report.tables.values()),
                  "tables": {n: t.source_rows for n, t in report.tables.items()}}))
"""


def _ingest_child(zone_dir: Path, source: Path, batch_rows: int, memory_mb: int) -> dict[str, Any]:
    args = [str(zone_dir), str(source), str(batch_rows), str(memory_mb), MASTER_KEY.decode()]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _read_floor(source: Path) -> float:
    """Seconds to read every table of the export once, batch by batch (pyarrow)."""
    started = time.perf_counter()
    for path in sorted(source.glob("*.parquet")):
        for _batch in pq.ParquetFile(path).iter_batches(batch_size=250_000):
            pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.zone")
    parser.add_argument("--source", type=Path, help="an existing export directory")
    parser.add_argument("--persons", type=int, default=100_000, help="generate this many")
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--duckdb-lookups", type=int, default=2_000)
    parser.add_argument("--batch-rows", type=int, default=250_000)
    parser.add_argument("--memory-mb", type=int, default=2048, help="zone.ingest_memory_mb")
    parser.add_argument("--runs", type=int, default=3, help="ingests, each into a new zone")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-zone-") as tmp:
        work = Path(tmp)
        source = args.source
        if source is None:
            started = time.perf_counter()
            report = generate(work / "source", persons=args.persons)
            print(
                f"datagen: {args.persons:,} persons, {report.rows['claims']:,} claims "
                f"in {time.perf_counter() - started:.1f} s"
            )
            source = work / "source"
        runs = []
        for run in range(max(1, args.runs)):
            print(f"{load_line()} ingest run {run + 1} of {args.runs} ...", flush=True)
            floor = _read_floor(source)
            zone_dir = work / f"zone-{run}"
            runs.append(_ingest_child(zone_dir, source, args.batch_rows, args.memory_mb))
            runs[-1]["floor"] = floor
            last = runs[-1]
            print(
                f"{load_line()} ingest: {last['rows']:,} rows ({last['rejected']:,} rejected) in "
                f"{last['seconds']:.1f} s = {last['rows'] / last['seconds']:,.0f} rows/s, peak RSS "
                f"{last['peak_kib'] / 1024:,.0f} MiB; reading the export alone {floor:.1f} s "
                f"({last['seconds'] / floor:.1f}x)",
                flush=True,
            )
            if run + 1 < args.runs:
                shutil.rmtree(zone_dir)
        rates = [r["rows"] / r["seconds"] for r in runs]
        peaks = [r["peak_kib"] / 1024 for r in runs]
        ratios = [r["seconds"] / r["floor"] for r in runs]
        print(
            f"{load_line()} ingest over {len(runs)} runs (min/median/max): "
            f"{spread(rates, ',.0f')} rows/s (goal >= 500,000), peak RSS "
            f"{spread(peaks, ',.0f')} MiB (goal <= 2,048 at any size), "
            f"{spread(ratios, '.1f')}x the time to read the export"
        )
        for name, rows in runs[-1]["tables"].items():
            print(f"  {name:<16} {rows:>12,}")
        zone_dir = work / f"zone-{len(runs) - 1}"
        keyring = open_keyring(zone_dir, MASTER_KEY)
        result_version = runs[-1]["version"]

        numbers = pq.read_table(source / "persons.parquet", columns=["id_number"])
        known: list[str] = [str(n) for n in numbers.column("id_number").to_pylist()]
        rng = random.Random(7)
        n_unknown = args.lookups // 10
        queries = rng.choices(known, k=args.lookups - n_unknown)
        queries += _unknown_numbers(n_unknown, set(known), rng)
        rng.shuffle(queries)

        started = time.perf_counter()
        zone = Zone.open(zone_dir, keyring)
        zone_times: list[float] = []
        hits = 0
        for q in queries:
            t0 = time.perf_counter()
            hits += zone.find_person(q) is not None
            zone_times.append(time.perf_counter() - t0)
        print(
            f"Zone.find_person: {len(queries):,} lookups, {hits:,} found "
            f"(open + lookups {time.perf_counter() - started:.1f} s)"
        )

        stored = pq.read_table(
            zone_dir / "data" / "versions" / result_version / "tables" / "persons.parquet",
            columns=["id_number_token", "person_id"],
        )
        started = time.perf_counter()
        table = dict(
            zip(stored.column("id_number_token").to_pylist(), range(stored.num_rows), strict=True)
        )
        build = time.perf_counter() - started
        dict_times: list[float] = []
        for q in queries:
            t0 = time.perf_counter()
            if is_valid(q):  # the same validation find_person does, then HMAC + dict
                table.get(keyring.token("id_number", q))
            dict_times.append(time.perf_counter() - t0)
        print(f"dict baseline: built in {build:.1f} s, {len(table):,} entries in RAM")

        persons_file = (
            zone_dir / "data" / "versions" / result_version / "tables" / "persons.parquet"
        )
        con = duckdb.connect()
        duck_times: list[float] = []
        for q in queries[: args.duckdb_lookups]:
            t0 = time.perf_counter()
            con.execute(
                "SELECT person_id, status FROM read_parquet(?) WHERE id_number_token = ?",
                [str(persons_file), keyring.token("id_number", q)],
            ).fetchall()
            duck_times.append(time.perf_counter() - t0)

        z50, z99 = _percentiles(zone_times)
        d50, d99 = _percentiles(dict_times)
        k50, k99 = _percentiles(duck_times)
        print(f"{load_line()} {'lookup latency (µs)':<28}{'p50':>10}{'p99':>10}")
        print(f"{'Zone.find_person':<28}{z50:>10.1f}{z99:>10.1f}")
        print(f"{'dict token->row':<28}{d50:>10.1f}{d99:>10.1f}")
        print(f"{'DuckDB point query':<28}{k50:>10.1f}{k99:>10.1f}  (n={len(duck_times):,})")
        print(f"ratio p50: zone/dict = {z50 / d50:.2f}x, duckdb/zone = {k50 / z50:.0f}x")


if __name__ == "__main__":
    main()
