"""The one frozen settings tree, and the only module that reads the environment or config files.

Everything else receives the part it needs as an argument. Sources, later ones winning:

1. the defaults written below (the portal's in :class:`portal.PortalOptions`, the gRPC API's in
   :class:`grpc_api.ServerOptions` and :class:`grpc_api.VerifierOptions`, with their help),
2. a TOML file named by ``DATAWARD_CONFIG`` (sections ``[zone]``, ``[audit]``, ``[portal]``,
   ``[grpc]``, ``[query]``, ``[budget]``, ``[compute]``, ``[faces]``, ``[log]``, ``[metrics]``,
   keys as the field names below),
3. ``DATAWARD_*`` environment variables (listed in ``ENVIRONMENT``),
4. explicit command-line overrides passed to :func:`load_settings`.

Secrets (the master key) are :class:`Secret` values whose ``repr`` is redacted; they are never
read from the TOML file, only from the environment or a key file, so a config file can be
committed and shared without leaking them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from enclave.biometrics import DEFAULT_THRESHOLDS, ImageLimits, QualityGates, Thresholds
from grpc_api import InvalidOptionError as InvalidGrpcOptionError
from grpc_api import ServerOptions, VerifierOptions
from launcher._binds import MalformedBindError, parse_bind
from launcher._setting_fields import environment_of, setting_metadata
from portal import InvalidOptionError, PortalOptions

__all__ = [
    "ENVIRONMENT",
    "LOG_LEVELS",
    "PORTAL_KEY_FILE_VARIABLE",
    "PORTAL_KEY_VARIABLE",
    "QUERY_ENGINES",
    "AuditSettings",
    "BudgetSettings",
    "ComputeSettings",
    "FaceSettings",
    "GrpcSettings",
    "LogSettings",
    "MetricsSettings",
    "PortalSettings",
    "QuerySettings",
    "Secret",
    "Settings",
    "SettingsError",
    "ZoneSettings",
    "child_environment",
    "load_settings",
]


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it (never its value)."""


@dataclass(frozen=True)
class Secret:
    """A secret value. ``repr`` and ``str`` never show it."""

    value: bytes = field(repr=False)

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class ZoneSettings:
    """Where the zone lives and the key that unlocks its keyring."""

    dir: Path = Path("zone")
    master_key: Secret | None = None
    # Ingest: rows are validated and written in batches of this many rows.
    ingest_batch_rows: int = 250_000
    # Ingest: what the whole-table steps (repeated keys, the indexes' sorts) hold in memory, in
    # MiB; past it they spill into the new version's temporary directory (issue 15).
    ingest_memory_mb: int = 2048
    # Ingest: a version where any table has more than this share (0 to 1) of its rows rejected
    # is not published (an export with every ID number bad went live empty: issue 8).
    max_reject_share: float = 0.01

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_reject_share <= 1.0:
            raise SettingsError("setting zone.max_reject_share must be between 0 and 1")
        if self.ingest_memory_mb < 512:
            raise SettingsError("setting zone.ingest_memory_mb must be at least 512 (MiB)")
        if self.ingest_batch_rows < 1:
            raise SettingsError("setting zone.ingest_batch_rows must be at least 1")


# SQLite's PRAGMA synchronous levels (https://sqlite.org/pragma.html#pragma_synchronous)
SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True)
class AuditSettings:
    """The audit log: durability and signed checkpoints."""

    # SQLite PRAGMA synchronous for the state database: FULL fsyncs every commit (default).
    sqlite_synchronous: str = "FULL"
    # A checkpoint is signed at least this often while entries arrive ...
    checkpoint_interval_seconds: float = 10.0
    # ... and at least every this many entries.
    checkpoint_every_entries: int = 1000
    # Group commit: appends arriving within this window share one transaction and one fsync.
    group_commit_max_batch: int = 512

    def __post_init__(self) -> None:
        # Checked here (exit 78 for every command), not first where a database is opened
        if self.sqlite_synchronous.upper() not in SQLITE_SYNCHRONOUS:
            raise SettingsError(
                "setting audit.sqlite_synchronous (DATAWARD_AUDIT_SYNCHRONOUS) must be one of "
                + ", ".join(SQLITE_SYNCHRONOUS)
            )


