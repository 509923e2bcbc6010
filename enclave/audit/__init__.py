"""The zone's tamper-evident audit log (issue 3).

Every request, decision and release is appended as a typed event (no data values; persons
only as tokens) to an RFC 6962 Merkle log stored in SQLite, durable before the answer leaves,
with group commit. Checkpoints are signed with the zone's Ed25519 key in the C2SP signed-note
format; every answer carries a :class:`~dataward.transparency.Receipt` a partner verifies
with the zone's public key alone. :meth:`AuditReader.verify` checks the whole log and names
the first bad entry, and holds it to checkpoints kept outside it (a log truncated or rewritten
under one fails); :func:`create_log` makes a zone's log, with a signed checkpoint of size 0,
when the zone is created; :func:`who_checked` answers "who asked about me";
:func:`list_events` and :func:`usage_summary` are a steward's view of it (issue 14).
"""

from __future__ import annotations

from dataward.transparency import LogSummary
from enclave.audit._browse import (
    MAX_SCAN,
    MAX_USAGE_SCAN,
    AppUsage,
    DayUsage,
    EventFilter,
    EventPage,
    LogBrowser,
    LogEntry,
    LogRead,
    UsageReport,
    list_events,
    usage_summary,
)
from enclave.audit._create import ZONE_LOG_FILE, create_log, zone_log_name
from enclave.audit._handoff import Handoff
from enclave.audit._log import Appended, AppendResult, AuditLog
from enclave.audit._reader import AuditReader, verify_log
from enclave.audit._settings import AuditLogSettings
from enclave.audit._sqlite import SqliteAuditStore
from enclave.audit._who import CheckEntry, who_checked
from enclave.audit._writer import read_holder
from enclave.audit.errors import (
    AuditBeyondLogError,
    AuditClosedError,
    AuditError,
    AuditEventError,
    AuditIntegrityError,
    AuditLogBusy,
    AuditNotYetSigned,
    AuditRangeError,
    AuditStorageError,
    AuditTrustedCheckpointError,
    AuditUnknownEntryError,
)
from enclave.audit.events import (
    CONSENT_REF,
    REQUEST_ID,
    AuditEvent,
    Decision,
    LoggedEvent,
    PolicyChanged,
    PortalEvent,
    RefusalSummary,
    Release,
    RequestReceived,
    StewardAction,
    decode_leaf,
    encode_leaf,
)
from enclave.audit.interface import (
    AuditStore,
    NewCheckpoint,
    NewLeaf,
    StoredCheckpoint,
    StoredLeaf,
)
from enclave.audit.trails import (
    ACCESS_POLICY_VERSION,
    AuditLogRefusals,
    AuditLogTrail,
    RefusalTrail,
)

__all__ = [
    "ACCESS_POLICY_VERSION",
    "CONSENT_REF",
    "MAX_SCAN",
    "MAX_USAGE_SCAN",
    "REQUEST_ID",
    "ZONE_LOG_FILE",
    "AppUsage",
    "AppendResult",
    "Appended",
    "AuditBeyondLogError",
    "AuditClosedError",
    "AuditError",
    "AuditEvent",
    "AuditEventError",
    "AuditIntegrityError",
    "AuditLog",
    "AuditLogBusy",
    "AuditLogRefusals",
    "AuditLogSettings",
    "AuditLogTrail",
    "AuditNotYetSigned",
    "AuditRangeError",
    "AuditReader",
    "AuditStorageError",
    "AuditStore",
    "AuditTrustedCheckpointError",
    "AuditUnknownEntryError",
    "CheckEntry",
    "DayUsage",
    "Decision",
    "EventFilter",
    "EventPage",
    "Handoff",
    "LogBrowser",
    "LogEntry",
    "LogRead",
    "LogSummary",
    "LoggedEvent",
    "NewCheckpoint",
    "NewLeaf",
    "PolicyChanged",
    "PortalEvent",
    "RefusalSummary",
    "RefusalTrail",
    "Release",
    "RequestReceived",
    "SqliteAuditStore",
    "StewardAction",
    "StoredCheckpoint",
    "StoredLeaf",
    "UsageReport",
    "create_log",
    "decode_leaf",
    "encode_leaf",
    "list_events",
    "read_holder",
    "usage_summary",
    "verify_log",
    "who_checked",
    "zone_log_name",
]
