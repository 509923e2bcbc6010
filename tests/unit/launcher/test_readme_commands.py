"""README's Commands table against the real command tree (issue 14: the README stays true).

Each row's first cell is a command line (`dataward zone ingest --zone DIR ...`; `a\\|b` names
two subcommands): its command must exist and every option it shows must be in that
command's ``--help``. And every command ``dataward`` has must have a row, or be named in
backticks in the row of the group it belongs to (`dataward portal ...`: "subcommands
`create-steward`, ..."), so a new command cannot ship undocumented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from launcher.cli import cli

README = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
_SECTION = README.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
_WORD = re.compile(r"[a-z][a-z-]*(?:\\\|[a-z][a-z-]*)*")
_OPTION = re.compile(r"(?<![\w-])(--?[a-z][a-z-]*)")


@dataclass(frozen=True)
class Row:
    line: str  # the command line of the first cell, as written
    paths: tuple[tuple[str, ...], ...]  # the commands it names (two for `a\|b`)
    options: tuple[str, ...]
    does: str  # the second cell


def _rows() -> list[Row]:
    rows = []
    for raw in _SECTION.splitlines():
        match = re.match(r"^\| `(dataward[^`]*)`(.*?) \| (.*) \|$", raw)
        if match is None:
            continue
        line, _rest, does = match.groups()
        words = line.split()[1:]
        path: list[list[str]] = [[]]
        for word in words:
            if not _WORD.fullmatch(word):
                break
            path = [[*prefix, name] for prefix in path for name in word.split("\\|")]
        options = tuple(dict.fromkeys(_OPTION.findall(line)))
        rows.append(Row(line, tuple(tuple(p) for p in path), options, does))
    return rows


ROWS = _rows()


def _command(path: tuple[str, ...]) -> click.Command | None:
    command: click.Command = cli
    for name in path:
        if not isinstance(command, click.Group) or name not in command.commands:
            return None
        command = command.commands[name]
    return command


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every visible command's path: groups too, their subcommands below them."""
    found = []
    for name, command in group.commands.items():
        if command.hidden:
            continue
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found += _commands(command, path)
    return found


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="dataward")
    assert result.exit_code == 0, result.output
    return result.output


def test_the_table_was_read() -> None:
    assert len(ROWS) >= 20
    assert (("zone", "init"),) in [row.paths for row in ROWS]
    assert ("query", "explain") in next(
        r.paths for r in ROWS if r.line.startswith("dataward query e")
    )


@pytest.mark.parametrize("row", ROWS, ids=lambda row: " ".join(row.paths[0]))
def test_every_command_in_the_table_exists_with_the_options_it_shows(row: Row) -> None:
    for path in row.paths:
        assert _command(path) is not None, (
            f"README names `dataward {' '.join(path)}`: no such command"
        )
        shown = _help(path)
        missing = [
            option for option in row.options if not re.search(rf"(?<![\w-]){option}\b", shown)
        ]
        assert not missing, f"`dataward {' '.join(path)} --help` has no {', '.join(missing)}"


def _documented(path: tuple[str, ...]) -> bool:
    if any(path in row.paths for row in ROWS):
        return True
    parent = path[:-1]
    return any(parent in row.paths and f"`{path[-1]}`" in row.does for row in ROWS)


def _leaf_or_served(path: tuple[str, ...]) -> bool:
    """A command that does something itself: not a group, or a group that runs without a
    subcommand (`dataward portal` serves)."""
    command = _command(path)
    return not isinstance(command, click.Group) or command.invoke_without_command


@pytest.mark.parametrize("path", [p for p in _commands(cli) if _leaf_or_served(p)], ids=" ".join)
def test_every_command_has_a_row(path: tuple[str, ...]) -> None:
    assert _documented(path), (
        f"`dataward {' '.join(path)}` is not in README.md's Commands table: add its row (or "
        "name it in backticks in its group's row)"
    )
