"""YAML text to plain data, and typed reads of it that know where they are.

PyYAML's safe loader keeps the last of two equal keys silently and shares aliased nodes; a
policy must say each thing once, so the node tree is checked first (duplicate keys, aliases,
explicit tags) and only then built. `At` is a position in the document: every read through it
either returns a value of the asked type or raises the precise `PolicyError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

import yaml

from policies.errors import (
    DuplicateNameError,
    InvalidValueError,
    MissingKeyError,
    PolicyError,
    PolicySyntaxError,
    UnknownKeyError,
    WrongTypeError,
)

__all__ = ["MAX_DOCUMENT_BYTES", "At", "parse"]

MAX_DOCUMENT_BYTES = 1 << 20  # a policy is a page of YAML; a megabyte is not a policy

_PLAIN_TAGS = frozenset(
    "tag:yaml.org,2002:" + kind
    for kind in ("map", "seq", "str", "int", "bool", "null", "float", "timestamp")
)


@dataclass(frozen=True, slots=True)
class At:
    """A position in a document: the file and the path to a value."""

    file: str
    path: str = ""

    def key(self, name: str) -> At:
        return At(self.file, f"{self.path}.{name}" if self.path else name)

    def index(self, i: int) -> At:
        return At(self.file, f"{self.path}[{i}]")

    def fail(self, kind: type[PolicyError], problem: str) -> NoReturn:
        raise kind(self.file, self.path, problem)

    def mapping(
        self, value: object, required: Sequence[str] = (), optional: Sequence[str] = ()
    ) -> Mapping[str, object]:
        """`value` as a mapping with string keys, only the known ones, every required one."""
        if not isinstance(value, dict):
            self.fail(WrongTypeError, f"expected a mapping, got {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                self.fail(WrongTypeError, f"keys must be strings, got {_kind(key)}")
        known = set(required) | set(optional)
        if known:
            for key in value:
                if key not in known:
                    self.key(key).fail(
                        UnknownKeyError, f"unknown key; expected one of {', '.join(sorted(known))}"
                    )
        for key in required:
            if key not in value:
                self.key(key).fail(MissingKeyError, "required key is missing")
        return value

    def names(self, value: object) -> Mapping[str, object]:
        """A mapping from names (identifiers) to anything."""
        items = self.mapping(value)
        for name in items:
            self.key(name).identifier(name)
        return items

    def string(self, value: object) -> str:
        if not isinstance(value, str):
            self.fail(WrongTypeError, f"expected a string, got {_kind(value)}")
        if not value.strip():
            self.fail(InvalidValueError, "must not be empty")
        return value

    def identifier(self, value: object) -> str:
        text = self.string(value)
        if not (text.isascii() and text.isidentifier() and text.lower() == text):
            self.fail(
                InvalidValueError, "must be a lower-case ASCII identifier (letters, digits, _)"
            )
        return text

    def integer(self, value: object, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(WrongTypeError, f"expected an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            self.fail(InvalidValueError, f"must be at least {minimum}")
        return value

    def boolean(self, value: object) -> bool:
        if not isinstance(value, bool):
            self.fail(WrongTypeError, f"expected true or false, got {_kind(value)}")
        return value

    def date(self, value: object) -> str:
        """An ISO date (YAML may already have made it a date), as ISO text."""
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        self.fail(WrongTypeError, f"expected a date (YYYY-MM-DD), got {_kind(value)}")

    def sequence(self, value: object) -> list[object]:
        if not isinstance(value, list):
            self.fail(WrongTypeError, f"expected a list, got {_kind(value)}")
        return value

    def string_set(self, value: object, allowed: frozenset[str] | None = None) -> frozenset[str]:
        """A list of distinct strings (each one of `allowed`, if given)."""
        seen: set[str] = set()
        for i, item in enumerate(self.sequence(value)):
            at = self.index(i)
            text = at.string(item)
            if allowed is not None and text not in allowed:
                at.fail(InvalidValueError, f"must be one of {', '.join(sorted(allowed))}")
            if text in seen:
                at.fail(DuplicateNameError, f"{text!r} is listed twice")
            seen.add(text)
        return frozenset(seen)


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), f"a {type(value).__name__}")


def parse(text: str, file: str) -> object:
    """The plain data of a single YAML document, after checking its node tree."""
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        At(file).fail(PolicySyntaxError, f"the document is over {MAX_DOCUMENT_BYTES} bytes")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        At(file).fail(PolicySyntaxError, f"not valid YAML: {_yaml_problem(exc)}")
    if node is None:
        At(file).fail(PolicySyntaxError, "the document is empty")
    _check_nodes(node, At(file), set())
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        # The node tree was fine but a scalar would not build (e.g. a timestamp out of range).
        At(file).fail(PolicySyntaxError, f"not valid YAML: {exc.__class__.__name__}")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{exc.problem or exc.context or 'syntax error'}{where}"
    return exc.__class__.__name__


def _check_nodes(node: yaml.Node, at: At, seen: set[int]) -> None:
    # PyYAML resolves an alias to the very node it names: a node met twice is an alias.
    if id(node) in seen:
        at.fail(PolicySyntaxError, "anchors and aliases are not allowed; write each value out")
    seen.add(id(node))
    if node.tag not in _PLAIN_TAGS:
        at.fail(PolicySyntaxError, f"the tag {node.tag!r} is not allowed")
    if isinstance(node, yaml.MappingNode):
        keys: set[object] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                at.fail(WrongTypeError, "keys must be strings")
            if key_node.tag == "tag:yaml.org,2002:merge":
                at.fail(PolicySyntaxError, "merge keys (<<) are not allowed")
            name = str(key_node.value)
            child = at.key(name)
            if name in keys:
                child.fail(DuplicateNameError, f"{name!r} is given twice")
            keys.add(name)
            _check_nodes(value_node, child, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_nodes(item, at.index(i), seen)
