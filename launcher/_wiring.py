"""Build and start the zone's API: keyring, zone, audit log, consents, gRPC server, and the
portal as a separate process.

The composition root for ``dataward serve``, ``dataward consent`` and the gRPC bench. Each
collaborator receives only its own part of the settings tree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from dataward.attestation import sign_attestation
from dataward.transparency import verifier_key
from enclave.analytics import (
    AggregateQueries,
    Budget,
    ExecutionLimits,
    QueryReviews,
    SqliteQueryStore,
)
from enclave.audit import (
    ZONE_LOG_FILE,
    AuditLog,
    AuditLogRefusals,
    AuditLogTrail,
    AuditStorageError,
    zone_log_name,
)
from enclave.budget import BUDGET_DB, BudgetLedger, BudgetLimits
from enclave.compute import (
    CkksWorkers,
    CreditEvaluator,
    FeatureComputer,
    LocalCkks,
    ModelCards,
    ModelRegistry,
    require_gmpy2,
)
from enclave.consent import ConsentStore, SqliteConsentStore
from enclave.dataset import Zone
from enclave.keys import Keyring, open_keyring
from enclave.persons import (
    CkksBackend,
    CreditScoring,
    EncryptedScoring,
    PersonChecks,
    StartedOnFirstUse,
)
from enclave.policy import POLICY_DB, PolicyStore
from grpc_api import (
    ApiServer,
    JwksCache,
    OperatorKey,
    RevocationFeed,
    ServerOptions,
    TokenVerifier,
    build_server,
    operator_issuer,
    raw_public_key,
)
from launcher._binds import UnusableBindError, check_bindable, in_use, parse_bind
from launcher._cmd_portal import portal_config
from launcher._faces import ZoneFaces, open_faces
from launcher._metrics import MetricsEndpoint, ZoneMetrics
from launcher._portal_process import PortalProcess
from launcher.settings import (
    BudgetSettings,
    ComputeSettings,
    GrpcSettings,
    QuerySettings,
    Settings,
    SettingsError,
)
from portal import Portal, PortalAdmin, write_zone_target
from query_engine import DuckDBEngine, SparkEngine, SparkOptions

__all__ = [
    "AUDIT_DB",
    "CONSENT_DB",
    "ZoneCore",
    "open_core",
    "query_engine_for",
    "server_options",
    "start_serving",
]

AUDIT_DB = ZONE_LOG_FILE
CONSENT_DB = Path("state") / "consent.db"
QUERY_DB = Path("state") / "queries.db"
MODELS_DB = Path("state") / "models.db"
# Spark's shuffle and spill files (encrypted by Spark) while its engine runs; DuckDB's never
# spills, Spark's cannot be stopped from it.
SPARK_LOCAL_DIR = Path("tmp") / "spark"
_MIB = 1024 * 1024


@dataclass
class ZoneCore:
    """The zone's person-level machinery, opened from the zone directory."""

    keyring: Keyring
    zone: Zone
    audit: AuditLog
    consents: ConsentStore
    checks: PersonChecks
    key_name: str
    policies: PolicyStore
    queries: AggregateQueries
    query_store: SqliteQueryStore
    ledger: BudgetLedger
    reviews: QueryReviews
    engine: DuckDBEngine | SparkEngine
    models: ModelRegistry
    cards: ModelCards
    scoring: EncryptedScoring
    faces: ZoneFaces

    def close(self) -> None:
        if isinstance(self.engine, SparkEngine):
            self.engine.close()
        self.faces.close()
        self.scoring.paillier.close()
        self.models.close()
        self.ledger.close()
        self.query_store.close()
        self.policies.close()
        self.consents.close()
        self.audit.close()


def audit_key_name(keyring: Keyring) -> str:
    return zone_log_name(keyring.zone_id)


