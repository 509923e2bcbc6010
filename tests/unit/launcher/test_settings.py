from pathlib import Path

import pytest

from launcher.settings import Secret, SettingsError, load_settings


def test_defaults_without_environment() -> None:
    settings = load_settings(environ={})
    assert settings.zone.master_key is None
    assert settings.audit.sqlite_synchronous == "FULL"
    assert settings.portal.access_token_ttl_seconds == 600


def test_environment_and_overrides_win_in_order(tmp_path: Path) -> None:
    config = tmp_path / "dataward.toml"
    config.write_text('[zone]\ndir = "from-file"\n[audit]\ncheckpoint_every_entries = 7\n')
    env = {"DATAWARD_CONFIG": str(config), "DATAWARD_ZONE": "from-env"}
    settings = load_settings(environ=env)
    assert settings.zone.dir == Path("from-env")
    assert settings.audit.checkpoint_every_entries == 7
    settings = load_settings(environ=env, overrides={"zone": {"dir": Path("from-cli")}})
    assert settings.zone.dir == Path("from-cli")


def test_master_key_is_redacted(tmp_path: Path) -> None:
    settings = load_settings(environ={"DATAWARD_MASTER_KEY": "correct horse battery staple"})
    assert settings.zone.master_key == Secret(b"correct horse battery staple")
    assert "horse" not in repr(settings)
    key_file = tmp_path / "key"
    key_file.write_bytes(b"another long enough key\n")
    settings = load_settings(environ={"DATAWARD_MASTER_KEY_FILE": str(key_file)})
    assert settings.zone.master_key == Secret(b"another long enough key")


@pytest.mark.parametrize(
    ("env", "files", "message"),
    [
        ({"DATAWARD_MASTER_KEY": "short"}, {}, "at least 16 bytes"),
        ({"DATAWARD_MASTER_KEY_FILE": "/nonexistent/key"}, {}, "cannot read"),
        ({"DATAWARD_CONFIG": "{d}/c.toml"}, {"c.toml": "[zone\n"}, "not valid TOML"),
        ({"DATAWARD_CONFIG": "{d}/c.toml"}, {"c.toml": "[nope]\n"}, "unknown section"),
        ({"DATAWARD_CONFIG": "{d}/c.toml"}, {"c.toml": "[zone]\nbogus = 1\n"}, "zone.bogus"),
        ({"DATAWARD_CONFIG": "{d}/c.toml"}, {"c.toml": '[zone]\nmaster_key = "x"\n'}, "never"),
        ({"DATAWARD_AUDIT_CHECKPOINT_ENTRIES": "many"}, {}, "wrong type"),
    ],
)
def test_bad_settings_name_the_setting_not_the_value(
    tmp_path: Path, env: dict[str, str], files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {k: v.format(d=tmp_path) for k, v in env.items()}
    with pytest.raises(SettingsError, match=message) as info:
        load_settings(environ=env)
    assert "many" not in str(info.value)


def test_the_portal_variables_are_read_into_their_settings() -> None:
    env = {
        "DATAWARD_PORTAL_BIND": "127.0.0.1:9",
        "DATAWARD_PORTAL_DATABASE_URL": "sqlite:////tmp/p.db",
        "DATAWARD_PORTAL_ISSUER": "https://portal.example",
    }
    portal = load_settings(environ=env).portal
    assert (portal.bind, portal.database_url, portal.issuer) == tuple(env.values())


@pytest.mark.parametrize("level", ["bogus", "FUL", "2", ""])
def test_an_invalid_audit_synchronous_is_a_settings_error(level: str) -> None:
    # issue 14: it was accepted, and `audit tail` ran; `serve` failed later with exit 74
    with pytest.raises(SettingsError, match=r"audit\.sqlite_synchronous") as info:
        load_settings(environ={"DATAWARD_AUDIT_SYNCHRONOUS": level})
    assert "OFF, NORMAL, FULL, EXTRA" in str(info.value)


@pytest.mark.parametrize("level", ["OFF", "normal", "FULL", "Extra"])
def test_every_sqlite_synchronous_level_is_accepted(level: str) -> None:
    settings = load_settings(environ={"DATAWARD_AUDIT_SYNCHRONOUS": level})
    assert settings.audit.sqlite_synchronous == level


@pytest.mark.parametrize(
    ("variable", "file_variable"),
    [
        ("DATAWARD_MASTER_KEY", "DATAWARD_MASTER_KEY_FILE"),
        ("DATAWARD_PORTAL_KEY", "DATAWARD_PORTAL_KEY_FILE"),
    ],
)
def test_a_key_given_by_both_its_variables_is_refused_naming_them(
    tmp_path: Path, variable: str, file_variable: str
) -> None:
    # issue 14: the variable silently won over the file, which may hold another key
    key_file = tmp_path / "key"
    key_file.write_bytes(b"the key in the file, long enough")
    env = {variable: "the key in the variable, long enough", file_variable: str(key_file)}
    with pytest.raises(SettingsError) as info:
        load_settings(environ=env)
    message = str(info.value)
    assert f"both {variable} and {file_variable} are set" in message
    assert "long enough" not in message
