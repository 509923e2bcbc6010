"""The README documents every setting and every environment variable (datasette's habit).

Where a section's fields carry their documentation as metadata (``launcher._setting_fields``),
the README's row of each setting must be the one made from it, so the two cannot drift.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from launcher._setting_fields import SettingDoc, setting_docs
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


# Sections whose every field carries its documentation (help, variables, default) as metadata.
DOCUMENTED_SECTIONS = ("portal", "grpc", "query", "budget", "faces", "log", "metrics")
DOCS = [
    doc
    for section in DOCUMENTED_SECTIONS
    for doc in setting_docs(section, type(getattr(Settings(), section)))
]
# The settings table's rows by their first cell ("`portal.bind`").
README_ROWS = {
    match[1]: match[0]
    for match in re.finditer(r"^\| (`[a-z]+\.[a-z_]+`(?:, `[a-z]+\.[a-z_]+`)*) \|.*$", README, re.M)
}


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_the_readme_row_of_a_setting_is_made_from_its_metadata(doc: SettingDoc) -> None:
    assert README_ROWS.get(f"`{doc.name}`") == doc.readme_row, (
        f"README.md's row for {doc.name} should read:\n{doc.readme_row}"
    )


@pytest.mark.parametrize("section", DOCUMENTED_SECTIONS)
def test_the_readme_has_no_row_for_a_setting_that_is_gone(section: str) -> None:
    rows = {cell for cell in README_ROWS if cell.startswith(f"`{section}.")}
    assert rows == {f"`{doc.name}`" for doc in DOCS if doc.name.startswith(f"{section}.")}


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_variable_of_a_setting_is_read(doc: SettingDoc) -> None:
    section, _, name = doc.name.partition(".")
    for variable in doc.env:
        assert doc.secret or ENVIRONMENT.get(variable) == (section, name), variable