PORTAL_KEY_VARIABLE = "DATAWARD_PORTAL_KEY"
PORTAL_KEY_FILE_VARIABLE = "DATAWARD_PORTAL_KEY_FILE"


@dataclass(frozen=True)
class PortalSettings(PortalOptions):
    """The ``[portal]`` section: the portal's own options (:class:`portal.PortalOptions`, where
    each one's default, check and help text are written) plus the portal key.

    The key is the launcher's: like the master key it comes only from the environment or a
    key file, never the TOML file (its variables are read by :func:`_portal_key`).
    """

    key: Secret | None = field(
        default=None,
        metadata=setting_metadata(
            help="seals the portal's private keys at rest (16–4096 bytes, surrounding "
            "whitespace stripped; never in the TOML file; must differ from the master key)",
            env=(PORTAL_KEY_VARIABLE, PORTAL_KEY_FILE_VARIABLE),
            default_text="derived from the master key by `serve` and the `portal` subcommands; "
            "none for serving `dataward portal`",
            secret=True,
        ),
    )

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
            parse_bind(self.bind, "setting portal.bind")  # tried only by what listens on it
        except InvalidOptionError as exc:
            raise SettingsError(f"setting portal.{exc.option} {exc.rule}") from exc
        except MalformedBindError as exc:
            raise SettingsError(str(exc)) from None


@dataclass(frozen=True)
class GrpcSettings(VerifierOptions, ServerOptions):
    """The ``[grpc]`` section: the gRPC API's options and nothing more, those of its server
    (:class:`grpc_api.ServerOptions`: address, limits, threads, TLS) and of its token checks
    (:class:`grpc_api.VerifierOptions`: JWKS, revocation feed, clock leeway), where each one's
    default, check and help text are written."""

    def __post_init__(self) -> None:
        try:
            ServerOptions.__post_init__(self)
            VerifierOptions.__post_init__(self)
            parse_bind(self.bind, "setting grpc.bind")
        except InvalidGrpcOptionError as exc:
            raise SettingsError(f"setting grpc.{exc.option} {exc.rule}") from exc
        except MalformedBindError as exc:
            raise SettingsError(str(exc)) from None


QUERY_ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class QuerySettings:
    """The ``[query]`` section: the limits the query engine runs each partner query within."""

    timeout_seconds: float = field(
        default=30.0,
        metadata=setting_metadata(
            help="wall-clock limit of one query on the engine (past it: UNAVAILABLE, nothing "
            "released)",
            env=("DATAWARD_QUERY_TIMEOUT_SECONDS",),
        ),
    )
    memory_mb: int = field(
        default=2048,
        metadata=setting_metadata(
            help="memory limit of one query on the engine, in MiB (DuckDB `memory_limit`; "
            'Spark: see "The Spark engine")',
            env=("DATAWARD_QUERY_MEMORY_MB",),
        ),
    )
    threads: int = field(
        default=2,
        metadata=setting_metadata(
            help="engine threads per query (DuckDB `threads`; Spark: shuffle partitions)",
            env=("DATAWARD_QUERY_THREADS",),
        ),
    )

    max_concurrent: int = field(
        default=2,
        metadata=setting_metadata(
            help="queries on the engine at once (memory stays within this times "
            "`query.memory_mb`); a query that finds no slot within `query.timeout_seconds` is "
            "UNAVAILABLE, retry",
            env=("DATAWARD_QUERY_MAX_CONCURRENT",),
        ),
    )

    engine: str = field(
        default="duckdb",
        metadata=setting_metadata(
            help="the engine queries run on: `duckdb` (embedded) or `spark` (needs the "
            "`spark` extra and Java 17+; `dataward serve --engine`)",
            env=("DATAWARD_QUERY_ENGINE",),
        ),
    )
    spark_master: str = field(
        default="local[2]",
        metadata=setting_metadata(
            help="Spark's master URL when `query.engine` is `spark`: `local[N]` (in the "
            "serving process, N task slots) or `spark://host:port` (a standalone cluster)",
            env=("DATAWARD_QUERY_SPARK_MASTER",),
        ),
    )

    def __post_init__(self) -> None:
        if self.engine not in QUERY_ENGINES:
            raise SettingsError(f"setting query.engine must be one of {', '.join(QUERY_ENGINES)}")
        if not self.spark_master.startswith(("local", "spark://")):
            raise SettingsError(
                "setting query.spark_master must be local, local[N], local[*] or spark://host:port"
            )
        if self.max_concurrent < 1:
            raise SettingsError("setting query.max_concurrent must be at least 1")
        if not self.timeout_seconds > 0:
            raise SettingsError("setting query.timeout_seconds must be greater than 0")
        if self.memory_mb < 64:
            raise SettingsError("setting query.memory_mb must be at least 64")
        if self.threads < 1:
            raise SettingsError("setting query.threads must be at least 1")


