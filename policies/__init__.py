"""Policy documents, their validation and evaluation. Imports nothing of ours.

A steward's policy (YAML) defines analysis views over zone tables, the role of every view
column, each view's analysis rule and the grants of views to partner organizations and
purposes; optionally feature sets (per-person integer vectors, bounded and coarsened) and
scorecards (the zone's credit evaluation over one), values of `policies.features` in
`Policy.feature_sets` and `Policy.scorecards`; and a `compute:` section (the Paillier
score's noise, `Policy.paillier_noise`, and the auditors who may attest model cards,
`Policy.auditors`: name -> raw Ed25519 public key). `load_policy_file` turns a document into a
frozen `Policy` or raises a precise `PolicyError` (file, path, problem); `Policy.grant_for`
and the combinators return decisions as values (`Allow` / `Deny(reasons)`), failing closed.
`default_policy()` is the policy for the synthetic registry, shipped as
`policies/default.yaml`.
"""

from policies._default import default_policy, default_policy_text
from policies.decisions import NO_RULES, Allow, Decision, Deny, all_of, any_of
from policies.errors import (
    DuplicateNameError,
    InvalidValueError,
    MissingBoundsError,
    MissingDomainError,
    MissingKeyError,
    PersonKeyExposedError,
    PolicyError,
    PolicyInvalidError,
    PolicySyntaxError,
    PolicyUnreadableError,
    UnknownKeyError,
    UnknownReferenceError,
    WrongTypeError,
)
from policies.features import (
    BANDS,
    MAX_FEATURE_MAGNITUDE,
    Band,
    ClaimCount,
    ClaimSum,
    Definition,
    EnrolmentMax,
    Feature,
    FeatureSet,
    FeatureSql,
    MonthsEnrolled,
    Points,
    Scorecard,
)
from policies.load import AGGREGATES, WHERE_OPERATORS, load_policy, load_policy_file
from policies.model import (
    VIEW_NOT_GRANTED,
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

__all__ = [
    "AGGREGATES",
    "BANDS",
    "MAX_FEATURE_MAGNITUDE",
    "NO_RULES",
    "VIEW_NOT_GRANTED",
    "WHERE_OPERATORS",
    "AggregationRule",
    "Allow",
    "Band",
    "ClaimCount",
    "ClaimSum",
    "Column",
    "ColumnRole",
    "Decision",
    "Definition",
    "Deny",
    "DuplicateNameError",
    "EnrolmentMax",
    "Feature",
    "FeatureSet",
    "FeatureSql",
    "Grant",
    "InvalidValueError",
    "MissingBoundsError",
    "MissingDomainError",
    "MissingKeyError",
    "MonthsEnrolled",
    "Parameter",
    "ParameterType",
    "PersonKeyExposedError",
    "Points",
    "Policy",
    "PolicyError",
    "PolicyInvalidError",
    "PolicySyntaxError",
    "PolicyUnreadableError",
    "ReleaseMode",
    "Rule",
    "Scorecard",
    "Template",
    "TemplateRule",
    "Unit",
    "UnknownKeyError",
    "UnknownReferenceError",
    "View",
    "WrongTypeError",
    "all_of",
    "any_of",
    "default_policy",
    "default_policy_text",
    "load_policy",
    "load_policy_file",
]
