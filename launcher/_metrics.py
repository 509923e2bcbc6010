"""The Prometheus endpoint of ``dataward serve`` (setting ``metrics.bind``, issue 14).

Off by default. When set, ``serve`` listens on that loopback address -- its own port, apart
from the API and the portal (the endpoint has no authentication, so the settings refuse any
other host) -- and answers ``GET /metrics`` in the Prometheus text format from one
:class:`~prometheus_client.CollectorRegistry` of this server (never the library's global one):

==============================================  =============================================
``dataward_grpc_calls_total{method,status}``    calls answered (:class:`grpc_api.CallMetrics`)
``dataward_grpc_call_duration_seconds{method}`` call latency histogram
``dataward_grpc_rate_limited_total{method}``    calls refused ``RATE_LIMITED``
``dataward_audit_commit_seconds``               one audit commit group's transaction and fsync
``dataward_audit_commit_entries``               entries per commit group (the group size)
``dataward_revocation_feed_age_seconds``        since the last successful poll of the portal's
                                                revocation feed (calls fail closed past 3
                                                polls or 10 s more than one)
``process_*``                                   the serving process's CPU, memory, open files
==============================================  =============================================

Labels are method names and status codes only: no organization, client or request value.
"""

from __future__ import annotations

import errno
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Gauge, Histogram, ProcessCollector
from prometheus_client import start_http_server as _start_http_server

from enclave.audit import AuditLog
from grpc_api import CallMetrics, RevocationFeed

__all__ = ["MetricsBindError", "MetricsEndpoint", "ZoneMetrics"]

# Seconds: a commit with synchronous=FULL is one fsync (~0.1-10 ms on SSDs, more on disks).
_COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class MetricsBindError(Exception):
    """The metrics endpoint cannot listen on ``metrics.bind`` (in use, or not this machine's)."""


class ZoneMetrics:
    """Every metric of one serving zone, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = CallMetrics(self.registry)
        self._commit_seconds = Histogram(
            "dataward_audit_commit_seconds",
            "Audit log commit group latency: its transaction and fsync",
            buckets=_COMMIT_BUCKETS,
            registry=self.registry,
        )
        self._commit_entries = Histogram(
            "dataward_audit_commit_entries",
            "Audit log entries per commit group (the group commit's size)",
            buckets=_GROUP_BUCKETS,
            registry=self.registry,
        )
        self._feed_age = Gauge(
            "dataward_revocation_feed_age_seconds",
            "Seconds since the last successful poll of the portal's revocation feed",
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)

    def watch(self, audit: AuditLog, feed: RevocationFeed) -> None:
        """Take the audit log's commit groups and the revocation feed's age from now on."""
        audit.observe_commits(self._commit)
        self._feed_age.set_function(feed.age_seconds)

    def _commit(self, seconds: float, entries: int) -> None:
        self._commit_seconds.observe(seconds)
        self._commit_entries.observe(entries)


@dataclass
class MetricsEndpoint:
    """The running ``/metrics`` HTTP server; ``url`` names its real port."""

    server: WSGIServer
    thread: threading.Thread
    url: str

    @classmethod
    def start(cls, bind: str, metrics: ZoneMetrics) -> MetricsEndpoint:
        """Listen on ``bind`` (``HOST:PORT``, port 0: any free one) in a daemon thread."""
        host, _, port = bind.rpartition(":")
        host = host.strip("[]")
        try:
            server, thread = _start_http_server(int(port), host, registry=metrics.registry)
        except OSError as exc:
            why = "address in use" if exc.errno == errno.EADDRINUSE else exc.strerror or "refused"
            raise MetricsBindError(f"metrics.bind: cannot listen on {bind}: {why}") from exc
        shown = f"[{host}]" if ":" in host else host
        return cls(server, thread, f"http://{shown}:{server.server_port}/metrics")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