@dataclass(frozen=True)
class BudgetSettings:
    """The ``[budget]`` section: the privacy-budget ledger's limits, in epsilon (DESIGN.md,
    "Budget ledger"); the ledger keeps them as integer micro-epsilon."""

    per_query: float = field(
        default=1.0,
        metadata=setting_metadata(
            help="the most one query may cost (a policy's epsilon above it is refused)",
            env=("DATAWARD_BUDGET_PER_QUERY",),
        ),
    )
    per_partner_per_day: float = field(
        default=2.0,
        metadata=setting_metadata(
            help="what one organization may spend per UTC day",
            env=("DATAWARD_BUDGET_PER_PARTNER_PER_DAY",),
        ),
    )
    per_partner_per_dataset_version: float = field(
        default=10.0,
        metadata=setting_metadata(
            help="what one organization may spend on one dataset version, in all",
            env=("DATAWARD_BUDGET_PER_PARTNER_PER_DATASET_VERSION",),
        ),
    )
    total_per_dataset_version: float = field(
        default=100.0,
        metadata=setting_metadata(
            help="what all organizations together may spend on one dataset version",
            env=("DATAWARD_BUDGET_TOTAL_PER_DATASET_VERSION",),
        ),
    )

    def __post_init__(self) -> None:
        for name in (
            "per_query",
            "per_partner_per_day",
            "per_partner_per_dataset_version",
            "total_per_dataset_version",
        ):
            micro = Decimal(str(getattr(self, name))) * 1_000_000
            if not micro > 0 or micro != micro.to_integral_value():
                raise SettingsError(
                    f"setting budget.{name} must be a positive epsilon with at most six decimals"
                )

    def micro(self, name: str) -> int:
        """The limit ``name`` in integer micro-epsilon."""
        return int(Decimal(str(getattr(self, name))) * 1_000_000)


@dataclass(frozen=True)
class ComputeSettings:
    """The ``[compute]`` section: where CKKS batches are evaluated (issue 12)."""

    ckks_workers: int = field(
        default=2,
        metadata=setting_metadata(
            help="worker processes for CKKS batches, each with its own TenSEAL contexts, started "
            "on the first batch (0: in the serving process)",
            env=("DATAWARD_COMPUTE_CKKS_WORKERS",),
        ),
    )
    ckks_worker_memory_mb: int = field(
        default=3072,
        metadata=setting_metadata(
            help="address-space limit of each CKKS worker (a malformed upload cannot exhaust "
            "the machine)",
            env=("DATAWARD_COMPUTE_CKKS_WORKER_MEMORY_MB",),
        ),
    )
    ckks_timeout_seconds: float = field(
        default=120.0,
        metadata=setting_metadata(
            help="how long one CKKS batch may compute; past it the worker is replaced and the "
            "call is DEADLINE_EXCEEDED",
            env=("DATAWARD_COMPUTE_CKKS_TIMEOUT_SECONDS",),
        ),
    )

    def __post_init__(self) -> None:
        if not 0 <= self.ckks_workers <= 64:
            raise SettingsError("setting compute.ckks_workers must be from 0 to 64")
        if self.ckks_worker_memory_mb < 512:
            raise SettingsError("setting compute.ckks_worker_memory_mb must be at least 512")
        if not self.ckks_timeout_seconds > 0:
            raise SettingsError("setting compute.ckks_timeout_seconds must be greater than 0")


