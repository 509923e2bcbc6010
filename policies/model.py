"""The policy model: frozen values a loaded policy document becomes.

A steward defines analysis views (SQL over zone tables) and gives every view column a role;
each view has one analysis rule (aggregation or template); grants give an organization and
purpose the right to use views. Nothing here reads files or the environment: `policies.load`
builds these from a document and checks every cross-reference before one exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum
from typing import Literal

from policies.decisions import Allow, Decision, Deny
from policies.features import FeatureSet, Scorecard

__all__ = [
    "DEFAULT_DELTA",
    "VIEW_NOT_GRANTED",
    "AggregationRule",
    "Column",
    "ColumnRole",
    "Grant",
    "Parameter",
    "ParameterType",
    "Policy",
    "ReleaseMode",
    "Rule",
    "Template",
    "TemplateRule",
    "Unit",
    "View",
]

Unit = Literal["cents", "count"]
ReleaseMode = Literal["dp", "exact"]

#: The delta of a dp rule's partition selection unless the policy says otherwise.
DEFAULT_DELTA = 1e-10

VIEW_NOT_GRANTED = "VIEW_NOT_GRANTED"
ParameterType = Literal["int", "str", "date"]


class ColumnRole(StrEnum):
    """What a view column may be used for."""

    DIMENSION = "dimension"
    """Selectable, groupable and filterable; its values are public (`Column.domain`)."""
    MEASURE = "measure"
    """Aggregated only; integer cents or counts, clipped to `[lower, upper]`."""
    PERSON_KEY = "person_key"
    """Hidden: never selectable, filterable or groupable; only `COUNT(DISTINCT ...)` of it."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an analysis view.

    `domain` is the public set of a dimension's values (None where the rule needs none);
    `lower`/`upper` are a measure's clip bounds and `unit` its unit (None for other roles).
    """

    name: str
    role: ColumnRole
    domain: tuple[str, ...] | None = None
    lower: int | None = None
    upper: int | None = None
    unit: Unit | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AggregationRule:
    """Ad-hoc restricted SQL over a view, within these limits.

    `allowed_aggregates` maps a measure to the aggregates allowed on it (`SUM`, `AVG`);
    `count_star` and `count_distinct_person` allow `COUNT(*)` and `COUNT(DISTINCT <person>)`.
    `contribution_limit` is the most rows one person contributes to one cell; `row_cap` the most
    rows an answer releases. `release` is `dp` unless a steward chose `exact`.

    In `dp` release, `epsilon_micro` is what one query costs (micro-epsilon: 1_000_000 is an
    epsilon of 1.0), split equally across the query's noisy aggregates, and
    `cells_per_person` the most cells of one answer a person's rows count in (the others are
    dropped before aggregation): with `contribution_limit` and the clip bounds it fixes each
    aggregate's sensitivity, hence its noise. A `dp` rule may group by a dimension without a
    public domain: then OpenDP's noisy threshold selects which cells are released, with
    probability at most `delta` of releasing a cell that one person alone makes.
    """

    allowed_aggregates: Mapping[str, frozenset[str]]
    count_star: bool
    count_distinct_person: bool
    dimensions: frozenset[str]
    max_group_keys: int
    min_persons: int = 11
    rounding_base: int = 5
    where_columns: frozenset[str]
    where_operators: frozenset[str]
    contribution_limit: int
    release: ReleaseMode = "dp"
    row_cap: int
    epsilon_micro: int = 1_000_000
    cells_per_person: int = 1
    delta: float = DEFAULT_DELTA


@dataclass(frozen=True, slots=True)
class Parameter:
    """A typed template parameter; `minimum`/`maximum` bound ints and dates (ISO text)."""

    name: str
    type: ParameterType
    minimum: int | str | None = None
    maximum: int | str | None = None
    choices: tuple[str | int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Template:
    """A named, parameterised query a steward approved (`:name` placeholders in `sql`)."""

    name: str
    sql: str
    parameters: Mapping[str, Parameter]


@dataclass(frozen=True, slots=True)
class TemplateRule:
    """Only the named templates may run over the view; they release in exact mode.

    The limits hold for every template of the view, as an aggregation rule's hold for every
    ad-hoc query: `contribution_limit` rows per person per cell, cells of at least
    `min_persons` distinct persons, sums rounded to `rounding_base` (counts to 5, as ever),
    at most `row_cap` rows. A steward chose the queries; the limits still apply to them.
    """

    templates: Mapping[str, Template]
    _: KW_ONLY
    contribution_limit: int
    row_cap: int
    min_persons: int = 11
    rounding_base: int = 5


Rule = AggregationRule | TemplateRule


@dataclass(frozen=True, slots=True)
class View:
    """An analysis view: `sql` over zone tables (joins live here, never in partner queries).

    `sensitive` (default False): a query over the view that goes to steward review needs the
    approvals of two different stewards (the two-person rule, `enclave.analytics`).
    """

    name: str
    sql: str
    columns: Mapping[str, Column]
    rule: Rule
    sensitive: bool = False

    @property
    def person_key(self) -> str | None:
        """The name of the view's person-key column, if it has one."""
        for column in self.columns.values():
            if column.role is ColumnRole.PERSON_KEY:
                return column.name
        return None


