"""The portal key in the settings: where it may come from, where it never goes (issue 8, item 9).

(Launcher code, kept beside the portal's tests because it exists only for the portal.)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from launcher._cmd_portal import portal_config
from launcher._portal_process import portal_key, portal_settings_toml
from launcher.settings import (
    PORTAL_KEY_FILE_VARIABLE,
    PORTAL_KEY_VARIABLE,
    Secret,
    SettingsError,
    child_environment,
    load_settings,
)

README = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
KEY = "a portal key of its own, 16+ bytes"


def test_the_key_comes_from_its_variable_or_its_file_stripped(tmp_path: Path) -> None:
    assert load_settings(environ={PORTAL_KEY_VARIABLE: f" {KEY}\n"}).portal.key == Secret(
        KEY.encode()
    )
    key_file = tmp_path / "portal.key"
    key_file.write_text(KEY + "\n")
    settings = load_settings(environ={PORTAL_KEY_FILE_VARIABLE: str(key_file)})
    assert settings.portal.key == Secret(KEY.encode())
    assert KEY not in repr(settings)


def test_the_key_is_never_read_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "dataward.toml"
    config.write_text(f'[portal]\nkey = "{KEY}"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="the portal key never goes in a config file"):
        load_settings(environ={"DATAWARD_CONFIG": str(config)})


@pytest.mark.parametrize("value", ["short", "x" * 4097])
def test_a_key_of_the_wrong_length_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="must be 16 to 4096 bytes long") as raised:
        load_settings(environ={PORTAL_KEY_VARIABLE: value})
    assert value not in str(raised.value)


def test_an_unreadable_key_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=f"^{PORTAL_KEY_FILE_VARIABLE}: cannot read"):
        load_settings(environ={PORTAL_KEY_FILE_VARIABLE: str(tmp_path / "missing")})


def test_the_child_gets_the_key_only_as_its_own_file_never_the_parents_variables() -> None:
    parent = {"PATH": "/bin", PORTAL_KEY_VARIABLE: KEY, PORTAL_KEY_FILE_VARIABLE: "/k"}
    assert child_environment(config_file=Path("/c.toml"), environ=parent) == {
        "PATH": "/bin",
        "DATAWARD_CONFIG": "/c.toml",
    }


def test_the_config_file_for_the_child_never_holds_the_key(tmp_path: Path) -> None:
    settings = load_settings(
        overrides={"zone": {"dir": tmp_path}}, environ={PORTAL_KEY_VARIABLE: KEY}
    )
    text = portal_settings_toml(settings, "127.0.0.1:0")
    assert KEY not in text and "key =" not in text


def test_without_a_portal_key_it_is_derived_from_the_master_key_and_differs_from_it() -> None:
    master = "the zone's master key, 32 bytes"
    settings = load_settings(environ={"DATAWARD_MASTER_KEY": master})
    derived = portal_key(settings)
    assert derived is not None and master.encode() not in derived.value
    assert derived == portal_key(load_settings(environ={"DATAWARD_MASTER_KEY": master}))
    other = portal_key(load_settings(environ={"DATAWARD_MASTER_KEY": master + "!"}))
    assert derived != other
    assert portal_key(load_settings(environ={})) is None
    assert portal_config(load_settings(environ={})).key is None  # the CLI refuses it first


def test_an_explicit_key_wins_and_may_not_equal_the_master_key() -> None:
    master = "the zone's master key, 32 bytes"
    both = load_settings(environ={"DATAWARD_MASTER_KEY": master, PORTAL_KEY_VARIABLE: KEY})
    assert portal_key(both) == Secret(KEY.encode())
    same = dataclasses.replace(
        both, portal=dataclasses.replace(both.portal, key=Secret(master.encode()))
    )
    with pytest.raises(SettingsError, match="must not be the master key"):
        portal_key(same)


@pytest.mark.parametrize("variable", [PORTAL_KEY_VARIABLE, PORTAL_KEY_FILE_VARIABLE])
def test_the_variables_are_documented(variable: str) -> None:
    assert f"`{variable}`" in README
