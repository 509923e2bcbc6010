"""A zone's audit log exists from the zone's first moment (issue 8, item 6).

``init_zone`` creates the log with a signed checkpoint of size 0, so a new zone's log verifies
(0 entries, 1 checkpoint) and a zone whose log or checkpoints later go missing is an error, not
"nothing logged yet": every later checkpoint extends that first one.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.transparency import EMPTY_ROOT, Checkpoint, sign_checkpoint
from enclave.audit._sqlite import SqliteAuditStore
from enclave.audit.errors import AuditStorageError

__all__ = ["ZONE_LOG_FILE", "create_log", "zone_log_name"]

#: The zone's audit log, relative to the zone directory.
ZONE_LOG_FILE = Path("state") / "audit.db"


def zone_log_name(zone_id: str) -> str:
    """The zone log's origin and signed-note key name (one name for both)."""
    return f"dataward-zone-{zone_id}"


def create_log(
    db_path: Path, signer: Ed25519PrivateKey, origin: str, key_name: str, synchronous: str = "FULL"
) -> str:
    """Create the log at ``db_path``, bound to ``origin`` and ``key_name``, holding one
    checkpoint: size 0, signed with ``signer``. Returns that signed note.

    Never replaces a log: an existing ``db_path`` is :class:`AuditStorageError`.
    """
    if db_path.exists():
        raise AuditStorageError(f"an audit log already exists at {db_path}; it is never replaced")
    note = sign_checkpoint(Checkpoint(origin, 0, EMPTY_ROOT), key_name, signer)
    store = SqliteAuditStore.open(db_path, synchronous)
    try:
        store.set_meta("origin", origin)
        store.set_meta("key_name", key_name)
        store.add_checkpoint(0, note)
    finally:
        store.close()
    return note
