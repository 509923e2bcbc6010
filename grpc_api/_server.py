"""``build_server``: the gRPC server with its interceptor, servicers, health and reflection."""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from dataward.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    compute_pb2,
    compute_pb2_grpc,
    eligibility_pb2,
    eligibility_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    steward_pb2,
    steward_pb2_grpc,
)
from enclave.analytics import AggregateQueries, QueryReviews
from enclave.audit import AuditLog, LogBrowser, RefusalTrail
from enclave.compute import ModelCards
from enclave.persons import PersonChecks
from enclave.policy import PolicyStore
from grpc_api._grouped import GroupedChecks
from grpc_api._guard import ALL_ADDRESSES, ALL_ADDRESSES_FACTOR, AuthInterceptor, Guard
from grpc_api._observe import CallMetrics, ObserveInterceptor
from grpc_api._options import ServerOptions
from grpc_api._pool import WorkerPool
from grpc_api._query import QueryServicer
from grpc_api._ratelimit import TokenBuckets
from grpc_api._reflection import enable_reflection
from grpc_api._refusals import Refusals
from grpc_api._servicers import (
    CHECK_BATCH,
    AuditServicer,
    ComputeServicer,
    EligibilityServicer,
    IdentityServicer,
    ReceiptSource,
    StewardServicer,
)
from grpc_api._tokens import TokenVerifier

__all__ = ["ApiServer", "build_server"]

SERVICE_NAMES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (eligibility_pb2, "EligibilityService"),
        (identity_pb2, "IdentityService"),
        (compute_pb2, "ComputeService"),
        (audit_pb2, "AuditService"),
        (steward_pb2, "StewardService"),
        (query_pb2, "QueryService"),
    )
)


@dataclass
class ApiServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    refusals: Refusals | None = None
    grouped: GroupedChecks | None = None
    pool: WorkerPool | None = None

    def stop(self, grace: float | None = 1.0) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self.grouped is not None:  # after the calls: none is left waiting for its group
            self.grouped.close()
        if self.pool is not None:  # its idle threads end (one still in a call, after it)
            self.pool.shutdown()
        if self.refusals is not None:  # the last summary of dropped refusals
            self.refusals.close()

    def wait(self) -> None:
        self.server.wait_for_termination()


