"""Policy documents, their validation and evaluation. Imports nothing of ours."""

from policies.model import (
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
