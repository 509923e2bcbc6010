"""The real eligibility Check behind the sync thread-pool gRPC server vs a ``grpc.aio`` server.

    .venv/bin/python -m bench.grpc_aio --persons 100000 --seconds 5 --runs 3

Issue 15 asked whether ``grpc.aio`` (one event loop, the wait for the audit commit an await
instead of a blocked thread) serves checks faster than ``grpc.server`` over a thread pool.
Both servers here answer ``/dataward.v1.EligibilityService/Check`` with the real work: the
zone is a datagen export ingested, ``PersonChecks.check_eligibility`` of the stack that
``bench.grpc`` builds (reused by import: the consent lookup, the rules, the request, decision
and release leaves durable in the audit log — SQLite ``--synchronous``, FULL by default — and a
signed receipt), in this process, one stack for both servers:

1. ``grpc.server`` with a ``ThreadPoolExecutor(--workers)``, the handler calling the check;
2. ``grpc.aio.server`` on its own event loop thread, the handler awaiting the same check in a
   ``ThreadPoolExecutor(--workers)`` (``loop.run_in_executor``). The audit log has no async
   commit to await, so the blocking part still blocks an executor thread; what changes is the
   framework around it (the aio server's C-core polling and the handler hand-off).

LIKE WITH LIKE, NOT THE FULL STACK: neither server has the auth interceptor (no access token
verified, no rate limit, no scope check) nor the ``_convert`` mapping of ``grpc_api`` (a
private module): the handler maps the proto to the query and the decision to a
``CheckResponse`` without its receipt, the same code in both. The caller is fixed (the
bench's partner organization). So the numbers compare the frameworks on the real check, not
the end-to-end rate, which ``bench.grpc`` measures.

The load is another process (spawned, own GIL), ``--threads`` client threads each calling
back to back with pre-serialised requests of the consenting persons; each run measures the
sync server then the aio server, and the ratio aio/sync is taken within the run. Each line
starts with the load average when it began (and a warning above the number of cores).

Finding (issue 15; ``--persons 100000 --seconds 5 --runs 3``, 32 client threads, 16
threads; 2 cores shared with other sessions' benches, load average 5.5-7.0, so noisy): sync
326/370/391 checks/s, aio 294/327/384, aio/sync 0.75/1.00/1.04x min/median/max, p50 79-85 ms
on both. Not clearly (>15%) faster, so the server stays on the thread pool: with no async
audit commit to await, aio only moves the blocked thread into an executor.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import multiprocessing
import random
import statistics
import tempfile
import threading
from collections.abc import Callable
from concurrent import futures
from multiprocessing.connection import Connection
from pathlib import Path

import grpc
import pyarrow.parquet as pq

from bench._stats import load_now, percentile, spread
from bench.grpc import MASTER_KEY, UW, _cpu_seconds, _drive, _Load, _Run, _serve
from dataward.v1 import common_pb2, eligibility_pb2
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.persons import Benefit, EligibilityQuery, PersonChecks
from enclave.release import Caller
from launcher import Serving
from synthetic import generate

CHECK = "/dataward.v1.EligibilityService/Check"


@dataclasses.dataclass(frozen=True)
class _Job:
    target: str
    requests: tuple[bytes, ...]  # serialised CheckRequests, one per consenting person
    threads: int
    seconds: float
    warmup: float


def _handler(checks: PersonChecks, caller: Caller) -> Callable[[bytes], bytes]:
    """The work both servers do per call: proto in, the real check, proto out."""

    def check(raw: bytes) -> bytes:
        request = eligibility_pb2.CheckRequest.FromString(raw)
        query = EligibilityQuery(
            id_number=request.id_number,
            benefit=Benefit(eligibility_pb2.Benefit.Name(request.benefit).removeprefix("BENEFIT_")),
            as_of=None,
            purpose=UW,
            client_nonce=request.client_nonce,
        )
        decision = checks.check_eligibility(caller, query).value
        return eligibility_pb2.CheckResponse(
            eligible=decision.eligible,
            reasons=[
                eligibility_pb2.EligibilityReason.Value(f"ELIGIBILITY_REASON_{r.value}")
                for r in decision.reasons
            ],
        ).SerializeToString()

    return check


def _sync_server(check: Callable[[bytes], bytes], workers: int) -> tuple[grpc.Server, int]:
    handler = grpc.method_handlers_generic_handler(
        "dataward.v1.EligibilityService",
        {"Check": grpc.unary_unary_rpc_method_handler(lambda raw, _context: check(raw))},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


class _AioServer:
    """A ``grpc.aio`` server on an event loop in its own thread, awaiting ``check`` in a
    thread pool of ``workers``."""

    def __init__(self, check: Callable[[bytes], bytes], workers: int) -> None:
        self._pool = futures.ThreadPoolExecutor(max_workers=workers)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server, self.port = asyncio.run_coroutine_threadsafe(
            self._start(check), self._loop
        ).result(30)

    async def _start(self, check: Callable[[bytes], bytes]) -> tuple[grpc.aio.Server, int]:
        loop = asyncio.get_running_loop()

        async def answer(raw: bytes, _context: grpc.aio.ServicerContext) -> bytes:  # type: ignore[type-arg]
            return await loop.run_in_executor(self._pool, check, raw)

        handler = grpc.method_handlers_generic_handler(
            "dataward.v1.EligibilityService",
            {"Check": grpc.unary_unary_rpc_method_handler(answer)},
        )
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(None), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()
        self._pool.shutdown()


def _partner_process(conn: Connection) -> None:
    """The load generator: runs each job it is sent until it is sent None."""
    while (job := conn.recv()) is not None:
        try:
            channel = grpc.insecure_channel(job.target)
            call = channel.unary_unary(CHECK)
            requests = job.requests

            def one(
                i: int, call: Callable[..., bytes] = call, r: tuple[bytes, ...] = requests
            ) -> bytes:
                return call(r[i % len(r)], timeout=30)

            _drive(one, job.threads, job.warmup)
            conn.send(("warm",))
            cpu0 = _cpu_seconds()
            run, first_error = _drive(one, job.threads, job.seconds)
            channel.close()
            conn.send(
                ("done", dataclasses.replace(run, client_cpu=_cpu_seconds() - cpu0), first_error)
            )
        except Exception as exc:
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    conn.close()


class _Partner:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, theirs = ctx.Pipe()
        self._proc = ctx.Process(target=_partner_process, args=(theirs,), daemon=True)
        self._proc.start()
        theirs.close()

    def close(self) -> None:
        self._conn.send(None)
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()

    def measure(self, name: str, job: _Job) -> _Run:
        average, warning = load_now()
        self._conn.send(job)
        for within in (job.warmup + 120, job.seconds + 120):
            if not self._conn.poll(within):
                raise RuntimeError(f"{name}: the load generator did not answer in time")
            message = self._conn.recv()
            if message[0] == "failed":
                raise RuntimeError(f"{name}: the load generator failed: {message[1]}")
            if message[0] == "warm":
                cpu0 = _cpu_seconds()
        _, run, first_error = message
        assert isinstance(run, _Run)
        run = dataclasses.replace(run, server_cpu=_cpu_seconds() - cpu0)
        if not run.calls:
            raise RuntimeError(f"{name}: no calls answered ({first_error})")
        refused = f"   {run.errors:,} failed ({first_error})" if run.errors else ""
        print(
            f"{average} {name:<40} {run.rate:>8,.0f} checks/s   p50 "
            f"{percentile(run.latencies, 50) * 1e3:6.2f} ms   p99 "
            f"{percentile(run.latencies, 99) * 1e3:6.2f} ms   server CPU/check "
            f"{run.server_ms:.3f} ms{refused}{warning}",
            flush=True,
        )
        return run


def _say(text: str) -> None:
    average, warning = load_now()
    print(f"{average} {text}{warning}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.grpc_aio")
    parser.add_argument("--source", type=Path, help="an existing export directory")
    parser.add_argument("--persons", type=int, default=100_000, help="generate this many")
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="before each measurement")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=32, help="client threads")
    parser.add_argument("--workers", type=int, default=16, help="server / executor threads")
    parser.add_argument("--consents", type=int, default=1000, help="consenting persons")
    parser.add_argument("--synchronous", default="FULL", help="audit/consent SQLite PRAGMA")
    args = parser.parse_args()
    logging.getLogger("dataward").setLevel(logging.ERROR)
    partner = _Partner()
    with tempfile.TemporaryDirectory(prefix="bench-grpc-aio-") as tmp:
        work = Path(tmp)
        source = args.source
        if source is None:
            source = work / "source"
            generate(source, persons=args.persons)
        zone_dir = work / "zone"
        init_zone(zone_dir, MASTER_KEY)
        ingest(zone_dir, source, open_keyring(zone_dir, MASTER_KEY))
        persons = pq.read_table(source / "persons.parquet", columns=["id_number", "name"])
        rows = random.Random(7).sample(
            range(persons.num_rows), min(args.consents, persons.num_rows)
        )
        numbers = persons.column("id_number").to_pylist()
        names = persons.column("name").to_pylist()
        people = [(numbers[i], names[i]) for i in rows]
        template = _Load("", "", args.threads, args.seconds, args.warmup)
        serving, real, _ = _serve(
            zone_dir, args.synchronous.upper(), args.workers, people, template
        )
        try:
            purpose = common_pb2.Purpose.Value(f"PURPOSE_{UW}")
            requests = tuple(
                eligibility_pb2.CheckRequest(
                    id_number=number,
                    benefit=eligibility_pb2.BENEFIT_OUTPATIENT,
                    purpose=purpose,
                    client_nonce="n" * 32,
                ).SerializeToString()
                for number, _ in people
            )
            caller = Caller(real.client_id, _organization(serving), frozenset({UW}))
            check = _handler(serving.core.checks, caller)
            check(requests[0])  # fails loudly here if the caller has no consent
            _say(
                f"zone: {persons.num_rows:,} persons; load generator in a separate process, "
                f"{args.threads} client threads; {args.workers} server/executor threads; "
                f"synchronous={args.synchronous.upper()}; {args.seconds:g} s per line after "
                f"{args.warmup:g} s warm-up; no interceptor on either server"
            )
            ratios: list[float] = []
            rates: dict[str, list[float]] = {"sync": [], "aio": []}
            for n in range(max(1, args.runs)):
                _say(f"run {n + 1} of {args.runs}")
                server, port = _sync_server(check, args.workers)
                job = _Job(f"127.0.0.1:{port}", requests, args.threads, args.seconds, args.warmup)
                try:
                    sync = partner.measure("sync grpc.server (thread pool)", job)
                finally:
                    server.stop(None)
                aio_server = _AioServer(check, args.workers)
                try:
                    job = dataclasses.replace(job, target=f"127.0.0.1:{aio_server.port}")
                    aio = partner.measure("grpc.aio server (run_in_executor)", job)
                finally:
                    aio_server.stop()
                rates["sync"].append(sync.rate)
                rates["aio"].append(aio.rate)
                ratios.append(aio.rate / sync.rate)
            _say(f"over {len(ratios)} runs, min/median/max:")
            _say(f"  sync checks/s {spread(rates['sync'], ',.0f')}")
            _say(f"  aio checks/s  {spread(rates['aio'], ',.0f')}")
            median = statistics.median(ratios)
            verdict = "aio clearly faster (>15%)" if median > 1.15 else "aio not clearly faster"
            _say(f"  aio/sync checks/s {spread(ratios, '.2f')}x  ({verdict})")
        finally:
            serving.stop()
            partner.close()


def _organization(serving: Serving) -> str:
    """The slug of the partner organization ``bench.grpc``'s stack created (and consented to)."""
    (slug,) = [o.slug for o in serving.admin.list_organizations() if o.name == "Bench Insurance"]
    return slug


if __name__ == "__main__":
    main()
