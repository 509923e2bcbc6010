"""Loading policy documents: the valid one loads; every error kind names its exact path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policies import (
    AggregationRule,
    ColumnRole,
    DuplicateNameError,
    InvalidValueError,
    MissingBoundsError,
    MissingDomainError,
    MissingKeyError,
    PersonKeyExposedError,
    PolicyError,
    PolicySyntaxError,
    PolicyUnreadableError,
    TemplateRule,
    UnknownKeyError,
    UnknownReferenceError,
    WrongTypeError,
    load_policy,
    load_policy_file,
)
from tests.unit.policies.documents import document, text

Doc = dict[str, Any]
AGG = "views.claims_analysis.rule.aggregation"


def _agg(doc: Doc) -> Doc:
    rule: Doc = doc["views"]["claims_analysis"]["rule"]["aggregation"]
    return rule


def _cols(doc: Doc) -> Doc:
    cols: Doc = doc["views"]["claims_analysis"]["columns"]
    return cols


def _error(doc: Doc) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy(text(doc), "p.yaml")
    return caught.value


def test_the_valid_document_loads() -> None:
    policy = load_policy(text(document()), "p.yaml")
    view = policy.views["claims_analysis"]
    assert view.columns["gender"].role is ColumnRole.DIMENSION
    assert view.columns["gender"].domain == ("F", "M")
    assert view.columns["total_cents"].lower == 0
    assert view.person_key == "person_key"
    assert isinstance(view.rule, AggregationRule)
    assert view.rule.allowed_aggregates == {"total_cents": frozenset({"SUM", "AVG"})}
    assert (view.rule.min_persons, view.rule.rounding_base, view.rule.release) == (11, 5, "exact")
    assert view.rule.count_star and view.rule.count_distinct_person
    templates = policy.views["by_type"].rule
    assert isinstance(templates, TemplateRule)
    assert templates.templates["count_type"].parameters["kind"].choices == ("INPATIENT",)
    assert len(policy.version) == 64


def _set(path: str, value: object) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _drop(path: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[last]

    return change


V = "views.claims_analysis"
CASES: list[tuple[str, Callable[[Doc], None], type[PolicyError], str]] = [
    ("top not a mapping", lambda d: d.clear(), MissingKeyError, "views"),
    ("unknown top key", _set("vews", {}), UnknownKeyError, "vews"),
    ("views a list", _set("views", []), WrongTypeError, "views"),
    ("bad view name", _set("views.Bad-Name", {}), InvalidValueError, "views.Bad-Name"),
    ("missing sql", _drop(f"{V}.sql"), MissingKeyError, f"{V}.sql"),
    ("sql not a string", _set(f"{V}.sql", 3), WrongTypeError, f"{V}.sql"),
    (
        "sql two statements",
        _set(f"{V}.sql", "SELECT 1 AS a; SELECT 2 AS b"),
        InvalidValueError,
        f"{V}.sql",
    ),
    ("sql not a select", _set(f"{V}.sql", "DROP TABLE claims"), InvalidValueError, f"{V}.sql"),
    (
        "sql outputs an undeclared column",
        _set(
            f"{V}.sql",
            "SELECT 1 AS person_key, 2 AS gender, 3 AS visit_type, 4 AS total_cents, 5 AS extra",
        ),
        UnknownReferenceError,
        f"{V}.sql",
    ),
    (
        "column not output by the sql",
        _set(f"{V}.columns.ghost", {"role": "dimension"}),
        UnknownReferenceError,
        f"{V}.columns.ghost",
    ),
    (
        "unknown role",
        _set(f"{V}.columns.gender.role", "dimenson"),
        InvalidValueError,
        f"{V}.columns.gender.role",
    ),
    (
        "role not a string",
        _set(f"{V}.columns.gender.role", ["dimension"]),
        WrongTypeError,
        f"{V}.columns.gender.role",
    ),
    (
        "unknown column key",
        _set(f"{V}.columns.gender.domian", ["F"]),
        UnknownKeyError,
        f"{V}.columns.gender.domian",
    ),
    (
        "domain on a measure",
        _set(f"{V}.columns.total_cents.domain", ["1"]),
        InvalidValueError,
        f"{V}.columns.total_cents.domain",
    ),
    (
        "bounds on a dimension",
        _set(f"{V}.columns.gender.lower", 0),
        InvalidValueError,
        f"{V}.columns.gender.lower",
    ),
    (
        "duplicate domain value",
        _set(f"{V}.columns.gender.domain", ["F", "F"]),
        DuplicateNameError,
        f"{V}.columns.gender.domain[1]",
    ),
    (
        "empty domain",
        _set(f"{V}.columns.gender.domain", []),
        InvalidValueError,
        f"{V}.columns.gender.domain",
    ),
    (
        "domain value not a string",
        _set(f"{V}.columns.gender.domain", ["F", 1]),
        WrongTypeError,
        f"{V}.columns.gender.domain[1]",
    ),
    (
        "measure without lower",
        _drop(f"{V}.columns.total_cents.lower"),
        MissingBoundsError,
        f"{V}.columns.total_cents.lower",
    ),
    (
        "measure without upper",
        _drop(f"{V}.columns.total_cents.upper"),
        MissingBoundsError,
        f"{V}.columns.total_cents.upper",
    ),
    (
        "bound a boolean",
        _set(f"{V}.columns.total_cents.upper", True),
        WrongTypeError,
        f"{V}.columns.total_cents.upper",
    ),
    (
        "bounds inverted",
        _set(f"{V}.columns.total_cents.lower", 5000),
        InvalidValueError,
        f"{V}.columns.total_cents.upper",
    ),
    (
        "measure without unit",
        _drop(f"{V}.columns.total_cents.unit"),
        MissingKeyError,
        f"{V}.columns.total_cents.unit",
    ),
    (
        "bad unit",
        _set(f"{V}.columns.total_cents.unit", "yuan"),
        InvalidValueError,
        f"{V}.columns.total_cents.unit",
    ),
    (
        "no person key",
        _set(f"{V}.columns.person_key.role", "dimension"),
        MissingKeyError,
        f"{V}.columns",
    ),
    (
        "two person keys",
        _set(f"{V}.columns.visit_type", {"role": "person_key"}),
        InvalidValueError,
        f"{V}.columns.visit_type.role",
    ),
    ("no rule kind", _set(f"{V}.rule", {}), InvalidValueError, f"{V}.rule"),
    ("both rule kinds", _set(f"{V}.rule.templates", {}), InvalidValueError, f"{V}.rule"),
    (
        "unknown rule kind",
        _set(f"{V}.rule.agregation", {}),
        UnknownKeyError,
        f"{V}.rule.agregation",
    ),
    ("unknown rule key", _set(f"{AGG}.max_group_key", 2), UnknownKeyError, f"{AGG}.max_group_key"),
    ("missing row cap", _drop(f"{AGG}.row_cap"), MissingKeyError, f"{AGG}.row_cap"),
    ("row cap zero", _set(f"{AGG}.row_cap", 0), InvalidValueError, f"{AGG}.row_cap"),
    (
        "group keys a string",
        _set(f"{AGG}.max_group_keys", "2"),
        WrongTypeError,
        f"{AGG}.max_group_keys",
    ),
    ("bad release", _set(f"{AGG}.release", "raw"), InvalidValueError, f"{AGG}.release"),
    (
        "count_star not a bool",
        _set(f"{AGG}.count_star", "yes"),
        WrongTypeError,
        f"{AGG}.count_star",
    ),
    (
        "aggregate on unknown column",
        _set(f"{AGG}.aggregates.ghost", ["SUM"]),
        UnknownReferenceError,
        f"{AGG}.aggregates.ghost",
    ),
    (
        "aggregate on a dimension",
        _set(f"{AGG}.aggregates.gender", ["SUM"]),
        UnknownReferenceError,
        f"{AGG}.aggregates.gender",
    ),
    (
        "aggregate on the person key",
        _set(f"{AGG}.aggregates.person_key", ["SUM"]),
        PersonKeyExposedError,
        f"{AGG}.aggregates.person_key",
    ),
    (
        "MAX is not an aggregate",
        _set(f"{AGG}.aggregates.total_cents", ["SUM", "MAX"]),
        InvalidValueError,
        f"{AGG}.aggregates.total_cents[1]",
    ),
    (
        "no aggregate for a measure",
        _set(f"{AGG}.aggregates.total_cents", []),
        InvalidValueError,
        f"{AGG}.aggregates.total_cents",
    ),
    (
        "dimension unknown",
        _set(f"{AGG}.dimensions", ["gender", "ghost"]),
        UnknownReferenceError,
        f"{AGG}.dimensions[1]",
    ),
    (
        "dimension is a measure",
        _set(f"{AGG}.dimensions", ["total_cents"]),
        UnknownReferenceError,
        f"{AGG}.dimensions[0]",
    ),
    (
        "person key in dimensions",
        _set(f"{AGG}.dimensions", ["gender", "person_key"]),
        PersonKeyExposedError,
        f"{AGG}.dimensions[1]",
    ),
    (
        "person key in where",
        _set(f"{AGG}.where.columns", ["person_key"]),
        PersonKeyExposedError,
        f"{AGG}.where.columns[0]",
    ),
    (
        "dimension listed twice",
        _set(f"{AGG}.dimensions", ["gender", "gender"]),
        DuplicateNameError,
        f"{AGG}.dimensions[1]",
    ),
    (
        "grouped dimension without domain",
        _set(f"{AGG}.dimensions", ["gender", "visit_type"]),
        MissingDomainError,
        f"{V}.columns.visit_type.domain",
    ),
    (
        "filtered dimension without domain",
        _set(f"{AGG}.where.columns", ["visit_type"]),
        MissingDomainError,
        f"{V}.columns.visit_type.domain",
    ),
    (
        "unknown operator",
        _set(f"{AGG}.where.operators", ["=", "LIKE"]),
        InvalidValueError,
        f"{AGG}.where.operators[1]",
    ),
    (
        "where without operators",
        _drop(f"{AGG}.where.operators"),
        MissingKeyError,
        f"{AGG}.where.operators",
    ),
    (
        "nothing to aggregate",
        lambda d: _agg(d).update(aggregates={}, count_star=False, count_distinct_person=False),
        InvalidValueError,
        AGG,
    ),
    (
        "no templates",
        _set("views.by_type.rule.templates", {}),
        InvalidValueError,
        "views.by_type.rule.templates",
    ),
    (
        "template sql uses an undeclared parameter",
        _set(
            "views.by_type.rule.templates.count_type.sql",
            "SELECT COUNT(*) AS n FROM by_type WHERE visit_type = :kind OR visit_type = :other",
        ),
        UnknownReferenceError,
        "views.by_type.rule.templates.count_type.sql",
    ),
    (
        "template parameter unused",
        _set("views.by_type.rule.templates.count_type.parameters.extra", {"type": "int"}),
        InvalidValueError,
        "views.by_type.rule.templates.count_type.parameters.extra",
    ),
    (
        "parameter type unknown",
        _set("views.by_type.rule.templates.count_type.parameters.kind.type", "float"),
        InvalidValueError,
        "views.by_type.rule.templates.count_type.parameters.kind.type",
    ),
    (
        "str parameter without choices",
        _drop("views.by_type.rule.templates.count_type.parameters.kind.choices"),
        MissingKeyError,
        "views.by_type.rule.templates.count_type.parameters.kind.choices",
    ),
    (
        "str parameter with bounds",
        _set("views.by_type.rule.templates.count_type.parameters.kind.minimum", "A"),
        InvalidValueError,
        "views.by_type.rule.templates.count_type.parameters.kind.minimum",
    ),
    (
        "sensitive not a boolean",
        _set("views.claims_analysis.sensitive", "yes"),
        WrongTypeError,
        "views.claims_analysis.sensitive",
    ),
    ("grants not a list", _set("grants", {}), WrongTypeError, "grants"),
    (
        "grant of an unknown view",
        _set("grants.0.views", ["claims_analysis", "ghost"]),
        UnknownReferenceError,
        "grants[0].views[1]",
    ),
    ("grant without purpose", _drop("grants.0.purpose"), MissingKeyError, "grants[0].purpose"),
    (
        "grant organization a number",
        _set("grants.0.organization", 2),
        WrongTypeError,
        "grants[0].organization",
    ),
    ("grant with no views", _set("grants.0.views", []), InvalidValueError, "grants[0].views"),
    (
        "grant given twice",
        lambda d: d["grants"].append(copy.deepcopy(d["grants"][0])),
        DuplicateNameError,
        "grants[1]",
    ),
]


@pytest.mark.parametrize(
    ("change", "kind", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_error_names_its_kind_and_exact_path(
    change: Callable[[Doc], None], kind: type[PolicyError], path: str
) -> None:
    doc = document()
    change(doc)
    error = _error(doc)
    assert type(error) is kind, str(error)
    assert (error.file, error.path) == ("p.yaml", path), str(error)
    assert str(error).startswith(f"p.yaml: {path}: " if path else "p.yaml: ")
    assert error.problem


def test_int_and_date_parameters_are_range_checked() -> None:
    doc = document()
    template = doc["views"]["by_type"]["rule"]["templates"]["count_type"]
    template["sql"] = "SELECT COUNT(*) AS n FROM by_type WHERE visit_type = :kind AND 1 < :k"
    template["parameters"]["k"] = {"type": "int", "minimum": 1, "maximum": 10}
    policy = load_policy(text(doc))
    rule = policy.views["by_type"].rule
    assert isinstance(rule, TemplateRule)
    assert rule.templates["count_type"].parameters["k"].maximum == 10
    template["parameters"]["k"] = {"type": "int", "minimum": 10, "maximum": 9}
    assert _error(doc).path.endswith("parameters.k.maximum")
    template["parameters"]["k"] = {"type": "date", "minimum": "2025-01-01", "maximum": "2024-12-31"}
    assert isinstance(_error(doc), InvalidValueError)
    template["parameters"]["k"] = {"type": "date", "minimum": "not a date"}
    error = _error(doc)
    assert (type(error), error.path) == (
        WrongTypeError,
        "views.by_type.rule.templates.count_type.parameters.k.minimum",
    )


SYNTAX: list[tuple[str, str, type[PolicyError], str]] = [
    ("not yaml", "views: [unclosed\n", PolicySyntaxError, ""),
    ("empty", "", PolicySyntaxError, ""),
    ("a scalar", "just text\n", WrongTypeError, ""),
    ("two documents", "views: {}\ngrants: []\n---\nviews: {}\n", PolicySyntaxError, ""),
    ("duplicate key", "views: {}\nviews: {}\ngrants: []\n", DuplicateNameError, "views"),
    (
        "duplicate view",
        "views:\n  a: {}\n  a: {}\ngrants: []\n",
        DuplicateNameError,
        "views.a",
    ),
    ("alias", "views: &v {}\ngrants: *v\n", PolicySyntaxError, "grants"),
    ("python tag", "views: !!python/object:os.system {}\ngrants: []\n", PolicySyntaxError, "views"),
    ("custom tag", "views: !view {}\ngrants: []\n", PolicySyntaxError, "views"),
    ("merge key", "views:\n  <<: {}\ngrants: []\n", PolicySyntaxError, "views"),
    ("non-string key", "views: {}\ngrants: []\n1: 2\n", WrongTypeError, ""),
    ("deep nesting", "views: " + "[" * 5000 + "]" * 5000 + "\n", PolicySyntaxError, ""),
    ("control character", "views: {}\ngrants: []\n\x07\n", PolicySyntaxError, ""),
    ("too big", "views: {}\ngrants: []\n#" + "x" * (1 << 20) + "\n", PolicySyntaxError, ""),
]


@pytest.mark.parametrize(
    ("source", "kind", "path"), [c[1:] for c in SYNTAX], ids=[c[0] for c in SYNTAX]
)
def test_bad_yaml_is_a_policy_error_with_its_path(
    source: str, kind: type[PolicyError], path: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(source, "p.yaml")
    assert type(caught.value) is kind, str(caught.value)
    assert caught.value.path == path


def test_an_unreadable_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyUnreadableError):
        load_policy_file(tmp_path / "missing.yaml")
    with pytest.raises(PolicyUnreadableError):
        load_policy_file(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00views")
    with pytest.raises(PolicyUnreadableError) as caught:
        load_policy_file(binary)
    assert caught.value.file == str(binary)


SOURCES: list[tuple[str, str, type[PolicyError]]] = [
    ("a file path", "SELECT 1 AS person_key FROM 'claims.parquet'", InvalidValueError),
    ("a table function", "SELECT 1 AS person_key FROM read_parquet('x')", InvalidValueError),
    ("glob", "SELECT 1 AS person_key FROM glob('*')", InvalidValueError),
    ("another schema", "SELECT 1 AS person_key FROM other.claims", InvalidValueError),
    ("an unknown table", "SELECT 1 AS person_key FROM secrets", UnknownReferenceError),
]


@pytest.mark.parametrize(("sql", "kind"), [c[1:] for c in SOURCES], ids=[c[0] for c in SOURCES])
def test_a_view_reads_only_zone_tables_by_name(sql: str, kind: type[PolicyError]) -> None:
    doc = document()
    doc["views"]["by_type"]["sql"] = sql
    doc["views"]["by_type"]["columns"] = {"person_key": {"role": "person_key"}}
    doc["views"]["by_type"]["rule"] = {
        "aggregation": {
            "aggregates": {},
            "dimensions": [],
            "max_group_keys": 1,
            "where": {"columns": [], "operators": []},
            "contribution_limit": 1,
            "row_cap": 1,
        }
    }
    with pytest.raises(PolicyError) as caught:
        load_policy(text(doc), "p.yaml", tables=frozenset({"claims", "persons"}))
    assert (type(caught.value), caught.value.path) == (kind, "views.by_type.sql")


def test_a_template_reads_only_its_own_view() -> None:
    doc = document()
    template = doc["views"]["by_type"]["rule"]["templates"]["count_type"]
    template["sql"] = "SELECT COUNT(*) AS n FROM claims WHERE visit_type = :kind"
    error = _error(doc)
    assert (type(error), error.path) == (
        UnknownReferenceError,
        "views.by_type.rule.templates.count_type.sql",
    )


def test_the_zone_tables_are_checked_only_when_given() -> None:
    assert load_policy(text(document()), tables=frozenset({"claims", "persons"}))
    with pytest.raises(UnknownReferenceError):
        load_policy(text(document()), tables=frozenset({"claims"}))
