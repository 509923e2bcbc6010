"""CKKS batch scoring in worker processes (issue 12: "One TenSEAL context per worker process;
parallelism by processes"). :class:`CkksWorkers` answers the same :meth:`score` call as
:class:`enclave.compute.LocalCkks`.

**Processes.** ``processes`` workers are started with the ``spawn`` method (a fresh
interpreter: never ``fork`` a process that holds gRPC's threads and locks) when the pool is
built; a worker that does not report ready within ``start_timeout`` is a
:class:`CkksWorkerFailed` (``START``) from the constructor. Each worker keeps the last
``cached_models`` models it has scored (least recently used dropped first), keyed by the
model's card digest: the partner's context and weight ciphertexts, validated there with
:func:`load_public_context` and :func:`load_ciphertext`, and scores with
:class:`CkksBatchScorer`. The pool mirrors each worker's cache (every answer carries the
worker's list of model keys), so a model's bytes -- up to 40 MB of context -- cross to a
worker only when that worker lacks the model; a call goes to a free worker holding its model
if there is one.

**Failures.** A worker is a sandbox for the partner's bytes: its address space is capped
(``memory_limit``, ``RLIMIT_AS`` set in the child before it reads a request), so a
decompression bomb in a context or ciphertext ends in a refusal or in that worker's death,
never in the zone's. A worker that dies during a call (crash, SIGKILL, out of memory) is
replaced and the call raises :class:`CkksWorkerFailed` (``CRASHED``, UNAVAILABLE, retry); a
call past its ``timeout`` (waiting for a free worker included) kills and replaces the worker
and raises :class:`CkksWorkerTimeout` (DEADLINE_EXCEEDED). The core's refusals come back as
the same classes with the same ``problem`` codes and public messages. The parent never
unpickles what a worker sends: answers are a small JSON header (whitelisted kinds, checked
types) and raw bytes, of bounded size, so a worker taken over by crafted bytes cannot run
code in the zone's main process.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np
import numpy.typing as npt

from enclave._workerpool import PipeWorker, WorkerPool
from enclave.compute._ckks import (
    CkksBatchScorer,
    CkksCiphertext,
    CkksContext,
    CkksLimits,
    FeatureBound,
    load_ciphertext,
    load_public_context,
)
from enclave.compute._facematch import FACE_MATCH_LIMITS, match_face
from enclave.compute.ckks_errors import (
    CiphertextInvalid,
    CkksBatchTooLarge,
    CkksError,
    CkksWorkerFailed,
    CkksWorkerTimeout,
    ContextInvalid,
    FeaturesInvalid,
)

__all__ = ["DEFAULT_WORKER_MEMORY", "CkksWorkers"]

#: The default cap of a worker's address space: the interpreter, numpy and TenSEAL take a few
#: hundred MB of it, each cached model (a 40 MB context at most, parsed) some more.
DEFAULT_WORKER_MEMORY = 3 * 1024**3
# An answer is a JSON header of a few hundred bytes and one ciphertext (~0.3 MB at N=8192).
_MAX_HEADER = 64 * 1024
_MAX_RESULT = 16 * 1024 * 1024
_MAX_MESSAGE = 2000

# The core's errors a worker may report, most specific first, with the attributes they carry
# (name -> allowed types). Anything else a worker raises is a bug: a plain CkksError.
_ERRORS: dict[str, tuple[type[CkksError], dict[str, tuple[type, ...]]]] = {
    "ContextInvalid": (ContextInvalid, {"problem": (str,)}),
    "CiphertextInvalid": (CiphertextInvalid, {"problem": (str,)}),
    "CkksBatchTooLarge": (CkksBatchTooLarge, {"persons": (int,), "slots": (int,)}),
    "FeaturesInvalid": (FeaturesInvalid, {"problem": (str,), "feature": (str, type(None))}),
    "CkksError": (CkksError, {}),
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Request:
    """One call, parent to worker (the parent is trusted: pickled). ``context`` and
    ``weights`` are None when the worker already holds the model."""

    model_key: bytes
    context: bytes | None
    weights: tuple[bytes, ...] | None
    bounds: tuple[tuple[str, int, int], ...]
    features: npt.NDArray[Any]
    consented: npt.NDArray[Any]


@dataclasses.dataclass(frozen=True, slots=True)
class _MatchRequest:
    """One encrypted face match (issue 13), parent to worker: the partner's context and
    query bytes (validated in the worker, never cached: each match brings its own), the
    person's template and the threshold. The blinding is drawn in the worker."""

    context: bytes
    query: bytes
    template: npt.NDArray[np.float64]
    tau: float


# ---------------------------------------------------------------------------- the worker


