"""Load a policy document (YAML) into a validated `Policy`, or raise the precise `PolicyError`.

The format (every key shown; ``[]`` lists, ``{}`` mappings)::

    views:
      <view>:                       # lower-case identifier
        sql: SELECT ... FROM claims JOIN persons ...   # over zone tables; outputs = columns
        sensitive: true             # default false: a query sent to review needs two stewards
        columns:
          <column>: {role: dimension, domain: [<public values>]}
          <column>: {role: measure, lower: 0, upper: 5000000, unit: cents}   # or count
          <column>: {role: person_key}                  # exactly one per view
        rule:                       # exactly one of aggregation, templates:
          aggregation:
            release: exact          # or dp (the default)
            epsilon: 1.0            # dp: what one query costs (default 1.0), in [0.001, 10]
            cells_per_person: 1     # dp: cells of one answer a person counts in (default 1)
            delta: 1.0e-10          # dp: of selecting cells by noise, for a dimension
                                    # without a domain (default 1e-10, at most 1e-5)
            aggregates: {<measure>: [SUM, AVG]}
            count_star: true
            count_distinct_person: true
            dimensions: [<dimension>, ...]
            max_group_keys: 3
            min_persons: 11         # default 11
            rounding_base: 5        # default 5
            where: {columns: [<dimension or measure>], operators: ["=", IN, BETWEEN, AND]}
            contribution_limit: 10
            row_cap: 10000
          templates:
            <template>:             # a name unique in the whole policy (Run looks it up)
              sql: SELECT ... FROM <view> WHERE visit_month >= :start
              parameters: {start: {type: str, choices: ["2025-01", ...]}}   # int|str|date
          contribution_limit: 10    # with templates: the limits of every run of them
          row_cap: 10000
          min_persons: 11           # default 11
          rounding_base: 5          # default 5
    grants:
      - {organization: "2", purpose: INSURANCE_PRICING, views: [<view>, ...]}
      - {organization: "2", purpose: RESEARCH, views: [<view>], release: dp}   # dp on all
    feature_sets: {<set>: {features: [...]}}   # optional: per-person integer features
    scorecards: {<scorecard>: {...}}           # optional: the zone's credit evaluation
                                               # (both in `policies._features`)
    compute: {paillier_noise: 16, auditors: [...]}  # optional: encrypted scoring
                                               # (`policies._compute`)

Every failure names the file, the path (``views.claims_analysis.columns.age_band.role``) and
the problem; nothing but a `PolicyError` leaves on bad input.

A template is checked here as far as `policies` can without the query engine (it imports
nothing of ours): one SELECT that reads only its own view; every column it names is a column
of the view (or one of its own output names); the person key appears only as
`COUNT(DISTINCT <key>)`; every `:name` placeholder is a declared parameter and every declared
parameter is used; parameters are typed, `minimum <= maximum`, choices of the parameter's type
and within its bounds. Whether the SQL fits the restricted grammar is the query engine's
check, when the template is rewritten (`query_engine.rewrite_template`), which also refuses
the person key anywhere else with `COLUMN_HIDDEN`; `query_engine.template_problems(policy)`
runs that check for every template of a loaded policy, for a caller that may import both.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from sqlglot import exp

from policies._canonical import version_of
from policies._compute import compute
from policies._document import At, parse
from policies._features import feature_sets, scorecards
from policies._sql import select as _select
from policies._sql import sources as _sources
from policies.errors import (
    DuplicateNameError,
    InvalidValueError,
    MissingBoundsError,
    MissingDomainError,
    MissingKeyError,
    PersonKeyExposedError,
    PolicySyntaxError,
    PolicyUnreadableError,
    UnknownReferenceError,
    WrongTypeError,
)
from policies.model import (
    DEFAULT_DELTA,
    AggregationRule,
    Column,
    ColumnRole,
    Grant,
    Parameter,
    ParameterType,
    Policy,
    ReleaseMode,
    Rule,
    Template,
    TemplateRule,
    Unit,
    View,
)

__all__ = ["AGGREGATES", "WHERE_OPERATORS", "load_policy", "load_policy_file"]

AGGREGATES = frozenset({"SUM", "AVG"})
WHERE_OPERATORS = frozenset({"=", "<>", "<", "<=", ">", ">=", "IN", "BETWEEN", "AND", "OR", "NOT"})
_ROLES: Mapping[str, ColumnRole] = {role.value: role for role in ColumnRole}
_UNITS: Mapping[str, Unit] = {"cents": "cents", "count": "count"}
_RELEASES: Mapping[str, ReleaseMode] = {"dp": "dp", "exact": "exact"}
_TYPES: Mapping[str, ParameterType] = {"int": "int", "str": "str", "date": "date"}
_TEMPLATE_LIMITS = ("contribution_limit", "row_cap", "min_persons", "rounding_base")


def load_policy_file(path: Path, tables: frozenset[str] | None = None) -> Policy:
    """Read and load the document at `path` (errors name the file as given); see `load_policy`."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        At(file).fail(PolicyUnreadableError, "not UTF-8 text")
    except OSError as exc:
        At(file).fail(PolicyUnreadableError, f"cannot read the file ({exc.strerror or 'error'})")
    return load_policy(text, file, tables)


