"""`validate`: a parsed `Query` against one analysis view and its rule, as a decision value.

Every check runs and every failure is reported, each as `REASON(construct)` where the
construct is a column, aggregate or operator name from the policy or the grammar, never a
value of the query. The person key is hidden everywhere except in `COUNT(DISTINCT <key>)`,
its one allowed use. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from policies import AggregationRule, Allow, Column, ColumnRole, Decision, Deny, View
from query_engine.errors import QueryRejected, Reason
from query_engine.query import (
    Aggregate,
    AggregateFunction,
    And,
    Between,
    Comparison,
    Dimension,
    InList,
    Not,
    Or,
    Predicate,
    Query,
    Value,
    predicate_columns,
)

__all__ = [
    "RESERVED_OUTPUT_NAMES",
    "Accepted",
    "Rejected",
    "Rejection",
    "Validation",
    "check",
    "validate",
]

MAX_PREDICATES = 64
"""The most comparisons one WHERE may hold (an OR of 4,000 `=` cost a second to plan)."""
MAX_VALUES = 1000
"""The most values one WHERE may compare with, all its IN lists together."""

MIN_VALUES_CAP = 100
"""The most values an IN list may hold over a dimension whose domain is smaller."""

RESERVED_OUTPUT_NAMES = frozenset({"suppressed"})
"""Output names the answer uses for itself: the output gate's per-row marker column
(`enclave.gate.MARKER_COLUMN`). Names starting with `__` are the rewriting's own."""
_RESERVED_PREFIX = "__"


@dataclass(frozen=True, slots=True)
class Rejection:
    """One failed check: the reason code and the construct behind it (no data value)."""

    reason: Reason
    construct: str = ""

    def __str__(self) -> str:
        return f"{self.reason}({self.construct})" if self.construct else str(self.reason)


@dataclass(frozen=True, slots=True)
class Accepted:
    """The query may run over the view under its aggregation rule."""

    query: Query
    rule: AggregationRule

    def decision(self) -> Decision:
        """As a `policies` decision, to combine with others (`policies.all_of`)."""
        return Allow()


@dataclass(frozen=True, slots=True)
class Rejected:
    """The query may not run, for these reasons (at least one)."""

    rejections: tuple[Rejection, ...]

    def __post_init__(self) -> None:
        if not self.rejections:
            raise ValueError("a Rejected needs at least one rejection")

    @property
    def reasons(self) -> tuple[str, ...]:
        """The reasons as `REASON(construct)` codes, in the order the checks found them."""
        return tuple(str(rejection) for rejection in self.rejections)

    def decision(self) -> Decision:
        """As a `policies` decision: `Deny` with the `REASON(construct)` codes."""
        return Deny(self.reasons)


Validation = Accepted | Rejected


def validate(query: Query, view: View) -> Validation:
    """Check `query` against `view`: `Accepted` only if no check fails (fails closed)."""
    if query.view != view.name.lower():
        # Nothing else can be judged against the wrong view; name the view the query named
        # only by its reason, not its text (it may be a raw table's name).
        return Rejected((Rejection(Reason.VIEW_UNKNOWN),))
    rule = view.rule
    if not isinstance(rule, AggregationRule):
        return Rejected((Rejection(Reason.RULE_NOT_AD_HOC, view.name),))
    found = tuple(dict.fromkeys(_Checks(view, rule).run(query)))
    return Rejected(found) if found else Accepted(query, rule)


def check(query: Query, view: View) -> AggregationRule:
    """`validate`, raising `QueryRejected` with the first rejection; returns the rule."""
    match validate(query, view):
        case Accepted(rule=rule):
            return rule
        case Rejected(rejections=rejections):
            first = rejections[0]
            raise QueryRejected(first.reason, first.construct)
    raise AssertionError("unreachable")  # pragma: no cover


def _value_count(where: Predicate) -> int:
    count = 0
    stack: list[Predicate] = [where]
    while stack:
        match stack.pop():
            case Comparison():
                count += 1
            case InList(values=values):
                count += len(values)
            case Between():
                count += 2
            case And(operands=operands) | Or(operands=operands):
                stack.extend(operands)
            case Not(operand=operand):
                stack.append(operand)
    return count


