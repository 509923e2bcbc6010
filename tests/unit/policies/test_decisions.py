"""Decisions are values; the combinators fail closed; grants deny by default."""

from __future__ import annotations

import pytest

from policies import NO_RULES, VIEW_NOT_GRANTED, Allow, Decision, Deny, all_of, any_of, load_policy
from tests.unit.policies.documents import document, text


def test_all_of_nothing_denies() -> None:
    assert all_of([]) == Deny((NO_RULES,))
    assert all_of(iter([])) == Deny((NO_RULES,))


def test_any_of_nothing_denies() -> None:
    assert any_of([]) == Deny((NO_RULES,))


def test_all_of_needs_every_allow_and_keeps_every_reason_once() -> None:
    assert all_of([Allow(), Allow()]) == Allow()
    decisions: list[Decision] = [Allow(), Deny(("A", "B")), Deny(("B", "C"))]
    assert all_of(decisions) == Deny(("A", "B", "C"))


def test_any_of_needs_one_allow() -> None:
    assert any_of([Deny(("A",)), Allow()]) == Allow()
    assert any_of([Deny(("A",)), Deny(("B",))]) == Deny(("A", "B"))


def test_a_deny_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        Deny(())
    with pytest.raises(ValueError, match="reason"):
        Deny(("",))


def test_a_decision_has_no_truth_value() -> None:
    # `if decision:` would let a Deny through wherever someone forgets to match: refused.
    with pytest.raises(TypeError):
        bool(Deny(("A",)))
    with pytest.raises(TypeError):
        bool(Allow())


def test_combinators_refuse_what_is_not_a_decision() -> None:
    with pytest.raises(TypeError):
        all_of([Allow(), True])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        any_of([Deny(("A",)), True])  # type: ignore[list-item]


def test_grant_for_allows_only_the_granted_organization_purpose_and_view() -> None:
    policy = load_policy(text(document()))
    assert policy.grant_for("2", "RESEARCH", "claims_analysis") == Allow()
    denied = Deny((VIEW_NOT_GRANTED,))
    assert policy.grant_for("2", "RESEARCH", "by_type") == denied  # view not in the grant
    assert policy.grant_for("3", "RESEARCH", "claims_analysis") == denied  # other organization
    assert policy.grant_for("2", "CLAIM_SETTLEMENT", "claims_analysis") == denied  # purpose
    assert policy.grant_for("2", "RESEARCH", "no_such_view") == denied  # same as not granted


def test_no_grants_denies_everything() -> None:
    doc = document()
    doc["grants"] = []
    policy = load_policy(text(doc))
    assert policy.grant_for("2", "RESEARCH", "claims_analysis") == Deny((VIEW_NOT_GRANTED,))
