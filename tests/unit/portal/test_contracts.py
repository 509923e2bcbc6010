"""Boundary tables and shared contracts of the portal."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

import pytest

import portal.errors
from launcher._cmd_portal import portal_config
from launcher.settings import PortalSettings, SettingsError, load_settings
from portal._events import TokenIssued, canonical_leaf
from portal._http_errors import HTTP_STATUS, status_for
from portal.config import InvalidOptionError, PortalConfig, PortalOptions


def test_every_exported_error_has_an_http_status() -> None:
    mapped = {kind for kind, _ in HTTP_STATUS}
    exported = {getattr(portal.errors, name) for name in portal.errors.__all__}
    assert exported <= mapped
    assert status_for(portal.errors.CsrfError("x")) == 400
    assert status_for(portal.errors.LoginThrottledError("x", 1)) == 429
    assert all(inspect.isclass(k) and issubclass(k, portal.errors.PortalError) for k in exported)


def test_the_settings_and_the_config_are_the_portals_options_not_copies(tmp_path: Path) -> None:
    """Each option is defined once, in PortalOptions (issue 9: before, three copies of every
    default were kept in step by a test)."""
    assert issubclass(PortalSettings, PortalOptions) and issubclass(PortalConfig, PortalOptions)
    options = [f.name for f in dataclasses.fields(PortalOptions)]
    own = {"key"}  # the launcher's secret from the environment; the config's resolved key
    assert [f.name for f in dataclasses.fields(PortalSettings)] == [*options, *own]
    assert {f.name for f in dataclasses.fields(PortalConfig)} == {*options, *own, "state_dir"}
    changed = {"issuer": "https://portal.example", "trusted_proxies": 1, "cookie_secure": False}
    settings = load_settings(overrides={"zone": {"dir": tmp_path}, "portal": changed}, environ={})
    config = portal_config(settings)
    assert config.state_dir == tmp_path / "portal" and config.key is None
    assert {name: getattr(config, name) for name in options} == {
        name: getattr(settings.portal, name) for name in options
    }
    assert {name: getattr(config, name) for name in changed} == changed


def test_the_portal_checks_its_options_and_the_launcher_names_the_setting() -> None:
    with pytest.raises(InvalidOptionError) as raised:
        PortalConfig(state_dir=Path("p"), log_checkpoint_seconds=0)
    assert (raised.value.option, raised.value.rule) == (
        "log_checkpoint_seconds",
        "must be greater than 0",
    )
    with pytest.raises(SettingsError) as settings_error:
        PortalSettings(log_checkpoint_seconds=-1)
    assert (
        str(settings_error.value) == "setting portal.log_checkpoint_seconds must be greater than 0"
    )
    assert isinstance(settings_error.value.__cause__, InvalidOptionError)


def test_trusted_proxies_is_a_count_from_the_config_file_and_never_negative(tmp_path: Path) -> None:
    config = tmp_path / "dataward.toml"
    config.write_text("[portal]\ntrusted_proxies = 2\n", encoding="utf-8")
    settings = load_settings(environ={"DATAWARD_CONFIG": str(config)})
    assert settings.portal.trusted_proxies == 2
    assert PortalSettings().trusted_proxies == 0  # by default X-Forwarded-For is ignored
    with pytest.raises(SettingsError, match=r"portal\.trusted_proxies must not be negative"):
        PortalSettings(trusted_proxies=-1)


def test_leaves_are_canonical_json_without_token_values() -> None:
    event = TokenIssued(
        jti="j1",
        client_id="dw_x",
        user_id=None,
        grant_type="client_credentials",
        scope="audit:read",
        exp=10,
        with_refresh_token=False,
    )
    leaf = canonical_leaf(event, 5.9)
    assert leaf == json.dumps(json.loads(leaf), sort_keys=True, separators=(",", ":")).encode()
    assert json.loads(leaf)["kind"] == "token_issued" and json.loads(leaf)["at"] == 5
    assert b"access_token" not in leaf and b"secret" not in leaf
