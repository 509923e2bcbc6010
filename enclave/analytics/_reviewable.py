"""Which submissions go to a steward, and what a steward reads about one (issue 11).

A submitted query goes to review (PENDING_REVIEW) when no automatic rule allows it but a
steward could: a query over a template-only view (a template the partner proposes,
``RULE_NOT_AD_HOC``), or one that the view's aggregation rule refuses ONLY for reasons in
:data:`REVIEWABLE` -- what the rule does not list, which is the steward's to extend:

- ``DIMENSION_NOT_ALLOWED``    a dimension of the view the rule does not list
- ``AGGREGATE_NOT_ALLOWED``    an aggregate of a measure (or a count) the rule does not offer
- ``WHERE_COLUMN_NOT_ALLOWED`` a WHERE column the rule does not list
- ``OPERATOR_NOT_ALLOWED``     a WHERE operator the rule does not list
- ``TOO_MANY_GROUP_KEYS``      more group keys than the rule's ``max_group_keys``

and only if the query would then pass everything else: it is validated again under the rule an
approval would give it (:func:`query_engine.approved_view`: exactly what it uses, the view
rule's limits) and, without parameters, rewritten. So what no steward may ever approve stays
REJECTED with every reason: anything outside the grammar (``PARSE_ERROR``,
``CONSTRUCT_NOT_ALLOWED``, ...), the person key exposed (``COLUMN_HIDDEN``), identifiers
(``IDENTIFIER_NOT_ALLOWED``), unknown columns (``COLUMN_UNKNOWN``, ``NOT_A_DIMENSION``), a sum of
anything but a measure, values of the wrong kind or more than a public domain holds
(``VALUE_TYPE_MISMATCH``, ``TOO_MANY_VALUES``), a grid past the row cap (``TOO_MANY_CELLS``:
an approval lifts what the rule lists, never its limits), and the shape errors
(``SELECTED_NOT_GROUPED``, ``GROUPED_NOT_SELECTED``, ``OUTPUT_NAME_AMBIGUOUS``,
``DIMENSION_REPEATED``, ``ORDER_BY_NOT_OUTPUT``). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import query_engine
from enclave.analytics._store import QueryStatus
from policies import AggregationRule, ColumnRole, ReleaseMode, View

__all__ = ["REVIEWABLE", "Analysis", "analyse", "default_mode", "judge"]

R = query_engine.Reason
REVIEWABLE: frozenset[str] = frozenset(
    {
        R.RULE_NOT_AD_HOC,
        R.DIMENSION_NOT_ALLOWED,
        R.AGGREGATE_NOT_ALLOWED,
        R.WHERE_COLUMN_NOT_ALLOWED,
        R.OPERATOR_NOT_ALLOWED,
        R.TOO_MANY_GROUP_KEYS,
    }
)
"""The rejections a steward may lift by approving the query (see the module docstring)."""


def default_mode(view: View) -> ReleaseMode:
    """The view's own release mode (templates release exactly); what an approval gives by
    default is the policy's mode for the submitter (:meth:`policies.Policy.release_for`,
    which a grant can make stricter)."""
    return view.rule.release if isinstance(view.rule, AggregationRule) else "exact"


def judge(
    query: query_engine.Query, view: View, *, dialect: str
) -> tuple[QueryStatus, tuple[query_engine.Rejection, ...]]:
    """ACCEPTED (no rejection), PENDING_REVIEW with the rejections a steward would lift, or
    REJECTED with every rejection found (see the module docstring)."""
    if isinstance(view.rule, AggregationRule):
        validation = query_engine.validate(query, view)
        if isinstance(validation, query_engine.Accepted):
            found: tuple[query_engine.Rejection, ...] = ()
            if not query.parameters:  # what Run would refuse anyway (a value of the wrong kind)
                found = _rewrite_problem(query, view, dialect)
            return (QueryStatus.REJECTED, found) if found else (QueryStatus.ACCEPTED, ())
        found = validation.rejections
        if any(str(r.reason) not in REVIEWABLE for r in found):
            return QueryStatus.REJECTED, found
    else:
        found = (query_engine.Rejection(R.RULE_NOT_AD_HOC, view.name),)
    approved = query_engine.approved_view(query, view, release=default_mode(view))
    again = query_engine.validate(query, approved)
    if isinstance(again, query_engine.Rejected):
        return QueryStatus.REJECTED, tuple(dict.fromkeys(found + again.rejections))
    if not query.parameters:
        problem = _rewrite_problem(query, approved, dialect)
        if problem:
            return QueryStatus.REJECTED, found + problem
    return QueryStatus.PENDING_REVIEW, found


def _rewrite_problem(
    query: query_engine.Query, view: View, dialect: str
) -> tuple[query_engine.Rejection, ...]:
    try:
        query_engine.rewrite(query, view, {}, dialect=dialect)
    except query_engine.QueryRejected as rejected:
        return (query_engine.Rejection(rejected.reason, rejected.construct),)
    return ()


@dataclass(frozen=True)
class Analysis:
    """What a steward reads about a query before deciding: the view columns it touches (in
    the view's order), the grid of cells it would release (the product of the grouped
    dimensions' public domain sizes; 0 when one has no domain), the measures it sums, the
    rule an approval would give it and the release mode by default."""

    columns: tuple[str, ...]
    cells: int
    measures: tuple[str, ...]
    rule: AggregationRule
    mode: ReleaseMode


def analyse(query: query_engine.Query, view: View, mode: ReleaseMode) -> Analysis:
    """The analysis of ``query`` over ``view`` released by default with ``mode`` (any query
    the grammar took; pure)."""
    by_name = {name.lower(): name for name in view.columns}
    used: set[str] = set(query.group_by)
    for item in query.select:
        if item.column is not None:
            used.add(item.column)
    if query.where is not None:
        used |= {c for c, _ in query_engine.predicate_columns(query.where) if c is not None}
    touched = {by_name[name] for name in used if name in by_name}
    cells = 1
    for key in dict.fromkeys(query.group_by):
        column = view.columns.get(by_name.get(key, ""))
        cells *= len(column.domain) if column is not None and column.domain is not None else 0
    measures = tuple(
        dict.fromkeys(
            by_name[item.column]
            for item in query.select
            if isinstance(item, query_engine.Aggregate)
            and item.function in _SUMMED
            and item.column in by_name
            and view.columns[by_name[item.column]].role is ColumnRole.MEASURE
        )
    )
    return Analysis(
        columns=tuple(name for name in view.columns if name in touched),
        cells=cells,
        measures=measures,
        rule=query_engine.approved_rule(query, view, release=mode),
        mode=mode,
    )


_SUMMED = (query_engine.AggregateFunction.SUM, query_engine.AggregateFunction.AVG)
