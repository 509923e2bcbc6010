"""Face analysis in worker processes (issue 13): :class:`FaceWorkers` answers the same
:meth:`analyze` call as :class:`enclave.biometrics.LocalFaces`, in ``workers`` spawned
processes, each holding its own dlib models (loaded once, about a second).

**Why processes.** A selfie is a partner's bytes decoded by C++ codecs (libjpeg, libpng) and
read by dlib: a worker is the sandbox. Its address space is capped (``memory_mb``,
``RLIMIT_AS`` set in the child before it loads anything), so a decoder's runaway allocation
ends in that worker's refusal or death, never in the zone's; the workers are started with
``spawn`` (a fresh interpreter: never ``fork`` a process holding gRPC's threads and locks).
The house style is :class:`enclave.compute.CkksWorkers`'.

**Failures.** A worker that dies during a call (crash, SIGKILL, out of memory) is replaced
and the call raises :class:`FaceWorkerFailed` ``CRASHED``; a call past its ``timeout``
(waiting for a free worker included) kills and replaces the worker and raises ``TIMEOUT``; a
pool whose workers do not report ready within ``start_timeout`` raises ``START`` from the
constructor; calls after :meth:`close` raise ``CLOSED``. All are UNAVAILABLE, retry. A worker's
:class:`ImageInvalid` comes back as the same class, problem and public message. The parent
never unpickles what a worker sends: an answer is a small JSON header (whitelisted kinds,
retakes and problems) and, for a template, exactly 512 bytes of float32; requests are the
image's raw bytes.

``workers = 0`` analyses in the calling process (a :class:`LocalFaces`, the same limits and
gates), with no isolation: for tests and tools.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import time
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from enclave._workerpool import PipeWorker, WorkerPool
from enclave.biometrics._analyze import LocalFaces
from enclave.biometrics._image import inspect_image
from enclave.biometrics.errors import FaceWorkerFailed, ImageInvalid
from enclave.biometrics.interface import (
    TEMPLATE_DIM,
    ImageLimits,
    Probe,
    QualityGates,
    Retake,
    Template,
)

__all__ = ["DEFAULT_WORKER_MEMORY_MB", "FaceWorkers"]

#: The default cap of a worker's address space: the interpreter, numpy, OpenCV and the dlib
#: models take about 530 MB of it (measured: VmPeak of a worker after a selfie), a 40-megapixel
#: image's decoded copies some 400 MB more. But a worker started by `dataward serve` or `demo`
#: re-imports the command's main module (spawn) and with it every package of the zone: 2048
#: is too few there (the model load fails with bad_alloc), 3072 is what the CKKS workers have.
DEFAULT_WORKER_MEMORY_MB = 3072
_TEMPLATE_BYTES = TEMPLATE_DIM * 4
_MAX_HEADER = 16 * 1024
_MAX_MESSAGE = 500
_PROBLEMS = frozenset(
    {
        "EMPTY",
        "TOO_LARGE",
        "NOT_AN_IMAGE",
        "TOO_MANY_PIXELS",
        "TOO_MANY_SCANS",
        "TRUNCATED",
        "UNDECODABLE",
    }
)


# ---------------------------------------------------------------------------- the worker


def _serve(
    conn: multiprocessing.connection.Connection,
    limits: ImageLimits,
    gates: QualityGates,
    memory_bytes: int | None,
    max_request: int,
) -> None:
    """A worker's loop: load the models, report ready, then one image at a time until the
    pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    if memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    import cv2

    cv2.setNumThreads(1)  # one image at a time per worker: parallelism is by processes
    from enclave.biometrics._dlib import DlibBackend

    faces = LocalFaces(DlibBackend(), limits=limits, gates=gates)
    conn.send_bytes(json.dumps({"kind": "ready", "pid": os.getpid()}).encode())
    while True:
        try:
            data = conn.recv_bytes(max_request)
        except (EOFError, OSError):
            return
        header, payload = _answer(faces, data)
        conn.send_bytes(json.dumps(header).encode())
        if payload is not None:
            conn.send_bytes(payload)


def _answer(faces: LocalFaces, data: bytes) -> tuple[dict[str, Any], bytes | None]:
    try:
        probe = faces.analyze(data)
    except ImageInvalid as exc:
        return {"kind": "invalid", "problem": exc.problem, "message": str(exc)}, None
    except Exception:  # a bug or an exhausted address space: never a traceback to the parent
        return {"kind": "bug"}, None
    if probe.template is None:
        return {"kind": "retake", "retake": probe.retake.value}, None
    mirrored = probe.mirrored if probe.mirrored is not None else probe.template
    values = np.concatenate([probe.template.values, mirrored.values]).astype("<f4")
    return {"kind": "template"}, values.tobytes()


# ---------------------------------------------------------------------------- the parent


def _malformed() -> FaceWorkerFailed:
    return FaceWorkerFailed("CRASHED", "a face worker answered malformed; it was replaced")


def _crashed() -> FaceWorkerFailed:
    return FaceWorkerFailed("CRASHED", "a face worker process died during the call; replaced")


