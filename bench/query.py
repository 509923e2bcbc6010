"""Aggregate queries at 10M claims: the query path, exact and DP, against bare DuckDB on the
same Parquet.

    .venv/bin/python -m bench.query                        # 580k persons: ~10.2M claims
    .venv/bin/python -m bench.query --persons 20000 --repeats 3 --seconds 2   # a quick look
    .venv/bin/python -m bench.query --source /tmp/dw-1m-source   # an existing export

The export is generated once per (persons, seed) with ``synthetic.generate`` (what
``dataward datagen`` runs) into ``--cache`` (default /tmp/dataward-bench/query/) and reused;
each run ingests it into a fresh zone in a temporary directory, as ``dataward zone init`` and
``dataward zone ingest`` do. Generation and ingest run in a spawned child process so that
their memory does not count in this process's peak (this process is the serving one).

The serving stack is the one ``dataward serve`` runs (:func:`launcher.start_serving`: the
gRPC API in this process, the real portal in a child process issuing ES256 tokens), with the
``[query]`` settings' limits (``--threads``, ``--memory-mib``, ``--timeout`` override them for
every side alike) and the ``[budget]`` limits raised (:data:`BUDGET`) so that every DP
repetition can be charged. The partner is an approved app of organization 2 (the one the
default policy grants), scopes ``query:run`` and ``audit:read`` (a second receipt's check
asks for a consistency proof), purposes INSURANCE_UNDERWRITING (exact) and RESEARCH (the
grant says ``release: dp``), calling through the SDK (``Client.run_query``) from this
process: a query takes seconds, its client side microseconds.

Prints:

1. the size: persons, claims, the export's Parquet bytes and the zone's (the tables the
   ``claims_analysis`` view reads);
2. the 2-key aggregate :data:`AGGREGATE` (COUNT(DISTINCT person) and SUM, by province and
   visit type) on the default policy's exact view, repeated ``--repeats`` times, interleaved
   (the order rotates each round), after one warm-up round, median of each:

   * ``bare DuckDB``: the same aggregate with the view's SQL inlined by hand (as a CTE), no
     contribution bounding, clipping or gate: a fresh in-memory connection per repetition with
     the same ``threads``, ``memory_limit`` and ``temp_directory`` as the engine, the same
     Parquet files registered as views -- exactly what :class:`query_engine.DuckDBEngine`
     does per execution;
   * ``DuckDBEngine, rewritten SQL``: parse, validate and rewrite once, then only
     ``DuckDBEngine.execute`` -- the cost of the rewritten SQL itself (contribution bounding:
     a ``ROW_NUMBER()`` window per person and cell; clipping; the persons column);
   * ``in-process AggregateQueries.run``: the zone pipeline without gRPC (request leaf,
     purpose, parse, grant, validate, rewrite, DuckDB, gate, Arrow IPC, decision and release
     leaves durable in the serving zone's own audit log, synchronous=FULL, signed receipt);
   * ``gRPC QueryService.Run end to end``: the same through the server -- token verified
     against the portal's JWKS and revocation feed, scope and purpose, the servicer, the zone
     pipeline, the Arrow IPC bytes over loopback and read back into a table by the SDK (its
     first answer is checked equal to the in-process one and its receipt verified, untimed);
   * ``DuckDBEngine, dp rewritten SQL``: the rewrite a DP answer runs (the same aggregate for
     RESEARCH: each person's rows also bounded to ``cells_per_person`` cells, numbered by the
     md5 of the cell's keys), ``DuckDBEngine.execute`` only -- the engine's share of the DP
     cost;
   * ``gRPC QueryService.Run, dp (charged)``: the same aggregate for RESEARCH through the
     server, each repetition a NEW question (its SUM's output name numbered per call, so the
     rewritten SQL and the ledger's query key differ): checked whole, charged to the budget
     ledger in one durable transaction (synchronous=FULL) and logged (budget_charged leaf)
     before it runs, DuckDB, OpenDP's noise in the gate, the noisy result stored with its
     charge, released (every answer checked ``replayed`` False, epsilon spent 1);
   * ``gRPC QueryService.Run, dp (stored answer)``: one DP question asked again (charged once,
     untimed): the ledger finds its charge and returns the stored noisy result, no engine run
     (every answer checked ``replayed`` True, nothing spent, the same table each time);

   each with its ratio to bare DuckDB (the issue's goal: gRPC end to end <= 1.5x) and the
   load average (1, 5, 15 min) before and after;
3. parse + grant + validate + rewrite per query, as ``AggregateQueries`` runs them, over a mix
   of :data:`MIX` (one to three keys, each aggregate, WHERE with =, IN, BETWEEN, NOT, OR and
   bound parameters, ORDER BY), for ``--seconds``: median and p99 (goal <= 2 ms median),
   beside ``sqlglot.parse_one`` of the same text alone; no execution;
4. the peak resident memory (VmHWM) of this process, the serving one (the gRPC server, the
   zone, the audit log; the portal is another process): with the stack up, over the
   interleaved rounds (which include the bare DuckDB runs, in this process too), and over
   separate runs of the last variant alone, the peak reset first (``/proc/self/clear_refs``).

The policy in force is the default one, applied as a steward applies it
(``PolicyStore.apply``, what ``dataward policy apply`` does); the in-process line calls the
very ``AggregateQueries`` the server answers with (``serving.core.queries``).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import multiprocessing
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot

import query_engine
from bench._stats import percentile
from dataward.client import Client, ClientCredentialsTokenSource
from dataward.transparency import load_public_key
from enclave.analytics import AggregateQueries
from enclave.dataset import ingest
from enclave.keys import PUBLIC_KEY_FILE, init_zone, open_keyring
from enclave.release import Caller
from launcher import Serving, start_serving
from launcher.settings import Secret, Settings, load_settings
from policies import Deny, Policy, default_policy, default_policy_text
from synthetic import generate

MASTER_KEY = b"bench master key, not a secret"
# The default policy grants organization demo-insurer (a slug: the token's `org`)
# claims_analysis for underwriting (exact) and for research (its grant says `release: dp`).
ORGANIZATION = "demo-insurer"
PURPOSE = "INSURANCE_UNDERWRITING"
DP_PURPOSE = "RESEARCH"
VIEW = "claims_analysis"
_AGGREGATE = (
    "SELECT province, visit_type, COUNT(DISTINCT person_key) AS persons,"
    " SUM(total_cents) AS {total} FROM claims_analysis GROUP BY province, visit_type"
)
AGGREGATE = _AGGREGATE.format(total="total")
# The [budget] limits of this bench's zone, in epsilon: each charged DP repetition costs the
# policy's 1.0, far past the defaults (2 per partner per day). per_query stays the default.
BUDGET = {
    "per_partner_per_day": 1e6,
    "per_partner_per_dataset_version": 1e6,
    "total_per_dataset_version": 1e6,
}


def dp_aggregate(n: int) -> str:
    """:data:`AGGREGATE` with its SUM named ``total_<n>``: the same computation, a different
    rewritten SQL, so a new question for the budget ledger (charged, noised afresh)."""
    return _AGGREGATE.format(total=f"total_{n}")


DEFAULT_PERSONS = 580_000  # ~17.6 claims per person: 10,187,472 claims at seed 0
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "dataward-bench" / "query"

# What partners send: one to three keys, every aggregate, filters with literals and bound
# parameters. Each is accepted by the default policy (checked before timing).
MIX: tuple[tuple[str, Mapping[str, query_engine.ParameterValue]], ...] = (
    (AGGREGATE, {}),
    (
        "SELECT province, COUNT(*) AS claims, COUNT(DISTINCT person_key) AS people,"
        " SUM(total_cents) AS total FROM claims_analysis GROUP BY province",
        {},
    ),
    (
        "SELECT gender, COUNT(*) AS claims FROM claims_analysis"
        " WHERE visit_type = :t GROUP BY gender",
        {"t": "OUTPATIENT"},
    ),
    (
        "SELECT age_band, gender, icd10_chapter, COUNT(DISTINCT person_key) AS persons,"
        " AVG(self_cents) AS avg_self FROM claims_analysis"
        " WHERE province IN ('110000', '310000', '440000') GROUP BY age_band, gender,"
        " icd10_chapter ORDER BY age_band, gender",
        {},
    ),
    (
        "SELECT visit_month, SUM(fund_cents) AS fund, SUM(self_cents) AS self_paid"
        " FROM claims_analysis WHERE visit_month BETWEEN :first AND :last"
        " AND NOT institution_kind = 'PHARMACY' GROUP BY visit_month ORDER BY visit_month",
        {"first": "2025-01", "last": "2025-06"},
    ),
    (
        "SELECT institution_kind, institution_level, COUNT(*) AS claims,"
        " AVG(total_cents) AS avg_total FROM claims_analysis"
        " WHERE age_band = '75+' OR age_band = '60-74'"
        " GROUP BY institution_kind, institution_level",
        {},
    ),
    (
        "SELECT prefecture, COUNT(DISTINCT person_key) AS persons FROM claims_analysis"
        " WHERE province = :p AND visit_type <> 'PHARMACY' GROUP BY prefecture",
        {"p": "440000"},
    ),
)


# -- the export and the zone ----------------------------------------------------------------
def _cached_export(cache: Path, persons: int, seed: int) -> Path:
    """The export of ``persons`` at ``seed`` under ``cache``, generated on first use."""
    done = cache / f"source-p{persons}-s{seed}"
    if done.is_dir():
        return done
    partial = cache / f"{done.name}.partial-{os.getpid()}"
    generate(partial, persons=persons, seed=seed)
    partial.rename(done)  # whole or absent: a run interrupted mid-generate leaves no cache
    return done


def _prepare(cache: Path, persons: int, seed: int, source: Path | None, zone: Path) -> Path:
    """Runs in a child process: the export (cached), then ``zone init`` and ingest."""
    if source is None:
        source = _cached_export(cache, persons, seed)
    init_zone(zone, MASTER_KEY)
    ingest(zone, source, open_keyring(zone, MASTER_KEY))
    return source


def _prepare_in_child(args: argparse.Namespace, zone: Path) -> Path:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_prepare, (args.cache, args.persons, args.seed, args.source, zone))


def _rows(path: Path) -> int:
    return int(pq.ParquetFile(path).metadata.num_rows)


def _bytes(paths: list[Path]) -> int:
    return sum(path.stat().st_size for path in paths)


# -- the variants -----------------------------------------------------------------------------
def _bare(
    files: Mapping[str, tuple[str, ...]], view_sql: str, limits: query_engine.ExecutionLimits
) -> Callable[[], pa.Table]:
    """The aggregate on bare DuckDB: the view inlined as a CTE, a fresh connection per call
    configured as :class:`query_engine.DuckDBEngine` configures its own."""
    sql = f"WITH {VIEW} AS ({view_sql}) {AGGREGATE}"

    def run() -> pa.Table:
        connection = duckdb.connect(
            ":memory:",
            config={
                "threads": limits.threads,
                "memory_limit": f"{limits.memory_bytes}B",
                "temp_directory": "",
            },
        )
        try:
            for table, paths in files.items():
                connection.read_parquet(list(paths)).create_view(table)
            answer: pa.Table = connection.sql(sql).to_arrow_table()
        finally:
            connection.close()
        return answer

    return run


def _compile(
    policy: Policy,
    sql: str,
    parameters: Mapping[str, query_engine.ParameterValue],
    purpose: str = PURPOSE,
) -> query_engine.Rewritten:
    """What ``AggregateQueries`` does before execution: parse, grant, validate, rewrite (in
    ``dp`` release, with the rule's ``cells_per_person`` bound)."""
    query = query_engine.parse(sql)
    view = policy.views[query.view]
    if isinstance(policy.grant_for(ORGANIZATION, purpose, query.view), Deny):
        raise RuntimeError(f"the default policy does not grant {query.view} for {purpose}")
    rule = query_engine.check(query, view)
    dp = policy.release_for(ORGANIZATION, purpose, query.view) == "dp"
    return query_engine.rewrite(
        query,
        view,
        parameters,
        dialect="duckdb",
        cells_per_person=rule.cells_per_person if dp else None,
    )


@dataclasses.dataclass
class _Variant:
    name: str
    call: Callable[[], object]
    times: list[float] = dataclasses.field(default_factory=list)


def _interleave(variants: list[_Variant], repeats: int) -> None:
    for variant in variants:  # warm-up round: page cache, lazy imports, the view's render cache
        variant.call()
    for round_ in range(repeats):
        shift = round_ % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            t0 = time.perf_counter()
            variant.call()
            variant.times.append(time.perf_counter() - t0)


# -- memory -----------------------------------------------------------------------------------
def _status_kib(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


def _reset_peak() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# -- the report -------------------------------------------------------------------------------
def _print_size(source: Path, files: Mapping[str, tuple[str, ...]]) -> None:
    persons = _rows(source / "persons.parquet")
    claims = _rows(source / "claims.parquet")
    export = _bytes(sorted(source.glob("*.parquet")))
    zone_bytes = _bytes([Path(p) for paths in files.values() for p in paths])
    view = _bytes([Path(files[t][0]) for t in ("claims", "persons", "institutions")])
    print(
        f"size: {persons:,} persons, {claims:,} claims; Parquet: export {export / 1e6:,.0f} MB "
        f"({source}), zone {zone_bytes / 1e6:,.0f} MB, of which the view reads "
        f"{view / 1e6:,.0f} MB (claims, persons, institutions)"
    )


def _print_compile(policy: Policy, seconds: float) -> None:
    texts = [sql for sql, _ in MIX]
    for sql, parameters in MIX:  # every query of the mix is allowed, and warm
        _compile(policy, sql, parameters)
    ours: list[float] = []
    parse_only: list[float] = []
    stop = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < stop or len(ours) < len(MIX):
        sql, parameters = MIX[i % len(MIX)]
        t0 = time.perf_counter()
        _compile(policy, sql, parameters)
        t1 = time.perf_counter()
        sqlglot.parse_one(texts[i % len(MIX)], dialect="duckdb")
        t2 = time.perf_counter()
        ours.append(t1 - t0)
        parse_only.append(t2 - t1)
        i += 1
    median = statistics.median(ours) * 1e3
    base = statistics.median(parse_only) * 1e3
    print(
        f"parse+grant+validate+rewrite: {len(ours):,} runs over {len(MIX)} queries: "
        f"median {median:.2f} ms (goal <= 2 ms), p99 {percentile(ours, 99) * 1e3:.2f} ms; "
        f"sqlglot.parse_one alone median {base:.2f} ms, ratio {median / base:.1f}x; "
        f"load average {_load()}"
    )


def _settings(zone: Path, args: argparse.Namespace) -> Settings:
    """``dataward serve``'s settings over ``zone`` on 127.0.0.1:0, the ``[query]`` limits as
    the flags override them (the defaults otherwise), no rate limit in the way."""
    query = {
        key: value
        for key, value in (
            ("threads", args.threads),
            ("memory_mb", args.memory_mib),
            ("timeout_seconds", args.timeout),
        )
        if value is not None
    }
    settings = load_settings(
        overrides={
            "zone": {"dir": zone},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": {
                "bind": "127.0.0.1:0",
                "rate_limit_per_second": 1e9,
                "rate_limit_burst": 10**9,
            },
            "query": query,
            "budget": BUDGET,
        },
        environ={},
    )
    return dataclasses.replace(
        settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER_KEY))
    )


