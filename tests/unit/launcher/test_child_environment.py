"""The portal child's environment and config file: no master key, the parent's settings."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from launcher._portal_process import portal_settings_toml
from launcher.settings import child_environment, load_settings


def test_the_master_key_variables_never_reach_a_child() -> None:
    parent = {
        "PATH": "/usr/bin",
        "DATAWARD_MASTER_KEY": "m" * 32,
        "DATAWARD_MASTER_KEY_FILE": "/k",
        "DATAWARD_ZONE": "z",
    }
    assert child_environment(environ=parent) == {"PATH": "/usr/bin", "DATAWARD_ZONE": "z"}


def test_with_a_config_file_the_child_reads_its_settings_from_it_alone(tmp_path: Path) -> None:
    parent = {
        "PATH": "/usr/bin",
        "DATAWARD_MASTER_KEY": "m" * 32,
        "DATAWARD_CONFIG": "/parent.toml",
        "DATAWARD_PORTAL_ISSUER": "https://parent",
    }
    config = tmp_path / "child.toml"
    child = child_environment(config_file=config, environ=parent)
    assert child == {"PATH": "/usr/bin", "DATAWARD_CONFIG": str(config)}


def test_the_config_file_carries_the_parents_portal_settings(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    portal = dataclasses.replace(
        settings.portal,
        issuer='https://portal.example/"x"\\',
        cookie_secure=False,
        log_checkpoint_seconds=0.25,
        access_token_ttl_seconds=77,
    )
    settings = dataclasses.replace(
        settings, portal=portal, zone=dataclasses.replace(settings.zone, dir=tmp_path / "zone")
    )
    config = tmp_path / "child.toml"
    config.write_text(portal_settings_toml(settings, "127.0.0.1:0"), encoding="utf-8")
    assert "master" not in config.read_text(encoding="utf-8")
    loaded = load_settings(environ={"DATAWARD_CONFIG": str(config)})
    assert loaded.portal == dataclasses.replace(portal, bind="127.0.0.1:0")
    assert loaded.zone.dir == (tmp_path / "zone").resolve()
    assert tomllib.loads(config.read_text(encoding="utf-8"))["portal"]["cookie_secure"] is False
