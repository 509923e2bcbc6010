"""The ``[faces]`` settings (issue 13): defaults from the calibrated thresholds and the
measured gates, read from the config file and the environment, refused with the setting's
name when they cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from enclave.biometrics import DEFAULT_THRESHOLDS, ImageLimits, QualityGates
from launcher.settings import FaceSettings, SettingsError, load_settings


def test_defaults_are_the_calibrated_thresholds_and_the_measured_gates() -> None:
    faces = load_settings(environ={}).faces
    assert faces.thresholds() == DEFAULT_THRESHOLDS
    assert faces.gates() == QualityGates()
    assert faces.limits() == ImageLimits(max_bytes=6_000_000, max_pixels=40_000_000)
    assert (faces.attempts_per_day, faces.attempts_per_month) == (3, 10)
    assert faces.partner_attempts_per_minute == 60
    assert faces.workers == 1


def test_config_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "dataward.toml"
    config.write_text("[faces]\nworkers = 0\nmatch_high = 0.3\nmin_face_px = 60\n")
    faces = load_settings(
        environ={"DATAWARD_CONFIG": str(config), "DATAWARD_FACES_ATTEMPTS_PER_DAY": "2"}
    ).faces
    assert (faces.workers, faces.match_high, faces.min_face_px) == (0, 0.3, 60)
    assert faces.thresholds().match_high == 0.3
    assert faces.gates().min_face_px == 60
    assert faces.attempts_per_day == 2


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"workers": "65"}, "faces.workers"),
        ({"worker_memory_mb": "100"}, "faces.worker_memory_mb"),
        ({"timeout_seconds": "0"}, "faces.timeout_seconds"),
        ({"max_pixels": "0"}, "faces.max_pixels"),
        ({"second_face_ratio": "1.5"}, "faces.second_face_ratio"),
        ({"min_brightness": "230"}, "faces.min_brightness"),
        ({"min_jpeg_quality": "0"}, "faces.min_jpeg_quality"),
        ({"attempts_per_day": "0"}, "faces.attempts_per_day"),
        ({"attempts_per_day": "11"}, "faces.attempts_per_day"),
        ({"match_high": "0.9"}, "faces.*"),  # above match_medium: out of order
        ({"encrypted_cosine": "1.0"}, "faces.*"),
        ({"validated_on": " "}, "faces.validated_on"),
        ({"workers": "many"}, "faces.workers"),
        ({"distance": "0.5"}, "faces.distance"),
    ],
)
def test_bad_face_settings_name_the_setting(values: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace("*", r"\*")):
        load_settings(overrides={"faces": values})


def test_the_section_is_frozen() -> None:
    with pytest.raises(AttributeError):
        FaceSettings().workers = 3  # type: ignore[misc]
