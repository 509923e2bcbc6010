"""Whatever the input, loading returns a Policy or raises a PolicyError, never anything else."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import Policy, PolicyError, load_policy
from tests.unit.policies.documents import document, text

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["SUM", "MAX", "person_key", "dimension", "measure", "exact", "'x.csv'"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _outcome(source: str) -> None:
    try:
        result = load_policy(source, "p.yaml")
    except PolicyError as exc:
        assert exc.file == "p.yaml" and exc.problem
    else:
        assert isinstance(result, Policy)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


_PATHS = _paths(document())[1:]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_PATHS), _values)
def test_any_one_value_replaced(path: tuple[Any, ...], value: object) -> None:
    doc = document()
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    try:
        source = yaml.safe_dump(doc)
    except (yaml.YAMLError, ValueError):
        return
    _outcome(source)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text(source: str) -> None:
    _outcome(source)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2000), st.text(max_size=10))
def test_the_valid_text_cut_or_spliced(at: int, splice: str) -> None:
    source = text(document())
    _outcome(source[:at] + splice + source[at:])
    _outcome(source[:at])
