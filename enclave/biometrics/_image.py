"""Image bytes to pixels, within limits (issue 13).

:func:`inspect_image` reads only the bytes and the header -- the magic number, PNG's IHDR and
chunk chain, JPEG's marker segments -- so a refusal costs microseconds and a decompression
bomb (a 20000 x 20000 PNG of a few kB) is refused before any pixel is allocated. The serving
process calls it before an attempt is counted. :func:`decode_image` then decodes with OpenCV:
``cv2.imdecode`` with ``IMREAD_COLOR`` applies the EXIF orientation (OpenCV >= 3.1; checked
on 4.14 by tests/unit/enclave/biometrics/test_image.py with an orientation-6 JPEG) and turns
grey, 16-bit and alpha PNGs into 8-bit 3-channel pixels; the result is scaled down so that its
longer side is at most ``limits.max_side``. A JPEG's quality factor is estimated from its
quantisation tables (the IJG scaling that nearly every encoder uses).
"""

from __future__ import annotations

import re
import struct

import cv2
import numpy as np
import numpy.typing as npt

from enclave.biometrics.errors import ImageInvalid
from enclave.biometrics.interface import DecodedImage, ImageLimits

__all__ = [
    "MAX_JPEG_SCANS",
    "MAX_JPEG_SEGMENTS",
    "MAX_PNG_CHUNKS",
    "decode_image",
    "inspect_image",
    "jpeg_quality",
]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
# Start-of-frame markers carrying the dimensions: C0..CF except DHT (C4), JPG (C8), DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0..7, SOI, EOI.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})
#: The most scans a JPEG may have. libjpeg decodes every scan of a progressive JPEG over the
#: whole image, so its cost is scans x pixels: a 400 kB file of 5,700 empty AC scans
#: over 6000 x 6000 pixels kept a worker decoding for 30 s (5.4 ms a scan, measured), 6 MB
#: of them for some nine minutes. Encoders write 1 (baseline) to about 12 (libjpeg's and
#: mozjpeg's progressive scripts) scans; 100 bounds the decoding at ~0.6 s at the pixel limit.
MAX_JPEG_SCANS = 100
#: The most marker segments a JPEG may have before its first scan, and chunks a PNG may have.
#: The header is read in the serving process, holding the GIL, before consent and before an
#: attempt is counted: 6 MB of empty 4-byte APP segments took 1.2 s to walk, 6 MB of empty
#: PNG chunks 0.2 s (measured), for any partner with the scope. Cameras write about 10 to 20
#: segments (up to 255 more for a split ICC profile), encoders IDAT chunks of 8 kB and more.
MAX_JPEG_SEGMENTS = 1024
MAX_PNG_CHUNKS = 20_000
_NOT_FILL = re.compile(rb"[^\xff]")
# A marker after entropy-coded data: 0xFF (and fill bytes) then neither a stuffed 0x00 nor RSTn.
# (a look-behind of one byte, not ``\xff+``: a run of fill bytes costs linear time, not
# quadratic).
_MARKER = re.compile(rb"(?<=\xff)[^\x00\xff\xd0-\xd7]")

# The IJG (libjpeg) luminance base table of ITU T.81 Annex K; a quality factor Q scales it by
# 5000/Q percent (Q < 50) or 200 - 2Q percent, each value rounded and clamped to 1..255
# (jcparam.c). The estimate is the Q whose scaled table's total is nearest the image's.
_LUMA = (
    *(16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55),
    *(14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62),
    *(18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92),
    *(49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99),
)