_GATES = QualityGates()


_GATE_DEFAULT = "the measured gate (`enclave.biometrics.QualityGates`)"
_CALIBRATED = "calibrated (`enclave.biometrics.DEFAULT_THRESHOLDS`)"


def _face_field(
    default: Any,
    help: str,
    name: str,
    default_text: str | None = None,
) -> Any:
    """A ``[faces]`` field, read from ``DATAWARD_FACES_<NAME>``; ``default_text`` for a
    default another module measures or calibrates (the README names where it comes from)."""
    return field(
        default=default,
        metadata=setting_metadata(
            help=help, env=(f"DATAWARD_FACES_{name.upper()}",), default_text=default_text
        ),
    )


@dataclass(frozen=True)
class FaceSettings:
    """The ``[faces]`` section: identity face checks (issue 13) -- the face workers, the image
    limits, the quality gates, the decision's thresholds (``dataward faces calibrate`` prints
    them as a ``[faces]`` snippet) and the attempt limits."""

    workers: int = _face_field(
        1,
        "worker processes analysing selfies (dlib models loaded once in each), started on the "
        "first selfie (0: in the serving process)",
        "workers",
    )
    worker_memory_mb: int = _face_field(
        3072, "address-space limit of each face worker", "worker_memory_mb"
    )
    timeout_seconds: float = _face_field(
        30.0,
        "how long one selfie may take in a worker; past it the worker is replaced and the "
        "call is UNAVAILABLE, retry",
        "timeout_seconds",
    )
    max_image_bytes: int = _face_field(
        6_000_000,
        "the largest selfie accepted, in bytes (larger: INVALID_ARGUMENT `IMAGE_INVALID` "
        "TOO_LARGE, no attempt counted)",
        "max_image_bytes",
    )
    max_pixels: int = _face_field(
        40_000_000,
        "the most pixels a selfie may declare in its header (more: `IMAGE_INVALID` "
        "TOO_MANY_PIXELS, refused before decoding)",
        "max_pixels",
    )
    max_side: int = _face_field(
        1600,
        "a decoded selfie is scaled down to this longer side before faces are found",
        "max_side",
    )
    min_face_px: int = _face_field(
        _GATES.min_face_px,
        "the narrowest face accepted, in pixels of the scaled image (narrower: retake "
        "FACE_TOO_SMALL)",
        "min_face_px",
        _GATE_DEFAULT,
    )
    second_face_ratio: float = _face_field(
        _GATES.second_face_ratio,
        "a second face at least this fraction of the largest face's width is retake MULTIPLE_FACES",
        "second_face_ratio",
        _GATE_DEFAULT,
    )
    min_sharpness: float = _face_field(
        _GATES.min_sharpness,
        "the least variance of the Laplacian over the face (less: retake TOO_BLURRY)",
        "min_sharpness",
        _GATE_DEFAULT,
    )
    min_brightness: float = _face_field(
        _GATES.min_brightness,
        "the darkest mean grey level of the face accepted (0..255; darker: retake TOO_DARK)",
        "min_brightness",
        _GATE_DEFAULT,
    )
    max_brightness: float = _face_field(
        _GATES.max_brightness,
        "the brightest mean grey level of the face accepted (brighter: retake TOO_BRIGHT)",
        "max_brightness",
        _GATE_DEFAULT,
    )
    min_jpeg_quality: int = _face_field(
        _GATES.min_jpeg_quality,
        "the lowest estimated JPEG quality accepted (lower: retake TOO_COMPRESSED)",
        "min_jpeg_quality",
        _GATE_DEFAULT,
    )
    presentation_floor: float = _face_field(
        DEFAULT_THRESHOLDS.presentation_floor,
        "a distance below this means the ID photo itself was sent: INCONCLUSIVE, "
        "PRESENTATION_SUSPECTED",
        "presentation_floor",
        _CALIBRATED,
    )
    match_high: float = _face_field(
        DEFAULT_THRESHOLDS.match_high,
        "distance at most this: MATCH, HIGH",
        "match_high",
        _CALIBRATED,
    )
    match_medium: float = _face_field(
        DEFAULT_THRESHOLDS.match_medium,
        "distance at most this: MATCH, MEDIUM",
        "match_medium",
        _CALIBRATED,
    )
    no_match: float = _face_field(
        DEFAULT_THRESHOLDS.no_match,
        "distance from this on: NO_MATCH (between `faces.match_medium` and it: INCONCLUSIVE, "
        "BORDERLINE)",
        "no_match",
        _CALIBRATED,
    )
    no_match_high: float = _face_field(
        DEFAULT_THRESHOLDS.no_match_high,
        "distance from this on: NO_MATCH, HIGH (below: MEDIUM)",
        "no_match_high",
        _CALIBRATED,
    )
    encrypted_cosine: float = _face_field(
        DEFAULT_THRESHOLDS.encrypted_cosine,
        "the encrypted face match's threshold on the cosine of the normalised templates",
        "encrypted_cosine",
        _CALIBRATED,
    )
    validated_on: str = field(
        default=DEFAULT_THRESHOLDS.validated_on,
        metadata=setting_metadata(
            help="the sentence every face answer carries about what the thresholds were "
            "calibrated and validated on (change it with the thresholds)",
            env=("DATAWARD_FACES_VALIDATED_ON",),
            default_text="LFW View 2 fold 1's sentence (`enclave.biometrics.VALIDATED_ON`)",
        ),
    )
    attempts_per_day: int = _face_field(
        3,
        "face attempts (selfies and encrypted matches) on one person per UTC day, across all "
        "partners (more: RESOURCE_EXHAUSTED `ATTEMPTS_EXHAUSTED`)",
        "attempts_per_day",
    )
    attempts_per_month: int = _face_field(
        10,
        "face attempts on one person per UTC calendar month, across all partners",
        "attempts_per_month",
    )
    partner_attempts_per_minute: int = _face_field(
        60,
        "face attempts one partner may make per minute over all persons (sliding)",
        "partner_attempts_per_minute",
    )

    def __post_init__(self) -> None:
        if not 0 <= self.workers <= 64:
            raise SettingsError("setting faces.workers must be from 0 to 64")
        if self.worker_memory_mb < 512:
            raise SettingsError("setting faces.worker_memory_mb must be at least 512")
        if not self.timeout_seconds > 0:
            raise SettingsError("setting faces.timeout_seconds must be greater than 0")
        for name in ("max_image_bytes", "max_pixels", "max_side", "min_face_px"):
            if getattr(self, name) < 1:
                raise SettingsError(f"setting faces.{name} must be at least 1")
        if not 0 < self.second_face_ratio <= 1:
            raise SettingsError("setting faces.second_face_ratio must be in (0, 1]")
        if not 0 <= self.min_brightness < self.max_brightness <= 255:
            raise SettingsError(
                "settings faces.min_brightness and faces.max_brightness must satisfy "
                "0 <= min < max <= 255"
            )
        if self.min_sharpness < 0:
            raise SettingsError("setting faces.min_sharpness must not be negative")
        if not 1 <= self.min_jpeg_quality <= 100:
            raise SettingsError("setting faces.min_jpeg_quality must be from 1 to 100")
        if not self.validated_on.strip():
            raise SettingsError("setting faces.validated_on must say what was validated")
        for name in ("attempts_per_day", "attempts_per_month", "partner_attempts_per_minute"):
            if getattr(self, name) < 1:
                raise SettingsError(f"setting faces.{name} must be at least 1")
        if self.attempts_per_day > self.attempts_per_month:
            raise SettingsError(
                "setting faces.attempts_per_day must not exceed faces.attempts_per_month"
            )
        try:
            self.thresholds()
        except ValueError as exc:
            raise SettingsError(f"settings faces.*: {exc}") from None

    def thresholds(self) -> Thresholds:
        return Thresholds(
            presentation_floor=self.presentation_floor,
            match_high=self.match_high,
            match_medium=self.match_medium,
            no_match=self.no_match,
            no_match_high=self.no_match_high,
            encrypted_cosine=self.encrypted_cosine,
            validated_on=self.validated_on,
        )

    def limits(self) -> ImageLimits:
        return ImageLimits(
            max_bytes=self.max_image_bytes, max_pixels=self.max_pixels, max_side=self.max_side
        )

    def gates(self) -> QualityGates:
        return QualityGates(
            min_face_px=self.min_face_px,
            second_face_ratio=self.second_face_ratio,
            min_sharpness=self.min_sharpness,
            min_brightness=self.min_brightness,
            max_brightness=self.max_brightness,
            min_jpeg_quality=self.min_jpeg_quality,
        )


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOOPBACK_HOSTS = ("localhost",)


