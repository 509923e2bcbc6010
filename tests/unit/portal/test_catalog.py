"""The catalogue of grants: every partner scope and purpose described, its methods the zone's."""

from __future__ import annotations

import pytest

from dataward.access import PARTNER_SCOPES, Purpose
from grpc_api._guard import METHOD_SCOPES, STEWARD_HELD
from portal._catalog import CATALOG, SCOPE_METHODS, Catalog, Entry
from portal.errors import InvalidInputError


def test_every_partner_scope_and_every_purpose_has_a_sentence() -> None:
    assert {e.value for e in CATALOG.scopes} == {s.value for s in PARTNER_SCOPES}
    assert {e.value for e in CATALOG.purposes} == {p.value for p in Purpose}
    for entry in (*CATALOG.scopes, *CATALOG.purposes):
        assert entry.title and entry.sentence.endswith(".")


def test_a_scope_is_built_exactly_when_the_zone_serves_its_methods() -> None:
    served: dict[str, set[str]] = {}
    for method, scope in METHOD_SCOPES.items():
        if method in STEWARD_HELD:  # a steward's only (the zone log's view), never a partner's
            continue
        served.setdefault(scope.value, set()).add(method.removeprefix("/dataward.v1."))
    for entry in CATALOG.scopes:
        assert set(SCOPE_METHODS[entry.value]) == served.get(entry.value, set())
        assert entry.built == bool(served.get(entry.value))


def test_checks_name_an_unbuilt_entry_and_never_echo_an_unknown_one() -> None:
    catalog = Catalog(
        (Entry("eligibility:check", "E", "e."), Entry("query:run", "R", "r.", built=False)),
        CATALOG.purposes,
    )
    assert catalog.check_scopes(["eligibility:check", "eligibility:check"]) == ["eligibility:check"]
    with pytest.raises(InvalidInputError, match="query:run is not built yet"):
        catalog.check_scopes(["eligibility:check", "query:run"])
    with pytest.raises(InvalidInputError) as unknown:
        catalog.check_scopes(["<script>"])
    assert "<script>" not in unknown.value.public_message
    with pytest.raises(InvalidInputError, match="choose at least one purpose"):
        catalog.check_purposes([])