def load_policy(text: str, file: str = "<policy>", tables: frozenset[str] | None = None) -> Policy:
    """Load a document given as text; `file` names it in errors.

    A view's SQL reads only plain, unqualified tables (never a file, a table function or
    another schema); with `tables` (the zone's), only those. A template reads only its view.
    """
    try:
        data = parse(text, file)
    except RecursionError:
        At(file).fail(PolicySyntaxError, "the document is nested too deeply")
    top = At(file)
    doc = top.mapping(
        data, required=("views", "grants"), optional=("feature_sets", "scorecards", "compute")
    )
    views_at = top.key("views")
    views = {
        name: _view(name, value, views_at.key(name), tables)
        for name, value in views_at.names(doc["views"]).items()
    }
    _unique_templates(views, views_at)
    grants = _grants(doc["grants"], top.key("grants"), views)
    sets = feature_sets(doc.get("feature_sets", {}), top.key("feature_sets"), tables)
    cards = scorecards(doc.get("scorecards", {}), top.key("scorecards"), sets)
    section = compute(doc["compute"], top.key("compute")) if "compute" in doc else None
    return Policy(
        views=views,
        grants=grants,
        version=version_of(views, grants, sets, cards, section),
        feature_sets=sets,
        scorecards=cards,
        paillier_noise=section.paillier_noise if section else 0,
        auditors=section.auditors if section else {},
    )


def _unique_templates(views: Mapping[str, View], at: At) -> None:
    """A template's name is unique in the policy: a run names a template, not its view."""
    seen: dict[str, str] = {}
    for view in views.values():
        if not isinstance(view.rule, TemplateRule):
            continue
        for name in view.rule.templates:
            if name in seen:
                at.key(view.name).key("rule").key("templates").key(name).fail(
                    DuplicateNameError, f"view {seen[name]!r} already has a template of this name"
                )
            seen[name] = view.name


def _view(name: str, value: object, at: At, tables: frozenset[str] | None) -> View:
    doc = at.mapping(value, required=("sql", "columns", "rule"), optional=("sensitive",))
    sensitive = at.key("sensitive").boolean(doc.get("sensitive", False))
    sql_at = at.key("sql")
    sql = sql_at.string(doc["sql"])
    select = _select(sql, sql_at)
    _sources(select, sql_at, tables, "zone tables")
    outputs = select.named_selects
    columns_at = at.key("columns")
    columns = {
        column: _column(column, spec, columns_at.key(column))
        for column, spec in columns_at.names(doc["columns"]).items()
    }
    keys = [c.name for c in columns.values() if c.role is ColumnRole.PERSON_KEY]
    if not keys:
        columns_at.fail(
            MissingKeyError, "a view needs one person_key column (the gate counts persons)"
        )
    if len(keys) > 1:
        columns_at.key(keys[1]).key("role").fail(
            InvalidValueError, f"a view has one person_key; {keys[0]!r} is already it"
        )
    for column in columns:
        if column not in outputs:
            columns_at.key(column).fail(
                UnknownReferenceError, "the view's SQL has no output column of this name"
            )
    for output in outputs:
        if output not in columns:
            sql_at.fail(
                UnknownReferenceError,
                f"the SQL outputs {output!r}, which is not in columns (give every output a role)",
            )
    rule = _rule(doc["rule"], at.key("rule"), name, columns, columns_at)
    return View(name=name, sql=sql, columns=columns, rule=rule, sensitive=sensitive)


