"""The README documents every setting and every environment variable (datasette's habit)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from launcher.settings import (
    CONFIG_VARIABLE,
    ENVIRONMENT,
    MASTER_KEY_FILE_VARIABLE,
    MASTER_KEY_VARIABLE,
    Settings,
)

README = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
SETTINGS = [
    f"{section.name}.{item.name}"
    for section in dataclasses.fields(Settings)
    for item in dataclasses.fields(getattr(Settings(), section.name))
]


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_is_documented(name: str) -> None:
    section, _, item = name.partition(".")
    assert f"`{name}`" in README or f"`{section}.{item}`" in README, name


@pytest.mark.parametrize(
    "variable", [*ENVIRONMENT, MASTER_KEY_VARIABLE, MASTER_KEY_FILE_VARIABLE, CONFIG_VARIABLE]
)
def test_every_environment_variable_is_documented(variable: str) -> None:
    assert f"`{variable}`" in README, variable
