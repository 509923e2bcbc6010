"""gRPC eligibility and identity checks and CheckBatch over loopback, each against a bare echo.

    .venv/bin/python -m bench.grpc                      # 100k persons generated, 3 runs
    .venv/bin/python -m bench.grpc --persons 1000000 --seconds 10 --runs 3
    .venv/bin/python -m bench.grpc --source /tmp/dw-1m-source   # an existing export

The full stack runs as ``dataward serve`` does, with main's own server settings (workers,
batch options; ``--workers`` overrides): a datagen zone ingested, the real portal issuing ES256
access tokens (client credentials), the gRPC server verifying them against the portal's JWKS
and revocation feed, the consent lookup, the eligibility rules or the identity-document check,
the audit leaves durable before the answer (SQLite ``--synchronous``, FULL by default: every
commit fsyncs) and a signed receipt.

Each run measures, one after the other, on the same stack:

- a bare gRPC unary echo (same thread-pool size, no interceptor) answering a message of the
  size of a ``CheckResponse`` to one of the size of a ``CheckRequest`` (sizes probed from the
  real server at the start of the run);
- ``EligibilityService.Check`` and ``IdentityService.Verify`` (no selfie) through the SDK,
  the same client threads;
- a bare bidi streaming echo answering ``CheckBatchResponse``-sized messages to
  ``CheckBatchRequest``-sized ones, on ``--streams`` concurrent streams of at most
  ``grpc.max_batch_items`` items each;
- ``CheckBatch`` through the SDK's ``Client.check_many`` with ``pack=1`` (one item per
  message, the form before the packed one), on as many concurrent ``check_many`` iterations
  as streams;
- a bare bidi streaming echo of the packed form's message sizes: a message of ``--pack``
  items' requests answered by one of ``--pack`` items' answers (items/s counts the items);
- ``CheckBatch`` through ``check_many`` packed (``--pack``, its default 64: each message a
  group of the zone's, answered in one response; its default window, streams of
  ``grpc.max_batch_items``). ``check_many``'s receipts are not verified (``verify=False``),
  as the unary calls verify none; ``--verify-receipts`` measures them verified.

The goal set for CheckBatch (>= 0.5x a streaming echo) is judged against the one-item echo;
the packed echo is the like-for-like framing and printed beside it.

The partner is another process, as in deployment: each load generator runs in a spawned
process with its own interpreter and GIL, while the servers stay in this one (the portal runs
in its own process, as in ``dataward serve``). Each line prints calls (or items) per second,
p50/p99 latency for unary calls and the CPU per call of each side over the measured window:
with the cores shared, the sum of the two bounds the rate. The ratios are taken within each
run; the summary gives min/median/max over ``--runs`` and whether the median meets its goal.
Every line starts with the load average taken when its measurement began (this bench's own
two busy processes count in it) and a warning when it is above the number of cores.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import random
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from multiprocessing.connection import Connection
from pathlib import Path

import grpc
import pyarrow.parquet as pq

from bench._stats import goal, load_now, percentile, spread
from dataward.client import (
    Benefit,
    Client,
    ClientCredentialsTokenSource,
    EligibilityQuery,
    Purpose,
)
from dataward.v1 import (
    common_pb2,
    eligibility_pb2,
    eligibility_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
)
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.release import Caller
from launcher import Serving, start_serving
from launcher.settings import Secret, load_settings
from synthetic import generate

MASTER_KEY = b"bench master key, not a secret"
UW = "INSURANCE_UNDERWRITING"
SCOPES = ("eligibility:check", "identity:verify")
_UNARY_ECHO = "/bench.Echo/Echo"
_STREAM_ECHO = "/bench.Echo/Stream"
_PACKED_ECHO = "/bench.Echo/Packed"


@dataclasses.dataclass(frozen=True)
class _Load:
    """What one load-generator process runs.

    ``kind`` is ``echo`` or ``stream_echo`` (no token), ``check``, ``verify`` or ``batch``
    (the SDK with the app's credentials); ``threads`` are client threads for unary calls,
    concurrent streams for the two streaming kinds."""

    kind: str
    target: str
    threads: int
    seconds: float
    warmup: float
    request_bytes: int = 64
    stream_items: int = 1000  # items per stream (the server's grpc.max_batch_items)
    pack: int = 1  # items per message: check_many's pack; a packed echo's items per message
    people: tuple[tuple[str, str], ...] = ()  # (id_number, name) of consenting persons
    verify_receipts: bool = False  # check_many's verify (the unary calls check none)
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""

    @property
    def streaming(self) -> bool:
        return self.kind in ("stream_echo", "batch")


@dataclasses.dataclass(frozen=True)
class _Run:
    calls: int  # answered calls (unary) or items (streams)
    errors: int  # of them, refused ones (an exception or a per-item error)
    wall: float  # seconds from the first call to the last answer
    latencies: list[float]  # sorted, unary calls only
    server_cpu: float  # seconds of this process's CPU during the measured window
    client_cpu: float  # seconds of the load generator's CPU during its measured window

    @property
    def rate(self) -> float:
        return self.calls / self.wall

    @property
    def server_ms(self) -> float:
        return self.server_cpu / self.calls * 1e3

    @property
    def client_ms(self) -> float:
        return self.client_cpu / self.calls * 1e3

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1e3


def _drive(call: Callable[[int], object], threads: int, seconds: float) -> tuple[_Run, str]:
    """``threads`` threads calling ``call`` back to back for ``seconds``; CPU left at 0."""
    samples: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    first_error: list[str] = []
    stop = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                call(slot * 1_000_003 + i)
            except Exception as exc:  # a refusal is counted and named, not a dead thread
                errors[slot] += 1
                first_error[:] = first_error or [type(exc).__name__]
            samples[slot].append(time.perf_counter() - t0)
            i += 1

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    latencies = sorted(s for per in samples for s in per)
    wall = time.perf_counter() - started
    return _Run(len(latencies), sum(errors), wall, latencies, 0.0, 0.0), "".join(first_error)


def _drive_streams(
    open_stream: Callable[[Iterator[int]], Iterator[bool]],
    streams: int,
    seconds: float,
    per_stream: int,
) -> tuple[_Run, str]:
    """``streams`` threads, each sending items on one stream after another (at most
    ``per_stream`` items each, 0: one stream for the whole time) until ``seconds`` have
    passed, then reading the remaining answers; ``open_stream`` yields True per answered
    item, False per refused one."""
    counts = [0] * streams
    errors = [0] * streams
    first_error: list[str] = []
    stop = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        next_item = slot * 1_000_003

        def items() -> Iterator[int]:
            nonlocal next_item
            sent = 0
            while time.perf_counter() < stop and (per_stream == 0 or sent < per_stream):
                yield next_item
                next_item += 1
                sent += 1

        while time.perf_counter() < stop:
            try:
                for ok in open_stream(items()):
                    counts[slot] += 1
                    errors[slot] += not ok
            except Exception as exc:  # a stream that ends with a status: counted, named
                errors[slot] += 1
                first_error[:] = first_error or [type(exc).__name__]

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(streams)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started
    return _Run(sum(counts), sum(errors), wall, [], 0.0, 0.0), "".join(first_error)


def _calls(load: _Load) -> tuple[Callable[[int], object], Callable[[], None]]:
    """The unary call of ``load`` (its argument picks the person) and how to close it."""
    if load.kind == "echo":
        channel = grpc.insecure_channel(load.target)
        echo = channel.unary_unary(_UNARY_ECHO)  # type: ignore[call-arg]  # bytes, no codec
        payload = b"x" * load.request_bytes
        return lambda _: echo(payload, timeout=30), channel.close
    client = _client(load)
    people = load.people
    if load.kind == "check":
        return (
            lambda i: client.check_eligibility(people[i % len(people)][0], "OUTPATIENT", UW),
            client.close,
        )
    return (
        lambda i: client.verify_identity(*people[i % len(people)], UW),
        client.close,
    )


def _streams(
    load: _Load,
) -> tuple[Callable[[Iterator[int]], Iterator[bool]], int, Callable[[], None]]:
    """The stream opener of ``load``, the items per stream (0: unbounded) and how to close."""
    if load.kind == "stream_echo":
        channel = grpc.insecure_channel(load.target)
        method = _STREAM_ECHO if load.pack == 1 else _PACKED_ECHO
        echo = channel.stream_stream(method)  # type: ignore[call-arg]  # bytes, no codec
        payload = b"x" * load.request_bytes
        pack = load.pack

        def echo_stream(items: Iterator[int]) -> Iterator[bool]:
            # a message per ``pack`` items, an answer per message: ``pack`` items answered
            messages = (payload for _ in _chunks(items, pack))
            return (True for _ in echo(messages, timeout=600) for _ in range(pack))

        return echo_stream, load.stream_items, channel.close
    client = _client(load)
    ids = [number for number, _ in load.people]

    def queries(items: Iterator[int]) -> Iterator[EligibilityQuery]:
        for i in items:
            yield EligibilityQuery(ids[i % len(ids)], Benefit("OUTPATIENT"), Purpose(UW))

    def many(items: Iterator[int]) -> Iterator[bool]:
        # check_many opens a new stream every max_batch_items items itself: one call for
        # the whole measurement
        answers = client.check_many(
            queries(items),
            stream_items=load.stream_items,
            pack=load.pack,
            verify=load.verify_receipts,
        )
        return (item.error is None for item in answers)

    return many, 0, client.close


def _chunks(items: Iterator[int], n: int) -> Iterator[list[int]]:
    while chunk := list(itertools.islice(items, n)):
        yield chunk


def _client(load: _Load) -> Client:
    tokens = ClientCredentialsTokenSource(
        load.token_url, load.client_id, load.client_secret, SCOPES
    )
    return Client(load.target, tokens, timeout=600)


def _run_load(load: _Load, out: Connection) -> None:
    """Warm up, tell the server side, measure, send the result (client CPU included)."""
    if load.streaming:
        opener, per_stream, close = _streams(load)

        def drive(seconds: float) -> tuple[_Run, str]:
            return _drive_streams(opener, load.threads, seconds, per_stream)
    else:
        call, close = _calls(load)

        def drive(seconds: float) -> tuple[_Run, str]:
            return _drive(call, load.threads, seconds)

    try:
        drive(load.warmup)
        out.send(("warm",))  # the server's CPU clock starts now
        cpu0 = _cpu_seconds()
        run, first_error = drive(load.seconds)
        out.send(("done", dataclasses.replace(run, client_cpu=_cpu_seconds() - cpu0), first_error))
    finally:
        close()


def _partner_process(conn: Connection) -> None:
    """The partner: a separate process (own interpreter, own GIL) running each load it is
    sent, one after the other, until it is sent None (spawned once: its imports are slow)."""
    while (load := conn.recv()) is not None:
        try:
            _run_load(load, conn)
        except Exception as exc:
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    conn.close()


def _cpu_seconds() -> float:
    """CPU time of the calling process, every thread (server side or load generator)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Partner:
    """The load-generator process, spawned once for the whole bench."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, theirs = ctx.Pipe()
        self._proc = ctx.Process(target=_partner_process, args=(theirs,), daemon=True)
        self._proc.start()
        theirs.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a dead partner has nothing left to stop
            self._conn.send(None)
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._conn.close()

    def _receive(self, name: str, within: float) -> tuple[object, ...]:
        if not self._conn.poll(within):
            raise RuntimeError(f"{name}: the load generator did not answer in time")
        message: tuple[object, ...] = self._conn.recv()
        if message[0] == "failed":
            raise RuntimeError(f"{name}: the load generator failed: {message[1]}")
        return message

    def measure(self, name: str, load: _Load) -> _Run:
        """Run ``load`` (bounded by its duration plus a margin), print its line and return it
        with this process's CPU over the measured window."""
        load_average, warning = load_now()
        self._conn.send(load)
        self._receive(name, load.warmup + 120)
        cpu0 = _cpu_seconds()
        _, run, first_error = self._receive(name, load.seconds + 120)
        assert isinstance(run, _Run)
        run = dataclasses.replace(run, server_cpu=_cpu_seconds() - cpu0)
        if not run.calls:
            raise RuntimeError(f"{name}: the load generator made no calls ({first_error})")
        unit = "items" if load.streaming else "calls"
        latency = (
            f"p50 {run.p(50):6.2f} ms   p99 {run.p(99):6.2f} ms"
            if run.latencies
            else f"{'(stream)':<30}"
        )
        refused = f"   {run.errors:,} refused ({first_error or 'per item'})" if run.errors else ""
        print(
            f"{load_average} {name:<34} {run.rate:>9,.0f} {unit}/s   {latency}   CPU/"
            f"{unit[:-1]} server {run.server_ms:.3f} ms, client {run.client_ms:.3f} ms"
            f"{refused}{warning}",
            flush=True,
        )
        return run


def _say(text: str) -> None:
    """Print ``text`` after the load average, with the load's warning at the end if any."""
    average, warning = load_now()
    print(f"{average} {text}{warning}", flush=True)


def _echo_server(
    workers: int, unary_answer: bytes, stream_answer: bytes, packed_answer: bytes
) -> tuple[grpc.Server, int]:
    """The bare baseline: a unary and two bidi streaming echoes (one item per message, and
    packed), each answering a message of the real answer's size to every message (no
    interceptor, no token, no work)."""

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        return unary_answer

    def stream(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        for _ in requests:
            yield stream_answer

    def packed(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        for _ in requests:
            yield packed_answer

    handler = grpc.method_handlers_generic_handler(
        "bench.Echo",
        {
            "Echo": grpc.unary_unary_rpc_method_handler(echo),
            "Stream": grpc.stream_stream_rpc_method_handler(stream),
            "Packed": grpc.stream_stream_rpc_method_handler(packed),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@dataclasses.dataclass(frozen=True)
class _Sizes:
    check_request: int
    check_response: int
    batch_request: int
    batch_response: int
    packed_request: int  # a CheckBatchRequest of ``pack`` items
    packed_response: int  # its answer: a CheckBatchResponse of ``pack`` items
    verify_request: int
    verify_response: int


def _probe(load: _Load, pack: int) -> _Sizes:
    """The serialized sizes of one real Check, CheckBatch item and Verify, as the SDK sends
    them (a 32-character nonce), answered by the server under test; and of a packed
    CheckBatch message of ``pack`` such items and its answer."""
    number, name = load.people[0]
    tokens = ClientCredentialsTokenSource(
        load.token_url, load.client_id, load.client_secret, SCOPES
    )
    metadata = (("authorization", f"Bearer {tokens.token()}"),)
    purpose = common_pb2.Purpose.Value(f"PURPOSE_{UW}")
    check = eligibility_pb2.CheckRequest(
        id_number=number,
        benefit=eligibility_pb2.BENEFIT_OUTPATIENT,
        purpose=purpose,
        client_nonce="n" * 32,
    )
    verify = identity_pb2.VerifyRequest(
        id_number=number, name=name, purpose=purpose, client_nonce="n" * 32
    )
    with grpc.insecure_channel(load.target) as channel:
        eligibility = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        checked = eligibility.Check(check, metadata=metadata, timeout=30)
        item = eligibility_pb2.CheckBatchRequest(item=check)
        (answer,) = eligibility.CheckBatch(iter([item]), metadata=metadata, timeout=30)
        verified = identity_pb2_grpc.IdentityServiceStub(channel).Verify(
            verify, metadata=metadata, timeout=30
        )
    packed = eligibility_pb2.CheckBatchRequest(items=[check] * pack)
    packed_answer = eligibility_pb2.CheckBatchResponse(
        items=[eligibility_pb2.CheckBatchItem(index=n, result=answer.result) for n in range(pack)]
    )
    return _Sizes(
        check_request=check.ByteSize(),
        check_response=checked.ByteSize(),
        batch_request=item.ByteSize(),
        batch_response=answer.ByteSize(),
        packed_request=packed.ByteSize(),
        packed_response=packed_answer.ByteSize(),
        verify_request=verify.ByteSize(),
        verify_response=verified.ByteSize(),
    )


def _serve(
    zone_dir: Path, sync: str, workers: int, people: list[tuple[str, str]], load: _Load
) -> tuple[Serving, _Load, int]:
    """A ``dataward serve`` stack over ``zone_dir`` with main's grpc settings (``workers`` >
    0 overrides ``grpc.max_workers``), an approved app, consents for ``people``.

    Returns the stack, ``load`` aimed at it with the app's credentials and the server's
    worker threads."""
    grpc_overrides: dict[str, object] = {
        "bind": "127.0.0.1:0",
        "rate_limit_per_second": 1e9,
        "rate_limit_burst": 10**9,
    }
    if workers:
        grpc_overrides["max_workers"] = workers
    settings = load_settings(
        overrides={
            "zone": {"dir": zone_dir},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": grpc_overrides,
            "audit": {"sqlite_synchronous": sync},
            "log": {"level": "ERROR"},  # slow calls under load are the bench's subject
        },
        environ={},
    )
    settings = dataclasses.replace(
        settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER_KEY))
    )
    serving = start_serving(settings)
    admin = serving.admin
    org = admin.create_organization("Bench Insurance", "INSURER")
    steward = admin.create_steward("steward", "bench steward password 1")
    user = admin.create_partner_user(org, "bench", "bench partner password 1")
    app = admin.register_app(user, "bench", list(SCOPES), [UW], "bench")
    creds = admin.approve_app(steward, app.client_id)
    for number, _ in people:
        serving.core.checks.grant_consent(
            Caller("bench", "operator"), id_number=number, partner=org.slug, purpose=UW
        )
    aimed = dataclasses.replace(
        load,
        target=f"127.0.0.1:{serving.api.port}",
        stream_items=settings.grpc.max_batch_items,
        people=tuple(people),
        token_url=f"{serving.portal_url}/oauth/token",
        client_id=creds.client_id,
        client_secret=creds.client_secret,
    )
    return serving, aimed, settings.grpc.max_workers


def _one_run(
    partner: _Partner, real: _Load, *, workers: int, streams: int, batch_call: str, pack: int
) -> dict[str, _Run]:
    """One of each measurement, the echoes sized after a probe of the real answers."""
    sizes = _probe(real, pack)
    _say(
        f"message sizes: CheckRequest {sizes.check_request} B -> CheckResponse "
        f"{sizes.check_response} B; CheckBatchRequest {sizes.batch_request} B -> "
        f"CheckBatchResponse {sizes.batch_response} B (packed, {pack} items: "
        f"{sizes.packed_request:,} B -> {sizes.packed_response:,} B); VerifyRequest "
        f"{sizes.verify_request} B -> VerifyResponse {sizes.verify_response} B"
    )
    echo, port = _echo_server(
        workers,
        b"x" * sizes.check_response,
        b"x" * sizes.batch_response,
        b"x" * sizes.packed_response,
    )
    target = f"127.0.0.1:{port}"
    try:
        runs = {
            "echo": partner.measure(
                "bare unary echo",
                dataclasses.replace(
                    real, kind="echo", target=target, request_bytes=sizes.check_request
                ),
            ),
            "check": partner.measure(
                "eligibility Check (SDK)", dataclasses.replace(real, kind="check")
            ),
            "verify": partner.measure(
                "identity Verify, no selfie (SDK)", dataclasses.replace(real, kind="verify")
            ),
        }
        on_streams = dataclasses.replace(real, threads=streams)
        runs["stream_echo"] = partner.measure(
            "bare streaming echo",
            dataclasses.replace(
                on_streams, kind="stream_echo", target=target, request_bytes=sizes.batch_request
            ),
        )
        runs["batch_single"] = partner.measure(
            f"CheckBatch ({batch_call}, pack=1)",
            dataclasses.replace(on_streams, kind="batch", pack=1),
        )
        runs["packed_echo"] = partner.measure(
            f"bare streaming echo, {pack} items/message",
            dataclasses.replace(
                on_streams,
                kind="stream_echo",
                target=target,
                request_bytes=sizes.packed_request,
                pack=pack,
            ),
        )
        runs["batch"] = partner.measure(
            f"CheckBatch ({batch_call}, pack={pack})",
            dataclasses.replace(on_streams, kind="batch", pack=pack),
        )
    finally:
        echo.stop(None)
    return runs


def _summary(runs: list[dict[str, _Run]]) -> None:
    """Each ratio of the same run, min/median/max over the runs, the goal judged on the median."""

    def each(of: Callable[[dict[str, _Run]], float]) -> list[float]:
        return [of(r) for r in runs]

    def line(name: str, values: list[float], fmt: str, *, unit: str = "", **bound: float) -> None:
        goals = []
        for key, text in (
            ("at_least", "goal >="),
            ("at_most", "goal <="),
            ("long_term", "long-term >="),
        ):
            if key in bound:
                at = {"at_most": bound[key]} if key == "at_most" else {"at_least": bound[key]}
                goals.append(f"{text} {bound[key]:g}: {goal(statistics.median(values), **at)}")
        verdict = f"  ({'; '.join(goals)})" if goals else ""
        _say(f"{name:<52} {spread(values, fmt)}{unit}{verdict}")

    _say(f"over {len(runs)} runs, min/median/max (goals judged on the median):")
    for kind, what in (("check", "eligibility check"), ("verify", "identity check")):
        rates = each(lambda r, k=kind: r[k].rate / r["echo"].rate)  # type: ignore[misc]
        line(f"{what}s/s vs unary echo", rates, ".2f", unit="x", at_least=0.4, long_term=0.6)
        line(f"  {what}s/s", each(lambda r, k=kind: r[k].rate), ",.0f")  # type: ignore[misc]
        line(f"  {what} p50 ms", each(lambda r, k=kind: r[k].p(50)), ".2f")  # type: ignore[misc]
        line(f"  {what} p99 ms", each(lambda r, k=kind: r[k].p(99)), ".2f")  # type: ignore[misc]
        cpus = each(lambda r, k=kind: r[k].server_ms / r["echo"].server_ms)  # type: ignore[misc]
        line(f"  server CPU per {what} vs per echo call", cpus, ".2f", unit="x", at_most=3.0)
    line("  unary echo calls/s", each(lambda r: r["echo"].rate), ",.0f")
    line("  unary echo p50 ms", each(lambda r: r["echo"].p(50)), ".2f")
    line("  unary echo p99 ms", each(lambda r: r["echo"].p(99)), ".2f")
    # The packed form (check_many's default) against the one-item echo, as the issue set the
    # goal, and against an echo of the packed message sizes (the like-for-like framing).
    to_stream = each(lambda r: r["batch"].rate / r["stream_echo"].rate)
    line("CheckBatch items/s vs streaming echo", to_stream, ".2f", unit="x", at_least=0.5)
    to_packed = each(lambda r: r["batch"].rate / r["packed_echo"].rate)
    line("CheckBatch items/s vs packed streaming echo", to_packed, ".2f", unit="x")
    to_unary = each(lambda r: r["batch"].rate / r["check"].rate)
    line("CheckBatch items/s vs unary checks", to_unary, ".2f", unit="x", at_least=3.0)
    line("  CheckBatch items/s", each(lambda r: r["batch"].rate), ",.0f")
    line("  streaming echo items/s", each(lambda r: r["stream_echo"].rate), ",.0f")
    line("  packed streaming echo items/s", each(lambda r: r["packed_echo"].rate), ",.0f")
    cpu = each(lambda r: r["batch"].server_ms / r["stream_echo"].server_ms)
    line("  server CPU per CheckBatch item vs per echoed item", cpu, ".2f", unit="x")
    single = each(lambda r: r["batch_single"].rate / r["stream_echo"].rate)
    line("CheckBatch pack=1 items/s vs streaming echo", single, ".2f", unit="x")
    single_unary = each(lambda r: r["batch_single"].rate / r["check"].rate)
    line("CheckBatch pack=1 items/s vs unary checks", single_unary, ".2f", unit="x")
    line("  CheckBatch pack=1 items/s", each(lambda r: r["batch_single"].rate), ",.0f")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.grpc")
    parser.add_argument("--source", type=Path, help="an existing export directory")
    parser.add_argument("--persons", type=int, default=100_000, help="generate this many")
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="before each measurement")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=32, help="client threads, unary calls")
    parser.add_argument("--streams", type=int, default=4, help="concurrent CheckBatch streams")
    parser.add_argument(
        "--workers", type=int, default=0, help="server threads (0: grpc.max_workers of main)"
    )
    parser.add_argument("--consents", type=int, default=1000, help="consenting persons")
    parser.add_argument(
        "--pack", type=int, default=64, help="check_many's items per message (its default, 64)"
    )
    parser.add_argument("--synchronous", default="FULL", help="audit/consent SQLite PRAGMA")
    parser.add_argument(
        "--verify-receipts", action="store_true", help="check_many verifies each receipt"
    )
    args = parser.parse_args()
    # start_serving leaves logging to `dataward serve`: without it the slow calls that load
    # makes would reach Python's last-resort handler, one bare line each.
    logging.getLogger("dataward").setLevel(logging.ERROR)
    partner = _Partner()  # spawned first: its imports overlap the zone's set-up
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
        persons = pq.read_table(source / "persons.parquet", columns=["id_number", "name"])
        _say(f"zone: {persons.num_rows:,} persons ingested in {time.perf_counter() - t0:.0f} s")
        rows = random.Random(7).sample(
            range(persons.num_rows), min(args.consents, persons.num_rows)
        )
        numbers = persons.column("id_number").to_pylist()
        names = persons.column("name").to_pylist()
        people = [(str(numbers[i]), str(names[i])) for i in rows]
        template = _Load(
            "", "", args.threads, args.seconds, args.warmup, verify_receipts=args.verify_receipts
        )
        sync = args.synchronous.upper()
        serving, real, workers = _serve(zone_dir, sync, args.workers, people, template)
        try:
            batch_call = "check_many" + (", receipts verified" if args.verify_receipts else "")
            _say(
                f"load generator in a separate process: {args.threads} client "
                f"threads (unary), {args.streams} streams of at most {real.stream_items} items "
                f"(CheckBatch, SDK {batch_call}); server grpc.max_workers {workers}; "
                f"synchronous={args.synchronous.upper()}; {args.seconds:g} s per line after "
                f"{args.warmup:g} s of warm-up; {len(people):,} consenting persons"
            )
            runs = []
            for n in range(max(1, args.runs)):
                _say(f"run {n + 1} of {args.runs}")
                runs.append(
                    _one_run(
                        partner,
                        real,
                        workers=workers,
                        streams=args.streams,
                        batch_call=batch_call,
                        pack=args.pack,
                    )
                )
            _summary(runs)
            _say(f"audit leaves: {serving.core.audit.size:,}")
        finally:
            serving.stop()
            partner.close()


if __name__ == "__main__":
    main()