def _column(name: str, value: object, at: At) -> Column:
    doc = at.mapping(value, required=("role",), optional=("domain", "lower", "upper", "unit"))
    role_at = at.key("role")
    role_name = role_at.string(doc["role"])
    if role_name not in _ROLES:
        role_at.fail(InvalidValueError, f"must be one of {', '.join(sorted(_ROLES))}")
    role = _ROLES[role_name]
    if role is not ColumnRole.DIMENSION and "domain" in doc:
        at.key("domain").fail(InvalidValueError, "only a dimension has a domain")
    if role is not ColumnRole.MEASURE:
        for key in ("lower", "upper", "unit"):
            if key in doc:
                at.key(key).fail(InvalidValueError, f"only a measure has {key}")
    if role is ColumnRole.DIMENSION:
        domain = None
        if "domain" in doc:
            domain_at = at.key("domain")
            values = domain_at.string_set(doc["domain"])
            if not values:
                domain_at.fail(InvalidValueError, "a domain lists at least one value")
            domain = tuple(sorted(values))
        return Column(name=name, role=role, domain=domain)
    if role is ColumnRole.MEASURE:
        for key in ("lower", "upper"):
            if key not in doc:
                at.key(key).fail(MissingBoundsError, "a measure needs both clip bounds")
        lower = at.key("lower").integer(doc["lower"])
        upper = at.key("upper").integer(doc["upper"])
        if lower > upper:
            at.key("upper").fail(InvalidValueError, "must be at least lower")
        if "unit" not in doc:
            at.key("unit").fail(MissingKeyError, "a measure needs its unit (cents or count)")
        unit_at = at.key("unit")
        unit = unit_at.string(doc["unit"])
        if unit not in _UNITS:
            unit_at.fail(InvalidValueError, f"must be one of {', '.join(sorted(_UNITS))}")
        return Column(name=name, role=role, lower=lower, upper=upper, unit=_UNITS[unit])
    return Column(name=name, role=role)


def _rule(value: object, at: At, view: str, columns: Mapping[str, Column], columns_at: At) -> Rule:
    doc = at.mapping(value, optional=("aggregation", "templates", *_TEMPLATE_LIMITS))
    if ("aggregation" in doc) == ("templates" in doc):
        at.fail(InvalidValueError, "give exactly one of aggregation, templates")
    if "aggregation" in doc:
        for key in _TEMPLATE_LIMITS:
            if key in doc:
                at.key(key).fail(
                    InvalidValueError, "an aggregation rule gives its limits inside aggregation"
                )
        return _aggregation(doc["aggregation"], at.key("aggregation"), columns, columns_at)
    for key in ("contribution_limit", "row_cap"):
        if key not in doc:
            at.key(key).fail(MissingKeyError, "a template rule needs its limits (required key)")
    templates = _templates(doc["templates"], at.key("templates"), view, columns)
    return TemplateRule(
        templates=templates,
        contribution_limit=at.key("contribution_limit").integer(
            doc["contribution_limit"], minimum=1
        ),
        row_cap=at.key("row_cap").integer(doc["row_cap"], minimum=1),
        min_persons=at.key("min_persons").integer(doc.get("min_persons", 11), minimum=1),
        rounding_base=at.key("rounding_base").integer(doc.get("rounding_base", 5), minimum=1),
    )


