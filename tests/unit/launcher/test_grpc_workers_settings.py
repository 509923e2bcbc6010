"""grpc.max_workers: read from the config file into the server options, refused below 1."""

from pathlib import Path

import pytest

from launcher._wiring import server_options
from launcher.settings import SettingsError, load_settings


def test_max_workers_reaches_the_server_options(tmp_path: Path) -> None:
    config = tmp_path / "dataward.toml"
    config.write_text("[grpc]\nmax_workers = 48\n", encoding="utf-8")
    settings = load_settings(environ={"DATAWARD_CONFIG": str(config)})
    assert server_options(settings.grpc).max_workers == 48


@pytest.mark.parametrize("value", [0, -4])
def test_fewer_than_one_worker_is_refused(value: int) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(overrides={"grpc": {"max_workers": value}}, environ={})
    assert str(raised.value) == "setting grpc.max_workers must be at least 1"