@dataclass(frozen=True, slots=True)
class Grant:
    """The right of `organization`, for `purpose`, to use `views`.

    `release` is `dp` where the steward demands differential privacy for this grant's
    queries even on views whose rule releases exactly (None: each view's rule decides; a
    grant can only make release stricter, never exact where the rule says dp).
    """

    organization: str
    purpose: str
    views: frozenset[str]
    release: ReleaseMode | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy; `version` is the sha256 of its canonical form.

    Equal content gives an equal version, whatever the document's layout, order or comments.
    `feature_sets` and `scorecards` (issue 12) are empty unless the document has them.
    `paillier_noise` (the Paillier score's low-bit noise bound, in units of the score's last
    fixed-point place) is 0 and `auditors` (name -> the 32 raw bytes of an Ed25519 public key:
    who may attest model cards) empty unless the document's `compute:` section says otherwise.
    """

    views: Mapping[str, View]
    grants: tuple[Grant, ...]
    version: str
    feature_sets: Mapping[str, FeatureSet] = field(default_factory=dict)
    scorecards: Mapping[str, Scorecard] = field(default_factory=dict)
    paillier_noise: int = 0
    auditors: Mapping[str, bytes] = field(default_factory=dict)

    def grant_for(self, organization: str, purpose: str, view: str) -> Decision:
        """Allow if a grant gives `organization`, for `purpose`, the view; else VIEW_NOT_GRANTED.

        A view the policy does not have is denied with the same reason, so the answer does not
        tell a partner which views exist beyond those granted to it.
        """
        for grant in self.grants:
            if (
                grant.organization == organization
                and grant.purpose == purpose
                and view in grant.views
                and view in self.views
            ):
                return Allow()
        return Deny((VIEW_NOT_GRANTED,))

    def demands_dp(self, organization: str, purpose: str) -> bool:
        """The grant of `organization` for `purpose` says `release: dp`."""
        return any(
            g.organization == organization and g.purpose == purpose and g.release == "dp"
            for g in self.grants
        )

    def release_for(self, organization: str, purpose: str, view: str) -> ReleaseMode:
        """How an answer of `view` to `organization` for `purpose` is released: `dp` if the
        grant demands it (for every view it lists, template views included) or the view's
        aggregation rule says so; `exact` only when neither does (a template view's
        templates release exactly unless the grant demands dp). Fails closed: a view that is
        not there is `dp`."""
        found = self.views.get(view)
        if found is None:
            return "dp"
        strict = self.demands_dp(organization, purpose)
        if not isinstance(found.rule, AggregationRule):
            return "dp" if strict else "exact"
        return "dp" if strict else found.rule.release
