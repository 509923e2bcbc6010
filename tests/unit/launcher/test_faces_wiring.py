"""The served zone's face analyzer is made on the first selfie (issue 13): a zone never sent
one starts no face workers; a factory that fails is tried again; closed means CLOSED."""

from __future__ import annotations

from pathlib import Path

import pytest

from enclave.biometrics import FaceWorkerFailed, FaceWorkers, Retake
from launcher._faces import AnalyzerOnFirstUse

FACES = Path(__file__).parents[2] / "fixtures" / "faces"


def test_started_on_first_use_retried_after_a_failure_and_closed() -> None:
    made: list[FaceWorkers] = []
    failures = [FaceWorkerFailed("START", "not ready")]

    def factory() -> FaceWorkers:
        if failures:
            raise failures.pop()
        made.append(FaceWorkers(0))
        return made[-1]

    analyzer = AnalyzerOnFirstUse(factory)
    assert not analyzer.started
    with pytest.raises(FaceWorkerFailed):
        analyzer.analyze((FACES / "two_people.jpg").read_bytes())
    probe = analyzer.analyze((FACES / "two_people.jpg").read_bytes())
    assert probe.retake is Retake.MULTIPLE_FACES
    assert analyzer.started and len(made) == 1
    analyzer.close()
    assert not analyzer.started
    with pytest.raises(FaceWorkerFailed) as closed:
        analyzer.analyze(b"")
    assert closed.value.problem == "CLOSED"
