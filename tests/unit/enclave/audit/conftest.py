from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from enclave.audit import AuditLog, RequestReceived, SqliteAuditStore
from launcher.settings import AuditSettings
from tests.support.audit_stores import RecordingStore

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ORIGIN = "dataward.zone/test-zone"
KEY_NAME = "dataward.zone/test-zone"


def request(i: int, token: str | None = None) -> RequestReceived:
    return RequestReceived(
        client_id=f"client-{i % 3}",
        organization=f"org-{i % 3}",
        method="EligibilityService/Check",
        purpose="underwriting",
        consent_ref=f"cns_{i:024d}",
        person_token=token,
        request_id=f"{i:032x}",
    )


OpenLog = Callable[..., AuditLog]


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[OpenLog]:
    opened: list[AuditLog] = []

    def factory(**overrides: object) -> AuditLog:
        settings = AuditSettings(**overrides)  # type: ignore[arg-type]
        log = AuditLog.open(tmp_path / "state" / "audit.db", settings, KEY, ORIGIN, KEY_NAME)
        opened.append(log)
        return log

    yield factory
    for log in opened:
        log.close()


OpenRecorded = Callable[..., tuple[AuditLog, RecordingStore]]


@pytest.fixture
def open_recorded(tmp_path: Path) -> Iterator[OpenRecorded]:
    """Like ``open_log``, over a :class:`RecordingStore` that counts and can fail commits."""
    opened: list[AuditLog] = []

    def factory(**overrides: object) -> tuple[AuditLog, RecordingStore]:
        settings = AuditSettings(**overrides)  # type: ignore[arg-type]
        store = RecordingStore(SqliteAuditStore.open(tmp_path / "state" / "audit.db"))
        log = AuditLog(store, settings, KEY, ORIGIN, KEY_NAME)
        opened.append(log)
        return log, store

    yield factory
    for log in opened:
        log.close()
