"""The lookups the consent-refusal path makes for every refused request (issue 8, fault 8)
give the same answers as the record-building ones they replace."""

from __future__ import annotations

import datetime as dt

import pytest

from enclave.consent import guardians_of
from enclave.dataset import Zone, ingest
from enclave.keys import init_zone, open_keyring
from tests.support.zone_source import MASTER_KEY, make_source


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Zone, list[str]]:
    root = tmp_path_factory.mktemp("lookups")
    source = make_source(120)
    init_zone(root / "zone", MASTER_KEY)
    keyring = open_keyring(root / "zone", MASTER_KEY)
    ingest(root / "zone", source.write(root / "src"), keyring)
    return Zone.open(root / "zone", keyring), source.column("persons", "id_number")


def test_guardians_follow_the_rule_for_every_person_and_instant(
    zone: tuple[Zone, list[str]],
) -> None:
    z, ids = zone
    instants = [dt.datetime(y, 6, 1, tzinfo=dt.UTC) for y in range(2010, 2031, 2)]
    bound = 0
    for number in ids:
        person = z.find_person(number)
        assert person is not None
        for at in instants:
            expected = guardians_of(person.person_id, z.family_bindings(person.person_id), at)
            assert z.guardians(person.person_id, at) == expected
            bound += bool(expected)
    assert bound > 0  # the source binds members, so the rule was exercised with rows
    assert z.guardians(-1, instants[0]) == ()


def test_person_id_by_token_matches_the_record(zone: tuple[Zone, list[str]]) -> None:
    z, ids = zone
    for number in ids:
        person = z.find_person(number)
        assert person is not None
        assert z.person_id_by_token(person.person_token) == person.person_id
    assert z.person_id_by_token(b"\xff" * 32) is None
    assert z.person_id_by_token(b"\x00" * 32) is None
    assert z.person_id_by_token(b"short") is None