def _referenced(
    name: str, at: At, columns: Mapping[str, Column], roles: frozenset[ColumnRole], what: str
) -> Column:
    """The column a rule names, which must exist and have one of `roles`."""
    column = columns.get(name)
    if column is None:
        at.fail(UnknownReferenceError, f"the view has no column {name!r}")
    if column.role is ColumnRole.PERSON_KEY:
        at.fail(PersonKeyExposedError, f"{name!r} is the person key: never {what}")
    if column.role not in roles:
        kinds = " or ".join(sorted(r.value for r in roles))
        at.fail(UnknownReferenceError, f"{name!r} is a {column.role.value}, not a {kinds}")
    return column


def _needs_domain(column: Column, columns_at: At, why: str) -> None:
    if column.role is ColumnRole.DIMENSION and column.domain is None:
        columns_at.key(column.name).key("domain").fail(
            MissingDomainError, f"missing: the aggregation rule {why} this dimension"
        )


def _aggregation(
    value: object, at: At, columns: Mapping[str, Column], columns_at: At
) -> AggregationRule:
    doc = at.mapping(
        value,
        required=(
            "aggregates",
            "dimensions",
            "max_group_keys",
            "where",
            "contribution_limit",
            "row_cap",
        ),
        optional=(
            "release",
            "count_star",
            "count_distinct_person",
            "min_persons",
            "rounding_base",
            "epsilon",
            "cells_per_person",
            "delta",
        ),
    )
    release_at = at.key("release")
    release = release_at.string(doc.get("release", "dp"))
    if release not in _RELEASES:
        release_at.fail(InvalidValueError, "must be dp or exact")
    aggregates_at = at.key("aggregates")
    aggregates: dict[str, frozenset[str]] = {}
    for measure, allowed in aggregates_at.mapping(doc["aggregates"]).items():
        measure_at = aggregates_at.key(measure)
        _referenced(measure, measure_at, columns, frozenset({ColumnRole.MEASURE}), "aggregated")
        functions = measure_at.string_set(allowed, AGGREGATES)
        if not functions:
            measure_at.fail(InvalidValueError, "list at least one aggregate (SUM, AVG)")
        aggregates[measure] = functions
    count_star = at.key("count_star").boolean(doc.get("count_star", True))
    count_distinct = at.key("count_distinct_person").boolean(doc.get("count_distinct_person", True))
    if not aggregates and not count_star and not count_distinct:
        at.fail(InvalidValueError, "the rule allows no aggregate at all")
    dimensions_at = at.key("dimensions")
    dimensions = dimensions_at.string_set(doc["dimensions"])
    for i, name in enumerate(_in_order(doc["dimensions"])):
        column = _referenced(
            name, dimensions_at.index(i), columns, frozenset({ColumnRole.DIMENSION}), "grouped by"
        )
        if release == "exact":  # dp selects the cells of a dimension without one by noise
            _needs_domain(column, columns_at, "releases exactly and groups by")
    where_at = at.key("where")
    where = where_at.mapping(doc["where"], required=("columns", "operators"))
    where_columns_at = where_at.key("columns")
    where_columns = where_columns_at.string_set(where["columns"])
    for i, name in enumerate(_in_order(where["columns"])):
        column = _referenced(
            name,
            where_columns_at.index(i),
            columns,
            frozenset({ColumnRole.DIMENSION, ColumnRole.MEASURE}),
            "filtered on",
        )
        _needs_domain(column, columns_at, "filters on")
    operators = where_at.key("operators").string_set(where["operators"], WHERE_OPERATORS)
    return AggregationRule(
        allowed_aggregates=aggregates,
        count_star=count_star,
        count_distinct_person=count_distinct,
        dimensions=dimensions,
        max_group_keys=at.key("max_group_keys").integer(doc["max_group_keys"], minimum=1),
        min_persons=at.key("min_persons").integer(doc.get("min_persons", 11), minimum=1),
        rounding_base=at.key("rounding_base").integer(doc.get("rounding_base", 5), minimum=1),
        where_columns=where_columns,
        where_operators=operators,
        contribution_limit=at.key("contribution_limit").integer(
            doc["contribution_limit"], minimum=1
        ),
        release=_RELEASES[release],
        row_cap=at.key("row_cap").integer(doc["row_cap"], minimum=1),
        epsilon_micro=_epsilon(doc.get("epsilon", 1), at.key("epsilon")),
        cells_per_person=at.key("cells_per_person").integer(
            doc.get("cells_per_person", 1), minimum=1
        ),
        delta=_delta(doc.get("delta", DEFAULT_DELTA), at.key("delta")),
    )