def open_core(settings: Settings) -> ZoneCore:
    if settings.zone.master_key is None:
        raise SettingsError("the master key is missing: set DATAWARD_MASTER_KEY")
    engine = query_engine_for(settings)  # its settings checked before anything is opened
    # Paillier without gmpy2 is about 50x slower: refuse to start, saying how to install it
    require_gmpy2()
    keyring = open_keyring(settings.zone.dir, settings.zone.master_key.value)
    zone = Zone.open(settings.zone.dir, keyring)
    name = audit_key_name(keyring)
    log_path = settings.zone.dir / AUDIT_DB
    if not log_path.exists():
        # `zone init` creates the log (issue 8, item 6); opening would start a new, empty
        # history in place of the one that went missing.
        raise AuditStorageError(
            f"no audit log at {log_path}: a zone has one from `dataward zone init` on, so it "
            "was removed; the zone does not start a new one"
        )
    audit = AuditLog.open(log_path, settings.audit, keyring.signing_key, name, name)
    consents = SqliteConsentStore.open(
        settings.zone.dir / CONSENT_DB, synchronous=settings.audit.sqlite_synchronous
    )
    try:
        policies = PolicyStore.open(
            settings.zone.dir / POLICY_DB,
            AuditLogTrail(audit),
            synchronous=settings.audit.sqlite_synchronous,
        )
    except BaseException:  # e.g. a stored policy that no longer loads: release the log's lock
        consents.close()
        audit.close()
        raise
    # ComputeService.CreditBand: the policy in force's scorecards on the live dataset version,
    # on DuckDB whatever the query engine (FeatureComputer's own limits)
    credit = CreditScoring(CreditEvaluator(FeatureComputer(zone)), policies.current)
    try:
        # model cards (issue 12): partners' keys and encrypted weights, auditors' attestations
        models = ModelRegistry.open(
            settings.zone.dir / MODELS_DB, synchronous=settings.audit.sqlite_synchronous
        )
    except BaseException:
        policies.close()
        consents.close()
        audit.close()
        raise
    # ComputeService.PaillierScore / CkksBatchScore over the registry's attested models
    scoring = EncryptedScoring(
        models,
        FeatureComputer(zone),
        policies.current,
        ckks_backend(settings.compute),
        ckks_timeout=settings.compute.ckks_timeout_seconds,
    )
    try:
        # IdentityService.Verify with a selfie (issue 13): the face workers start on the
        # first selfie; the attempts are durable in ZONE/state/face_attempts.db. The
        # encrypted face match runs where CKKS batches run (the same backend, its own op).
        faces = open_faces(
            settings.faces,
            settings.zone.dir,
            zone,
            keyring,
            synchronous=settings.audit.sqlite_synchronous,
            matcher=scoring.ckks,
        )
    except BaseException:
        models.close()
        policies.close()
        consents.close()
        audit.close()
        raise
    checks = PersonChecks(
        directory=zone,
        tokenizer=keyring,
        consents=consents,
        audit=AuditLogTrail(audit),
        credit=credit,
        scoring=scoring,
        faces=faces.checking,
    )
    try:
        query_store = SqliteQueryStore.open(
            settings.zone.dir / QUERY_DB, keyring, synchronous=settings.audit.sqlite_synchronous
        )
    except BaseException:
        faces.close()
        models.close()
        policies.close()
        consents.close()
        audit.close()
        raise
    try:
        # verified whole before anything is served: a ledger edited behind the zone's back
        # (an entry changed, removed or reordered) stops the zone (BudgetLedgerCorrupt, 65)
        ledger = BudgetLedger.open(
            settings.zone.dir / BUDGET_DB,
            budget_limits(settings.budget),
            synchronous=settings.audit.sqlite_synchronous,
        )
        try:
            ledger.verify()
        except BaseException:
            ledger.close()
            raise
    except BaseException:
        query_store.close()
        faces.close()
        models.close()
        policies.close()
        consents.close()
        audit.close()
        raise
    trail = AuditLogTrail(audit)
    queries = AggregateQueries(
        policies,
        engine,
        zone.table_files,
        trail,
        query_limits(settings.query),
        store=query_store,
        max_concurrent=settings.query.max_concurrent,
        budget=Budget(ledger, trail, lambda: zone.version),
    )
    reviews = QueryReviews(
        policies,
        query_store,
        trail,
        query_limits(settings.query),
        max_epsilon_micro=budget_limits(settings.budget).per_query,
    )
    cards = ModelCards(models, policies, trail)
    return ZoneCore(
        keyring,
        zone,
        audit,
        consents,
        checks,
        name,
        policies,
        queries,
        query_store,
        ledger,
        reviews,
        engine,
        models,
        cards,
        scoring,
        faces,
    )