def _partner(serving: Serving) -> ClientCredentialsTokenSource:
    """An approved app of the organization the default policy grants, scopes query:run and
    audit:read, for underwriting and research, with its token from the real portal (client
    credentials)."""
    admin = serving.admin
    admin.create_organization("Bench Research", "RESEARCH")
    org = admin.create_organization("Bench Insurance", "INSURER", slug=ORGANIZATION)
    steward = admin.create_steward("bench-steward", "bench steward password 1")
    user = admin.create_partner_user(org, "bench-partner", "bench partner password 1")
    app = admin.register_app(
        user, "bench", ["query:run", "audit:read"], [PURPOSE, DP_PURPOSE], "bench"
    )
    creds = admin.approve_app(steward, app.client_id)
    return ClientCredentialsTokenSource(
        f"{serving.portal_url}/oauth/token",
        creds.client_id,
        creds.client_secret,
        "query:run audit:read",
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.query")
    parser.add_argument("--source", type=Path, help="an existing export directory")
    parser.add_argument("--persons", type=int, default=DEFAULT_PERSONS, help="generate this many")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="generated exports")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--seconds", type=float, default=10.0, help="of parse+validate+rewrite")
    parser.add_argument("--threads", type=int, help="query.threads (DuckDB), both sides")
    parser.add_argument("--memory-mib", type=int, help="query.memory_mb (DuckDB), both sides")
    parser.add_argument("--timeout", type=float, help="query.timeout_seconds")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    policy = default_policy()
    with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp:
        zone = Path(tmp) / "zone"
        t0 = time.perf_counter()
        source = _prepare_in_child(args, zone)
        print(
            f"export (cache {args.cache}) and zone init + ingest in a child process: "
            f"{time.perf_counter() - t0:.0f} s"
        )
        settings = _settings(zone, args)
        limits = query_engine.ExecutionLimits(
            timeout_seconds=settings.query.timeout_seconds,
            memory_bytes=settings.query.memory_mb * 2**20,
            threads=settings.query.threads,
        )
        serving = start_serving(settings)
        try:
            files = serving.core.zone.table_files()
            _print_size(source, files)
            _print_compile(policy, args.seconds)
            serving.core.policies.apply(
                default_policy_text(), Caller("bench", "zone-stewards"), "policies/default.yaml"
            )
            # The zone's pipeline the server answers with, called in this process too.
            queries = serving.core.queries
            tokens = _partner(serving)
            timeout = settings.query.timeout_seconds + 30
            # The zone's published key, pinned as a partner pins it, to verify a receipt.
            pinned = (serving.core.key_name, load_public_key((zone / PUBLIC_KEY_FILE).read_bytes()))
            label = "gRPC QueryService.Run end to end"
            target = f"127.0.0.1:{serving.api.port}"
            with Client(target, tokens, timeout=timeout, audit_key=pinned) as client:
                _run_queries(args, policy, files, limits, queries, client, label)
        finally:
            serving.stop()


