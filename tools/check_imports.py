"""Narrow package APIs, enforced: `make lint` fails on an import past a package's face.

import-linter checks WHO may import whom (pyproject.toml); this checks HOW: across packages,
only a package's face may be imported -- a package (its ``__init__``), or a public module
directly under a top-level package (``dataward.transparency``, ``portal.errors``) -- never
a ``_private`` module or an inner one (``enclave.persons.pipeline``). Inside the zone the same
holds between its sub-packages: ``enclave.persons`` imports ``enclave.consent``, not
``enclave.consent._sqlite``; the zone's root modules (``enclave.errors``, ``enclave._fsio``)
are shared by all of them. Tests may reach inside (they test the insides).

Usage: ``python tools/check_imports.py`` (exit 1 and one line per violation).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "bench",
    "dataward",
    "enclave",
    "grpc_api",
    "launcher",
    "policies",
    "portal",
    "query_engine",
    "synthetic",
)
SKIP = ("dataward/v1/",)  # generated stubs


def _is_package(module: str) -> bool:
    return (ROOT / module.replace(".", "/") / "__init__.py").is_file()


def _targets(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def _problem(importer: str, target: str) -> str | None:
    """Why ``importer`` may not import ``target`` (None if it may)."""
    mine, theirs = importer.split("."), target.split(".")
    if theirs[0] not in PACKAGES:
        return None  # not ours
    if mine[0] != theirs[0]:
        if any(part.startswith("_") for part in theirs[1:]):
            return "a private module of another package"
        if len(theirs) > 2 and not _is_package(target):
            return "an inner module of another package (import its face)"
        return None
    if mine[0] == "enclave" and len(theirs) > 2 and len(mine) > 2 and mine[1] != theirs[1]:
        return f"inside enclave.{theirs[1]} (import the face enclave.{theirs[1]})"
    return None


def violations() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(SKIP):
                continue
            importer = rel.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
            for line, target in _targets(ast.parse(path.read_text(encoding="utf-8"))):
                problem = _problem(importer, target)
                if problem is not None:
                    found.append(f"{rel}:{line}: imports {target}: {problem}")
    return found


def main() -> int:
    found = violations()
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} import(s) past a package's face", file=sys.stderr)
        return 1
    print("imports: every package reached through its face")
    return 0


if __name__ == "__main__":
    sys.exit(main())
