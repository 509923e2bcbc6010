"""The ingest's settings (issue 15): the memory bound and the batch size, checked on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.settings import SettingsError, ZoneSettings, load_settings


def _load(tmp_path: Path, text: str) -> ZoneSettings:
    config = tmp_path / "c.toml"
    config.write_text(text)
    return load_settings(environ={"DATAWARD_CONFIG": str(config)}).zone


def test_the_memory_bound_defaults_to_2_gib_and_is_read(tmp_path: Path) -> None:
    assert load_settings(environ={}).zone.ingest_memory_mb == 2048
    zone = load_settings(environ={}, overrides={"zone": {"ingest_memory_mb": 4096}}).zone
    assert zone.ingest_memory_mb == 4096
    assert _load(tmp_path, "[zone]\ningest_memory_mb = 1024\n").ingest_memory_mb == 1024


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[zone]\ningest_memory_mb = 100\n", "zone.ingest_memory_mb must be at least 512"),
        ('[zone]\ningest_memory_mb = "lots"\n', "zone.ingest_memory_mb"),
        ("[zone]\ningest_batch_rows = 0\n", "zone.ingest_batch_rows must be at least 1"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        _load(tmp_path, text)
