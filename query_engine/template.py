"""Templates: the named, parameterised queries a steward approved, rewritten like ad-hoc SQL.

A view with a `policies.TemplateRule` answers only its templates. A template runs through
the same stages as a partner's SQL -- `parse` (the restricted grammar), validation, `rewrite`
(view inlined, contribution bounding, clipping, the `__persons` column, every value a bound
parameter) -- against a rule *derived* from the template itself: it allows exactly the
dimensions, aggregates, WHERE columns and operators and group keys the template uses, with the
template rule's limits (`min_persons`, `rounding_base`, `contribution_limit`, `row_cap`) and
`release="exact"` (a steward approved the query by putting it in the policy). So a template's
author is trusted to choose the query, never to bypass the person-key rules: a template that
selects, groups, filters or orders by the person key is refused (`COLUMN_HIDDEN`), as ad-hoc
SQL is.

The caller's parameters are checked against the template's declarations first:
`PARAMETER_UNKNOWN`, `PARAMETER_MISSING`, `PARAMETER_INVALID` (wrong type) and
`PARAMETER_OUT_OF_RANGE` (outside minimum/maximum or not one of the choices), each naming the
parameter, never its value. A template that is not there and one the caller may not use are
the same `TEMPLATE_UNKNOWN(template)`, so a refusal does not tell which templates exist.
Pure: no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from policies import (
    AggregationRule,
    Allow,
    ColumnRole,
    Parameter,
    Policy,
    ReleaseMode,
    Rule,
    Template,
    TemplateRule,
    View,
)
from query_engine.errors import QueryRejected, Reason
from query_engine.interface import ParameterValue, Rewritten
from query_engine.parse import normalise_identifier, parse
from query_engine.query import (
    Aggregate,
    AggregateFunction,
    Dimension,
    Query,
    predicate_columns,
)
from query_engine.rewrite import rewrite
from query_engine.validate import Rejection

__all__ = [
    "TemplateProblem",
    "TemplateRewrite",
    "approved_rule",
    "approved_view",
    "find_template",
    "rewrite_template",
    "template_problems",
    "template_rule",
]

_UNKNOWN = QueryRejected(Reason.TEMPLATE_UNKNOWN, "template")


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateRewrite:
    """A template rewritten over its view: run `rewritten`, gate it under `rule`.

    `rule` is the effective aggregation rule (derived from the template, with the template
    rule's limits, `release="exact"`): the gate takes `min_persons`, `rounding_base` and
    `row_cap` from it, exactly as for an ad-hoc query's rule.
    """

    view: View
    template: Template
    rewritten: Rewritten
    rule: AggregationRule


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """A template of the policy that would be refused whatever the parameters."""

    view: str
    template: str
    rejection: Rejection

    def __str__(self) -> str:
        return f"views.{self.view}.rule.templates.{self.template}: {self.rejection}"


def find_template(policy: Policy, name: str, *, organization: str, purpose: str) -> View:
    """The view whose rule has the template `name`, if a grant gives it to `organization`
    for `purpose`; else `TEMPLATE_UNKNOWN` (the same for a template that does not exist and
    one of a view not granted). Template names are unique in a loaded policy."""
    for view in policy.views.values():
        if isinstance(view.rule, TemplateRule) and name in view.rule.templates:
            if isinstance(policy.grant_for(organization, purpose, view.name), Allow):
                return view
            break
    raise _UNKNOWN


def rewrite_template(
    view: View,
    name: str,
    parameters: Mapping[str, ParameterValue],
    *,
    dialect: str = "duckdb",
    release: ReleaseMode = "exact",
) -> TemplateRewrite:
    """Check `parameters` against the template `name` of `view`, then parse, validate and
    rewrite its SQL under the rule derived from it (see the module docstring). With
    `release="dp"` (a grant that demands differential privacy) the derived rule releases in
    dp and the rewrite bounds the cells each person counts in (the derived rule's).

    Raises `QueryRejected`: `TEMPLATE_UNKNOWN` when the view has no such template (or no
    template rule), a `PARAMETER_*` reason, or any reason of `parse`, `validate` and
    `rewrite` the template's SQL meets (a template the grammar refuses is refused, not run).
    """
    rule = view.rule
    if not isinstance(rule, TemplateRule) or name not in rule.templates:
        raise _UNKNOWN
    template = rule.templates[name]
    values = _checked(template, parameters)
    query = parse(template.sql)
    derived = template_rule(query, rule)
    cells = None
    if release == "dp":
        derived = replace(derived, release="dp")
        cells = derived.cells_per_person
    inner = replace(view, rule=derived)
    rewritten = rewrite(query, inner, values, dialect=dialect, cells_per_person=cells)
    return TemplateRewrite(view=view, template=template, rewritten=rewritten, rule=derived)


def template_rule(query: Query, rule: TemplateRule) -> AggregationRule:
    """The aggregation rule that allows exactly what `query` uses, under `rule`'s limits.

    The person key is not exempt: naming it as a dimension or WHERE column here only makes
    validation refuse it (`COLUMN_HIDDEN`), since validation hides it whatever a rule lists.
    """
    return _derived(query, rule, release="exact", measures=None)


def approved_rule(
    query: Query, view: View, *, release: ReleaseMode, epsilon_micro: int | None = None
) -> AggregationRule:
    """The rule a steward's approval of `query` gives it over `view` (issue 11): exactly what
    the query uses -- dimensions, aggregates, WHERE columns and operators, group keys --
    under the limits of the view's rule, aggregation or template alike (`min_persons`,
    `rounding_base`, `contribution_limit`, `row_cap`; an aggregation rule's
    `cells_per_person` too), released with `release` at `epsilon_micro` per query (the
    approval's mode and epsilon; None: the view rule's, or 1.0 for a template view). A
    steward lifts what the view's rule does not list, never its limits.

    As for templates, the person key stays hidden, and a `SUM`/`AVG` is allowed only of a
    measure of the view (of anything else validation refuses it, `AGGREGATE_NOT_ALLOWED`:
    only a measure has the clip bounds the rewrite bounds a sum with).
    """
    measures = {
        name.lower() for name, column in view.columns.items() if column.role is ColumnRole.MEASURE
    }
    derived = _derived(query, view.rule, release=release, measures=measures)
    return derived if epsilon_micro is None else replace(derived, epsilon_micro=epsilon_micro)


def approved_view(
    query: Query, view: View, *, release: ReleaseMode, epsilon_micro: int | None = None
) -> View:
    """`view` under :func:`approved_rule` -- what `validate` and `rewrite` take for an
    approved query."""
    rule = approved_rule(query, view, release=release, epsilon_micro=epsilon_micro)
    return replace(view, rule=rule)


def _derived(
    query: Query, limits: Rule, *, release: ReleaseMode, measures: set[str] | None
) -> AggregationRule:
    aggregates: dict[str, set[str]] = {}
    count_star = count_distinct = False
    for item in query.select:
        if not isinstance(item, Aggregate):
            continue
        if item.function is AggregateFunction.COUNT_STAR:
            count_star = True
        elif item.function is AggregateFunction.COUNT_DISTINCT_PERSON:
            count_distinct = True
        elif item.column is not None and (measures is None or item.column in measures):
            aggregates.setdefault(item.column, set()).add(item.function.value)
    dimensions = {item.column for item in query.select if isinstance(item, Dimension)}
    used = predicate_columns(query.where) if query.where is not None else []
    derived = AggregationRule(
        allowed_aggregates=MappingProxyType({m: frozenset(f) for m, f in aggregates.items()}),
        count_star=count_star,
        count_distinct_person=count_distinct,
        dimensions=frozenset(dimensions | set(query.group_by)),
        max_group_keys=max(1, len(set(query.group_by))),
        min_persons=limits.min_persons,
        rounding_base=limits.rounding_base,
        where_columns=frozenset(column for column, _ in used if column is not None),
        where_operators=frozenset(operator for _, operator in used),
        contribution_limit=limits.contribution_limit,
        release=release,
        row_cap=limits.row_cap,
    )
    if isinstance(limits, AggregationRule):  # its DP limits too (a template rule has none)
        derived = replace(
            derived,
            epsilon_micro=limits.epsilon_micro,
            cells_per_person=limits.cells_per_person,
            delta=limits.delta,
        )
    return derived


def template_problems(policy: Policy, *, dialect: str = "duckdb") -> tuple[TemplateProblem, ...]:
    """Every template of `policy` the query engine would refuse whatever the caller passes:
    its SQL outside the grammar, the person key exposed, a parameter of the wrong kind for
    its column. For `dataward policy check` and `apply` (policies cannot check the grammar).

    Each template is rewritten once with sample values (its first choice, else its minimum,
    else its maximum, else 0 or 1970-01-01), which are never run."""
    problems: list[TemplateProblem] = []
    for view in policy.views.values():
        if not isinstance(view.rule, TemplateRule):
            continue
        for name, template in view.rule.templates.items():
            sample = {p: _sample(spec) for p, spec in template.parameters.items()}
            try:
                rewrite_template(view, name, sample, dialect=dialect)
            except QueryRejected as refused:
                rejection = Rejection(refused.reason, refused.construct)
                problems.append(TemplateProblem(view.name, name, rejection))
    return tuple(problems)


def _sample(parameter: Parameter) -> ParameterValue:
    if parameter.choices:
        return parameter.choices[0]
    for bound in (parameter.minimum, parameter.maximum):
        if bound is not None:
            return bound
    return 0 if parameter.type == "int" else "1970-01-01"


def _checked(
    template: Template, parameters: Mapping[str, ParameterValue]
) -> dict[str, ParameterValue]:
    """The caller's values by declared name, each of its type and within its range."""
    given: dict[str, ParameterValue] = {}
    for raw in sorted(parameters):
        try:
            name = normalise_identifier(raw)
        except QueryRejected:
            raise QueryRejected(Reason.PARAMETER_UNKNOWN, "parameter name") from None
        if name not in template.parameters or name in given:
            raise QueryRejected(Reason.PARAMETER_UNKNOWN, name)
        given[name] = parameters[raw]
    for name in sorted(template.parameters):
        if name not in given:
            raise QueryRejected(Reason.PARAMETER_MISSING, name)
    for name in sorted(given):
        _check_value(template.parameters[name], given[name])
    return given


def _check_value(parameter: Parameter, value: ParameterValue) -> None:
    name = parameter.name
    match parameter.type:
        case "int":
            typed = type(value) is int  # a bool, a Decimal or text is not an int parameter
        case "date":
            typed = isinstance(value, str) and _iso_date(value)
        case _:
            typed = isinstance(value, str)
    if not typed:
        raise QueryRejected(Reason.PARAMETER_INVALID, name)
    if parameter.choices is not None and value not in parameter.choices:
        raise QueryRejected(Reason.PARAMETER_OUT_OF_RANGE, name)
    for bound, below in ((parameter.minimum, True), (parameter.maximum, False)):
        if bound is not None and _beyond(value, bound, below=below):
            raise QueryRejected(Reason.PARAMETER_OUT_OF_RANGE, name)


def _beyond(value: ParameterValue, bound: int | str, *, below: bool) -> bool:
    """`value` under (`below`) or over the bound: ints as numbers, ISO dates as text (which
    orders them by date). A bound of another type than the value is beyond (fails closed;
    `policies` gives a parameter's bounds its own type)."""
    if type(value) is int and type(bound) is int:
        return value < bound if below else value > bound
    if isinstance(value, str) and isinstance(bound, str):
        return value < bound if below else value > bound
    return True


def _iso_date(value: str) -> bool:
    """`YYYY-MM-DD` exactly (Python also reads `20250101` and week dates; a bound is ISO)."""
    try:
        return dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False
