"""portal.log_checkpoint_seconds: read from the config file, refused when not positive."""

from pathlib import Path

import pytest

from launcher._cmd_portal import portal_config
from launcher.settings import SettingsError, load_settings


def test_the_checkpoint_interval_reaches_the_portal_config(tmp_path: Path) -> None:
    config = tmp_path / "dataward.toml"
    config.write_text("[portal]\nlog_checkpoint_seconds = 2.5\n", encoding="utf-8")
    settings = load_settings(environ={"DATAWARD_CONFIG": str(config)})
    assert portal_config(settings).log_checkpoint_seconds == 2.5


@pytest.mark.parametrize("value", [0, -1])
def test_a_non_positive_checkpoint_interval_is_refused(value: float) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(overrides={"portal": {"log_checkpoint_seconds": value}}, environ={})
    assert str(raised.value) == "setting portal.log_checkpoint_seconds must be greater than 0"
