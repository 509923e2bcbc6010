from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from dataward.transparency import (
    open_checkpoint,
    verify_consistency,
    verify_receipt,
)
from enclave.audit import (
    AuditClosedError,
    AuditIntegrityError,
    AuditReader,
    AuditUnknownEntryError,
    Decision,
    RequestReceived,
    encode_leaf,
    verify_log,
    who_checked,
)
from tests.unit.enclave.audit.conftest import (
    KEY,
    KEY_NAME,
    ORIGIN,
    OpenLog,
    OpenRecorded,
    request,
)


def test_append_returns_contiguous_indexes_and_receipts_verify_offline(open_log: OpenLog) -> None:
    log = open_log()
    results = [log.append(request(i)) for i in range(10)]
    assert [r.leaf_index for r in results] == list(range(10))
    receipt = log.receipt(4)
    leaf = encode_leaf(request(4), 4, log.tail(10)[4].time)
    cp = verify_receipt(receipt, KEY_NAME, KEY.public_key(), leaf)
    assert (cp.origin, cp.size) == (ORIGIN, 10)
    assert receipt.leaf_hash == results[4].leaf_hash
    with pytest.raises(AuditUnknownEntryError):
        log.receipt(10)


def test_checkpoints_every_n_entries_and_consistency(open_log: OpenLog) -> None:
    log = open_log(checkpoint_every_entries=5, checkpoint_interval_seconds=3600.0)
    for i in range(12):
        log.append(request(i))
    log.close()
    reader = AuditReader.open_read_only(log_path(log))
    notes = [c.note for c in reader._store.checkpoints()]
    sizes = [open_checkpoint(n, KEY_NAME, KEY.public_key()).size for n in notes]
    assert sizes[:2] == [5, 10]
    summary = verify_log(reader, KEY.public_key())
    assert (summary.entries, summary.checkpoints) == (12, len(sizes))
    reader.close()


def log_path(log: object) -> Path:
    return Path(log._store._path)  # type: ignore[attr-defined]


def test_checkpoint_signed_within_the_interval_while_entries_arrive(open_log: OpenLog) -> None:
    log = open_log(checkpoint_every_entries=10_000, checkpoint_interval_seconds=0.05)
    log.append(request(0))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not log._store.checkpoints():
        time.sleep(0.01)
    assert [c.size for c in log._store.checkpoints()] == [1]


def test_concurrent_appends_share_commits(open_recorded: OpenRecorded) -> None:
    log, store = open_recorded(group_commit_max_batch=64)
    indexes: list[int] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(25):
            r = log.append(request(t * 100 + i))
            with lock:
                indexes.append(r.leaf_index)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(indexes) == list(range(200))
    assert len(store.appends) < 200  # several appends shared a transaction
    assert log.size == 200


def test_reopen_rebuilds_the_tree_and_proves_consistency(open_log: OpenLog) -> None:
    log = open_log(checkpoint_every_entries=1000)
    for i in range(7):
        log.append(request(i))
    old = log.checkpoint()
    log.close()
    log = open_log(checkpoint_every_entries=1000)
    for i in range(7, 20):
        log.append(request(i))
    new = log.checkpoint()
    verify_consistency(
        old.size, new.size, old.root_hash, new.root_hash, log.consistency_proof(old.size, new.size)
    )
    assert log.checkpoint() == new  # nothing new: no new signature
    verify_receipt(log.receipt(3), KEY_NAME, KEY.public_key())


def test_closed_log_refuses_appends(open_log: OpenLog) -> None:
    log = open_log()
    log.close()
    with pytest.raises(AuditClosedError):
        log.append(request(0))


def test_store_of_another_log_is_refused(open_log: OpenLog, tmp_path: Path) -> None:
    from enclave.audit import AuditLog
    from launcher.settings import AuditSettings

    open_log().close()
    with pytest.raises(AuditIntegrityError, match="another log"):
        AuditLog.open(tmp_path / "state" / "audit.db", AuditSettings(), KEY, "other", KEY_NAME)


def test_who_checked_lists_only_requests_about_that_person(open_log: OpenLog) -> None:
    log = open_log()
    me, other = "11" * 32, "22" * 32
    log.append(request(1, me))
    log.append(request(2, other))
    log.append(Decision(f"{1:032x}", True, ("consent",), "v1"))
    log.append(request(3, me))
    log.append(Decision(f"{3:032x}", False, ("no-consent",), "v1"))
    log.append(request(4, me))
    entries = who_checked(log, bytes.fromhex(me))
    assert [(e.organization, e.client_id, e.purpose, e.decision) for e in entries] == [
        ("org-1", "client-1", "underwriting", "allow"),
        ("org-0", "client-0", "underwriting", "deny"),
        ("org-1", "client-1", "underwriting", "pending"),
    ]
    assert who_checked(log, bytes(32)) == []