def _credentials(options: ServerOptions) -> grpc.ServerCredentials | None:
    if options.tls_cert_file is None and options.tls_key_file is None:
        if options.tls_client_ca_file is not None:
            raise ValueError("mutual TLS needs tls_cert_file and tls_key_file too")
        return None
    if options.tls_cert_file is None or options.tls_key_file is None:
        raise ValueError("TLS needs both tls_cert_file and tls_key_file")
    pair = (options.tls_key_file.read_bytes(), options.tls_cert_file.read_bytes())
    client_ca = options.tls_client_ca_file.read_bytes() if options.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def build_server(
    options: ServerOptions,
    *,
    checks: PersonChecks,
    verifier: TokenVerifier,
    receipts: ReceiptSource,
    refusals: RefusalTrail,
    audit_key_name: str,
    audit_public_key: bytes,
    attest: Callable[[bytes], bytes] | None = None,
    queries: AggregateQueries | None = None,
    policies: PolicyStore | None = None,
    reviews: QueryReviews | None = None,
    cards: ModelCards | None = None,
    audit_events: AuditLog | None = None,
    slow_ms: int = 500,
    metrics: CallMetrics | None = None,
) -> ApiServer:
    """Build and start the server on ``options.bind`` (port 0 picks a free port).

    ``refusals`` logs the calls the API refuses before the zone sees them (tokens, scopes,
    purposes, limits, deadlines), durable before the refusal is answered. ``attest`` signs an
    attestation challenge with the zone's key (``AuditService.Attest``; None: not offered).
    ``ComputeService`` is served when ``checks`` serves credit bands or encrypted scores
    (:attr:`PersonChecks.serves_credit`, :attr:`~PersonChecks.serves_scores`; else every call
    UNIMPLEMENTED; a method of the two it does not serve is UNIMPLEMENTED too). ``queries`` answers
    ``QueryService`` (None: every call UNIMPLEMENTED, as for a server without it). ``policies``
    is the zone's policy store (``StewardService.ApplyPolicy`` and ``GetPolicy``; None: both
    UNAVAILABLE); ``reviews`` answers the steward review calls (``ListPendingQueries``,
    ``GetQueryReview``, ``ApproveQuery``, ``RejectQuery``; None: all UNAVAILABLE); ``cards``
    the model-card calls (``ComputeService.RegisterModel``, ``GetModel``: None, UNIMPLEMENTED;
    ``StewardService.ListPendingModels``, ``AttestModel``: None, UNAVAILABLE), and with it
    ``ComputeService`` is served even without credit bands. ``audit_events`` is the zone's log
    read back for stewards (``AuditService.ListEvents``, ``UsageSummary``, each call logged
    with a receipt like any answer, :class:`enclave.audit.LogBrowser`; None: UNAVAILABLE).
    Every call's outcome is logged
    (``dataward.grpc``; a successful one slower than ``slow_ms`` as ``call_slow``) and, with
    ``metrics``, counted (:mod:`grpc_api._observe`).
    """
    front_refusals = Refusals(refusals, summary_seconds=options.refusal_summary_seconds)
    guard = Guard(
        verifier,
        TokenBuckets(options.rate_limit_per_second, options.rate_limit_burst),
        front_refusals,
        TokenBuckets(
            options.unauthenticated_refusals_per_second,
            options.unauthenticated_refusals_burst,
            scale={ALL_ADDRESSES: ALL_ADDRESSES_FACTOR},
        ),
        max_streams_per_partner=options.max_streams_per_partner,
    )
    pool = WorkerPool(options.max_workers, "grpc")
    server = grpc.server(
        cast(futures.ThreadPoolExecutor, pool),  # grpcio calls only submit (see WorkerPool)
        # outermost first: the observer records what the guard and the servicer decided
        interceptors=[
            ObserveInterceptor(slow_ms=slow_ms, metrics=metrics),
            AuthInterceptor(guard, bounded=frozenset({CHECK_BATCH})),
        ],
        options=[
            # Never share a port with another process (grpcio's default SO_REUSEPORT lets a
            # second server on the same zone bind the same port and split its calls).
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", options.max_message_bytes),
            ("grpc.max_send_message_length", options.max_message_bytes),
        ],
    )
    grouped = GroupedChecks(checks, options.batch_group)
    try:
        eligibility_pb2_grpc.add_EligibilityServiceServicer_to_server(
            EligibilityServicer(
                checks,
                guard,
                options.max_batch_items,
                options.batch_group,
                max_response_bytes=options.max_message_bytes // 2,
                grouped=grouped,
            ),
            server,
        )
        identity_pb2_grpc.add_IdentityServiceServicer_to_server(IdentityServicer(grouped), server)
        serves_compute = (
            checks.serves_credit
            or checks.serves_scores
            or checks.serves_face_match
            or cards is not None
        )
        if serves_compute:
            compute_pb2_grpc.add_ComputeServiceServicer_to_server(
                ComputeServicer(checks, cards), server
            )
        audit_pb2_grpc.add_AuditServiceServicer_to_server(
            AuditServicer(
                audit_key_name,
                audit_public_key,
                receipts,
                attest,
                events=LogBrowser(audit_events) if audit_events is not None else None,
            ),
            server,
        )
        steward_pb2_grpc.add_StewardServiceServicer_to_server(
            StewardServicer(checks, policies, reviews, cards), server
        )
        if queries is not None:
            query_pb2_grpc.add_QueryServiceServicer_to_server(QueryServicer(queries), server)
        health_servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        served = tuple(
            n
            for n in SERVICE_NAMES
            if (queries is not None or "QueryService" not in n)
            and (serves_compute or "ComputeService" not in n)
        )
        for name in ("", *served):
            health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        enable_reflection((*served, health.SERVICE_NAME), server)
        credentials = _credentials(options)
        if credentials is None:
            port = server.add_insecure_port(options.bind)
        else:
            port = server.add_secure_port(options.bind, credentials)
        if port == 0:
            raise OSError("cannot bind the gRPC server")
        server.start()
    except BaseException:
        grouped.close()  # its thread ends with a server that never started
        pool.shutdown()
        raise
    front_refusals.start()
    return ApiServer(server, port, health_servicer, front_refusals, grouped, pool)