def ckks_backend(compute: ComputeSettings) -> CkksBackend:
    """Where CKKS batches run: ``compute.ckks_workers`` worker processes, one TenSEAL context
    each (started on the first batch), or this process when it is 0."""
    if compute.ckks_workers == 0:
        return LocalCkks()
    processes, memory = compute.ckks_workers, compute.ckks_worker_memory_mb * 1024 * 1024
    return StartedOnFirstUse(lambda: CkksWorkers(processes, memory_limit=memory))


def budget_limits(budget: BudgetSettings) -> BudgetLimits:
    """The ledger's limits (micro-epsilon) from the ``[budget]`` settings."""
    return BudgetLimits(
        per_query=budget.micro("per_query"),
        per_partner_per_day=budget.micro("per_partner_per_day"),
        per_partner_per_dataset_version=budget.micro("per_partner_per_dataset_version"),
        total_per_dataset_version=budget.micro("total_per_dataset_version"),
    )


def query_engine_for(settings: Settings) -> DuckDBEngine | SparkEngine:
    """The engine of ``query.engine``; Spark's session starts at its first query (or
    `SparkEngine.start`). Spark's memory and cores are the application's, fixed at its start:
    in local mode every task runs in the driver JVM, so its heap is ``query.memory_mb`` times
    ``query.max_concurrent`` (the DuckDB bound on all queries at once); on a cluster each
    executor has ``query.memory_mb`` and the application ``query.threads`` times
    ``query.max_concurrent`` cores."""
    query = settings.query
    if query.engine != "spark":
        return DuckDBEngine()
    try:
        options = SparkOptions(
            master=query.spark_master,
            driver_memory_bytes=query.memory_mb * query.max_concurrent * _MIB,
            executor_memory_bytes=query.memory_mb * _MIB,
            max_cores=query.threads * query.max_concurrent,
            local_dir=settings.zone.dir / SPARK_LOCAL_DIR,
        )
    except ValueError as exc:  # e.g. memory below what Spark starts with
        raise SettingsError(f"settings for query.engine spark: {exc}") from None
    return SparkEngine(options)


def query_limits(query: QuerySettings) -> ExecutionLimits:
    """The engine's limits for one partner query, from the ``[query]`` settings."""
    return ExecutionLimits(
        timeout_seconds=query.timeout_seconds,
        memory_bytes=query.memory_mb * 1024 * 1024,
        threads=query.threads,
    )


def _check_tls(grpc: GrpcSettings) -> None:
    """Refuse half a TLS configuration or unreadable PEM files as settings errors (exit 78),
    before gRPC turns them into a misleading bind failure; never fall back to plaintext."""
    if (grpc.tls_cert_file is None) != (grpc.tls_key_file is None):
        raise SettingsError("grpc.tls_cert_file and grpc.tls_key_file must be set together")
    if grpc.tls_client_ca_file is not None and grpc.tls_cert_file is None:
        raise SettingsError("grpc.tls_client_ca_file (mutual TLS) needs grpc.tls_cert_file too")
    checks: list[tuple[str, Path | None, Callable[[bytes], object]]] = [
        ("grpc.tls_cert_file", grpc.tls_cert_file, x509.load_pem_x509_certificate),
        ("grpc.tls_key_file", grpc.tls_key_file, lambda pem: load_pem_private_key(pem, None)),
        ("grpc.tls_client_ca_file", grpc.tls_client_ca_file, x509.load_pem_x509_certificates),
    ]
    for name, path, parse in checks:
        if path is None:
            continue
        try:
            parse(path.read_bytes())
        except OSError as exc:
            raise SettingsError(f"{name}: cannot read {path}: {exc.strerror}") from exc
        except (ValueError, TypeError) as exc:
            raise SettingsError(
                f"{name}: {path} is not an unencrypted PEM of the right kind"
            ) from exc


