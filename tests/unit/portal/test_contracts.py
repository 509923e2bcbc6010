"""Boundary tables and shared contracts of the portal."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

import pytest

import portal.errors
from launcher.settings import PortalSettings, SettingsError, load_settings
from portal._events import TokenIssued, canonical_leaf
from portal._http_errors import HTTP_STATUS, status_for
from portal.config import PortalConfig


def test_every_exported_error_has_an_http_status() -> None:
    mapped = {kind for kind, _ in HTTP_STATUS}
    exported = {getattr(portal.errors, name) for name in portal.errors.__all__}
    assert exported <= mapped
    assert status_for(portal.errors.CsrfError("x")) == 400
    assert status_for(portal.errors.LoginThrottledError("x", 1)) == 429
    assert all(inspect.isclass(k) and issubclass(k, portal.errors.PortalError) for k in exported)


def test_portal_config_has_every_portal_setting_with_the_same_default() -> None:
    config = {f.name: f.default for f in dataclasses.fields(PortalConfig)}
    for f in dataclasses.fields(PortalSettings):
        assert f.name in config, f"PortalConfig lacks {f.name}"
        assert config[f.name] == f.default, f.name


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