def _serve(
    conn: multiprocessing.connection.Connection,
    limits: CkksLimits,
    cached_models: int,
    memory_limit: int | None,
) -> None:
    """A worker's loop: one request at a time until the pipe closes (or None arrives)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    if memory_limit is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    models: collections.OrderedDict[bytes, tuple[CkksContext, tuple[CkksCiphertext, ...]]] = (
        collections.OrderedDict()
    )
    conn.send_bytes(json.dumps({"kind": "ready", "pid": os.getpid()}).encode())
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if isinstance(request, _MatchRequest):
            header, payload = _answer_match(request)
        elif isinstance(request, _Request):
            header, payload = _answer(models, request, limits, cached_models)
        else:
            return
        header["models"] = [key.hex() for key in models]
        conn.send_bytes(json.dumps(header).encode())
        if payload is not None:
            conn.send_bytes(payload)


def _answer(
    models: collections.OrderedDict[bytes, tuple[CkksContext, tuple[CkksCiphertext, ...]]],
    request: _Request,
    limits: CkksLimits,
    cached_models: int,
) -> tuple[dict[str, Any], bytes | None]:
    try:
        loaded = models.get(request.model_key)
        if loaded is not None:
            models.move_to_end(request.model_key)
        elif request.context is None or request.weights is None:
            return {"kind": "missing"}, None
        else:
            context = load_public_context(request.context, limits)
            weights = tuple(load_ciphertext(context, w, limits) for w in request.weights)
            loaded = models[request.model_key] = (context, weights)
            while len(models) > cached_models:
                models.popitem(last=False)
        bounds = [FeatureBound(name, low, high) for name, low, high in request.bounds]
        result = CkksBatchScorer(bounds).score(
            loaded[0], loaded[1], request.features, request.consented
        )
        return {"kind": "ok"}, result
    except CkksError as exc:
        return _error_header(exc), None
    except Exception:  # a bug or an exhausted address space: never a traceback to the parent
        return {"kind": "bug"}, None


def _answer_match(request: _MatchRequest) -> tuple[dict[str, Any], bytes | None]:
    try:
        result = match_face(
            context=request.context,
            query=request.query,
            template=request.template,
            tau=request.tau,
            limits=FACE_MATCH_LIMITS,
        )
        return {"kind": "ok"}, result
    except CkksError as exc:
        return _error_header(exc), None
    except Exception:  # a bug or an exhausted address space: never a traceback to the parent
        return {"kind": "bug"}, None


def _error_header(exc: CkksError) -> dict[str, Any]:
    kind = next(name for name, (cls, _) in _ERRORS.items() if isinstance(exc, cls))
    fields = {name: getattr(exc, name, None) for name in _ERRORS[kind][1]}
    return {"kind": "error", "error": kind, "message": str(exc), "fields": fields}


# ---------------------------------------------------------------------------- the parent


def _error_from(header: dict[str, Any]) -> CkksError:
    """The core's error a worker reported, rebuilt as the same class, problem and message."""
    error = header.get("error")
    entry = _ERRORS.get(error) if isinstance(error, str) else None
    message, fields = header.get("message"), header.get("fields")
    if entry is None or not isinstance(message, str) or not isinstance(fields, dict):
        return CkksError("a CKKS worker answered malformed")
    cls, expected = entry
    if set(fields) != set(expected) or not all(
        isinstance(fields[name], types) and not isinstance(fields[name], bool)
        for name, types in expected.items()
    ):
        return CkksError("a CKKS worker answered malformed")
    # The class's own constructor formats its message from the detail; the worker already did,
    # so the instance is made without it and given the worker's public message as it was.
    exc = cls.__new__(cls)
    CkksError.__init__(exc, message[:_MAX_MESSAGE])
    for name, value in fields.items():
        setattr(exc, name, value)
    return exc


class _Worker(PipeWorker):
    """One worker process and the parent's end of its pipe; used by one call at a time."""

    def __init__(self, index: int, pool: CkksWorkers) -> None:
        self.index = index
        self._pool = pool
        self.models: tuple[bytes, ...] = ()
        self.ready = False
        self.process: BaseProcess | None = None
        self.conn: multiprocessing.connection.Connection | None = None
        self.start()

    def start(self) -> None:
        parent, child = self._pool._mp.Pipe(duplex=True)
        process = self._pool._mp.Process(
            target=_serve,
            args=(child, self._pool._limits, self._pool._cached_models, self._pool._memory),
            name=f"dataward-ckks-{self.index}",
            daemon=True,
        )
        process.start()
        child.close()  # the parent's copy: once the worker exits, the pipe reads EOF
        self.process, self.conn = process, parent
        self.models, self.ready = (), False

    def _goodbye(self, conn: multiprocessing.connection.Connection) -> None:
        conn.send(None)  # the worker's loop ends on None

    def wait_ready(self, deadline: float) -> None:
        if self.ready:
            return
        header = self._receive_header(deadline)
        if header.get("kind") != "ready":
            raise CkksWorkerFailed("START", "a CKKS worker process did not start")
        self.ready = True

    def _receive(self, deadline: float, limit: int) -> bytes:
        assert self.conn is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self.conn.poll(remaining):
            raise CkksWorkerTimeout("TIMEOUT", "the CKKS batch did not finish in time")
        try:
            return self.conn.recv_bytes(limit)
        except (EOFError, OSError) as exc:
            raise CkksWorkerFailed(
                "CRASHED", "a CKKS worker process died during the call; it was replaced"
            ) from exc

    def _receive_header(self, deadline: float) -> dict[str, Any]:
        try:
            header = json.loads(self._receive(deadline, _MAX_HEADER))
        except ValueError as exc:
            raise CkksWorkerFailed("CRASHED", "a CKKS worker answered malformed") from exc
        if not isinstance(header, dict):
            raise CkksWorkerFailed("CRASHED", "a CKKS worker answered malformed")
        return header

    def call(
        self, request: _Request | _MatchRequest, deadline: float
    ) -> tuple[dict[str, Any], bytes | None]:
        assert self.conn is not None
        try:
            self.conn.send(request)
        except OSError as exc:
            raise CkksWorkerFailed(
                "CRASHED", "a CKKS worker process died during the call; it was replaced"
            ) from exc
        header = self._receive_header(deadline)
        models = header.get("models")
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise CkksWorkerFailed("CRASHED", "a CKKS worker answered malformed")
        try:
            self.models = tuple(bytes.fromhex(m) for m in models)
        except ValueError as exc:
            raise CkksWorkerFailed("CRASHED", "a CKKS worker answered malformed") from exc
        payload = self._receive(deadline, _MAX_RESULT) if header.get("kind") == "ok" else None
        return header, payload


