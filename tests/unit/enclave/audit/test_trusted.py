"""A log from its first moment (create_log), its latest checkpoint for an auditor to keep, and
verification held to checkpoints kept outside the log (issue 8, item 6)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.transparency import EMPTY_ROOT, open_checkpoint
from enclave.audit import (
    AuditIntegrityError,
    AuditLog,
    AuditReader,
    AuditStorageError,
    AuditTrustedCheckpointError,
    create_log,
    zone_log_name,
)
from launcher.settings import AuditSettings
from tests.unit.enclave.audit.conftest import KEY, KEY_NAME, ORIGIN, request


def _created(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "audit.db"
    create_log(path, KEY, ORIGIN, KEY_NAME)
    return path


def _append(path: Path, n: int, *, start: int = 0) -> None:
    log = AuditLog.open(path, AuditSettings(), KEY, ORIGIN, KEY_NAME)
    try:
        for i in range(start, start + n):
            log.append(request(i))
        log.checkpoint()
    finally:
        log.close()


def _reader(path: Path) -> AuditReader:
    return AuditReader.open_read_only(path)


def test_a_created_log_holds_one_signed_checkpoint_of_size_zero(tmp_path: Path) -> None:
    path = _created(tmp_path)
    reader = _reader(path)
    try:
        summary = reader.verify(KEY.public_key())
        note = reader.latest_checkpoint(KEY.public_key())
    finally:
        reader.close()
    assert (summary.entries, summary.checkpoints) == (0, 1)
    cp = open_checkpoint(note, KEY_NAME, KEY.public_key())
    assert (cp.origin, cp.size, cp.root_hash) == (ORIGIN, 0, EMPTY_ROOT)


def test_create_log_never_replaces_a_log(tmp_path: Path) -> None:
    path = _created(tmp_path)
    _append(path, 3)
    with pytest.raises(AuditStorageError, match="already exists"):
        create_log(path, KEY, ORIGIN, KEY_NAME)
    reader = _reader(path)
    try:
        assert reader.verify(KEY.public_key()).entries == 3
    finally:
        reader.close()


def test_the_log_a_created_log_grows_into_extends_its_first_checkpoint(tmp_path: Path) -> None:
    path = _created(tmp_path)
    reader = _reader(path)
    first = reader.latest_checkpoint(KEY.public_key())
    reader.close()
    _append(path, 5)
    reader = _reader(path)
    try:
        summary = reader.verify(KEY.public_key(), trusted=[first])
        latest = reader.latest_checkpoint(KEY.public_key())
    finally:
        reader.close()
    assert (summary.entries, summary.checkpoints) == (5, 2)
    assert summary.trusted is not None and summary.trusted.size == 0
    assert open_checkpoint(latest, KEY_NAME, KEY.public_key()).size == 5


def test_a_truncated_log_without_checkpoints_fails_only_against_a_trusted_one(
    tmp_path: Path,
) -> None:
    path = _created(tmp_path)
    _append(path, 6)
    reader = _reader(path)
    trusted = reader.latest_checkpoint(KEY.public_key())
    reader.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM leaves WHERE idx >= 2")
        conn.execute("DELETE FROM checkpoints")
    conn.close()
    reader = _reader(path)
    try:
        assert reader.verify(KEY.public_key()).entries == 2  # consistent in itself
        with pytest.raises(AuditIntegrityError, match="smaller than the trusted") as info:
            reader.verify(KEY.public_key(), trusted=[trusted])
        with pytest.raises(AuditIntegrityError, match="no signed checkpoint"):
            reader.latest_checkpoint(KEY.public_key())
    finally:
        reader.close()
    assert info.value.entry == 2


def test_a_trusted_checkpoint_of_another_key_or_log_is_refused(tmp_path: Path) -> None:
    path = _created(tmp_path)
    other_key = Ed25519PrivateKey.generate()
    foreign = create_log(tmp_path / "other.db", other_key, ORIGIN, KEY_NAME)
    other_log = create_log(tmp_path / "another.db", KEY, "another.test/log", KEY_NAME)
    reader = _reader(path)
    try:
        with pytest.raises(AuditTrustedCheckpointError, match="does not verify"):
            reader.verify(KEY.public_key(), trusted=[foreign])
        with pytest.raises(AuditTrustedCheckpointError, match="another log"):
            reader.verify(KEY.public_key(), trusted=[other_log])
        with pytest.raises(AuditTrustedCheckpointError, match="does not verify"):
            reader.verify(KEY.public_key(), trusted=["not a note"])
    finally:
        reader.close()


def test_a_latest_checkpoint_signed_by_another_key_is_not_handed_out(tmp_path: Path) -> None:
    path = _created(tmp_path)
    reader = _reader(path)
    try:
        with pytest.raises(AuditIntegrityError, match="does not verify"):
            reader.latest_checkpoint(Ed25519PrivateKey.generate().public_key())
    finally:
        reader.close()


def test_the_zone_log_name_is_origin_and_key_name() -> None:
    assert zone_log_name("zone-0123") == "dataward-zone-zone-0123"
