"""The shipped default policy for the synthetic registry."""

from __future__ import annotations

from policies import (
    AggregationRule,
    Allow,
    ColumnRole,
    TemplateRule,
    default_policy,
    default_policy_text,
    load_policy,
)


def test_the_default_policy_loads_with_its_views() -> None:
    policy = default_policy()
    assert set(policy.views) >= {"claims_analysis", "enrolment_analysis"}
    claims = policy.views["claims_analysis"]
    dimensions = {c.name for c in claims.columns.values() if c.role is ColumnRole.DIMENSION}
    assert dimensions == {
        "age_band",
        "gender",
        "province",
        "prefecture",
        "visit_month",
        "icd10_chapter",
        "visit_type",
        "institution_kind",
        "institution_level",
    }
    measures = {c.name for c in claims.columns.values() if c.role is ColumnRole.MEASURE}
    assert measures == {"total_cents", "fund_cents", "self_cents"}
    assert claims.person_key == "person_key"
    enrolment = policy.views["enrolment_analysis"].columns
    assert {"scheme", "status", "province", "age_band", "gender", "arrears_band"} <= set(enrolment)


def test_the_default_policy_releases_something_exactly() -> None:
    rules = [view.rule for view in default_policy().views.values()]
    exact = [r for r in rules if isinstance(r, AggregationRule) and r.release == "exact"]
    assert exact or any(isinstance(r, TemplateRule) for r in rules)


def test_the_default_policy_grants_the_demo_insurer_claims() -> None:
    policy = default_policy()
    assert policy.grant_for("demo-insurer", "INSURANCE_UNDERWRITING", "claims_analysis") == Allow()


def test_the_default_policy_version_is_stable() -> None:
    assert default_policy().version == load_policy(default_policy_text()).version


def test_the_default_views_read_only_registry_tables() -> None:
    registry = frozenset({"persons", "enrolments", "institutions", "claims", "family_bindings"})
    assert load_policy(default_policy_text(), tables=registry).version == default_policy().version