def server_options(grpc: GrpcSettings, bind: str | None = None) -> ServerOptions:
    """The server's part of the ``[grpc]`` section (the verifier's options left out), listening
    on ``bind`` when one is given; its TLS files checked first (settings errors, exit 78)."""
    _check_tls(grpc)
    options = ServerOptions.from_options(grpc)
    return replace(options, bind=bind) if bind else options


@dataclass
class Serving:
    """The zone serving: the gRPC API in this process, the portal in a child process.

    ``operator`` is the portal database opened here for operator actions (``admin``: create
    stewards, approve apps; the demo's path). It has no network exposure: this process never
    builds or runs the portal's WSGI app.
    """

    core: ZoneCore
    api: ApiServer
    portal: PortalProcess
    operator: Portal
    feed: RevocationFeed
    grpc_address: str  # host:port it really listens on (port 0 resolved)
    metrics: MetricsEndpoint | None = None  # the Prometheus endpoint, when metrics.bind is set

    @property
    def admin(self) -> PortalAdmin:
        return self.operator.admin

    @property
    def portal_url(self) -> str:
        return self.portal.url

    @property
    def portal_failed(self) -> bool:
        """The portal process exited while serving (not because :meth:`stop` stopped it)."""
        return self.portal.died

    def stop(self) -> None:
        try:
            self.api.stop(1.0)
            self.feed.stop()
            if self.metrics is not None:
                self.metrics.stop()
        finally:
            try:
                self.portal.stop()
            finally:
                self.operator.close()
                self.core.close()


