"""grpc settings reaching the server options: max_workers, and TLS files refused unless whole."""

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


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"tls_cert_file": "cert.pem"}, "must be set together"),
        ({"tls_key_file": "key.pem"}, "must be set together"),
        ({"tls_client_ca_file": "ca.pem"}, "needs grpc.tls_cert_file"),
        ({"tls_cert_file": "missing.pem", "tls_key_file": "key.pem"}, "cannot read"),
        ({"tls_cert_file": "garbage.pem", "tls_key_file": "key.pem"}, "not an unencrypted PEM"),
    ],
)
def test_half_or_broken_tls_is_a_settings_error(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    (tmp_path / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    (tmp_path / "key.pem").write_text("not read before the cert fails")
    overrides = {"grpc": {name: tmp_path / file for name, file in files.items()}}
    settings = load_settings(overrides=overrides, environ={})
    with pytest.raises(SettingsError, match=message):
        server_options(settings.grpc)
