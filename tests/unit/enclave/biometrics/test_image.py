"""inspect_image's refusals from the bytes and header alone, and decode_image's pixels: EXIF
orientation, grey / 16-bit / alpha PNGs, scaling, the JPEG quality estimate."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from enclave.biometrics import DlibBackend, ImageInvalid, ImageLimits, decode_image, inspect_image
from tests.unit.enclave.biometrics.conftest import (
    encode,
    pixels,
    png_bomb,
    png_chunk,
    with_exif_orientation,
)

LIMITS = ImageLimits()


def _problem(data: bytes, limits: ImageLimits = LIMITS) -> str:
    with pytest.raises(ImageInvalid) as info:
        inspect_image(data, limits)
    with pytest.raises(ImageInvalid) as decoded:
        decode_image(data, limits)
    assert decoded.value.problem == info.value.problem
    assert info.value.reason == "IMAGE_INVALID"
    return info.value.problem


def test_formats_from_the_magic_number(face_bytes: Callable[[str], bytes]) -> None:
    jpeg = face_bytes("obama_small.jpg")
    assert inspect_image(jpeg, LIMITS) == "JPEG"
    assert inspect_image(encode(pixels(jpeg), ".png"), LIMITS) == "PNG"


def test_empty_and_over_size_are_refused(face_bytes: Callable[[str], bytes]) -> None:
    assert _problem(b"") == "EMPTY"
    jpeg = face_bytes("obama_small.jpg")
    assert _problem(jpeg, ImageLimits(max_bytes=len(jpeg) - 1)) == "TOO_LARGE"
    assert inspect_image(jpeg, ImageLimits(max_bytes=len(jpeg))) == "JPEG"


@pytest.mark.parametrize(
    "data",
    [b"GIF89a" + b"\x00" * 100, b"%PDF-1.7\n", b"\x00" * 64, b"a selfie", b"\xff\xd8"],
)
def test_non_images_are_refused(data: bytes) -> None:
    assert _problem(data) == "NOT_AN_IMAGE"


def test_a_png_bomb_is_refused_from_its_header_before_decoding() -> None:
    bomb = png_bomb()
    assert len(bomb) < LIMITS.max_bytes  # small bytes, 400 million pixels
    started = time.monotonic()
    assert _problem(bomb) == "TOO_MANY_PIXELS"
    assert time.monotonic() - started < 0.5


def test_a_jpeg_over_the_pixel_limit_is_refused(face_bytes: Callable[[str], bytes]) -> None:
    jpeg = face_bytes("obama_small.jpg")  # 320 x 240
    assert _problem(jpeg, ImageLimits(max_pixels=320 * 240 - 1)) == "TOO_MANY_PIXELS"
    assert inspect_image(jpeg, ImageLimits(max_pixels=320 * 240)) == "JPEG"


def test_truncated_images_are_refused(face_bytes: Callable[[str], bytes]) -> None:
    jpeg = face_bytes("obama_small.jpg")
    assert _problem(jpeg[: len(jpeg) // 2]) == "TRUNCATED"  # inside the scan
    assert _problem(jpeg[:300]) == "TRUNCATED"  # inside the headers
    png = encode(pixels(jpeg), ".png")
    assert _problem(png[:-12]) == "TRUNCATED"  # no IEND
    assert _problem(png[:20]) == "TRUNCATED"


def test_a_header_with_garbage_pixels_is_undecodable() -> None:
    header = b"\x00\x00\x00\x40\x00\x00\x00\x40\x08\x02\x00\x00\x00"  # 64 x 64 RGB
    png = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", b"not a zlib stream")
        + png_chunk(b"IEND", b"")
    )
    assert inspect_image(png, LIMITS) == "PNG"
    with pytest.raises(ImageInvalid) as info:
        decode_image(png, LIMITS)
    assert info.value.problem == "UNDECODABLE"


def test_decoded_pixels_are_rgb_and_read_only(face_bytes: Callable[[str], bytes]) -> None:
    image = decode_image(face_bytes("obama_small.jpg"), LIMITS)
    assert (image.width, image.height, image.format) == (320, 240, "JPEG")
    assert image.rgb.dtype == np.uint8 and image.rgb.shape == (240, 320, 3)
    assert not image.rgb.flags.writeable
    # OpenCV decodes BGR: the channels are swapped back
    assert np.array_equal(image.rgb, pixels(face_bytes("obama_small.jpg")))


def test_the_exif_orientation_is_applied(
    face_bytes: Callable[[str], bytes], backend: DlibBackend
) -> None:
    upright = pixels(face_bytes("obama_small.jpg"))
    # a phone held sideways: the pixels stored rotated, the Exif tag saying "rotate 90 CW"
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # 90 degrees counter-clockwise
    sideways = encode(stored, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95)
    rotated = with_exif_orientation(sideways, 6)
    plain = decode_image(sideways, LIMITS)
    image = decode_image(rotated, LIMITS)
    assert (plain.width, plain.height) == (240, 320)
    assert (image.width, image.height) == (320, 240)
    assert np.abs(image.rgb.astype(int) - upright.astype(int)).mean() < 4
    assert backend.detect(image) and not backend.detect(plain)


def test_grey_16_bit_and_alpha_pngs_become_rgb_uint8(face_bytes: Callable[[str], bytes]) -> None:
    rgb = pixels(face_bytes("obama_small.jpg"))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    image = decode_image(encode(grey, ".png"), LIMITS)
    assert image.rgb.shape == (240, 320, 3) and image.jpeg_quality is None
    assert np.array_equal(image.rgb[..., 0], grey) and np.array_equal(image.rgb[..., 2], grey)

    deep = rgb[..., ::-1].astype(np.uint16) * 257  # 16-bit BGR
    image = decode_image(encode(deep[..., ::-1], ".png"), LIMITS)
    assert image.rgb.dtype == np.uint8 and np.abs(image.rgb.astype(int) - rgb).max() <= 1

    alpha = np.dstack([rgb[..., ::-1], np.full(grey.shape, 255, np.uint8)])  # 32-bit BGRA
    ok, buf = cv2.imencode(".png", alpha)
    assert ok
    image = decode_image(buf.tobytes(), LIMITS)
    assert image.rgb.shape == (240, 320, 3) and np.array_equal(image.rgb, rgb)


def test_large_images_are_scaled_to_max_side(face_bytes: Callable[[str], bytes]) -> None:
    image = decode_image(face_bytes("obama.jpg"), ImageLimits(max_side=400))  # 910 x 1137
    assert image.height == 400 and image.width == round(910 * 400 / 1137)
    assert decode_image(face_bytes("obama.jpg"), LIMITS).height == 1137


@pytest.mark.parametrize("quality", [5, 20, 30, 50, 75, 90, 100])
def test_the_jpeg_quality_is_estimated_from_its_tables(
    face_bytes: Callable[[str], bytes], quality: int
) -> None:
    data = encode(pixels(face_bytes("obama_small.jpg")), ".jpg", cv2.IMWRITE_JPEG_QUALITY, quality)
    assert decode_image(data, LIMITS).jpeg_quality == quality
