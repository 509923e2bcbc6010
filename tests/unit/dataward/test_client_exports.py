"""Everything a partner's call needs comes from ``dataward.client`` (issue 14).

Two checks: every name the README's Python examples use without defining it is exported by
``dataward.client`` (or one of its public modules), and every type in the signature of a
public :class:`~dataward.client.Client` method is too -- a partner never digs into
``dataward.access`` or a private module for ``Purpose``, ``Receipt`` or a result type.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
import typing
from pathlib import Path

import dataward.client
from dataward.client import Client

README = Path(__file__).resolve().parents[3] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# Names from outside the SDK that a signature may use: the standard library, grpc's channel
# credentials and cryptography's key type (the partner has those packages anyway).
_FOREIGN = {
    "Callable",  # collections.abc: a progress callback (check_many)
    "None",
    "NoneType",
    "Decimal",
    "Iterable",
    "Iterator",
    "Mapping",
    "ChannelCredentials",
    "Ed25519PublicKey",
}


def _imported(module: str, name: str) -> object:
    """What ``from module import name`` gives: an attribute, or a submodule."""
    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError:
        return importlib.import_module(f"{module}.{name}")


def _readme_blocks() -> list[ast.Module]:
    blocks = _BLOCK.findall(README.read_text(encoding="utf-8"))
    assert blocks, "the README has Python examples"
    return [ast.parse(block) for block in blocks]


def _defined(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def test_readme_imports_from_the_sdk_exist() -> None:
    for tree in _readme_blocks():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dataward"):
                for alias in node.names:
                    value = _imported(node.module or "", alias.name)  # raises when absent
                    if node.module == "dataward.client" and not inspect.ismodule(value):
                        assert alias.name in dataward.client.__all__, alias.name


def test_readme_names_are_exported_by_dataward_client() -> None:
    defined: set[str] = set(dir(builtins))
    sdk_modules: dict[str, object] = {}
    for tree in _readme_blocks():
        defined |= _defined(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "dataward.client":
                for alias in node.names:
                    value = _imported("dataward.client", alias.name)
                    if inspect.ismodule(value):
                        sdk_modules[alias.asname or alias.name] = value
    missing: list[str] = []
    for tree in _readme_blocks():
        for node in ast.walk(tree):
            # A type or error the example names but does not define: the SDK must export it.
            if (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and node.id[0].isupper()
                and node.id not in defined
                and node.id not in dataward.client.__all__
            ):
                missing.append(node.id)
            # compute.PaillierKeys and the like: the public module has it.
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                module = sdk_modules.get(node.value.id)
                if module is not None and not hasattr(module, node.attr):
                    missing.append(f"{node.value.id}.{node.attr}")
    assert not missing, f"README examples use names dataward.client does not export: {missing}"


def test_every_type_a_client_call_needs_is_exported() -> None:
    hints_module = vars(importlib.import_module("dataward.client._client"))
    missing: set[str] = set()
    for name, method in inspect.getmembers(Client, inspect.isfunction):
        if name.startswith("_") and name != "__init__":
            continue
        hints = typing.get_type_hints(method, hints_module)
        for hint in hints.values():
            for word in re.findall(r"\b[A-Z][A-Za-z0-9_]+", repr(hint)):
                if word not in _FOREIGN and word not in dataward.client.__all__:
                    missing.add(f"{name}: {word}")
    assert not missing, sorted(missing)


def test_purpose_and_scope_are_the_access_vocabulary() -> None:
    from dataward.access import Purpose, Scope

    assert dataward.client.Purpose is Purpose
    assert dataward.client.Scope is Scope
    assert dataward.client.Purpose("RESEARCH") == "RESEARCH"


def test_all_names_resolve() -> None:
    for name in dataward.client.__all__:
        assert hasattr(dataward.client, name), name
