"""The [grpc] settings are the gRPC API's own options, not copies of them (issue 9)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from grpc_api import InvalidOptionError, ServerOptions, VerifierOptions
from launcher._cmd_serve import serve
from launcher._setting_fields import setting_doc
from launcher._wiring import server_options
from launcher.settings import GrpcSettings, SettingsError, load_settings


def _names(options: type) -> list[str]:
    return [f.name for f in dataclasses.fields(options)]


def test_the_section_is_the_servers_and_the_verifiers_options_and_nothing_else() -> None:
    assert issubclass(GrpcSettings, ServerOptions) and issubclass(GrpcSettings, VerifierOptions)
    assert _names(GrpcSettings) == [*_names(ServerOptions), *_names(VerifierOptions)]


def test_the_server_gets_only_its_part_of_the_section() -> None:
    changed = {"max_workers": 8, "rate_limit_burst": 3, "token_leeway_seconds": 1.0}
    settings = load_settings(overrides={"grpc": changed}, environ={})
    options = server_options(settings.grpc)
    assert type(options) is ServerOptions
    assert options == ServerOptions(max_workers=8, rate_limit_burst=3)
    assert server_options(settings.grpc, "127.0.0.1:0") == dataclasses.replace(
        options, bind="127.0.0.1:0"
    )


def test_the_bind_variable_is_read_into_its_setting() -> None:
    env = {"DATAWARD_GRPC_BIND": "127.0.0.1:9"}
    assert load_settings(environ=env).grpc.bind == "127.0.0.1:9"


CHECKS = [
    ("max_workers", 0, "must be at least 1"),
    ("max_batch_items", 0, "must be at least 1"),
    ("max_message_bytes", -1, "must be at least 65536"),
    ("batch_group", 0, "must be at least 1"),
    ("token_leeway_seconds", -1.0, "must not be negative"),
    ("unauthenticated_refusals_per_second", 0.0, "must be greater than 0"),
    ("unauthenticated_refusals_burst", 0, "must be at least 1"),
    ("refusal_summary_seconds", 0.0, "must be greater than 0"),
]


@pytest.mark.parametrize(("name", "value", "rule"), CHECKS, ids=[c[0] for c in CHECKS])
def test_the_api_checks_its_options_and_the_launcher_names_the_setting(
    name: str, value: float, rule: str
) -> None:
    owner: type[object] = VerifierOptions if name in _names(VerifierOptions) else ServerOptions
    given: dict[str, Any] = {name: value}
    with pytest.raises(InvalidOptionError) as raised:
        owner(**given)
    assert (raised.value.option, raised.value.rule) == (name, rule)
    with pytest.raises(SettingsError) as settings_error:
        load_settings(overrides={"grpc": {name: value}}, environ={})
    assert str(settings_error.value) == f"setting grpc.{name} {rule}"
    assert isinstance(settings_error.value.__cause__, InvalidOptionError)


def test_serve_help_is_the_settings_text() -> None:
    helps = {param.name: getattr(param, "help", None) for param in serve.params}
    assert helps["grpc_bind"] == setting_doc("grpc", GrpcSettings, "bind").cli_help
    assert "DATAWARD_GRPC_BIND" in str(helps["grpc_bind"])
