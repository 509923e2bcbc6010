"""Zone ingest throughput and person-lookup latency, against baselines in the same run.

    .venv/bin/python -m bench.zone --source /tmp/dw-1m-source      # an existing export
    .venv/bin/python -m bench.zone --persons 100000                # generated with datagen

Prints ingest rows/s and seconds, then lookup latency by ID number (p50/p99 over random
lookups, 10% unknown) for ``Zone.find_person`` (validate + HMAC + binary search over the
memory-mapped index) beside two baselines: a plain Python dict token -> row (validation and
HMAC included: the same work, with the index replaced by a dict held in RAM) and a DuckDB
point query on the zone's persons Parquet by token.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq

from enclave.dataset import Zone, ingest
from enclave.keys import init_zone, open_keyring
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.zone")
    parser.add_argument("--source", type=Path, help="an existing export directory")
    parser.add_argument("--persons", type=int, default=100_000, help="generate this many")
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--duckdb-lookups", type=int, default=2_000)
    parser.add_argument("--batch-rows", type=int, default=250_000)
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
        zone_dir = work / "zone"
        init_zone(zone_dir, MASTER_KEY)
        keyring = open_keyring(zone_dir, MASTER_KEY)
        started = time.perf_counter()
        result = ingest(zone_dir, source, keyring, batch_rows=args.batch_rows)
        seconds = time.perf_counter() - started
        rows = sum(t.source_rows for t in result.tables.values())
        rejected = sum(t.rejected for t in result.tables.values())
        print(
            f"ingest: {rows:,} rows ({rejected:,} rejected) in {seconds:.1f} s "
            f"= {rows / seconds:,.0f} rows/s"
        )
        for name, t in result.tables.items():
            print(f"  {name:<16} {t.source_rows:>12,}")

        numbers = pq.read_table(source / "persons.parquet", columns=["id_number"])
        known = numbers.column("id_number").to_pylist()
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
            zone_dir / "data" / "versions" / result.version / "tables" / "persons.parquet",
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
            zone_dir / "data" / "versions" / result.version / "tables" / "persons.parquet"
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
        print(f"{'lookup latency (µs)':<28}{'p50':>10}{'p99':>10}")
        print(f"{'Zone.find_person':<28}{z50:>10.1f}{z99:>10.1f}")
        print(f"{'dict token->row':<28}{d50:>10.1f}{d99:>10.1f}")
        print(f"{'DuckDB point query':<28}{k50:>10.1f}{k99:>10.1f}  (n={len(duck_times):,})")
        print(f"ratio p50: zone/dict = {z50 / d50:.2f}x, duckdb/zone = {k50 / z50:.0f}x")


if __name__ == "__main__":
    main()