def _delta(value: object, at: At) -> float:
    """The delta of a dp rule's partition selection: a number in (0, 1e-5]."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        at.fail(WrongTypeError, "must be a number")
    if not 0 < float(value) <= _MAX_DELTA:
        at.fail(InvalidValueError, "must be in (0, 1e-05]")
    return float(value)


#: The largest delta a rule may give its partition selection (far above it, a selection
#: reveals rare keys with a real chance; the default is far below).
_MAX_DELTA = 1e-5

#: The most one query may cost, whatever a policy says (the ledger's limits apply too).
_MAX_EPSILON_MICRO = 10_000_000
#: The least: a query's epsilon is shared across its noisy columns, each at least 1 micro.
_MIN_EPSILON_MICRO = 1_000


def _epsilon(value: object, at: At) -> int:
    """An epsilon (a number in (0, 10], at most six decimals) as integer micro-epsilon."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        at.fail(WrongTypeError, "must be a number")
    micro = Decimal(str(value)) * 1_000_000
    if micro != micro.to_integral_value() or not _MIN_EPSILON_MICRO <= micro <= _MAX_EPSILON_MICRO:
        at.fail(InvalidValueError, "must be in [0.001, 10] with at most six decimals")
    return int(micro)


def _in_order(value: object) -> list[str]:
    # Called after string_set has checked the list: its items are distinct strings.
    return [str(item) for item in value] if isinstance(value, list) else []


def _templates(
    value: object, at: At, view: str, columns: Mapping[str, Column]
) -> dict[str, Template]:
    templates: dict[str, Template] = {}
    for name, spec in at.names(value).items():
        template_at = at.key(name)
        doc = template_at.mapping(spec, required=("sql",), optional=("parameters",))
        sql_at = template_at.key("sql")
        sql = sql_at.string(doc["sql"])
        select = _select(sql, sql_at)
        _sources(select, sql_at, frozenset({view}), f"view {view!r} (its own view)")
        _template_columns(select, sql_at, columns)
        used = {p.name for p in select.find_all(exp.Placeholder)}
        parameters_at = template_at.key("parameters")
        parameters = {
            p: _parameter(p, s, parameters_at.key(p))
            for p, s in parameters_at.names(doc.get("parameters", {})).items()
        }
        for p in sorted(used - parameters.keys()):
            sql_at.fail(UnknownReferenceError, f"the SQL uses :{p}, which is not a parameter")
        for p in sorted(parameters.keys() - used):
            parameters_at.key(p).fail(InvalidValueError, "the template's SQL does not use it")
        templates[name] = Template(name=name, sql=sql, parameters=parameters)
    if not templates:
        at.fail(InvalidValueError, "a template rule lists at least one template")
    return templates


def _template_columns(select: exp.Select, at: At, columns: Mapping[str, Column]) -> None:
    """Every column a template names is the view's (or its own output's); the person key only
    as `COUNT(DISTINCT <key>)`. Names compare in lower case, as the query engine reads them."""
    roles = {name.lower(): column.role for name, column in columns.items()}
    outputs = {name.lower() for name in select.named_selects}
    for column in select.find_all(exp.Column):
        name = column.name.lower()
        if name not in roles and name not in outputs:
            at.fail(UnknownReferenceError, f"the template names {column.name!r}, not a column")
        if roles.get(name) is not ColumnRole.PERSON_KEY:
            continue
        distinct = column.parent
        counted = (
            isinstance(distinct, exp.Distinct)
            and len(distinct.expressions) == 1
            and isinstance(distinct.parent, exp.Count)
        )
        if not counted:
            at.fail(
                PersonKeyExposedError,
                f"{column.name!r} is the person key: only COUNT(DISTINCT {column.name})",
            )