def _is_loopback(host: str) -> bool:
    """A loopback IP literal (``127.0.0.0/8``, ``[::1]``) or ``localhost``. A name is never
    resolved here, and ``127.`` is no prefix test: ``127.0.0.1.nip.io`` or ``127.evil.example``
    is a DNS name that may resolve to any address (issue 14 review)."""
    if host in _LOOPBACK_HOSTS:
        return True
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in literal and literal == host:  # an IPv6 address must be in brackets
        return False
    try:
        return ipaddress.ip_address(literal).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class LogSettings:
    """The ``[log]`` section: the servers' operational log (JSON lines on stderr, issue 14)."""

    level: str = field(
        default="INFO",
        metadata=setting_metadata(
            help="the operational log's level: `DEBUG` (every call and request), `INFO` "
            "(start, stop, configuration, refused, failed and slow calls), `WARNING`, `ERROR`",
            env=("DATAWARD_LOG_LEVEL",),
        ),
    )
    slow_ms: int = field(
        default=500,
        metadata=setting_metadata(
            help="a call or portal request taking longer than this many milliseconds is "
            "logged as slow (`call_slow`, `request_slow`)",
            env=("DATAWARD_LOG_SLOW_MS",),
        ),
    )

    def __post_init__(self) -> None:
        if self.level.upper() not in LOG_LEVELS:
            raise SettingsError(f"setting log.level must be one of {', '.join(LOG_LEVELS)}")
        object.__setattr__(self, "level", self.level.upper())
        if self.slow_ms < 1:
            raise SettingsError("setting log.slow_ms must be at least 1")


