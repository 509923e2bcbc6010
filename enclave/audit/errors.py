"""The audit log's exception tree.

::

    AuditError                 anything the audit log refuses
    ├── AuditEventError        an event or a stored leaf is malformed (names the field)
    ├── AuditStorageError      the store failed to make an entry durable; nothing was logged
    ├── AuditClosedError       the log was closed
    ├── AuditLogBusy           another process holds the log's writer lock (``holder``)
    ├── AuditUnknownEntryError no entry with that index (yet)
    │   └── AuditBeyondLogError    a tree size larger than the log (a proof to it cannot exist)
    ├── AuditRangeError        tree sizes out of order (``field`` names the wrong one)
    ├── AuditNotYetSigned      no signed checkpoint covers the entry yet (``retry_after`` s)
    ├── AuditTrustedCheckpointError  a checkpoint given as trusted does not verify with the
    │                          log's key, or is another log's
    └── AuditIntegrityError    the stored log does not match its signed checkpoints (or a
                               trusted one); the message names the first bad entry
                               (``dataward audit verify``)

Messages are public: positions, field names and sizes, never a field's value. The tree is
part of the zone's one tree (``AuditError`` is a :class:`enclave.errors.ZoneError`), each class
with its ``reason`` code; the storage faults (a failed commit, a closed or busy log) are
``UNAVAILABLE`` with a ``retry_after``: they are the zone's state, never the caller's doing.
"""

from __future__ import annotations

from typing import ClassVar

from enclave.errors import ZoneError

__all__ = [
    "AuditBeyondLogError",
    "AuditClosedError",
    "AuditError",
    "AuditEventError",
    "AuditIntegrityError",
    "AuditLogBusy",
    "AuditNotYetSigned",
    "AuditRangeError",
    "AuditStorageError",
    "AuditTrustedCheckpointError",
    "AuditUnknownEntryError",
]


class AuditError(ZoneError):
    """Base of every audit-log error."""

    default_message = "audit log error"


class AuditEventError(AuditError):
    """An audit event or a stored leaf is malformed."""


class AuditStorageError(AuditError):
    """The store could not make the entry durable; the append did not happen."""

    reason: ClassVar[str] = "UNAVAILABLE"
    retry_after: float = 1.0


class AuditClosedError(AuditError):
    """The audit log is closed."""

    reason: ClassVar[str] = "UNAVAILABLE"
    retry_after: float = 1.0


class AuditLogBusy(AuditError):  # noqa: N818 (a state, not a failure)
    """Another process writes this log; ``holder`` is what it said about itself (pid, role,
    and for a server the gRPC address its operator calls reach)."""

    reason: ClassVar[str] = "UNAVAILABLE"
    retry_after: float = 1.0

    def __init__(self, holder: dict[str, object]) -> None:
        self.holder = holder
        pid = holder.get("pid")
        who = f"process {pid}" if pid else "another process"
        if holder.get("role") == "server" and holder.get("grpc"):
            who = f"`dataward serve` (pid {pid}, gRPC on {holder['grpc']})"
        super().__init__(f"the zone's audit log is held by {who}; only one process may write it")


class AuditUnknownEntryError(AuditError):
    """No entry has this index."""

    reason: ClassVar[str] = "NOT_FOUND"


class AuditBeyondLogError(AuditUnknownEntryError):
    """A tree size larger than the log: no proof to or from it exists (yet)."""


class AuditRangeError(AuditError):
    """Tree sizes that cannot be the two ends of a consistency proof (old after new).

    ``field`` names the request field that is wrong.
    """

    reason: ClassVar[str] = "FIELD_INVALID"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class AuditNotYetSigned(AuditError):  # noqa: N818 (a state, not a failure)
    """No signed checkpoint covers the entry yet; one is signed within ``retry_after`` seconds.

    Raised instead of signing on demand, so a reader cannot force a signature per call.
    """

    reason: ClassVar[str] = "NOT_YET_SIGNED"

    def __init__(self, retry_after: float) -> None:
        super().__init__("the entry is not covered by a signed checkpoint yet; retry later")
        self.retry_after = retry_after


class AuditIntegrityError(AuditError):
    """The stored log fails verification.

    ``entry`` is the first bad entry when it can be named exactly; ``first``..``last`` bound
    it otherwise (an entry rewritten together with its stored hash is only caught by the
    signed root that covers it).
    """

    def __init__(
        self,
        message: str,
        *,
        entry: int | None = None,
        first: int | None = None,
        last: int | None = None,
    ) -> None:
        super().__init__(message)
        self.entry = entry
        self.first = first
        self.last = last


class AuditTrustedCheckpointError(AuditError):
    """A checkpoint the caller holds as trusted is not a checkpoint of this log: malformed,
    not signed by the log's key, or naming another log (origin)."""

    reason: ClassVar[str] = "FIELD_INVALID"
