"""A source-level guard beside the behavioural slot test (issue 12): the CKKS scoring module
never calls TenSEAL's rotate-and-add operations, whose unused slots carry partial sums of the
zone's values, nor any rotation."""

from __future__ import annotations

import ast
from pathlib import Path

import enclave.compute._ckks as ckks_module

FORBIDDEN = {
    "dot",
    "dot_",
    "matmul",
    "matmul_",
    "mm",
    "mm_",
    "sum",
    "sum_",
    "enc_matmul_plain",
    "enc_matmul_plain_",
    "conv2d_im2col",
    "conv2d_im2col_",
    "polyval",
    "polyval_",
    "rotate",
    "rotate_",
    "rotate_rows",
    "rotate_columns",
    "rotate_vector",
    "galois_keys",
    "generate_galois_keys",
    "pack_vectors",
    "__matmul__",
    "__imatmul__",
}


def _called_attributes(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            names.add(node.func.id)
    return names


def _matmul_operators(tree: ast.AST) -> list[int]:
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(node.op, ast.MatMult)
    )


def test_the_scoring_module_never_rotates_or_sums() -> None:
    tree = ast.parse(Path(ckks_module.__file__).read_text(encoding="utf-8"))
    assert _called_attributes(tree) & FORBIDDEN == set()
    assert _matmul_operators(tree) == []


def test_the_guard_sees_the_calls_it_forbids() -> None:
    sample = ast.parse("v.dot(w)\nv.sum()\nctx.generate_galois_keys()\nx = v @ m\nv @= m\nsum(v)")
    assert {"dot", "sum", "generate_galois_keys"} <= _called_attributes(sample)
    assert _matmul_operators(sample) == [4, 5]
