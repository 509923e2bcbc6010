"""Settings documented as field metadata: how a field is read, rendered and refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from launcher._setting_fields import (
    SettingDoc,
    environment_of,
    setting_doc,
    setting_docs,
    setting_metadata,
)


@dataclass(frozen=True)
class _Options:
    bind: str = field(
        default="127.0.0.1:1", metadata=setting_metadata(help="the address", env=("DW_BIND",))
    )
    ratio: float = field(default=0.25, metadata=setting_metadata(help="a `share`"))
    seconds: float = field(default=10.0, metadata=setting_metadata(help="how often"))
    on: bool = field(default=False, metadata=setting_metadata(help="a switch"))
    where: Path | None = field(default=None, metadata=setting_metadata(help="a file"))
    url: str | None = field(
        default=None, metadata=setting_metadata(help="a URL", default_text="SQLite in `DIR`")
    )
    key: bytes | None = field(
        default=None,
        metadata=setting_metadata(help="a key", env=("DW_K", "DW_K_FILE"), secret=True),
    )


def test_every_field_becomes_a_doc_with_its_default_as_the_readme_shows_it() -> None:
    docs = {doc.name: doc for doc in setting_docs("s", _Options)}
    assert list(docs) == [f"s.{name}" for name in _Options.__dataclass_fields__]
    assert [doc.default for doc in docs.values()] == [
        "`127.0.0.1:1`",
        "0.25",
        "10",
        "false",
        "—",
        "SQLite in `DIR`",
        "—",
    ]
    assert docs["s.key"] == SettingDoc("s.key", "—", ("DW_K", "DW_K_FILE"), "a key", secret=True)
    assert setting_doc("s", _Options, "url") == docs["s.url"]
    with pytest.raises(KeyError, match="_Options has no field nope"):
        setting_doc("s", _Options, "nope")


def test_a_row_of_the_settings_table_and_an_option_help() -> None:
    bind, ratio = setting_docs("s", _Options)[:2]
    assert bind.readme_row == "| `s.bind` | `127.0.0.1:1` | `DW_BIND` | the address |"
    assert ratio.readme_row == "| `s.ratio` | 0.25 | | a `share` |"
    assert bind.cli_help == "the address (default: 127.0.0.1:1; setting s.bind, DW_BIND)."
    assert ratio.cli_help == "a share (default: 0.25; setting s.ratio)."


def test_the_environment_map_leaves_out_secrets() -> None:
    assert environment_of("s", _Options) == {"DW_BIND": ("s", "bind")}


def test_a_field_without_help_or_with_an_unknown_key_is_refused() -> None:
    @dataclass(frozen=True)
    class Bare:
        x: int = 1

    @dataclass(frozen=True)
    class Typo:
        x: int = field(default=1, metadata={"help": "x", "envs": ("X",)})

    @dataclass(frozen=True)
    class OneName:
        x: int = field(default=1, metadata={"help": "x", "env": "X"})

    with pytest.raises(TypeError, match=r"^setting s\.x has no help text"):
        setting_docs("s", Bare)
    with pytest.raises(TypeError, match=r"^setting s\.x: unknown metadata envs$"):
        setting_docs("s", Typo)
    with pytest.raises(TypeError, match="must be a tuple of names"):
        setting_docs("s", OneName)
