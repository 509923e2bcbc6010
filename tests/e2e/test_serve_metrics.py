"""`dataward serve`'s Prometheus endpoint (setting `metrics.bind`, issue 14), scraped over HTTP
from a real `serve` subprocess after real calls: calls by method and status, latency
histograms, rate-limit refusals, audit commit latency and group size, the revocation feed's
age; loopback only; never a value of a request."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dataward.v1 import eligibility_pb2, eligibility_pb2_grpc
from tests.support.query_export import Export, synthetic_export
from tests.support.serve_process import DATAWARD, Served, start_serve, stop_serve
from tests.support.zone_source import MASTER_KEY

CHECK = "EligibilityService/Check"
ANONYMOUS_CALLS = 40  # past the 20 unauthenticated refusals an address may burst


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    return synthetic_export(tmp_path_factory.mktemp("metrics"), persons=20)


@pytest.fixture
def serving(export: Export) -> Iterator[Served]:
    served = start_serve(export.zone, {"DATAWARD_METRICS_BIND": "127.0.0.1:0"})
    try:
        yield served
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.communicate(timeout=30)


def _samples(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_are_scraped_over_http_after_calls(export: Export, serving: Served) -> None:
    assert serving.metrics_url.startswith("http://127.0.0.1:")
    assert serving.metrics_url.endswith("/metrics")
    port = int(serving.metrics_url.rsplit(":", 1)[1].split("/")[0])
    assert port not in (serving.grpc_port, int(serving.portal_url.rsplit(":", 1)[1]))
    persons = export.zone.parent / "src" / "persons.parquet"
    id_number = str(pq.read_table(persons, columns=["id_number"])[0][0])
    codes: list[grpc.StatusCode] = []
    with grpc.insecure_channel(f"127.0.0.1:{serving.grpc_port}") as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        for _ in range(ANONYMOUS_CALLS):
            try:
                stub.Check(eligibility_pb2.CheckRequest(id_number=id_number), timeout=10)
            except grpc.RpcError as refused:
                codes.append(refused.code())
    unauthenticated = codes.count(grpc.StatusCode.UNAUTHENTICATED)
    limited = codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert unauthenticated + limited == ANONYMOUS_CALLS and limited > 0

    samples = _samples(serving.metrics_url)
    calls = "dataward_grpc_calls_total"
    assert _value(samples, calls, method=CHECK, status="UNAUTHENTICATED") == unauthenticated
    assert _value(samples, calls, method=CHECK, status="RESOURCE_EXHAUSTED") == limited
    assert _value(samples, "dataward_grpc_rate_limited_total", method=CHECK) == limited
    latency = "dataward_grpc_call_duration_seconds"
    assert _value(samples, f"{latency}_count", method=CHECK) == ANONYMOUS_CALLS
    assert _value(samples, f"{latency}_bucket", method=CHECK, le="+Inf") == ANONYMOUS_CALLS
    assert _value(samples, f"{latency}_sum", method=CHECK) > 0
    # each logged refusal is an audit entry: the commit groups held them all
    assert _value(samples, "dataward_audit_commit_entries_sum") >= unauthenticated
    assert _value(samples, "dataward_audit_commit_seconds_count") >= 1
    assert _value(samples, "dataward_audit_commit_seconds_sum") > 0
    age = _value(samples, "dataward_revocation_feed_age_seconds")
    assert 0 <= age < 15  # polled every 5 s
    assert _value(samples, "process_resident_memory_bytes") > 0
    # the labels are methods and status codes: nothing of the requests
    assert not any(id_number in str(key) for key in samples)

    code, _lines, err = stop_serve(serving)
    assert code == 0, err
    assert "metrics listening on " + serving.metrics_url + "\n" in serving.stdout


def test_a_metrics_bind_off_loopback_is_refused_exit_78(export: Export) -> None:
    done = subprocess.run(
        [*DATAWARD, "serve", "--zone", str(export.zone)],
        env={
            "PATH": "/usr/bin:/bin",
            "DATAWARD_MASTER_KEY": MASTER_KEY.decode(),
            "DATAWARD_METRICS_BIND": "0.0.0.0:9100",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 78, done.stderr
    assert "metrics.bind must be a loopback address" in done.stderr
    assert "listening" not in done.stdout


def test_a_metrics_port_in_use_is_exit_69_naming_it(export: Export, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        done = subprocess.run(
            [*DATAWARD, "serve", "--zone", str(export.zone)],
            env={
                "PATH": "/usr/bin:/bin",
                "DATAWARD_MASTER_KEY": MASTER_KEY.decode(),
                "DATAWARD_METRICS_BIND": bind,
                "DATAWARD_GRPC_BIND": "127.0.0.1:0",
                "DATAWARD_PORTAL_BIND": "127.0.0.1:0",
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 69, done.stderr
    assert f"metrics.bind: cannot listen on {bind}: address in use" in done.stderr
    assert "Traceback" not in done.stderr