@dataclass(frozen=True)
class MetricsSettings:
    """The ``[metrics]`` section: the Prometheus endpoint of ``dataward serve`` (issue 14)."""

    bind: str = field(
        default="",
        metadata=setting_metadata(
            help="serve Prometheus metrics at `http://HOST:PORT/metrics` on this loopback "
            "address (`127.0.0.1:0`: any free port; any other host is refused, exit 78: the "
            "endpoint has no authentication); empty: no endpoint",
            env=("DATAWARD_METRICS_BIND",),
            default_text="off",
        ),
    )

    def __post_init__(self) -> None:
        if not self.bind:
            return
        host, _, port = self.bind.rpartition(":")
        if not _is_loopback(host):
            raise SettingsError(
                "setting metrics.bind must be a loopback address (127.0.0.1:PORT or "
                "[::1]:PORT): the metrics endpoint has no authentication"
            )
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise SettingsError("setting metrics.bind needs a port from 0 to 65535 (HOST:PORT)")


@dataclass(frozen=True)
class Settings:
    zone: ZoneSettings = ZoneSettings()
    audit: AuditSettings = AuditSettings()
    portal: PortalSettings = PortalSettings()
    grpc: GrpcSettings = GrpcSettings()
    query: QuerySettings = QuerySettings()
    budget: BudgetSettings = BudgetSettings()
    compute: ComputeSettings = ComputeSettings()
    faces: FaceSettings = FaceSettings()
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()


