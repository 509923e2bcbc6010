"""gRPC eligibility checks/s and p50/p99 latency over loopback, against a bare echo service.

    .venv/bin/python -m bench.grpc                      # 100k persons generated with datagen
    .venv/bin/python -m bench.grpc --persons 1000000 --seconds 20
    .venv/bin/python -m bench.grpc --source /tmp/dw-1m-source   # an existing export

The full stack runs as ``dataward serve`` does: a datagen zone ingested, the real portal
issuing ES256 access tokens (client credentials), the gRPC server verifying them against the
portal's JWKS and revocation feed, the consent lookup, the eligibility rules, three durable
audit leaves per answer in two group commits (the request; then the decision and the release
with the checkpoint signed for the receipt) and a signed receipt.

The headline is SQLite synchronous=FULL (the default: every commit fsyncs); each further mode
in ``--synchronous`` (default FULL,NORMAL) is a second line, on a fresh server over the same
zone. The baseline is a bare gRPC unary echo (same thread-pool size, same client concurrency,
no interceptor) measured in the same run. Group commit only pays off with calls in flight, so
the server runs at least as many workers as there are client threads.

The partner is another process, as in deployment: for the echo and for eligibility alike the
load generator (``--threads`` client threads, the SDK for eligibility) runs in a spawned
process with its own interpreter and GIL, while the gRPC server stays in this one (the portal
runs in its own process, as in `dataward serve`). Each line also prints the CPU per call of
each side over the measured window: with the cores shared, the sum of the two bounds the
calls per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import random
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent import futures
from multiprocessing.connection import Connection
from pathlib import Path

import grpc
import pyarrow.parquet as pq

from dataward.client import Client, ClientCredentialsTokenSource
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.release import Caller
from launcher import Serving, start_serving
from launcher.settings import Secret, load_settings
from synthetic import generate

MASTER_KEY = b"bench master key, not a secret"
UW = "INSURANCE_UNDERWRITING"


@dataclasses.dataclass(frozen=True)
class _Load:
    """What the load-generator process runs: echo (no token) or eligibility (SDK client)."""

    target: str
    threads: int
    seconds: float
    warmup: float
    ids: tuple[str, ...] = ()
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""


def _drive(call: Callable[[int], object], threads: int, seconds: float) -> list[float]:
    samples: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            call(slot * 1_000_003 + i)
            samples[slot].append(time.perf_counter() - t0)
            i += 1

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sorted(s for per in samples for s in per)


def _load_process(load: _Load, out: Connection) -> None:
    """The partner: a separate process (own interpreter, own GIL) driving ``load.target``."""
    if load.client_id:
        tokens = ClientCredentialsTokenSource(
            load.token_url, load.client_id, load.client_secret, "eligibility:check"
        )
        client = Client(load.target, tokens)
        ids = load.ids

        def call(i: int) -> object:
            return client.check_eligibility(ids[i % len(ids)], "OUTPATIENT", UW)

        close: Callable[[], None] = client.close
    else:
        channel = grpc.insecure_channel(load.target)
        echo = channel.unary_unary("/bench.Echo/Echo")
        payload = b"x" * 64

        def call(i: int) -> object:
            return echo(payload, timeout=10)

        close = channel.close
    try:
        _drive(call, load.threads, load.warmup)
        out.send(None)  # warm: the server's CPU clock starts now
        cpu0 = _cpu_seconds()
        latencies = _drive(call, load.threads, load.seconds)
        out.send((latencies, _cpu_seconds() - cpu0))
    finally:
        close()
        out.close()


def _cpu_seconds() -> float:
    """CPU time of the calling process, every thread (server side or load generator)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclasses.dataclass(frozen=True)
class _Run:
    latencies: list[float]
    server_cpu: float  # seconds of this process's CPU during the measured window
    client_cpu: float  # seconds of the load generator's CPU during its measured window


def _measure(load: _Load) -> _Run:
    """Run ``load`` in a spawned process, bounded by its duration plus a margin."""
    ctx = multiprocessing.get_context("spawn")
    mine, theirs = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_load_process, args=(load, theirs), daemon=True)
    proc.start()
    theirs.close()
    try:
        if not mine.poll(load.warmup + 60) or mine.recv() is not None:
            raise RuntimeError("load generator did not warm up in time")
        cpu0 = _cpu_seconds()
        if not mine.poll(load.seconds + 60):
            raise RuntimeError("load generator did not answer in time")
        latencies, client_cpu = mine.recv()
        cpu = _cpu_seconds() - cpu0
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if not latencies:
        raise RuntimeError("load generator made no calls")
    return _Run(latencies, cpu, client_cpu)