def _ijg_total(quality: int) -> int:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return sum(min(255, max(1, (v * scale + 50) // 100)) for v in _LUMA)


_IJG_TOTALS = tuple((_ijg_total(q), q) for q in range(1, 101))


def _refuse(problem: str, detail: str) -> ImageInvalid:
    return ImageInvalid(problem, detail)


def _check_pixels(width: int, height: int, limits: ImageLimits) -> None:
    if width <= 0 or height <= 0:
        raise _refuse("NOT_AN_IMAGE", "the image header gives no dimensions")
    if width * height > limits.max_pixels:
        raise _refuse(
            "TOO_MANY_PIXELS",
            f"the image has more than {limits.max_pixels} pixels",
        )


def _inspect_png(data: bytes, limits: ImageLimits) -> None:
    # Chunks: length (4, big-endian), type (4), data, CRC (4); IHDR first, IEND last.
    if len(data) < 33:
        raise _refuse("TRUNCATED", "the PNG ends inside its header")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise _refuse("NOT_AN_IMAGE", "the PNG does not start with its IHDR header")
    width, height = struct.unpack(">II", data[16:24])
    _check_pixels(width, height, limits)
    pos = 8
    chunks = 0
    while pos + 8 <= len(data):
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise _refuse("NOT_AN_IMAGE", f"the PNG has more than {MAX_PNG_CHUNKS} chunks")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        pos += 12 + length
        if kind == b"IEND":
            if pos > len(data):
                break
            return
    raise _refuse("TRUNCATED", "the PNG ends before its IEND chunk")


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The marker segments before the first scan, and the offset where its data starts."""
    segments: list[tuple[int, bytes]] = []
    pos = 2
    for _ in range(MAX_JPEG_SEGMENTS + 1):  # markers without a segment (RSTn, TEM) count too
        if len(segments) >= MAX_JPEG_SEGMENTS:
            raise _refuse(
                "NOT_AN_IMAGE",
                f"the JPEG has more than {MAX_JPEG_SEGMENTS} marker segments before its scan",
            )
        # Markers may be padded with any number of 0xFF bytes (ITU T.81 B.1.1.2): skipped by
        # a search, not byte by byte (6 MB of them took 0.7 s in Python).
        fill_end = _NOT_FILL.search(data, pos)
        if fill_end is None:
            raise _refuse("TRUNCATED", "the JPEG ends before its image data")
        pos = fill_end.start()
        if data[pos - 1] != 0xFF:
            raise _refuse("NOT_AN_IMAGE", "the JPEG's marker segments are malformed")
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE:
            if marker == 0xD9:
                raise _refuse("NOT_AN_IMAGE", "the JPEG ends before any image data")
            continue
        if pos + 2 > len(data):
            raise _refuse("TRUNCATED", "the JPEG ends inside a marker segment")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise _refuse("NOT_AN_IMAGE", "the JPEG's marker segments are malformed")
        if pos + length > len(data):
            raise _refuse("TRUNCATED", "the JPEG ends inside a marker segment")
        segments.append((marker, data[pos + 2 : pos + length]))
        pos += length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return segments, pos
    raise _refuse(
        "NOT_AN_IMAGE",
        f"the JPEG has more than {MAX_JPEG_SEGMENTS} markers before its scan",
    )


def _inspect_jpeg(data: bytes, limits: ImageLimits) -> list[tuple[int, bytes]]:
    segments, scan = _jpeg_segments(data)
    frames = [body for marker, body in segments if marker in _SOF]
    if not frames:
        raise _refuse("NOT_AN_IMAGE", "the JPEG has no frame header before its scan")
    for body in frames:
        if len(body) < 5:
            raise _refuse("NOT_AN_IMAGE", "the JPEG's frame header is malformed")
        height, width = struct.unpack(">HH", body[1:5])
        _check_pixels(width, height, limits)
    _count_scans(data, scan)
    return segments


def _count_scans(data: bytes, pos: int) -> int:
    """The scans from the first one's entropy-coded data at ``pos`` to the end-of-image
    marker, walking the markers between them (a segment skipped by its length, so bytes
    inside a table are never taken for a marker; data after EOI -- a phone's appended
    thumbnail or video -- is not read). Inside entropy-coded data 0xFF is always followed by
    0x00 or RSTn, so the next other marker ends it."""
    scans = 1
    for _ in range(MAX_JPEG_SEGMENTS + MAX_JPEG_SCANS):
        found = _MARKER.search(data, pos)
        if found is None:
            raise _refuse("TRUNCATED", "the JPEG ends before its end-of-image marker")
        marker, pos = data[found.start()], found.end()
        if marker == 0xD9:
            return scans
        if marker == 0xDA:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise _refuse("TOO_MANY_SCANS", f"the JPEG has more than {MAX_JPEG_SCANS} scans")
        if marker == 0x01:  # TEM: no length
            continue
        if pos + 2 > len(data):
            raise _refuse("TRUNCATED", "the JPEG ends inside a marker segment")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise _refuse("NOT_AN_IMAGE", "the JPEG's marker segments are malformed")
        pos += length  # past SOS's header the search runs through its entropy-coded data
    raise _refuse("NOT_AN_IMAGE", f"the JPEG has more than {MAX_JPEG_SEGMENTS} markers")


def inspect_image(data: bytes, limits: ImageLimits) -> str:
    """``"JPEG"`` or ``"PNG"``, from the bytes and the header only; raises
    :class:`ImageInvalid` with ``problem`` EMPTY, TOO_LARGE (over ``limits.max_bytes``),
    NOT_AN_IMAGE (neither magic number, or a malformed header), TOO_MANY_PIXELS (the header's
    width x height over ``limits.max_pixels``), TOO_MANY_SCANS (a JPEG of more than
    :data:`MAX_JPEG_SCANS` scans: each costs a decoding pass over every pixel) or TRUNCATED (a
    JPEG without its end-of-image marker after the scan, a PNG without its IEND chunk)."""
    if not data:
        raise _refuse("EMPTY", "the image is empty")
    if len(data) > limits.max_bytes:
        raise _refuse("TOO_LARGE", f"the image is larger than {limits.max_bytes} bytes")
    if data.startswith(_PNG_MAGIC):
        _inspect_png(data, limits)
        return "PNG"
    if data.startswith(_JPEG_MAGIC):
        _inspect_jpeg(data, limits)
        return "JPEG"
    raise _refuse("NOT_AN_IMAGE", "the data is neither a JPEG nor a PNG image")


def jpeg_quality(segments: list[tuple[int, bytes]]) -> int | None:
    """The IJG quality factor (1..100) whose luminance table is closest in total to the
    JPEG's quantisation table 0, None when it has none."""
    for marker, body in segments:
        pos = 0
        while marker == 0xDB and pos < len(body):
            precision, table = body[pos] >> 4, body[pos] & 0x0F
            size = 128 if precision else 64
            values = body[pos + 1 : pos + 1 + size]
            pos += 1 + size
            if len(values) < size:
                return None
            if table != 0:
                continue
            total = sum(struct.unpack(">64H", values)) if precision else sum(values)
            return min(_IJG_TOTALS, key=lambda tq: (abs(tq[0] - total), -tq[1]))[1]
    return None


def decode_image(data: bytes, limits: ImageLimits) -> DecodedImage:
    """The image's pixels as RGB uint8 (read-only), EXIF orientation applied, scaled down to
    ``limits.max_side``; :func:`inspect_image`'s refusals, or ``UNDECODABLE`` when the codec
    cannot decode what the header announced."""
    kind = inspect_image(data, limits)
    quality = jpeg_quality(_jpeg_segments(data)[0]) if kind == "JPEG" else None
    try:
        bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise _refuse("UNDECODABLE", f"the {kind} image cannot be decoded") from exc
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise _refuse("UNDECODABLE", f"the {kind} image cannot be decoded")
    height, width = bgr.shape[:2]
    side = max(height, width)
    if side > limits.max_side:
        factor = limits.max_side / side
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    converted = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    rgb: npt.NDArray[np.uint8] = np.ascontiguousarray(converted, dtype=np.uint8)
    rgb.setflags(write=False)
    return DecodedImage(rgb=rgb, format=kind, jpeg_quality=quality)