# Environment variable -> (section, field). The master key has its own two variables.
ENVIRONMENT: Mapping[str, tuple[str, str]] = {
    "DATAWARD_ZONE": ("zone", "dir"),
    "DATAWARD_AUDIT_SYNCHRONOUS": ("audit", "sqlite_synchronous"),
    "DATAWARD_AUDIT_CHECKPOINT_SECONDS": ("audit", "checkpoint_interval_seconds"),
    "DATAWARD_AUDIT_CHECKPOINT_ENTRIES": ("audit", "checkpoint_every_entries"),
    **environment_of("portal", PortalSettings),
    **environment_of("grpc", GrpcSettings),
    **environment_of("query", QuerySettings),
    **environment_of("budget", BudgetSettings),
    **environment_of("compute", ComputeSettings),
    **environment_of("faces", FaceSettings),
    **environment_of("log", LogSettings),
    **environment_of("metrics", MetricsSettings),
}
_T = TypeVar("_T")
_SECTIONS = (
    "zone",
    "audit",
    "portal",
    "grpc",
    "query",
    "budget",
    "compute",
    "faces",
    "log",
    "metrics",
)
MASTER_KEY_VARIABLE = "DATAWARD_MASTER_KEY"
MASTER_KEY_FILE_VARIABLE = "DATAWARD_MASTER_KEY_FILE"
# At most a pipe's atomic write: `serve` hands the key to the portal process through a pipe.
_MAX_PORTAL_KEY_BYTES = 4096
CONFIG_VARIABLE = "DATAWARD_CONFIG"
_MIN_MASTER_KEY_BYTES = 16


