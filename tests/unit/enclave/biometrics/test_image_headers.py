"""inspect_image walks the header in the serving process, holding the GIL, before consent
and before an attempt is counted (issue 13 review): 6 MB of empty JPEG marker segments took
1.2 s, 6 MB of 0xFF fill bytes 0.7 s and 6 MB of empty PNG chunks 0.2 s of that process for
any partner with the scope. The walk is bounded now: fill bytes skipped by one search, at
most MAX_JPEG_SEGMENTS markers before the scan and MAX_PNG_CHUNKS chunks."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from enclave.biometrics import ImageInvalid, ImageLimits, inspect_image
from enclave.biometrics._image import MAX_JPEG_SEGMENTS, MAX_PNG_CHUNKS
from tests.unit.enclave.biometrics.conftest import encode, pixels, png_chunk

LIMITS = ImageLimits()


def _timed_problem(data: bytes) -> str:
    started = time.monotonic()
    with pytest.raises(ImageInvalid) as info:
        inspect_image(data, LIMITS)
    assert time.monotonic() - started < 0.1
    return info.value.problem


def test_many_jpeg_segments_or_markers_are_refused_quickly(
    face_bytes: Callable[[str], bytes],
) -> None:
    jpeg = face_bytes("obama_small.jpg")
    room = LIMITS.max_bytes - len(jpeg)
    empty_app = b"\xff\xe0\x00\x02"
    assert _timed_problem(jpeg[:2] + empty_app * (room // 4) + jpeg[2:]) == "NOT_AN_IMAGE"
    restarts = b"\xff\xd0"  # markers without a segment
    assert _timed_problem(jpeg[:2] + restarts * (room // 2) + jpeg[2:]) == "NOT_AN_IMAGE"
    # up to the limit they are read, as encoders with many APPn segments write them
    fine = jpeg[:2] + empty_app * (MAX_JPEG_SEGMENTS - 20) + jpeg[2:]
    assert inspect_image(fine, LIMITS) == "JPEG"


def test_fill_bytes_are_skipped_in_one_search(face_bytes: Callable[[str], bytes]) -> None:
    jpeg = face_bytes("obama_small.jpg")
    padded = jpeg[:2] + b"\xff" * (LIMITS.max_bytes - len(jpeg)) + jpeg[2:]
    started = time.monotonic()
    assert inspect_image(padded, LIMITS) == "JPEG"  # legal padding (ITU T.81 B.1.1.2)
    assert time.monotonic() - started < 0.1
    assert _timed_problem(jpeg[:2] + b"\xff" * 1000) == "TRUNCATED"


def test_many_png_chunks_are_refused_quickly(face_bytes: Callable[[str], bytes]) -> None:
    png = encode(pixels(face_bytes("obama_small.jpg")), ".png")
    empty = png_chunk(b"abCd", b"")
    flood = png[:33] + empty * ((LIMITS.max_bytes - len(png)) // len(empty)) + png[33:]
    assert _timed_problem(flood) == "NOT_AN_IMAGE"
    fine = png[:33] + empty * (MAX_PNG_CHUNKS - 100) + png[33:]
    assert inspect_image(fine, LIMITS) == "PNG"