def start_serving(
    settings: Settings, *, grpc_bind: str | None = None, portal_bind: str | None = None
) -> Serving:
    """Start the portal as a child process, then the gRPC server verifying its tokens.

    The child never receives the master key (see :mod:`launcher._portal_process`); this
    process opens the portal database only to replace the zone's revocation-feed client
    (every earlier one revoked) and for operator actions. If the portal process dies while
    serving, the gRPC API is stopped (``dataward serve`` exits non-zero); calls arriving
    before that fail closed once the revocation feed is stale (UNAVAILABLE).

    Both addresses (``grpc_bind`` / ``portal_bind``, the ``--grpc-bind`` / ``--portal-bind``
    options, else the settings) are parsed before the zone is opened and tried once it is (a
    second ``serve`` on the zone is told so, 75, not that its ports are taken); see
    :mod:`launcher._binds`: malformed or unusable 78, in use 69.
    """
    grpc_source = "--grpc-bind" if grpc_bind else "setting grpc.bind"
    portal_source = "--portal-bind" if portal_bind else "setting portal.bind"
    grpc_at = parse_bind(grpc_bind or settings.grpc.bind, grpc_source)
    portal_at = parse_bind(portal_bind or settings.portal.bind, portal_source)
    if grpc_at == portal_at and grpc_at.port != 0:
        raise UnusableBindError(
            f"{grpc_source} and {portal_source} are the same address, {grpc_at}: the gRPC API "
            "and the portal each need their own port"
        )
    core = open_core(settings)
    metrics = ZoneMetrics() if settings.metrics.bind else None
    endpoint: MetricsEndpoint | None = None
    operator: Portal | None = None
    child: PortalProcess | None = None
    stopping: list[ApiServer] = []
    try:
        check_bindable(grpc_at, grpc_source)
        check_bindable(portal_at, portal_source)
        if isinstance(core.engine, SparkEngine):
            # Now, not at the first query: without pyspark or Java `serve` stops with the
            # reason (EngineUnavailable, exit 69) before anything listens.
            core.engine.start()
        operator = Portal.open(portal_config(settings))
        # The zone's own client for the revocation feed (scope zone:revocations): a new secret
        # at each start, held only in memory; the previous ones stop working now.
        zone_client = operator.admin.replace_zone_client()
        child = PortalProcess.start(
            settings,
            str(portal_at),
            on_exit=lambda _code: _stop_all(stopping),
        )
        bound = child.url.removeprefix("http://")
        issuer = portal_config(settings).resolved_issuer(bound)
        feed = RevocationFeed(
            f"{child.url}/oauth/revocations",
            zone_client.client_id,
            zone_client.client_secret,
            poll_seconds=settings.grpc.revocation_poll_seconds,
        )
        feed.start()
        try:
            verifier = TokenVerifier(
                issuer=issuer,
                audience=settings.portal.audience,
                jwks=JwksCache(
                    f"{child.url}/.well-known/jwks.json",
                    min_refetch_seconds=settings.grpc.jwks_refresh_seconds,
                ),
                revocations=feed,
                operator=OperatorKey(
                    operator_issuer(core.key_name), core.keyring.signing_key.public_key()
                ),
                leeway_seconds=settings.grpc.token_leeway_seconds,
            )
            try:
                api = build_server(
                    server_options(settings.grpc, str(grpc_at)),
                    checks=core.checks,
                    verifier=verifier,
                    receipts=core.audit,
                    refusals=AuditLogRefusals(core.audit),
                    audit_key_name=core.key_name,
                    audit_public_key=raw_public_key(core.keyring.public_key),
                    attest=partial(sign_attestation, core.keyring.signing_key, core.key_name),
                    policies=core.policies,
                    queries=core.queries,
                    reviews=core.reviews,
                    cards=core.cards,
                    audit_events=core.audit,
                    slow_ms=settings.log.slow_ms,
                    metrics=metrics.calls if metrics is not None else None,
                )
            except OSError as exc:
                if exc.errno is not None:  # a system error, not grpc_api's "cannot bind"
                    raise
                # taken since it was checked; gRPC core says only that it cannot bind
                raise in_use(grpc_at, grpc_source) from exc
        except BaseException:
            feed.stop()
            raise
        stopping.append(api)
        if child.returncode is not None:  # died between readiness and now
            api.stop(None)
        # Who writes the zone now, and where the operator's CLI reaches it (see
        # launcher._operator_calls): a second writer is refused with this, or hands its write here.
        core.audit.describe_writer(
            role="server",
            grpc=operator_target(str(grpc_at), api.port),
            tls=settings.grpc.tls_cert_file is not None,
            portal=child.url,
            dataset_version=core.zone.version,  # an ingest meanwhile never prunes it
        )
        # ... and where the portal's steward pages reach it (they call it with the steward's
        # own token; the portal holds no zone data).
        write_zone_target(
            portal_config(settings).state_dir,
            operator_target(str(grpc_at), api.port),
            settings.grpc.tls_cert_file,
            zone_key=verifier_key(core.key_name, core.keyring.public_key),  # issue 14
        )
        if metrics is not None:  # its own loopback port (launcher._metrics)
            metrics.watch(core.audit, feed)
            try:
                endpoint = MetricsEndpoint.start(settings.metrics.bind, metrics)
            except BaseException:  # e.g. its port in use: nothing of this start keeps running
                api.stop(None)
                feed.stop()
                raise
    except BaseException:
        try:
            if child is not None:
                child.stop()
        finally:
            if operator is not None:
                operator.close()
            core.close()
        raise
    return Serving(core, api, child, operator, feed, grpc_at.at(api.port), endpoint)


def operator_target(bind: str, port: int) -> str:
    """``host:port`` on which this machine reaches a server bound to ``bind`` (on ``port``)."""
    host = bind.rpartition(":")[0] or "127.0.0.1"
    if host in ("0.0.0.0", "[::]", "::", "*"):  # noqa: S104 (recognised, not bound)
        host = "127.0.0.1"
    return f"{host}:{port}"


def _stop_all(apis: list[ApiServer]) -> None:
    for api in apis:
        api.stop(1.0)
