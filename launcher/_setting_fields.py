"""A setting's documentation, kept once, on its dataclass field.

Each component owns its frozen options type (``portal.PortalOptions``, and so on) and the
settings tree of ``launcher.settings`` composes them. What a setting means, its environment
variable and how its default reads are written as the field's ``metadata``, so that the
README's settings table, a command's ``--help`` and the environment map are all read from the
one place (a test holds the README's rows to it: ``tests/unit/launcher/test_readme.py``).

The metadata is a plain mapping with these keys, because a component may not import the
launcher (``pyproject.toml``'s import-linter layers). A component writes them with
``dataclasses.field(default=..., metadata={...})`` (or a small wrapper of its own, as
``portal.config`` does), the launcher's own sections with ``field(default=...,
metadata=setting_metadata(...))``. Not a launcher wrapper of ``field``: ruff's RUF009 takes
any other call as a shared default, unless the annotation is an immutable type.

========================  ==========================================================
``"help"`` (required)     what it does, in Markdown: the README table's meaning column
``"env"``                 a tuple of the ``DATAWARD_*`` variables it is read from
``"default_text"``        the README's default column where the value does not say it
                          (``None`` that means "derived from ...", "SQLite in ...")
``"secret"``              ``True``: read by its own code (a key from a variable or a key
                          file), so :func:`environment_of` leaves it out
========================  ==========================================================

API: :func:`setting_metadata` writes it. :func:`setting_docs` reads a section's fields as
:class:`SettingDoc` values (raising :class:`TypeError` on a field without help or with an
unknown key), :func:`setting_doc` one of them; :attr:`SettingDoc.readme_row` and
:attr:`SettingDoc.cli_help` render one. :func:`environment_of` gives the ``variable ->
(section, field)`` entries of ``launcher.settings.ENVIRONMENT``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_TEXT",
    "ENV",
    "HELP",
    "SECRET",
    "SettingDoc",
    "environment_of",
    "setting_doc",
    "setting_docs",
    "setting_metadata",
]

HELP = "help"
ENV = "env"
DEFAULT_TEXT = "default_text"
SECRET = "secret"  # noqa: S105 (the name of a metadata key)
_KEYS = frozenset({HELP, ENV, DEFAULT_TEXT, SECRET})


def setting_metadata(
    *,
    help: str,
    env: tuple[str, ...] = (),
    default_text: str | None = None,
    secret: bool = False,
) -> dict[str, Any]:
    """The metadata mapping of one setting (only the keys that say something)."""
    metadata: dict[str, Any] = {HELP: help}
    if env:
        metadata[ENV] = env
    if default_text is not None:
        metadata[DEFAULT_TEXT] = default_text
    if secret:
        metadata[SECRET] = True
    return metadata


@dataclass(frozen=True)
class SettingDoc:
    """One setting as documented: ``name`` is ``section.field``; ``default`` reads as in the
    README (Markdown); ``help`` is Markdown too."""

    name: str
    default: str
    env: tuple[str, ...]
    help: str
    secret: bool

    @property
    def readme_row(self) -> str:
        """The row of the README's settings table (setting | default | environment | meaning)."""
        env = ", ".join(f"`{variable}`" for variable in self.env)
        cells = [f"`{self.name}`", self.default, env, self.help]
        return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"

    @property
    def cli_help(self) -> str:
        """Plain text for a command-line option that overrides the setting."""
        source = ", ".join([f"setting {self.name}", *self.env])
        return f"{_plain(self.help)} (default: {_plain(self.default)}; {source})."


def setting_docs(section: str, options: type) -> tuple[SettingDoc, ...]:
    """Every field of the dataclass ``options`` (inherited ones first), as the ``section``'s
    settings. Raises :class:`TypeError` for a field without help or with an unknown key."""
    return tuple(_doc(section, item) for item in dataclasses.fields(options))


def setting_doc(section: str, options: type, name: str) -> SettingDoc:
    """The field ``name`` of ``options`` (e.g. for the ``--help`` of an option overriding it)."""
    for doc in setting_docs(section, options):
        if doc.name == f"{section}.{name}":
            return doc
    raise KeyError(f"{options.__name__} has no field {name}")


def environment_of(section: str, options: type) -> dict[str, tuple[str, str]]:
    """Each variable of a non-secret field of ``options`` -> ``(section, field name)``."""
    return {
        variable: (section, doc.name.partition(".")[2])
        for doc in setting_docs(section, options)
        if not doc.secret
        for variable in doc.env
    }


def _doc(section: str, item: dataclasses.Field[Any]) -> SettingDoc:
    name = f"{section}.{item.name}"
    metadata: Mapping[str, Any] = item.metadata
    unknown = set(metadata) - _KEYS
    if unknown:
        raise TypeError(f"setting {name}: unknown metadata {', '.join(sorted(unknown))}")
    help_text = metadata.get(HELP)
    if not isinstance(help_text, str) or not help_text:
        raise TypeError(f"setting {name} has no help text (metadata {HELP!r})")
    env = metadata.get(ENV, ())
    if not isinstance(env, tuple) or not all(isinstance(v, str) for v in env):
        raise TypeError(f"setting {name}: metadata {ENV!r} must be a tuple of names")
    default = metadata.get(DEFAULT_TEXT)
    if default is None:
        default = _render_default(item.default)
    return SettingDoc(name, default, env, help_text, bool(metadata.get(SECRET, False)))


def _render_default(value: object) -> str:
    if value is dataclasses.MISSING or value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str | Path):
        return f"`{value}`"
    raise TypeError(f"no README form for a default of type {type(value).__name__}")


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")