def _parameter(name: str, value: object, at: At) -> Parameter:
    doc = at.mapping(value, required=("type",), optional=("minimum", "maximum", "choices"))
    type_at = at.key("type")
    kind = type_at.string(doc["type"])
    if kind not in _TYPES:
        type_at.fail(InvalidValueError, "must be one of date, int, str")

    def one(item: object, item_at: At) -> int | str:
        if kind == "int":
            return item_at.integer(item)
        if kind == "date":
            return item_at.date(item)
        return item_at.string(item)

    bounds: dict[str, int | str] = {}
    for key in ("minimum", "maximum"):
        if key in doc:
            if kind == "str":
                at.key(key).fail(InvalidValueError, "a str parameter has choices, not bounds")
            bounds[key] = one(doc[key], at.key(key))
    low, high = bounds.get("minimum"), bounds.get("maximum")
    if low is not None and high is not None and _below(high, low, kind):
        at.key("maximum").fail(InvalidValueError, "must be at least minimum")
    choices: tuple[int | str, ...] | None = None
    if "choices" in doc:
        choices_at = at.key("choices")
        items = choices_at.sequence(doc["choices"])
        built = [one(item, choices_at.index(i)) for i, item in enumerate(items)]
        if not built:
            choices_at.fail(InvalidValueError, "list at least one choice")
        for i, item in enumerate(built):
            if item in built[:i]:
                choices_at.index(i).fail(DuplicateNameError, f"{item!r} is listed twice")
        for i, item in enumerate(built):
            outside = (low is not None and _below(item, low, kind)) or (
                high is not None and _below(high, item, kind)
            )
            if outside:
                choices_at.index(i).fail(InvalidValueError, "outside the minimum and maximum")
        choices = tuple(sorted(built, key=lambda v: (v if isinstance(v, int) else 0, str(v))))
    if kind == "str" and choices is None:
        at.key("choices").fail(MissingKeyError, "a str parameter needs its choices")
    return Parameter(name=name, type=_TYPES[kind], minimum=low, maximum=high, choices=choices)


def _below(a: int | str, b: int | str, kind: str) -> bool:
    """`a < b` for two values of a parameter's type: ints as numbers, ISO dates as text."""
    return int(a) < int(b) if kind == "int" else str(a) < str(b)


def _grants(value: object, at: At, views: Mapping[str, View]) -> tuple[Grant, ...]:
    grants: dict[tuple[str, str], Grant] = {}
    for i, spec in enumerate(at.sequence(value)):
        grant_at = at.index(i)
        doc = grant_at.mapping(
            spec, required=("organization", "purpose", "views"), optional=("release",)
        )
        organization = grant_at.key("organization").string(doc["organization"])
        purpose = grant_at.key("purpose").string(doc["purpose"])
        views_at = grant_at.key("views")
        granted = views_at.string_set(doc["views"])
        if not granted:
            views_at.fail(InvalidValueError, "a grant lists at least one view")
        for j, view in enumerate(_in_order(doc["views"])):
            if view not in views:
                views_at.index(j).fail(UnknownReferenceError, f"the policy has no view {view!r}")
        if (organization, purpose) in grants:
            grant_at.fail(
                DuplicateNameError,
                "this organization and purpose already have a grant; list all views in one",
            )
        release: ReleaseMode | None = None
        if "release" in doc:
            release_at = grant_at.key("release")
            if release_at.string(doc["release"]) != "dp":
                release_at.fail(InvalidValueError, "a grant can only demand dp")
            release = "dp"
        grants[(organization, purpose)] = Grant(organization, purpose, granted, release)
    return tuple(grants[key] for key in sorted(grants))