class CkksWorkers(WorkerPool["_Worker"]):
    """``processes`` CKKS worker processes (see the module docstring). Thread-safe; use as a
    context manager or call :meth:`close`."""

    def __init__(
        self,
        processes: int = 2,
        *,
        limits: CkksLimits | None = None,
        cached_models: int = 4,
        memory_limit: int | None = DEFAULT_WORKER_MEMORY,
        start_timeout: float = 60.0,
    ) -> None:
        if processes < 1:
            raise ValueError("run at least one worker process")
        if cached_models < 1:
            raise ValueError("keep at least one model")
        self._mp = multiprocessing.get_context("spawn")
        self._limits = limits or CkksLimits()
        self._cached_models, self._memory = cached_models, memory_limit
        super().__init__(
            what="CKKS worker",
            failure=CkksWorkerFailed,
            busy=lambda detail: CkksWorkerTimeout("BUSY", detail),
        )
        self._start_workers(lambda index: _Worker(index, self), processes, start_timeout)

    def score(
        self,
        model_key: bytes,
        *,
        context: bytes,
        weights: Sequence[bytes],
        bounds: Sequence[FeatureBound],
        features: npt.ArrayLike,
        consented: npt.ArrayLike,
        timeout: float,
    ) -> bytes:
        """The serialized result ciphertext (see :meth:`CkksBatchScorer.score`), computed by a
        worker within ``timeout`` seconds. Raises what the core raises (the same classes,
        problems and messages), :class:`CkksWorkerFailed` or :class:`CkksWorkerTimeout`."""
        deadline = time.monotonic() + timeout
        plain_bounds = tuple((b.name, b.low, b.high) for b in bounds)
        matrix, mask = np.asarray(features), np.asarray(consented)
        worker = self._acquire(deadline, prefer=lambda w: model_key in w.models)
        failed = True
        try:
            worker.wait_ready(deadline)
            for send_bytes in (model_key not in worker.models, True):
                request = _Request(
                    model_key,
                    context if send_bytes else None,
                    tuple(weights) if send_bytes else None,
                    plain_bounds,
                    matrix,
                    mask,
                )
                header, payload = worker.call(request, deadline)
                if header.get("kind") != "missing":
                    break
            failed = header.get("kind") not in ("ok", "error")  # a bug: recycle the worker
        finally:
            self._release(worker, failed=failed)
        kind = header.get("kind")
        if kind == "ok" and payload is not None:
            return payload
        if kind == "error":
            raise _error_from(header)
        raise CkksError("the CKKS evaluation failed in a worker")

    def match(
        self,
        *,
        context: bytes,
        query: bytes,
        template: npt.NDArray[np.float64],
        tau: float,
        timeout: float,
    ) -> bytes:
        """The encrypted face match's serialized answer (:func:`enclave.compute._facematch.
        face_match`, a fresh blinding drawn in the worker), within ``timeout`` seconds: the
        partner's context and query are parsed in a worker, never in the zone's process.
        Raises :class:`ContextInvalid`, :class:`CiphertextInvalid`, :class:`CkksError`,
        :class:`CkksWorkerFailed` or :class:`CkksWorkerTimeout`."""
        deadline = time.monotonic() + timeout
        request = _MatchRequest(
            bytes(context), bytes(query), np.asarray(template, dtype=np.float64), float(tau)
        )
        worker = self._acquire(deadline)
        failed = True
        try:
            worker.wait_ready(deadline)
            header, payload = worker.call(request, deadline)
            failed = header.get("kind") not in ("ok", "error")
        finally:
            self._release(worker, failed=failed)
        kind = header.get("kind")
        if kind == "ok" and payload is not None:
            return payload
        if kind == "error":
            raise _error_from(header)
        raise CkksError("the CKKS evaluation failed in a worker")