def load_settings(
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings tree from defaults, the config file, the environment and overrides.

    ``overrides`` maps a section name to field values (CLI options); ``environ`` defaults to
    the process environment and exists so tests can pass their own.
    """
    env = os.environ if environ is None else environ
    sections: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    config_path = env.get(CONFIG_VARIABLE)
    if config_path:
        for section, values in _read_config(Path(config_path)).items():
            sections[section].update(values)
    for variable, (section, name) in ENVIRONMENT.items():
        if variable in env:
            sections[section][name] = env[variable]
    portal_key = _portal_key(env)
    if portal_key is not None:
        sections["portal"]["key"] = portal_key
    master_key = _master_key(env)
    if master_key is not None:
        sections["zone"]["master_key"] = master_key
    for section, given in (overrides or {}).items():
        sections[section].update({k: v for k, v in given.items() if v is not None})
    defaults = Settings()
    return Settings(
        zone=_build(defaults.zone, sections["zone"], "zone"),
        audit=_build(defaults.audit, sections["audit"], "audit"),
        portal=_build(defaults.portal, sections["portal"], "portal"),
        grpc=_build(defaults.grpc, sections["grpc"], "grpc"),
        query=_build(defaults.query, sections["query"], "query"),
        budget=_build(defaults.budget, sections["budget"], "budget"),
        compute=_build(defaults.compute, sections["compute"], "compute"),
        faces=_build(defaults.faces, sections["faces"], "faces"),
        log=_build(defaults.log, sections["log"], "log"),
        metrics=_build(defaults.metrics, sections["metrics"], "metrics"),
    )


def child_environment(
    *, config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A copy of the environment for a child process, never with the master-key variables.

    With ``config_file``, every ``DATAWARD_*`` settings variable is dropped too and
    ``DATAWARD_CONFIG`` names that file: the child's settings then come from it alone (plus its
    command line). ``environ`` defaults to the process environment.
    """
    env = dict(os.environ if environ is None else environ)
    dropped = {MASTER_KEY_VARIABLE, MASTER_KEY_FILE_VARIABLE}
    if config_file is not None:
        dropped |= {*ENVIRONMENT, CONFIG_VARIABLE, PORTAL_KEY_VARIABLE, PORTAL_KEY_FILE_VARIABLE}
    child = {name: value for name, value in env.items() if name not in dropped}
    if config_file is not None:
        child[CONFIG_VARIABLE] = str(config_file)
    return child


def _read_config(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(f"{CONFIG_VARIABLE}: no such file: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{CONFIG_VARIABLE}: {path} is not valid TOML: {exc}") from exc
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise SettingsError(f"{path}: unknown section(s): {', '.join(sorted(unknown))}")
    if "master_key" in data.get("zone", {}):
        raise SettingsError(
            f"{path}: the master key never goes in a config file; "
            f"use {MASTER_KEY_VARIABLE} or {MASTER_KEY_FILE_VARIABLE}"
        )
    if "key" in data.get("portal", {}):
        raise SettingsError(
            f"{path}: the portal key never goes in a config file; "
            f"use {PORTAL_KEY_VARIABLE} or {PORTAL_KEY_FILE_VARIABLE}"
        )
    return {name: dict(values) for name, values in data.items()}


def _only_one(env: Mapping[str, str], variable: str, file_variable: str) -> None:
    """Refuse a key given twice: which one wins would be a guess, and the two may differ."""
    if env.get(variable) and env.get(file_variable):
        raise SettingsError(f"both {variable} and {file_variable} are set: set only one of them")


def _master_key(env: Mapping[str, str]) -> Secret | None:
    _only_one(env, MASTER_KEY_VARIABLE, MASTER_KEY_FILE_VARIABLE)
    raw: bytes | None = None
    if env.get(MASTER_KEY_VARIABLE):
        raw = env[MASTER_KEY_VARIABLE].encode("utf-8")
    elif env.get(MASTER_KEY_FILE_VARIABLE):
        path = Path(env[MASTER_KEY_FILE_VARIABLE])
        try:
            raw = path.read_bytes().strip()
        except OSError as exc:
            raise SettingsError(
                f"{MASTER_KEY_FILE_VARIABLE}: cannot read {path}: {exc.strerror}"
            ) from exc
    if raw is None:
        return None
    if len(raw) < _MIN_MASTER_KEY_BYTES:
        raise SettingsError(f"the master key must be at least {_MIN_MASTER_KEY_BYTES} bytes long")
    return Secret(raw)


def _portal_key(env: Mapping[str, str]) -> Secret | None:
    """The portal key from its variable or key file, surrounding whitespace stripped (so it
    passes through a file unchanged: ``launcher._portal_process`` hands it on that way)."""
    _only_one(env, PORTAL_KEY_VARIABLE, PORTAL_KEY_FILE_VARIABLE)
    raw: bytes | None = None
    if env.get(PORTAL_KEY_VARIABLE):
        raw = env[PORTAL_KEY_VARIABLE].encode("utf-8").strip()
    elif env.get(PORTAL_KEY_FILE_VARIABLE):
        path = Path(env[PORTAL_KEY_FILE_VARIABLE])
        try:
            raw = path.read_bytes().strip()
        except OSError as exc:
            raise SettingsError(
                f"{PORTAL_KEY_FILE_VARIABLE}: cannot read {path}: {exc.strerror}"
            ) from exc
    if raw is None:
        return None
    if not _MIN_MASTER_KEY_BYTES <= len(raw) <= _MAX_PORTAL_KEY_BYTES:
        raise SettingsError(
            f"the portal key ({PORTAL_KEY_VARIABLE} or {PORTAL_KEY_FILE_VARIABLE}) must be "
            f"{_MIN_MASTER_KEY_BYTES} to {_MAX_PORTAL_KEY_BYTES} bytes long"
        )
    return Secret(raw)


def _build(default: _T, values: Mapping[str, Any], section: str) -> _T:
    fields = {f.name: f for f in dataclasses.fields(default)}  # type: ignore[arg-type]
    converted: dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:
            raise SettingsError(f"unknown setting {section}.{name}")
        converted[name] = _convert(getattr(default, name), value, f"{section}.{name}")
    return dataclasses.replace(default, **converted)  # type: ignore[type-var]


def _convert(default: Any, value: Any, name: str) -> Any:
    if isinstance(value, Secret) or value is None:
        return value
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, Path) or name.endswith(("_file", ".dir")):
            return Path(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name} has the wrong type") from exc
