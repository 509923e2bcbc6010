"""Loading template rules: their limits, and every check `policies` can make of a template
(the grammar is the query engine's, at rewrite); each error names its kind and exact path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from policies import (
    DuplicateNameError,
    InvalidValueError,
    MissingKeyError,
    PersonKeyExposedError,
    PolicyError,
    TemplateRule,
    UnknownReferenceError,
    WrongTypeError,
    load_policy,
)
from tests.unit.policies.documents import document, text

Doc = dict[str, Any]
RULE = "views.by_type.rule"
T = f"{RULE}.templates.count_type"


def _rule(doc: Doc) -> Doc:
    rule: Doc = doc["views"]["by_type"]["rule"]
    return rule


def _template(doc: Doc) -> Doc:
    template: Doc = _rule(doc)["templates"]["count_type"]
    return template


def _sql(sql: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        _template(doc)["sql"] = sql

    return change


def _parameter(spec: Doc, sql: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        _template(doc)["sql"] = sql
        _template(doc)["parameters"] = {"k": spec}

    return change


def _limit(key: str, value: object) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        _rule(doc)[key] = value

    return change


def _without(key: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        del _rule(doc)[key]

    return change


def _second_view_with_the_same_template(doc: Doc) -> None:
    view = copy.deepcopy(doc["views"]["by_type"])
    template = view["rule"]["templates"]["count_type"]
    template["sql"] = template["sql"].replace("FROM by_type", "FROM by_type_2")
    doc["views"]["by_type_2"] = view


def _limit_beside_aggregation(doc: Doc) -> None:
    doc["views"]["claims_analysis"]["rule"]["row_cap"] = 10


WHERE_K = "SELECT COUNT(*) AS n FROM by_type WHERE visit_type = :kind AND visit_type = :k"
CASES: list[tuple[str, Callable[[Doc], None], type[PolicyError], str]] = [
    ("no contribution limit", _without("contribution_limit"), MissingKeyError,
     f"{RULE}.contribution_limit"),
    ("no row cap", _without("row_cap"), MissingKeyError, f"{RULE}.row_cap"),
    ("contribution limit 0", _limit("contribution_limit", 0), InvalidValueError,
     f"{RULE}.contribution_limit"),
    ("row cap text", _limit("row_cap", "many"), WrongTypeError, f"{RULE}.row_cap"),
    ("min persons 0", _limit("min_persons", 0), InvalidValueError, f"{RULE}.min_persons"),
    ("rounding base bool", _limit("rounding_base", True), WrongTypeError,
     f"{RULE}.rounding_base"),
    ("limit beside an aggregation rule", _limit_beside_aggregation, InvalidValueError,
     "views.claims_analysis.rule.row_cap"),
    ("template name twice in the policy", _second_view_with_the_same_template,
     DuplicateNameError, "views.by_type_2.rule.templates.count_type"),
    ("unknown column", _sql("SELECT COUNT(*) AS n FROM by_type WHERE visit_typ = :kind"),
     UnknownReferenceError, f"{T}.sql"),
    ("person key selected",
     _sql("SELECT person_key, COUNT(*) AS n FROM by_type WHERE visit_type = :kind"
          " GROUP BY person_key"),
     PersonKeyExposedError, f"{T}.sql"),
    ("person key filtered",
     _sql("SELECT COUNT(*) AS n FROM by_type WHERE visit_type = :kind AND person_key = 'x'"),
     PersonKeyExposedError, f"{T}.sql"),
    ("person key summed, differently cased",
     _sql("SELECT SUM(Person_Key) AS n FROM by_type WHERE visit_type = :kind"),
     PersonKeyExposedError, f"{T}.sql"),
    ("person key in COUNT without DISTINCT",
     _sql("SELECT COUNT(person_key) AS n FROM by_type WHERE visit_type = :kind"),
     PersonKeyExposedError, f"{T}.sql"),
    ("not one select", _sql("SELECT 1; SELECT 2"), InvalidValueError, f"{T}.sql"),
    ("another view", _sql("SELECT COUNT(*) AS n FROM claims_analysis WHERE gender = :kind"),
     UnknownReferenceError, f"{T}.sql"),
    ("parameter declared, not used", _parameter({"type": "int"}, "SELECT COUNT(*) AS n"
     " FROM by_type"), InvalidValueError, f"{T}.parameters.k"),
    ("placeholder not declared", _sql("SELECT COUNT(*) AS n FROM by_type WHERE"
     " visit_type = :kind AND visit_type = :other"), UnknownReferenceError, f"{T}.sql"),
    ("int choice of text", _parameter({"type": "int", "choices": [1, "two"]}, WHERE_K),
     WrongTypeError, f"{T}.parameters.k.choices[1]"),
    ("date choice not a date", _parameter({"type": "date", "choices": ["2025-13-01"]}, WHERE_K),
     WrongTypeError, f"{T}.parameters.k.choices[0]"),
    ("choice under the minimum", _parameter({"type": "int", "minimum": 5, "choices": [7, 4]},
     WHERE_K), InvalidValueError, f"{T}.parameters.k.choices[1]"),
    ("date choice over the maximum",
     _parameter({"type": "date", "maximum": "2025-06-30", "choices": ["2025-07-01"]}, WHERE_K),
     InvalidValueError, f"{T}.parameters.k.choices[0]"),
    ("minimum over maximum", _parameter({"type": "int", "minimum": 3, "maximum": 2}, WHERE_K),
     InvalidValueError, f"{T}.parameters.k.maximum"),
    ("choice twice", _parameter({"type": "str", "choices": ["A", "A"]}, WHERE_K),
     DuplicateNameError, f"{T}.parameters.k.choices[1]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "kind", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_template_error_names_its_kind_and_exact_path(
    change: Callable[[Doc], None], kind: type[PolicyError], path: str
) -> None:
    doc = document()
    change(doc)
    with pytest.raises(PolicyError) as caught:
        load_policy(text(doc), "p.yaml")
    error = caught.value
    assert type(error) is kind, str(error)
    assert (error.file, error.path) == ("p.yaml", path), str(error)
    assert str(error).startswith(f"p.yaml: {path}: ")


def test_the_limits_load_with_their_defaults() -> None:
    rule = load_policy(text(document())).views["by_type"].rule
    assert isinstance(rule, TemplateRule)
    assert (rule.contribution_limit, rule.row_cap, rule.min_persons, rule.rounding_base) == (
        3,
        50,
        11,
        5,
    )
    doc = document()
    _rule(doc).update(min_persons=20, rounding_base=100)
    rule = load_policy(text(doc)).views["by_type"].rule
    assert isinstance(rule, TemplateRule)
    assert (rule.min_persons, rule.rounding_base) == (20, 100)


def test_the_person_key_counted_distinct_and_output_names_in_order_by_load() -> None:
    doc = document()
    _template(doc)["sql"] = (
        "SELECT visit_type, COUNT(DISTINCT person_key) AS persons FROM by_type"
        " WHERE visit_type = :kind GROUP BY visit_type ORDER BY persons"
    )
    rule = load_policy(text(doc)).views["by_type"].rule
    assert isinstance(rule, TemplateRule)
    assert "COUNT(DISTINCT person_key)" in rule.templates["count_type"].sql


@pytest.mark.parametrize(
    "change",
    [_limit("contribution_limit", 4), _limit("row_cap", 51), _limit("min_persons", 12),
     _limit("rounding_base", 10)],
)  # fmt: skip
def test_a_changed_limit_changes_the_version(change: Callable[[Doc], None]) -> None:
    base = load_policy(text(document())).version
    doc = document()
    change(doc)
    assert load_policy(text(doc)).version != base


def test_defaults_of_the_limits_written_out_give_the_same_version() -> None:
    base = load_policy(text(document())).version
    doc = document()
    _rule(doc).update(min_persons=11, rounding_base=5)
    assert load_policy(text(doc)).version == base
