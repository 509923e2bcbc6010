"""Exceptions to exit codes: the CLI boundary's one mapping table.

Codes follow sysexits(3). An exception not in the table is a bug: exit 70 with a generic
message (the traceback is not printed, it could carry data values).
"""

from __future__ import annotations

from dataward.client import (
    BudgetExhausted as RemoteBudgetExhausted,
)
from dataward.client import (
    ConsentRequired as RemoteConsentRequired,
)
from dataward.client import (
    DatawardError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RateLimited,
    ReceiptInvalid,
    Unauthenticated,
    Unavailable,
)
from dataward.client import compute as sdk_compute
from dataward.transparency import TransparencyError
from enclave import (
    CorruptDataset,
    CorruptKeyring,
    IngestError,
    LookupRefused,
    MissingTable,
    NoDataset,
    PolicyInvalid,
    PolicyStoreCorrupt,
    RejectLimitExceeded,
    SchemaMismatch,
    SourceError,
    SourceNotFound,
    WrongMasterKey,
    ZoneAlreadyInitialized,
    ZoneError,
    ZoneNotInitialized,
)
from enclave.audit import AuditError, AuditIntegrityError, AuditLogBusy, AuditStorageError
from enclave.biometrics import CalibrationSourceInvalid, FaceWorkerFailed
from enclave.budget import BudgetExhausted, BudgetLedgerCorrupt
from enclave.compute import GmpyMissing
from enclave.consent import ConsentNotFound
from enclave.persons import ConsentRequired, InvalidField, InvalidIdNumber, PersonNotFound
from launcher._batch_files import BatchInputInvalid, BatchInputMissing, BatchOutputExists
from launcher._binds import AddressInUseError, MalformedBindError, UnusableBindError
from launcher._cmd_check import BatchItemsRefused
from launcher._cmd_compute import AuditorKeyInvalid, ComputeFileExists, ComputeFileMissing
from launcher._metrics import MetricsBindError
from launcher._operator_calls import (
    OperatorCallError,
    ServerDeniedError,
    ServerRefusedError,
    ServerRejectedInputError,
)
from launcher._organizations import UnknownPartnerError
from launcher._portal_process import PortalProcessError
from launcher._zone_dirs import ZoneDirectoryNotEmptyError, ZoneNotCreatableError
from launcher.settings import SettingsError
from policies import PolicyError, PolicyUnreadableError
from portal.errors import (
    AuthenticationError,
    ConflictError,
    CsrfError,
    InvalidInputError,
    InvalidTransitionError,
    LoginThrottledError,
    LogUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    PortalBindError,
    PortalError,
    SigningKeyError,
    UnknownOrganizationError,
    UnknownUserError,
    UnsealedKeysError,
    WrongPortalKeyError,
    ZoneConflictError,
    ZoneInvalidArgumentError,
    ZoneNotFoundError,
    ZonePermissionError,
    ZoneRefusedError,
    ZoneUnavailableError,
)
from query_engine import EngineUnavailable
from synthetic import (
    DatagenError,
    InvalidParametersError,
    OutputNotEmptyError,
    OutputNotWritableError,
)

EX_DATAERR = 65  # the input data is wrong (bad table, bad schema)
EX_NOINPUT = 66  # an input file or directory is missing
EX_UNAVAILABLE = 69  # a service we depend on is not available (the portal process)
EX_SOFTWARE = 70  # a bug
EX_CANTCREAT = 73  # cannot create the output
EX_IOERR = 74
EX_TEMPFAIL = 75  # try again later (throttled)
EX_NOPERM = 77  # wrong master key, refused
EX_CONFIG = 78  # settings missing or malformed

