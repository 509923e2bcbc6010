"""A policy's version is a hash of its content, not of the document's bytes."""

from __future__ import annotations

import yaml

from policies import load_policy
from tests.unit.policies.documents import document, text


def _reversed(value: object) -> object:
    if isinstance(value, dict):
        return {k: _reversed(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [_reversed(v) for v in reversed(value)]
    return value


def test_equal_content_gives_equal_versions_whatever_the_layout() -> None:
    doc = document()
    plain = load_policy(text(doc))
    # Keys and lists of sets in another order, flow style, comments: the same policy.
    shuffled = _reversed(doc)
    assert isinstance(shuffled, dict)
    shuffled["views"]["claims_analysis"]["rule"]["aggregation"]["dimensions"] = ["gender"]
    other = "# a comment\n" + yaml.safe_dump(shuffled, default_flow_style=True, width=60)
    assert load_policy(other).version == plain.version
    assert load_policy(other) == plain


def test_defaults_written_out_give_the_same_version() -> None:
    doc = document()
    rule = doc["views"]["claims_analysis"]["rule"]["aggregation"]
    base = load_policy(text(doc)).version
    rule.update(min_persons=11, rounding_base=5, count_star=True, count_distinct_person=True)
    assert load_policy(text(doc)).version == base


def test_any_change_of_meaning_changes_the_version() -> None:
    base = load_policy(text(document())).version
    changes = []
    doc = document()
    doc["views"]["claims_analysis"]["rule"]["aggregation"]["min_persons"] = 12
    changes.append(doc)
    doc = document()
    doc["views"]["claims_analysis"]["columns"]["total_cents"]["upper"] = 1001
    changes.append(doc)
    doc = document()
    doc["grants"][0]["purpose"] = "PUBLIC_HEALTH"
    changes.append(doc)
    doc = document()
    doc["views"]["claims_analysis"]["sql"] += " WHERE 1 = 1"
    changes.append(doc)
    doc = document()
    doc["views"]["claims_analysis"]["sensitive"] = True
    changes.append(doc)
    versions = {load_policy(text(d)).version for d in changes}
    assert base not in versions
    assert len(versions) == len(changes)


def test_sensitive_false_written_out_keeps_the_version() -> None:
    """The flag is in the canonical form only when set: versions of policies written before
    it existed (the default policy's among them) stay what they were."""
    base = load_policy(text(document()))
    doc = document()
    doc["views"]["claims_analysis"]["sensitive"] = False
    assert load_policy(text(doc)).version == base.version
    assert not base.views["claims_analysis"].sensitive
    doc["views"]["claims_analysis"]["sensitive"] = True
    flagged = load_policy(text(doc))
    assert flagged.views["claims_analysis"].sensitive
    assert not flagged.views["by_type"].sensitive
