"""FaceWorkers: the same probes as in process, from spawned workers with their own dlib models;
a worker's ImageInvalid re-raised as itself; a killed worker, a call past its timeout and an
address-space cap exhausted by a decompression bomb each end in FaceWorkerFailed (or a
refusal) with the worker replaced and the pool answering again; a pool that cannot start,
and calls after close."""

from __future__ import annotations

import os
import signal
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from enclave.biometrics import (
    DEFAULT_WORKER_MEMORY_MB,
    DlibBackend,
    FaceWorkerFailed,
    FaceWorkers,
    ImageInvalid,
    ImageLimits,
    LocalFaces,
    Probe,
    Retake,
)
from tests.unit.enclave.biometrics.conftest import png_chunk

LIMITS = ImageLimits()


@pytest.fixture(scope="module")
def pool() -> Iterator[FaceWorkers]:
    with FaceWorkers(1, limits=LIMITS, timeout=30.0) as workers:
        yield workers


@pytest.fixture(scope="module")
def local(backend: DlibBackend) -> LocalFaces:
    return LocalFaces(backend, limits=LIMITS)


def _wait_replaced(pool: FaceWorkers, old: int | None) -> None:
    deadline = time.monotonic() + 10
    while pool.pids()[0] in (old, None) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.pids()[0] not in (old, None)


def test_workers_give_the_same_probes_as_in_process(
    pool: FaceWorkers, local: LocalFaces, face_bytes: Callable[[str], bytes]
) -> None:
    for name in ("lfw/Zico_0002.jpg", "obama.jpg"):
        remote, here = pool.analyze(face_bytes(name)), local.analyze(face_bytes(name))
        assert remote.template is not None and here.template is not None
        assert np.array_equal(remote.template.values, here.template.values)
        assert not remote.template.values.flags.writeable
    retake = pool.analyze(face_bytes("two_people.jpg"))
    assert retake.template is None and retake.retake is Retake.MULTIPLE_FACES


def test_each_worker_runs_under_the_address_space_cap(pool: FaceWorkers) -> None:
    limits = Path(f"/proc/{pool.pids()[0]}/limits").read_text()
    line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
    assert line.split()[3:5] == [str(DEFAULT_WORKER_MEMORY_MB * 1024 * 1024)] * 2
    assert os.getpid() not in pool.pids()


def test_a_workers_refusal_is_image_invalid_as_in_process(
    pool: FaceWorkers, local: LocalFaces, face_bytes: Callable[[str], bytes]
) -> None:
    header = b"\x00\x00\x00\x40\x00\x00\x00\x40\x08\x02\x00\x00\x00"
    garbage = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", b"not zlib")
        + png_chunk(b"IEND", b"")
    )
    pid = pool.pids()[0]
    too_large = face_bytes("lfw/Zico_0002.jpg") + b"\x00" * LIMITS.max_bytes
    for data in (b"", b"not an image", face_bytes("obama.jpg")[:4000], too_large, garbage):
        with pytest.raises(ImageInvalid) as remote:
            pool.analyze(data)
        with pytest.raises(ImageInvalid) as here:
            local.analyze(data)
        assert remote.value.problem == here.value.problem
        assert remote.value.public_message == here.value.public_message
    assert pool.pids()[0] == pid  # a refusal is no failure: the worker stays


def test_a_killed_worker_is_crashed_and_replaced(
    pool: FaceWorkers, face_bytes: Callable[[str], bytes]
) -> None:
    pid = pool.pids()[0]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(FaceWorkerFailed) as info:
        pool.analyze(face_bytes("lfw/Zico_0002.jpg"))
    assert info.value.problem == "CRASHED" and info.value.reason == "UNAVAILABLE"
    _wait_replaced(pool, pid)
    assert pool.analyze(face_bytes("lfw/Zico_0002.jpg")).template is not None


def test_a_call_past_its_timeout_kills_and_replaces_the_worker(
    pool: FaceWorkers, face_bytes: Callable[[str], bytes]
) -> None:
    assert pool.analyze(face_bytes("lfw/Zico_0003.jpg")).template is not None  # ready
    pid = pool.pids()[0]
    with pytest.raises(FaceWorkerFailed) as info:
        pool.analyze(face_bytes("obama.jpg"), timeout=0.01)
    assert info.value.problem == "TIMEOUT"
    _wait_replaced(pool, pid)
    assert pool.analyze(face_bytes("obama.jpg")).template is not None


def test_calls_from_threads_queue_for_the_worker(
    pool: FaceWorkers, face_bytes: Callable[[str], bytes]
) -> None:
    data = face_bytes("lfw/William_Macy_0003.jpg")
    probes: list[Probe] = []
    threads = [threading.Thread(target=lambda: probes.append(pool.analyze(data))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(probes) == 3 and all(p.template is not None for p in probes)


def test_the_address_space_cap_contains_a_bomb_within_the_pixel_limit(
    local: LocalFaces, face_bytes: Callable[[str], bytes]
) -> None:
    # 36 megapixels of zeros: under max_pixels, a few hundred kB, over 200 MB once decoded
    width = height = 6000
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width * 3 + 1)
    stream = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", stream)
        + png_chunk(b"IEND", b"")
    )
    assert local.analyze(bomb).retake is Retake.NO_FACE  # uncapped, it decodes (all black)
    with FaceWorkers(1, limits=LIMITS, memory_mb=640, timeout=30.0) as capped:
        with pytest.raises((ImageInvalid, FaceWorkerFailed)) as info:
            capped.analyze(bomb)
        # the decoder's allocation fails under the cap (a refusal), or the worker dies
        assert isinstance(info.value, ImageInvalid | FaceWorkerFailed)
        assert info.value.problem in ("UNDECODABLE", "CRASHED")
        assert capped.analyze(face_bytes("lfw/Zico_0002.jpg")).template is not None


def test_a_pool_that_cannot_start_raises_start() -> None:
    with pytest.raises(FaceWorkerFailed) as info:
        FaceWorkers(1, memory_mb=32, start_timeout=30.0)  # too small to import numpy
    assert info.value.problem == "START"


def test_calls_after_close_are_refused(face_bytes: Callable[[str], bytes]) -> None:
    for workers in (FaceWorkers(0), FaceWorkers(1)):
        with workers:
            assert workers.analyze(face_bytes("lfw/Zico_0002.jpg")).template is not None
        with pytest.raises(FaceWorkerFailed) as info:
            workers.analyze(face_bytes("lfw/Zico_0002.jpg"))
        assert info.value.problem == "CLOSED"
        assert all(pid is None for pid in workers.pids())
