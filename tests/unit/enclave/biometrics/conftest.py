"""Shared fixtures of the face tests: the face photos in tests/fixtures/faces/ (see its
README for their provenance), one real dlib backend for the whole session (loading the models
takes about a second), and the byte-level helpers that make bad and unusual images."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from enclave.biometrics import DlibBackend

FACES = Path(__file__).resolve().parents[3] / "fixtures" / "faces"


@pytest.fixture(scope="session")
def backend() -> DlibBackend:
    return DlibBackend()


@pytest.fixture(scope="session")
def face_bytes() -> Callable[[str], bytes]:
    """A fixture photo's bytes by file name (``obama.jpg``, ``lfw/<name>.jpg``)."""

    def read(name: str) -> bytes:
        return (FACES / name).read_bytes()

    return read


def encode(rgb: npt.NDArray[Any], ext: str = ".jpg", *params: int) -> bytes:
    """RGB pixels encoded by OpenCV (``.jpg`` or ``.png``)."""
    bgr = rgb[..., ::-1] if rgb.ndim == 3 and rgb.shape[2] == 3 else rgb
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(bgr), list(params))
    assert ok
    return buf.tobytes()


def pixels(data: bytes) -> npt.NDArray[np.uint8]:
    """The RGB pixels of image bytes, as OpenCV decodes them (EXIF orientation applied)."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None
    return np.ascontiguousarray(bgr[..., ::-1])


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """``jpeg`` with an APP1 Exif segment holding only the Orientation tag (0x0112) inserted
    after SOI (a big-endian TIFF header and one IFD entry, as cameras write it)."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + b"\x00" * 4
    body = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", 2 + len(body)) + body + jpeg[2:]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid grey PNG of ``width`` x ``height`` zero pixels: 400 MB of pixels in a few
    hundred kB (the zlib stream of zero rows, compressed once and repeated)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    stream = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", stream)
        + png_chunk(b"IEND", b"")
    )
