"""Listening addresses: parsed strictly, tried on real sockets (issue 14: `127.0.0.1:99999`
listened on a random port; a taken port was exit 70 with a raw gRPC core line)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from launcher._binds import (
    AddressInUseError,
    Bind,
    MalformedBindError,
    UnusableBindError,
    check_bindable,
    parse_bind,
)
from launcher._exit_codes import exit_code_for
from launcher.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("value", "bind", "shown"),
    [
        ("127.0.0.1:0", Bind("127.0.0.1", 0), "127.0.0.1:0"),
        ("0.0.0.0:8080", Bind("0.0.0.0", 8080), "0.0.0.0:8080"),
        ("[::1]:50051", Bind("::1", 50051), "[::1]:50051"),
        ("[::]:1", Bind("::", 1), "[::]:1"),
        ("localhost:65535", Bind("localhost", 65535), "localhost:65535"),
        ("zone-1.example.org:443", Bind("zone-1.example.org", 443), "zone-1.example.org:443"),
    ],
)
def test_well_formed_addresses(value: str, bind: Bind, shown: str) -> None:
    assert parse_bind(value, "--grpc-bind") == bind
    assert str(bind) == shown


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("127.0.0.1:99999", "port 99999 in '127.0.0.1:99999' is outside 1-65535"),
        ("127.0.0.1:65536", "is outside 1-65535 (0: any free port)"),
        ("127.0.0.1:-1", "the port must be a number"),
        ("127.0.0.1:http", "the port must be a number"),
        ("127.0.0.1:\u0661\u0662", "the port must be a number"),  # Arabic-Indic digits
        ("127.0.0.1:", "the port must be a number"),
        ("127.0.0.1", "is not HOST:PORT"),
        (":8080", "is not HOST:PORT"),
        ("", "is not HOST:PORT"),
        ("::1:80", "write an IPv6 address in brackets"),
        ("[::1]80", "is not [IPV6]:PORT"),
        ("[127.0.0.1]:80", "is not [IPV6]:PORT"),
        ("[zone]:80", "is not [IPV6]:PORT"),
        ("300.1.1.1:80", "'300.1.1.1' is not an IPv4 address"),
        ("bad_host:80", "'bad_host' is not a host name"),
        ("http://127.0.0.1:80", "is a URL; give HOST:PORT"),
    ],
)
def test_malformed_addresses_say_what_is_wrong_and_where(value: str, says: str) -> None:
    with pytest.raises(MalformedBindError) as raised:
        parse_bind(value, "--portal-bind")
    assert str(raised.value).startswith("--portal-bind: ")
    assert says in str(raised.value)
    assert exit_code_for(raised.value)[0] == 78


def test_a_taken_port_is_in_use_exit_69() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AddressInUseError) as raised:
            check_bindable(Bind("127.0.0.1", port), "--bind")
    assert str(raised.value) == (
        f"--bind: 127.0.0.1:{port} is already in use by another program; stop it or choose "
        "another port"
    )
    assert exit_code_for(raised.value)[0] == 69


def test_a_free_port_and_port_zero_pass() -> None:
    check_bindable(Bind("127.0.0.1", 0), "--bind")
    with socket.socket() as was_used:
        was_used.bind(("127.0.0.1", 0))
        port = was_used.getsockname()[1]
    check_bindable(Bind("127.0.0.1", port), "--bind")


@pytest.mark.parametrize(
    ("bind", "says"),
    [
        (Bind("192.0.2.1", 0), "cannot listen on 192.0.2.1:0"),  # TEST-NET-1: nobody's address
        (Bind("nosuch.invalid", 0), "cannot resolve 'nosuch.invalid'"),  # RFC 6761: never resolves
    ],
)
def test_an_address_this_machine_cannot_listen_on_is_a_settings_problem(
    bind: Bind, says: str
) -> None:
    with pytest.raises(UnusableBindError) as raised:
        check_bindable(bind, "setting grpc.bind")
    assert str(raised.value).startswith(f"setting grpc.bind: {says}")
    assert exit_code_for(raised.value)[0] == 78


@pytest.mark.parametrize(
    ("variable", "setting"),
    [("DATAWARD_GRPC_BIND", "grpc.bind"), ("DATAWARD_PORTAL_BIND", "portal.bind")],
)
def test_a_malformed_bind_setting_fails_when_settings_load(variable: str, setting: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={variable: "127.0.0.1:99999"})
    assert str(raised.value).startswith(f"setting {setting}: port 99999")


def test_the_config_file_bind_is_checked_too(tmp_path: Path) -> None:
    config = tmp_path / "dataward.toml"
    config.write_text('[grpc]\nbind = "127.0.0.1"\n')
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"DATAWARD_CONFIG": str(config)})
    assert str(raised.value).startswith("setting grpc.bind: '127.0.0.1' is not HOST:PORT")