# -- faults: each tampering is detected and the first bad entry is named --------------------


@pytest.fixture
def sealed_log(open_log: OpenLog) -> Path:
    log = open_log(checkpoint_every_entries=10, checkpoint_interval_seconds=3600.0)
    for i in range(40):
        log.append(request(i))
    log.checkpoint()
    path = log_path(log)
    log.close()
    return path


def _tamper(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for sql, params in statements:
            conn.execute(sql, params)
    conn.close()


def _verify(path: Path) -> AuditIntegrityError:
    reader = AuditReader.open_read_only(path)
    try:
        with pytest.raises(AuditIntegrityError) as info:
            verify_log(reader, KEY.public_key())
    finally:
        reader.close()
    return info.value


def _leaf(path: Path, idx: int) -> bytes:
    conn = sqlite3.connect(path)
    (leaf,) = conn.execute("SELECT leaf FROM leaves WHERE idx = ?", (idx,)).fetchone()
    conn.close()
    return bytes(leaf)


def test_untampered_log_verifies(sealed_log: Path) -> None:
    reader = AuditReader.open_read_only(sealed_log)
    summary = verify_log(reader, KEY.public_key())
    reader.close()
    assert (summary.entries, summary.checkpoints) == (40, 4)


def test_edited_leaf_is_named(sealed_log: Path) -> None:
    edited = _leaf(sealed_log, 13).replace(b"underwriting", b"marketingxyz")
    _tamper(sealed_log, ("UPDATE leaves SET leaf = ? WHERE idx = 13", (edited,)))
    error = _verify(sealed_log)
    assert error.entry == 13 and "entry 13" in str(error)


def test_edited_leaf_with_rehashed_hash_is_bounded_by_its_checkpoint(sealed_log: Path) -> None:
    from dataward.transparency import leaf_hash

    edited = _leaf(sealed_log, 13).replace(b"underwriting", b"marketingxyz")
    _tamper(
        sealed_log,
        ("UPDATE leaves SET leaf = ?, leaf_hash = ? WHERE idx = 13", (edited, leaf_hash(edited))),
    )
    error = _verify(sealed_log)
    assert (error.first, error.last) == (10, 19)


def test_deleted_leaf_is_named(sealed_log: Path) -> None:
    _tamper(sealed_log, ("DELETE FROM leaves WHERE idx = 21", ()))
    error = _verify(sealed_log)
    assert error.entry == 21 and "missing" in str(error)


def test_two_swapped_leaves_are_named(sealed_log: Path) -> None:
    a, b = _leaf(sealed_log, 5), _leaf(sealed_log, 30)
    from dataward.transparency import leaf_hash

    _tamper(
        sealed_log,
        ("UPDATE leaves SET leaf = ?, leaf_hash = ? WHERE idx = 5", (b, leaf_hash(b))),
        ("UPDATE leaves SET leaf = ?, leaf_hash = ? WHERE idx = 30", (a, leaf_hash(a))),
    )
    error = _verify(sealed_log)
    assert error.entry == 5 and "position 30" in str(error)


def test_truncated_log_is_detected(sealed_log: Path) -> None:
    _tamper(sealed_log, ("DELETE FROM leaves WHERE idx >= 25", ()))
    error = _verify(sealed_log)
    assert error.entry == 25 and "truncated" in str(error)


def test_replaced_checkpoint_signature_is_detected(sealed_log: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from dataward.transparency import sign_checkpoint

    conn = sqlite3.connect(sealed_log)
    (note,) = conn.execute("SELECT note FROM checkpoints WHERE seq = 2").fetchone()
    conn.close()
    cp = open_checkpoint(note, KEY_NAME, KEY.public_key())
    forged = sign_checkpoint(cp, KEY_NAME, Ed25519PrivateKey.generate())
    _tamper(sealed_log, ("UPDATE checkpoints SET note = ? WHERE seq = 2", (forged,)))
    error = _verify(sealed_log)
    assert "checkpoint #1" in str(error)


def test_event_types_are_typed(open_log: OpenLog) -> None:
    log = open_log()
    log.append(request(0, "ab" * 32))
    (logged,) = log.tail(1)
    assert isinstance(logged.event, RequestReceived)
    assert "ab" * 32 in logged.to_json()