def _report(name: str, run: _Run, seconds: float) -> float:
    latencies = run.latencies
    rate = len(latencies) / seconds
    cpu = run.server_cpu / len(latencies) * 1e3
    client = run.client_cpu / len(latencies) * 1e3
    p50 = latencies[len(latencies) // 2] * 1e3
    p99 = latencies[int(len(latencies) * 0.99)] * 1e3
    print(
        f"{name:<40} {rate:>9,.0f} calls/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
        f"CPU/call server {cpu:.3f} ms, client {client:.3f} ms"
    )
    return rate


def _echo_server(workers: int) -> tuple[grpc.Server, int]:
    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        return request

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def _serve_mode(
    zone_dir: Path, sync: str, workers: int, ids: list[str], load: _Load
) -> tuple[Serving, _Load]:
    """A fresh ``dataward serve`` stack over ``zone_dir``, an approved app, consents for ``ids``.

    Returns the stack and ``load`` aimed at it with the app's credentials.
    """
    settings = load_settings(
        overrides={
            "zone": {"dir": zone_dir},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": {
                "bind": "127.0.0.1:0",
                "rate_limit_per_second": 1e9,
                "rate_limit_burst": 10**9,
                "max_workers": workers,
            },
            "audit": {"sqlite_synchronous": sync},
        },
        environ={},
    )
    settings = dataclasses.replace(
        settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER_KEY))
    )
    serving = start_serving(settings)
    admin = serving.admin
    tag = sync.lower()
    org = admin.create_organization(f"Bench Insurance {tag}", "INSURER")
    steward = admin.create_steward(f"steward-{tag}", "bench steward password 1")
    user = admin.create_partner_user(org, f"bench-{tag}", "bench partner password 1")
    app = admin.register_app(user, "bench", ["eligibility:check"], [UW], "bench")
    creds = admin.approve_app(steward, app.client_id)
    for number in ids:
        serving.core.checks.grant_consent(
            Caller("bench", "operator"), id_number=number, partner=org.slug, purpose=UW
        )
    return serving, dataclasses.replace(
        load,
        target=f"127.0.0.1:{serving.api.port}",
        ids=tuple(ids),
        token_url=f"{serving.portal_url}/oauth/token",
        client_id=creds.client_id,
        client_secret=creds.client_secret,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.grpc")
    parser.add_argument("--source", type=Path, help="an existing export directory")
    parser.add_argument("--persons", type=int, default=100_000, help="generate this many")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=32, help="concurrent client calls")
    parser.add_argument("--workers", type=int, default=0, help="server threads (>= --threads)")
    parser.add_argument("--consents", type=int, default=1000)
    parser.add_argument(
        "--synchronous", default="FULL,NORMAL", help="audit/consent SQLite PRAGMA, first=headline"
    )
    args = parser.parse_args()
    modes = [m.strip().upper() for m in args.synchronous.split(",") if m.strip()]
    workers = max(args.workers, args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        source = args.source
        if source is None:
            source = work / "source"
            generate(source, persons=args.persons)
        zone_dir = work / "zone"
        init_zone(zone_dir, MASTER_KEY)
        ingest(zone_dir, source, open_keyring(zone_dir, MASTER_KEY))
        numbers = pq.read_table(source / "persons.parquet", columns=["id_number"]).column(0)
        print(f"zone: {len(numbers):,} persons ingested in {time.perf_counter() - t0:.0f} s")
        ids = random.Random(7).sample(numbers.to_pylist(), args.consents)
        echo_server, echo_port = _echo_server(workers)
        load = _Load(f"127.0.0.1:{echo_port}", args.threads, args.seconds, warmup=1.0)
        try:
            print(
                f"load generator in a separate process: {args.threads} client threads, "
                f"{workers} server workers, {args.seconds:.0f} s per line"
            )
            echo_rate = _report("bare gRPC echo", _measure(load), args.seconds)
        finally:
            echo_server.stop(None)
        for n, sync in enumerate(modes):
            serving, eligibility = _serve_mode(zone_dir, sync, workers, ids, load)
            try:
                rate = _report(
                    f"eligibility {sync:<6} (auth+audit+receipt)",
                    _measure(eligibility),
                    args.seconds,
                )
                goal = " (goal >= 0.60)" if n == 0 else ""
                print(f"ratio eligibility/echo, synchronous={sync}: {rate / echo_rate:.2f}{goal}")
                print(f"audit leaves so far: {serving.core.audit.size:,}")
            finally:
                serving.stop()


if __name__ == "__main__":
    main()
