"""Spark (``local[2]``) against DuckDB on the default policy's query suite, same Parquet.

    .venv/bin/python -m bench.spark                          # 100k persons: ~1.76M claims
    .venv/bin/python -m bench.spark --persons 20000 --repeats 2   # a quick look
    .venv/bin/python -m bench.spark --source /tmp/dw-1m-source     # an existing export

The export is generated once per (persons, seed) into ``--cache`` (the one ``bench.query``
uses) and ingested into a fresh zone in a child process, as ``dataward zone ingest`` does.
Both engines are built as ``dataward serve`` builds them (``launcher.query_engine_for`` with
``query.engine`` duckdb, then spark, ``query.spark_master`` from ``--master``), with the same
``[query]`` limits (``--threads``, ``--memory-mib``).

Prints: the size; Spark's start (JVM and session, once per serving process); then each
query of ``tests.support.query_suite.SUITE`` (ad-hoc queries on ``claims_analysis`` and
``enrolment_analysis``, exact and dp-bounded, and every template of ``visits_by_type``),
rewritten for each engine's dialect, run once on each to check that both return the same
table (a mismatch is reported, and fails the run) and to warm up, then ``--repeats``
interleaved rounds (which engine goes first alternates): the median of each engine and
Spark's ratio to DuckDB, the baseline of the same run. Overall: the geometric mean of the
ratios and the ratio of the summed medians, with the load average before and after. Spark on
one machine is expected to be slower: it plans, schedules tasks and shuffles through its
block manager where DuckDB runs one in-process pipeline; its case is the cluster.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import query_engine
from bench.query import DEFAULT_CACHE, MASTER_KEY, _prepare_in_child
from enclave.dataset import Zone
from enclave.keys import open_keyring
from launcher import query_engine_for
from launcher.settings import Secret, Settings, load_settings
from policies import Policy, default_policy
from tests.support.query_suite import SUITE, Case, compiled

DEFAULT_PERSONS = 100_000  # ~17.6 claims per person: ~1.76M claims


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _settings(zone: Path, args: argparse.Namespace, engine: str) -> Settings:
    settings = load_settings(
        overrides={
            "zone": {"dir": zone},
            "query": {
                "engine": engine,
                "spark_master": args.master,
                "threads": args.threads,
                "memory_mb": args.memory_mib,
                "timeout_seconds": args.timeout,
            },
        },
        environ={},
    )
    return dataclasses.replace(
        settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER_KEY))
    )


@dataclasses.dataclass
class _Timed:
    case: Case
    duckdb: list[float] = dataclasses.field(default_factory=list)
    spark: list[float] = dataclasses.field(default_factory=list)


def _run(engine: query_engine.Engine, request: query_engine.ExecutionRequest) -> pa.Table:
    return engine.execute(request).table


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.spark")
    parser.add_argument("--source", type=Path, help="an existing export directory")
    parser.add_argument("--persons", type=int, default=DEFAULT_PERSONS, help="generate this many")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="generated exports")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--master", default="local[2]", help="query.spark_master")
    parser.add_argument("--threads", type=int, default=2, help="query.threads, both engines")
    parser.add_argument("--memory-mib", type=int, default=2048, help="query.memory_mb, both")
    parser.add_argument("--timeout", type=float, default=600.0, help="query.timeout_seconds")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    policy = default_policy()
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        zone_dir = Path(tmp) / "zone"
        t0 = time.perf_counter()
        source = _prepare_in_child(args, zone_dir)
        print(
            f"export {source} and zone ingest in a child process: {time.perf_counter() - t0:.0f} s"
        )
        files = Zone.open(zone_dir, open_keyring(zone_dir, MASTER_KEY)).table_files()
        duckdb = query_engine_for(_settings(zone_dir, args, "duckdb"))
        spark = query_engine_for(_settings(zone_dir, args, "spark"))
        assert isinstance(spark, query_engine.SparkEngine)
        try:
            _bench(args, policy, files, duckdb, spark)
        finally:
            spark.close()


def _bench(
    args: argparse.Namespace,
    policy: Policy,
    files: Mapping[str, tuple[str, ...]],
    duckdb: query_engine.Engine,
    spark: query_engine.SparkEngine,
) -> None:
    claims = sum(int(pq.ParquetFile(path).metadata.num_rows) for path in files["claims"])
    persons = sum(int(pq.ParquetFile(path).metadata.num_rows) for path in files["persons"])
    print(f"size: {persons:,} persons, {claims:,} claims")
    t0 = time.perf_counter()
    spark.start()
    print(
        f"Spark {spark.options.master} start (JVM, session): {time.perf_counter() - t0:.1f} s; "
        f"threads={args.threads}, memory_mb={args.memory_mib} on both engines"
    )
    limits = query_engine.ExecutionLimits(
        timeout_seconds=args.timeout, memory_bytes=args.memory_mib * 2**20, threads=args.threads
    )
    timed: list[_Timed] = []
    requests = []
    mismatches = 0
    for case in SUITE:  # one run each: the same table from both, and warm
        on_duckdb = compiled(policy, case, "duckdb").request(files, limits)
        on_spark = compiled(policy, case, "spark").request(files, limits)
        same = _run(duckdb, on_duckdb).equals(_run(spark, on_spark))
        if not same:
            mismatches += 1
            print(f"  MISMATCH: {case.name}")
        timed.append(_Timed(case))
        requests.append((on_duckdb, on_spark))
    load_before = _load()
    for round_ in range(args.repeats):
        for entry, (on_duckdb, on_spark) in zip(timed, requests, strict=True):
            order = [("duckdb", on_duckdb), ("spark", on_spark)]
            for name, request in order if round_ % 2 == 0 else reversed(order):
                engine: query_engine.Engine = duckdb if name == "duckdb" else spark
                t = time.perf_counter()
                _run(engine, request)
                getattr(entry, name).append(time.perf_counter() - t)
    load_after = _load()
    print(
        f"{len(SUITE)} queries, all the same table on both engines: {mismatches == 0}; "
        f"{args.repeats} interleaved rounds after a checking round, median each; load average "
        f"before {load_before}, after {load_after} (2 cores, shared)"
    )
    ratios = []
    for entry in timed:
        d, s = statistics.median(entry.duckdb), statistics.median(entry.spark)
        ratios.append(s / d)
        print(f"  {entry.case.name:<40} DuckDB {d:7.3f} s  Spark {s:7.3f} s  ratio {s / d:6.1f}x")
    total_d = sum(statistics.median(e.duckdb) for e in timed)
    total_s = sum(statistics.median(e.spark) for e in timed)
    geo = math.exp(statistics.fmean(math.log(r) for r in ratios))
    print(
        f"overall: Spark / DuckDB geometric mean {geo:.1f}x (min {min(ratios):.1f}x, max "
        f"{max(ratios):.1f}x); summed medians {total_s:.2f} s vs {total_d:.2f} s: "
        f"{total_s / total_d:.1f}x"
    )
    if mismatches:
        raise SystemExit(f"{mismatches} queries answered differently")


if __name__ == "__main__":
    main()