def _run_queries(
    args: argparse.Namespace,
    policy: Policy,
    files: Mapping[str, tuple[str, ...]],
    limits: query_engine.ExecutionLimits,
    queries: AggregateQueries,
    client: Client,
    label: str,
) -> None:
    caller = Caller("bench-app", ORGANIZATION, frozenset({PURPOSE}))
    engine = query_engine.DuckDBEngine()
    rewritten = _compile(policy, AGGREGATE, {})
    dp_rewritten = _compile(policy, AGGREGATE, {}, DP_PURPOSE)
    bare = _bare(files, policy.views[VIEW].sql, limits)
    asked = itertools.count(1)

    def pipeline() -> object:
        return queries.run(caller, AGGREGATE, {}, PURPOSE)

    def remote() -> object:
        return client.run_query(AGGREGATE, purpose=PURPOSE)

    def engine_only() -> object:
        return engine.execute(rewritten.request(files, limits))

    def dp_engine_only() -> object:
        return engine.execute(dp_rewritten.request(files, limits))

    def dp_charged() -> object:
        result = client.run_query(dp_aggregate(next(asked)), purpose=DP_PURPOSE)
        if result.dp is None or result.dp.replayed or result.dp.epsilon_spent_micro == 0:
            raise RuntimeError("a new DP question was not charged")
        return result

    variants = [
        _Variant("bare DuckDB (view inlined)", bare),
        _Variant("DuckDBEngine, rewritten SQL", engine_only),
        _Variant("in-process AggregateQueries.run", pipeline),
    ]
    print(
        f"peak RSS of this (serving) process with the stack up, before any query: "
        f"{_mib(_status_kib('VmHWM'))}"
    )
    answer = queries.run(caller, AGGREGATE, {}, PURPOSE).value
    cells = bare().num_rows
    print(
        f"aggregate: {cells} cells in bare DuckDB, {answer.table.num_rows} released of which "
        f"{answer.suppressed_cells} suppressed; DuckDB threads={limits.threads}, "
        f"memory_limit={limits.memory_bytes // 2**20} MiB on every side"
    )
    result = client.run_query(AGGREGATE, purpose=PURPOSE)
    if not result.table.equals(answer.table):
        raise RuntimeError("the gRPC and the in-process answers differ")
    client.verify_answer(result)
    served = _Variant(label, remote)
    # The stored answer: charged once here (untimed), then every call replays it.
    first = client.run_query(AGGREGATE, purpose=DP_PURPOSE)
    client.verify_answer(first)
    if first.dp is None or first.dp.replayed:
        raise RuntimeError("the first DP answer was not charged")

    def dp_stored() -> object:
        again = client.run_query(AGGREGATE, purpose=DP_PURPOSE)
        if again.dp is None or not again.dp.replayed or again.dp.epsilon_spent_micro != 0:
            raise RuntimeError("the same DP question was not answered from its stored result")
        if not again.table.equals(first.table):
            raise RuntimeError("the stored DP answer changed")
        return again

    noise = ", ".join(
        f"{n.column} scale {n.scale:g} (95% +-{n.error_bound_95:.4g})" for n in first.dp.noise
    )
    print(
        f"dp aggregate ({DP_PURPOSE}, release: dp): {first.table.num_rows} cells released of "
        f"which {first.suppressed_cells} withheld; epsilon {first.dp.epsilon_micro / 1e6:g} per "
        f"new question; noise: {noise}"
    )
    variants += [
        served,
        _Variant("DuckDBEngine, dp rewritten SQL", dp_engine_only),
        _Variant("gRPC QueryService.Run, dp (charged)", dp_charged),
        _Variant("gRPC QueryService.Run, dp (stored answer)", dp_stored),
    ]
    load_before = _load()
    _interleave(variants, args.repeats)
    load_after = _load()
    baseline = statistics.median(variants[0].times)
    print(
        f"{args.repeats} interleaved rounds after a warm-up round, median each; "
        f"load average before {load_before}, after {load_after} (2 cores, shared)"
    )
    for variant in variants:
        median = statistics.median(variant.times)
        goal = " (goal <= 1.5x)" if variant is served else ""
        print(
            f"  {variant.name:<41} median {median:7.3f} s  min {min(variant.times):7.3f} s  "
            f"ratio to bare {median / baseline:5.2f}x{goal}"
        )
    exact = statistics.median(served.times)
    for variant in variants[-2:]:
        print(f"  {variant.name}: {statistics.median(variant.times) / exact:.2f}x the exact Run")
    print(f"peak RSS over the rounds (bare DuckDB included): {_mib(_status_kib('VmHWM'))}")
    runs = max(2, args.repeats // 2)
    resident = _status_kib("VmRSS")
    if _reset_peak():
        for _ in range(runs):
            served.call()
        print(
            f"peak RSS over {runs} runs of {served.name} alone (peak reset first, at "
            f"{_mib(resident)} resident): {_mib(_status_kib('VmHWM'))}"
        )


if __name__ == "__main__":
    main()