class _Checks:
    """The checks of one query against one view; each yields its rejections."""

    def __init__(self, view: View, rule: AggregationRule) -> None:
        self._columns = {name.lower(): column for name, column in view.columns.items()}
        self._rule = rule
        self._dimensions = {name.lower() for name in rule.dimensions}
        self._where_columns = {name.lower() for name in rule.where_columns}
        self._aggregates = {
            name.lower(): {function.upper() for function in functions}
            for name, functions in rule.allowed_aggregates.items()
        }

    def run(self, query: Query) -> Iterator[Rejection]:
        yield from self._select(query)
        yield from self._group_by(query)
        yield from self._where(query)
        yield from self._order_by(query)

    def _known(self, name: str) -> Column | Rejection:
        column = self._columns.get(name)
        if column is None:
            return Rejection(Reason.COLUMN_UNKNOWN, name)
        if column.role is ColumnRole.PERSON_KEY:
            return Rejection(Reason.COLUMN_HIDDEN, name)
        return column

    def _dimension(self, name: str) -> Iterator[Rejection]:
        column = self._known(name)
        if isinstance(column, Rejection):
            yield column
        elif column.role is not ColumnRole.DIMENSION:
            yield Rejection(Reason.NOT_A_DIMENSION, name)
        elif name not in self._dimensions:
            yield Rejection(Reason.DIMENSION_NOT_ALLOWED, name)

    def _select(self, query: Query) -> Iterator[Rejection]:
        grouped = set(query.group_by)
        names: list[str] = []
        for item in query.select:
            names.append(item.output_name)
            if isinstance(item, Dimension):
                yield from self._dimension(item.column)
                if item.column not in grouped:
                    yield Rejection(Reason.SELECTED_NOT_GROUPED, item.column)
            else:
                yield from self._aggregate(item)
        for name in sorted({name for name in names if names.count(name) > 1}):
            yield Rejection(Reason.OUTPUT_NAME_AMBIGUOUS, name)
        # One dimension under two names would square the answer's grid (31 provinces thrice:
        # 29,791 cells) past what the cell count below allowed.
        dimensions = [item.column for item in query.select if isinstance(item, Dimension)]
        for column in sorted({c for c in dimensions if dimensions.count(c) > 1}):
            yield Rejection(Reason.DIMENSION_REPEATED, column)
        for item in query.select:
            # An output must not pass one column off as another (`SUM(m) AS province`), nor
            # take a name the answer needs for itself (`gender AS suppressed` would collide
            # with the gate's marker column and stop the answer only after it ran).
            name = item.output_name
            itself = isinstance(item, Dimension) and item.column == name
            reserved = name in RESERVED_OUTPUT_NAMES or name.startswith(_RESERVED_PREFIX)
            if (name in self._columns and not itself) or reserved:
                yield Rejection(Reason.OUTPUT_NAME_AMBIGUOUS, name)

    def _aggregate(self, item: Aggregate) -> Iterator[Rejection]:
        rule = self._rule
        if item.function is AggregateFunction.COUNT_STAR:
            if not rule.count_star:
                yield Rejection(Reason.AGGREGATE_NOT_ALLOWED, "COUNT(*)")
            return
        assert item.column is not None  # only COUNT(*) has no column (Aggregate's contract)
        column = self._columns.get(item.column)
        if column is None:
            yield Rejection(Reason.COLUMN_UNKNOWN, item.column)
            return
        if item.function is AggregateFunction.COUNT_DISTINCT_PERSON:
            # The one allowed use of the person key; of any other column it would count
            # distinct values of it, which the rule does not offer.
            if column.role is not ColumnRole.PERSON_KEY:
                yield Rejection(Reason.AGGREGATE_NOT_ALLOWED, f"COUNT(DISTINCT {item.column})")
            elif not rule.count_distinct_person:
                yield Rejection(Reason.AGGREGATE_NOT_ALLOWED, "COUNT(DISTINCT person)")
            return
        if column.role is ColumnRole.PERSON_KEY:
            yield Rejection(Reason.COLUMN_HIDDEN, item.column)
        elif item.function.value not in self._aggregates.get(item.column, set()):
            yield Rejection(Reason.AGGREGATE_NOT_ALLOWED, f"{item.function}({item.column})")

    def _group_by(self, query: Query) -> Iterator[Rejection]:
        selected = {item.column for item in query.select if isinstance(item, Dimension)}
        for name in query.group_by:
            yield from self._dimension(name)
            # A key left out of the output splits cells that then look alike (two rows of
            # `gender` for `GROUP BY gender, province`): unlabelled cells, which the gate
            # refuses only after the query ran.
            if name not in selected:
                yield Rejection(Reason.GROUPED_NOT_SELECTED, name)
        keys = len(set(query.group_by))
        if keys > self._rule.max_group_keys:
            yield Rejection(Reason.TOO_MANY_GROUP_KEYS, f"{keys} > {self._rule.max_group_keys}")
        # The answer is the whole grid of the keys' public domains (the gate fills the cells
        # the data lacks, suppressed), so its size is known before the query runs.
        cells = 1
        for name in dict.fromkeys(query.group_by):
            column = self._columns.get(name)
            if column is not None and column.domain is not None:
                cells *= len(column.domain)
        if cells > self._rule.row_cap:
            yield Rejection(Reason.TOO_MANY_CELLS, f"{cells} > {self._rule.row_cap}")

    def _where(self, query: Query) -> Iterator[Rejection]:
        if query.where is None:
            return
        operators = {operator.upper() for operator in self._rule.where_operators}
        refused: set[str] = set()
        for name, operator in predicate_columns(query.where):
            if operator not in operators and operator not in refused:
                refused.add(operator)
                yield Rejection(Reason.OPERATOR_NOT_ALLOWED, operator)
            if name is None:
                continue
            column = self._known(name)
            if isinstance(column, Rejection):
                yield column
            elif name not in self._where_columns:
                yield Rejection(Reason.WHERE_COLUMN_NOT_ALLOWED, name)
        yield from dict.fromkeys(self._public_values(query.where))
        leaves = sum(1 for name, _ in predicate_columns(query.where) if name is not None)
        values = _value_count(query.where)
        if leaves > MAX_PREDICATES or values > MAX_VALUES:
            yield Rejection(Reason.TOO_MANY_VALUES, "where")

    def _public_values(self, where: Predicate) -> Iterator[Rejection]:
        """An IN list is no longer than its dimension's public domain (or
        :data:`MIN_VALUES_CAP` for a small one): 10,000 values select
        nothing more than the domain's own and only cost the zone (the attack run slowed
        every partner with 100 KB IN lists)."""
        stack: list[Predicate] = [where]
        while stack:
            node = stack.pop()
            match node:
                case Comparison(column=name, value=value):
                    values: tuple[Value, ...] = (value,)
                case InList(column=name, values=values):
                    pass
                case Between(column=name, low=low, high=high):
                    values = (low, high)
                case And(operands=operands) | Or(operands=operands):
                    stack.extend(operands)
                    continue
                case Not(operand=operand):
                    stack.append(operand)
                    continue
            column = self._columns.get(name)
            if column is None or column.role is not ColumnRole.DIMENSION or column.domain is None:
                continue
            if len(values) > max(len(column.domain), MIN_VALUES_CAP):
                yield Rejection(Reason.TOO_MANY_VALUES, column.name)

    def _order_by(self, query: Query) -> Iterator[Rejection]:
        outputs = {item.output_name for item in query.select}
        for item in query.order_by:
            column = self._columns.get(item.name)
            if column is not None and column.role is ColumnRole.PERSON_KEY:
                yield Rejection(Reason.COLUMN_HIDDEN, item.name)
            elif item.name not in outputs:
                yield Rejection(Reason.ORDER_BY_NOT_OUTPUT, item.name)