# The most specific class with a row wins (see exit_code_for); the order is for reading.
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (SettingsError, EX_CONFIG),
    # listening addresses (--grpc-bind, --portal-bind, portal --bind, their settings)
    (MalformedBindError, EX_CONFIG),  # not HOST:PORT, or a port past 65535
    (UnusableBindError, EX_CONFIG),  # not this machine's address, not permitted
    (AddressInUseError, EX_UNAVAILABLE),  # another program listens there
    (PortalProcessError, EX_UNAVAILABLE),  # `serve`: the portal process failed or died
    (MetricsBindError, EX_UNAVAILABLE),  # `serve`: metrics.bind in use
    (EngineUnavailable, EX_UNAVAILABLE),  # `serve --engine spark` without pyspark or Java
    (GmpyMissing, EX_UNAVAILABLE),  # `serve` with phe running without gmpy2
    # zone (enclave): keys, ingest, lookups
    (WrongMasterKey, EX_NOPERM),
    (CorruptKeyring, EX_NOPERM),
    (ZoneNotInitialized, EX_NOINPUT),
    (ZoneAlreadyInitialized, EX_CANTCREAT),
    (ZoneDirectoryNotEmptyError, EX_CANTCREAT),  # `zone init` into a directory with files
    (ZoneNotCreatableError, EX_CANTCREAT),  # `zone init` where it cannot write
    (SourceNotFound, EX_NOINPUT),
    (MissingTable, EX_DATAERR),
    (SchemaMismatch, EX_DATAERR),
    (RejectLimitExceeded, EX_DATAERR),  # too many rows rejected: not published
    (SourceError, EX_DATAERR),
    (IngestError, EX_CANTCREAT),
    (NoDataset, EX_NOINPUT),
    (CorruptDataset, EX_IOERR),
    (LookupRefused, EX_NOPERM),
    (InvalidIdNumber, EX_DATAERR),
    # the policy in force (`policy apply`): a document with an error changes nothing
    (PolicyInvalid, EX_DATAERR),
    (PolicyStoreCorrupt, EX_IOERR),  # the policy store could not record a version
    # the privacy budget: spent (try again another day), or a ledger that does not verify
    (BudgetExhausted, EX_TEMPFAIL),
    (BudgetLedgerCorrupt, EX_DATAERR),
    # person-level checks and consents (dataward consent)
    (PersonNotFound, EX_NOINPUT),
    (ConsentNotFound, EX_NOINPUT),
    (ConsentRequired, EX_NOPERM),
    (InvalidField, EX_DATAERR),
    (UnknownPartnerError, EX_DATAERR),  # `consent grant --partner SLUG`: no such partner
    # face calibration (`faces calibrate`): a wrong pairs file; face workers that cannot answer
    (CalibrationSourceInvalid, EX_DATAERR),
    (FaceWorkerFailed, EX_UNAVAILABLE),
    (ZoneError, EX_DATAERR),
    # audit log
    (AuditLogBusy, EX_TEMPFAIL),  # another process writes the zone (a second `serve`)
    (AuditIntegrityError, EX_DATAERR),
    (AuditStorageError, EX_IOERR),
    (AuditError, EX_DATAERR),
    # transparency (the portal log's verification in `audit verify`): a log that fails checks
    (TransparencyError, EX_DATAERR),
    # portal (create-steward, create-zone-client, rotate-key)
    (InvalidInputError, EX_DATAERR),  # e.g. a password too short
    (ConflictError, EX_CANTCREAT),  # e.g. the username is taken
    (NotFoundError, EX_NOINPUT),
    (UnknownOrganizationError, EX_DATAERR),  # `portal org suspend SLUG`: no such slug
    (UnknownUserError, EX_DATAERR),  # `portal user disable USERNAME`: no such user
    (PermissionDeniedError, EX_NOPERM),
    (AuthenticationError, EX_NOPERM),
    (LoginThrottledError, EX_TEMPFAIL),
    (InvalidTransitionError, EX_DATAERR),
    (CsrfError, EX_DATAERR),
    (WrongPortalKeyError, EX_NOPERM),  # like a wrong master key
    (UnsealedKeysError, EX_CONFIG),  # key files in clear from an earlier release: seal-keys
    (SigningKeyError, EX_IOERR),
    (LogUnavailableError, EX_NOINPUT),
    (PortalBindError, EX_UNAVAILABLE),  # the portal's address is in use (or not ours)
    (ZoneUnavailableError, EX_UNAVAILABLE),  # a steward page could not reach the zone
    # the zone refused a steward page's call: as the zone's own refusals map
    (ZoneInvalidArgumentError, EX_DATAERR),
    (ZoneNotFoundError, EX_NOINPUT),
    (ZoneConflictError, EX_NOPERM),
    (ZonePermissionError, EX_NOPERM),
    (ZoneRefusedError, EX_UNAVAILABLE),
    (PortalError, EX_SOFTWARE),
    # operator calls through the running server (`consent grant` while `serve` runs)
    (OperatorCallError, EX_UNAVAILABLE),
    (ServerRefusedError, EX_UNAVAILABLE),  # `policy apply`: any refusal but POLICY_INVALID
    (ServerRejectedInputError, EX_DATAERR),  # e.g. a document over 1 MB
    (ServerDeniedError, EX_NOPERM),
    (InvalidArgument, EX_DATAERR),
    (NotFound, EX_NOINPUT),
    (RemoteConsentRequired, EX_NOPERM),
    (FailedPrecondition, EX_NOPERM),  # e.g. DP_MODE_REQUIRED, QUERY_NOT_RUNNABLE
    (Unauthenticated, EX_NOPERM),
    (PermissionDenied, EX_NOPERM),
    (RateLimited, EX_TEMPFAIL),
    (RemoteBudgetExhausted, EX_TEMPFAIL),  # the privacy budget: tomorrow, or a new version
    (ReceiptInvalid, EX_DATAERR),
    (Unavailable, EX_UNAVAILABLE),
    (DatawardError, EX_UNAVAILABLE),
    # policy documents (`policy check`): file, path and what is wrong
    (PolicyUnreadableError, EX_NOINPUT),
    (PolicyError, EX_DATAERR),
    # `check --batch`: the input file, the output file, rows the zone refused (output written)
    (BatchInputInvalid, EX_DATAERR),  # no id_number column, not UTF-8, not CSV or Parquet
    (BatchInputMissing, EX_NOINPUT),
    (BatchOutputExists, EX_CANTCREAT),  # --out exists without --force, or cannot be created
    (BatchItemsRefused, EX_DATAERR),
    # the auditor's commands (`compute auditor-key`, `compute sign-model`)
    (ComputeFileMissing, EX_NOINPUT),
    (ComputeFileExists, EX_CANTCREAT),
    (AuditorKeyInvalid, EX_DATAERR),
    (sdk_compute.CardFileInvalid, EX_DATAERR),  # malformed or altered after it was saved
    # datagen
    (OutputNotEmptyError, EX_CANTCREAT),
    (OutputNotWritableError, EX_CANTCREAT),
    (InvalidParametersError, EX_DATAERR),
    (DatagenError, EX_SOFTWARE),
]


_BY_CLASS: dict[type[BaseException], int] = dict(EXIT_CODES)


def exit_code_for(exc: BaseException) -> tuple[int, str]:
    """The exit code and the public message for an exception escaping a command: the row of
    the exception's most specific class that has one (its MRO), whatever the table order."""
    for kind in type(exc).__mro__:
        if kind in _BY_CLASS:
            return _BY_CLASS[kind], str(exc)
    return EX_SOFTWARE, f"internal error ({type(exc).__name__}); this is a bug"
