"""The zone's face checking, built from the ``[faces]`` settings (issue 13): the face workers
(started on the first selfie, closed at shutdown), the enrolled ID-card templates of the live
dataset version, the durable attempt limits and the thresholds in force."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from enclave.biometrics import (
    FACE_ATTEMPTS_DB,
    FaceAnalyzer,
    FaceAttempts,
    FaceWorkerFailed,
    FaceWorkers,
    Probe,
)
from enclave.dataset import FaceTemplates, Zone
from enclave.keys import Keyring
from enclave.persons import EncryptedFaceMatcher, FaceChecking
from launcher.settings import FaceSettings

__all__ = ["AnalyzerOnFirstUse", "ZoneFaces", "open_faces"]


class _ClosableAnalyzer(FaceAnalyzer, Protocol):
    def close(self) -> None: ...


class AnalyzerOnFirstUse:
    """A :class:`enclave.biometrics.FaceAnalyzer` made by ``factory`` on the first selfie
    (the face workers cost seconds and memory to start, and each loads the dlib models): a
    zone that is never sent a selfie never starts them. A factory that fails is tried again
    on the next selfie; after :meth:`close` every call is ``FaceWorkerFailed`` CLOSED.
    Thread-safe."""

    def __init__(self, factory: Callable[[], _ClosableAnalyzer]) -> None:
        self._factory = factory
        self._analyzer: _ClosableAnalyzer | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def started(self) -> bool:
        return self._analyzer is not None

    def _started(self) -> _ClosableAnalyzer:
        with self._lock:
            if self._closed:
                raise FaceWorkerFailed("CLOSED", "the face workers are closed")
            if self._analyzer is None:
                self._analyzer = self._factory()
            return self._analyzer

    def analyze(self, data: bytes) -> Probe:
        return self._started().analyze(data)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            analyzer, self._analyzer = self._analyzer, None
        if analyzer is not None:
            analyzer.close()


@dataclass
class ZoneFaces:
    """What the zone serves face checks with, and what it closes at shutdown."""

    checking: FaceChecking
    analyzer: AnalyzerOnFirstUse
    attempts: FaceAttempts

    def close(self) -> None:
        try:
            self.analyzer.close()
        finally:
            self.attempts.close()


def open_faces(
    faces: FaceSettings,
    zone_dir: Path,
    zone: Zone,
    keyring: Keyring,
    *,
    synchronous: str = "FULL",
    matcher: EncryptedFaceMatcher | None = None,
) -> ZoneFaces:
    """The face checking of the zone at ``zone_dir``: ``faces.workers`` face workers (0: in
    the serving process) made on the first selfie, the sealed templates of ``zone``'s
    dataset version opened with ``keyring``, the attempts in ``ZONE/state/face_attempts.db``
    (``synchronous`` as the zone's other state databases), the thresholds and image limits
    of the settings; ``matcher`` serves the encrypted face match when given."""
    limits, gates = faces.limits(), faces.gates()
    analyzer = AnalyzerOnFirstUse(
        lambda: FaceWorkers(
            faces.workers,
            limits=limits,
            gates=gates,
            memory_mb=faces.worker_memory_mb,
            timeout=faces.timeout_seconds,
        )
    )
    attempts = FaceAttempts(
        zone_dir / FACE_ATTEMPTS_DB,
        per_day=faces.attempts_per_day,
        per_month=faces.attempts_per_month,
        partner_per_minute=faces.partner_attempts_per_minute,
        synchronous=synchronous,
    )
    checking = FaceChecking(
        analyzer=analyzer,
        templates=FaceTemplates(zone, keyring),
        attempts=attempts,
        thresholds=faces.thresholds(),
        matcher=matcher,
        timeout=faces.timeout_seconds,
        limits=limits,
    )
    return ZoneFaces(checking, analyzer, attempts)
