"""The CKKS backend in the calling process: :class:`LocalCkks` validates a model's context and
weight ciphertexts once (kept for the last few models, by card digest) and scores batches with
:class:`CkksBatchScorer` under the context's lock. The worker-process pool
(:class:`enclave.compute.CkksWorkers`) answers the same :meth:`score` call; this one serves
tests and a zone configured with no workers."""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

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

__all__ = ["LocalCkks"]


class LocalCkks:
    """Scores in this process; ``cached_models`` loaded models are kept (least recently used
    dropped first). Thread-safe."""

    def __init__(self, *, limits: CkksLimits | None = None, cached_models: int = 4) -> None:
        if cached_models < 1:
            raise ValueError("keep at least one model")
        self._limits = limits or CkksLimits()
        self._face_limits = FACE_MATCH_LIMITS
        self._size = cached_models
        self._models: collections.OrderedDict[
            bytes, tuple[CkksContext, tuple[CkksCiphertext, ...]]
        ] = collections.OrderedDict()
        self._lock = threading.Lock()

    def _loaded(
        self, model_key: bytes, context: bytes, weights: Sequence[bytes]
    ) -> tuple[CkksContext, tuple[CkksCiphertext, ...]]:
        with self._lock:
            if model_key in self._models:
                self._models.move_to_end(model_key)
                return self._models[model_key]
        loaded = load_public_context(context, self._limits)
        ciphertexts = tuple(load_ciphertext(loaded, w, self._limits) for w in weights)
        with self._lock:
            self._models[model_key] = (loaded, ciphertexts)
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        return loaded, ciphertexts

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
        """The serialized result ciphertext (see :meth:`CkksBatchScorer.score`); ``timeout`` is
        not enforced in-process (the worker pool enforces it)."""
        loaded, ciphertexts = self._loaded(model_key, context, weights)
        return CkksBatchScorer(bounds).score(loaded, ciphertexts, features, consented)

    def match(
        self,
        *,
        context: bytes,
        query: bytes,
        template: npt.NDArray[np.float64],
        tau: float,
        timeout: float,
    ) -> bytes:
        """The encrypted face match's serialized answer (see :meth:`CkksWorkers.match`), in
        this process; ``timeout`` is not enforced here."""
        return match_face(
            context=context, query=query, template=template, tau=tau, limits=self._face_limits
        )

    def close(self) -> None:
        with self._lock:
            self._models.clear()
