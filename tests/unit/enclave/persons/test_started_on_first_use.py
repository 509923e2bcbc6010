"""StartedOnFirstUse: the CKKS worker processes start on the first batch, not with the zone;
a failed start is retried on the next batch; closed is closed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from enclave.compute import CkksWorkerFailed, FeatureBound
from enclave.persons import StartedOnFirstUse


class _Backend:
    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

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
        self.calls += 1
        return model_key + context

    def match(
        self,
        *,
        context: bytes,
        query: bytes,
        template: npt.NDArray[np.float64],
        tau: float,
        timeout: float,
    ) -> bytes:
        self.calls += 1
        return context + query

    def close(self) -> None:
        self.closed = True


def _score(backend: StartedOnFirstUse) -> bytes:
    return backend.score(
        b"m", context=b"c", weights=(), bounds=(), features=[], consented=[], timeout=1.0
    )


def test_the_backend_is_made_on_the_first_batch_only_and_closed_with_it() -> None:
    made: list[_Backend] = []

    def factory() -> _Backend:
        made.append(_Backend())
        return made[-1]

    lazy = StartedOnFirstUse(factory)
    assert made == []  # nothing started with the zone
    assert _score(lazy) == b"mc" and _score(lazy) == b"mc"
    assert len(made) == 1 and made[0].calls == 2
    lazy.close()
    assert made[0].closed
    with pytest.raises(CkksWorkerFailed) as closed:
        _score(lazy)
    assert closed.value.problem == "CLOSED"


def test_a_failed_start_is_tried_again_on_the_next_batch() -> None:
    attempts: list[int] = []

    def factory() -> _Backend:
        attempts.append(1)
        if len(attempts) == 1:
            raise CkksWorkerFailed("START", "no worker came up")
        return _Backend()

    lazy = StartedOnFirstUse(factory)
    with pytest.raises(CkksWorkerFailed):
        _score(lazy)
    assert _score(lazy) == b"mc"
    assert len(attempts) == 2
    lazy.close()
