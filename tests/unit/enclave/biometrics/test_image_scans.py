"""A progressive JPEG's decoding costs one pass over every pixel per scan (issue 13 review):
a few hundred kB of empty scans over a 36-megapixel frame kept a face worker busy for its whole
timeout. inspect_image refuses more than MAX_JPEG_SCANS scans from the bytes alone, in the
serving process, before an attempt is counted; real progressive JPEGs pass."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

import cv2
import pytest

from enclave.biometrics import ImageInvalid, ImageLimits, decode_image, inspect_image
from enclave.biometrics._image import MAX_JPEG_SCANS
from tests.unit.enclave.biometrics.conftest import encode, pixels

LIMITS = ImageLimits()


def _segment(marker: int, body: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(body) + 2) + body


class _Bits:
    """An entropy-coded segment, MSB first, with 0xFF bytes stuffed (ITU T.81 F.1.2.3)."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = self.count = 0

    def put(self, value: int, bits: int) -> None:
        for i in reversed(range(bits)):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.count += 1
            if self.count == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc = self.count = 0

    def done(self) -> bytes:
        while self.count:
            self.put(1, 1)
        return bytes(self.out)


def scan_bomb(scans: int, side: int = 6000) -> bytes:
    """A grey progressive JPEG of ``side`` x ``side`` (36 Mpx at 6000, under the pixel limit)
    whose DC scan is followed by ``scans - 1`` AC scans that are runs of end-of-band codes
    (EOB14 with 14 bits: 16,384 to 32,767 blocks per code), about 70 bytes each."""
    blocks = ((side + 7) // 8) ** 2
    out = b"\xff\xd8" + _segment(0xDB, b"\x00" + bytes([1] * 64))
    out += _segment(0xC2, struct.pack(">BHHB", 8, side, side, 1) + bytes([1, 0x11, 0]))
    out += _segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")  # DC: category 0
    out += _segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\xe0")  # AC: EOB14
    dc = _Bits()
    for _ in range(blocks):
        dc.put(0, 1)
    out += _segment(0xDA, bytes([1, 1, 0x00, 0, 0, 0])) + dc.done()
    ac, left = _Bits(), blocks
    while left > 0:  # the last run may reach past the scan's end: libjpeg stops there
        run = min(max(left, 16384), 32767)
        ac.put(0, 1)
        ac.put(run - 16384, 14)
        left -= run
    scan = _segment(0xDA, bytes([1, 1, 0x00, 1, 63, 0])) + ac.done()
    return out + scan * (scans - 1) + b"\xff\xd9"


def test_a_jpeg_of_many_scans_is_refused_from_its_bytes_before_decoding() -> None:
    bomb = scan_bomb(5_700)  # measured: 30 s of libjpeg in a worker before this check
    assert len(bomb) < 500_000 < LIMITS.max_bytes
    started = time.monotonic()
    for check in (inspect_image, decode_image):
        with pytest.raises(ImageInvalid) as info:
            check(bomb, LIMITS)
        assert info.value.problem == "TOO_MANY_SCANS"
        assert info.value.reason == "IMAGE_INVALID"
        assert str(MAX_JPEG_SCANS) in info.value.public_message
    assert time.monotonic() - started < 0.5


def test_the_scan_limit_is_exact_and_its_worst_case_decodes_quickly() -> None:
    with pytest.raises(ImageInvalid) as info:
        inspect_image(scan_bomb(MAX_JPEG_SCANS + 1), LIMITS)
    assert info.value.problem == "TOO_MANY_SCANS"
    at_limit = scan_bomb(MAX_JPEG_SCANS)
    assert inspect_image(at_limit, LIMITS) == "JPEG"
    started = time.monotonic()
    decode_image(at_limit, LIMITS)  # about 0.6 s of the 30 s a worker is given
    assert time.monotonic() - started < 10.0


def test_real_progressive_jpegs_pass(face_bytes: Callable[[str], bytes]) -> None:
    rgb = pixels(face_bytes("obama.jpg"))
    progressive = encode(rgb, ".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
    assert progressive.count(b"\xff\xda") > 1  # really several scans
    assert inspect_image(progressive, LIMITS) == "JPEG"
    assert decode_image(progressive, LIMITS).width == rgb.shape[1]


def test_scans_are_counted_to_the_end_of_image_marker_only(
    face_bytes: Callable[[str], bytes],
) -> None:
    """Phones append a second JPEG or a video after the image's EOI (motion photos): random
    bytes hold FF DA once in 65,536, so 6 MB of them would look like 90 scans; they are not
    read. A table between scans holding FF D9 or FF DA bytes does not end or add a scan
    (segments are skipped by their length), so it cannot hide scans behind it either."""
    jpeg = face_bytes("obama.jpg")
    trailing = (b"\xff\xda\x12\x34" + b"\x00" * 60) * 5_000  # 5,000 FF DA after EOI
    assert inspect_image(jpeg + trailing, LIMITS) == "JPEG"
    bomb = scan_bomb(MAX_JPEG_SCANS + 10)
    first_ac = bomb.index(b"\xff\xda", bomb.index(b"\xff\xda") + 2)
    table = b"\xff\xfe" + (2 + 8).to_bytes(2, "big") + b"\xff\xd9\xff\xd9\xff\xda\xff\xda"
    hidden = bomb[:first_ac] + table + bomb[first_ac:]  # a COM segment between scans
    with pytest.raises(ImageInvalid) as info:
        inspect_image(hidden, LIMITS)
    assert info.value.problem == "TOO_MANY_SCANS"
    assert inspect_image(scan_bomb(3)[:-2] + table + b"\xff\xd9", LIMITS) == "JPEG"


def test_a_scan_of_fill_or_stuffed_bytes_is_walked_in_linear_time(
    face_bytes: Callable[[str], bytes],
) -> None:
    jpeg = face_bytes("obama_small.jpg")
    scan = jpeg.index(b"\xff\xda")
    room = LIMITS.max_bytes - len(jpeg) - 8
    for filler in (b"\xff" * room + b"\x00", b"\xff\x00" * (room // 2)):
        data = jpeg[: scan + 14] + filler + jpeg[scan + 14 :]
        started = time.monotonic()
        assert inspect_image(data, LIMITS) == "JPEG"
        assert time.monotonic() - started < 0.5