class _Worker(PipeWorker):
    """One worker process and the parent's end of its pipe; used by one call at a time."""

    def __init__(self, index: int, pool: FaceWorkers) -> None:
        self.index = index
        self._pool = pool
        self.ready = False
        self.process: BaseProcess | None = None
        self.conn: multiprocessing.connection.Connection | None = None
        self.start()

    def start(self) -> None:
        pool = self._pool
        parent, child = pool._mp.Pipe(duplex=True)
        process = pool._mp.Process(
            target=_serve,
            args=(child, pool.limits, pool.gates, pool._memory_bytes, pool.limits.max_bytes),
            name=f"dataward-faces-{self.index}",
            daemon=True,
        )
        process.start()
        child.close()  # the parent's copy: once the worker exits, the pipe reads EOF
        self.process, self.conn, self.ready = process, parent, False

    def _receive(self, deadline: float, limit: int, what: str) -> bytes:
        assert self.conn is not None
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0 or not self.conn.poll(remaining):
                raise FaceWorkerFailed("TIMEOUT", f"{what} did not finish in time")
            return self.conn.recv_bytes(limit)
        except (EOFError, OSError) as exc:
            raise _crashed() from exc

    def _header(self, deadline: float, what: str) -> dict[str, Any]:
        try:
            header = json.loads(self._receive(deadline, _MAX_HEADER, what))
        except ValueError as exc:
            raise _malformed() from exc
        if not isinstance(header, dict):
            raise _malformed()
        return header

    def wait_ready(self, deadline: float) -> None:
        if not self.ready:
            if self._header(deadline, "the face worker's start").get("kind") != "ready":
                raise FaceWorkerFailed("START", "a face worker process did not start")
            self.ready = True

    def call(self, data: bytes, deadline: float) -> Probe:
        assert self.conn is not None
        try:
            self.conn.send_bytes(data)
        except OSError as exc:
            raise _crashed() from exc
        header = self._header(deadline, "the face analysis")
        kind = header.get("kind")
        if kind == "template":
            # the template, then the mirrored face's (the presentation check's)
            payload = self._receive(deadline, 2 * _TEMPLATE_BYTES, "the face analysis")
            if len(payload) != 2 * _TEMPLATE_BYTES:
                raise _malformed()
            both = np.frombuffer(payload, dtype="<f4").astype(np.float32)
            first, second = both[:TEMPLATE_DIM].copy(), both[TEMPLATE_DIM:].copy()
            first.setflags(write=False)
            second.setflags(write=False)
            try:
                return Probe(template=Template(first), mirrored=Template(second))
            except ValueError as exc:  # not finite
                raise _malformed() from exc
        if kind == "retake":
            retake = header.get("retake")
            if not isinstance(retake, str) or retake not in Retake.__members__:
                raise _malformed()
            if Retake(retake) in (Retake.NONE, Retake.PRESENTATION_SUSPECTED, Retake.BORDERLINE):
                raise _malformed()  # only the gates' reasons come from an analysis
            return Probe(template=None, retake=Retake(retake))
        if kind == "invalid":
            problem, message = header.get("problem"), header.get("message")
            if problem not in _PROBLEMS or not isinstance(message, str):
                raise _malformed()
            # rebuilt by ImageInvalid's own constructor from the detail the worker's carried
            prefix = f"the image is refused ({problem}): "
            if not message.startswith(prefix):
                raise _malformed()
            raise ImageInvalid(problem, message[len(prefix) : _MAX_MESSAGE])
        if kind == "bug":
            raise FaceWorkerFailed("CRASHED", "a face worker failed on the image; it was replaced")
        raise _malformed()


class FaceWorkers(WorkerPool["_Worker"]):
    """``workers`` face worker processes (see the module docstring); a
    :class:`FaceAnalyzer`. Thread-safe; use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        workers: int = 1,
        *,
        limits: ImageLimits | None = None,
        gates: QualityGates | None = None,
        memory_mb: int | None = DEFAULT_WORKER_MEMORY_MB,
        timeout: float = 30.0,
        start_timeout: float = 60.0,
    ) -> None:
        if workers < 0:
            raise ValueError("workers must be 0 (in process) or more")
        if not timeout > 0:
            raise ValueError("timeout must be greater than 0")
        self.limits = limits or ImageLimits()
        self.gates = gates or QualityGates()
        self.timeout = timeout
        self._memory_bytes = None if memory_mb is None else memory_mb * 1024 * 1024
        self._mp = multiprocessing.get_context("spawn")
        super().__init__(
            what="face worker",
            failure=FaceWorkerFailed,
            busy=lambda detail: FaceWorkerFailed("TIMEOUT", detail),
        )
        self._local = LocalFaces(limits=self.limits, gates=self.gates) if workers == 0 else None
        self._start_workers(lambda index: _Worker(index, self), workers, start_timeout)

    def analyze(self, data: bytes, *, timeout: float | None = None) -> Probe:
        """See :meth:`FaceAnalyzer.analyze`; within ``timeout`` seconds (default: the
        pool's), waiting for a free worker included."""
        self._check_open()
        if self._local is not None:
            return self._local.analyze(data)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        # The header checks cost microseconds here and spare a worker the refusals (bytes over
        # max_bytes would not even fit the worker's read); the worker checks them again.
        inspect_image(data, self.limits)
        worker = self._acquire(deadline)
        failed = True
        try:
            worker.wait_ready(deadline)
            probe = worker.call(data, deadline)
            failed = False
            return probe
        except ImageInvalid:
            failed = False
            raise
        finally:
            self._release(worker, failed=failed)
