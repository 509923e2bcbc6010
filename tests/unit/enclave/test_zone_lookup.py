import datetime as dt
from pathlib import Path

import pytest

from enclave import LookupRefused
from enclave.dataset import Zone, ingest
from enclave.keys import Keyring, init_zone, open_keyring
from enclave.persons import InvalidIdNumber
from tests.support.zone_source import MASTER_KEY, Source, id_number, make_source


@pytest.fixture
def opened(tmp_path: Path) -> tuple[Zone, Keyring, Source]:
    src = make_source(40)
    zone_dir = tmp_path / "zone"
    init_zone(zone_dir, MASTER_KEY)
    keyring = open_keyring(zone_dir, MASTER_KEY)
    ingest(zone_dir, src.write(tmp_path / "src"), keyring, batch_rows=9)
    return Zone.open(zone_dir, keyring), keyring, src


def test_every_person_is_found_with_source_attributes(opened: tuple[Zone, Keyring, Source]) -> None:
    zone, keyring, src = opened
    p = src.tables["persons"]
    for i, number in enumerate(p["id_number"]):
        person = zone.find_person(number)
        assert person is not None
        assert person.person_id == p["person_id"][i]
        assert person.person_token == keyring.token("id_number", number)
        assert person.name_token == keyring.token("name", p["name"][i])
        assert (person.status, person.gender) == (p["status"][i], p["gender"][i])
        assert (person.birth_date, person.region_code) == (p["birth_date"][i], p["region_code"][i])
        assert zone.person_by_token(person.person_token) == person


def test_enrolments_and_bindings_match_the_source(opened: tuple[Zone, Keyring, Source]) -> None:
    zone, _, src = opened
    e = src.tables["enrolments"]
    for pid in (1000, 1001, 1017):
        expected = sorted(
            (e["scheme"][k], e["start_date"][k], e["end_date"][k], e["arrears_months"][k])
            for k in range(len(e["person_id"]))
            if e["person_id"][k] == pid
        )
        got = sorted(
            (r.scheme, r.start_date, r.end_date, r.arrears_months) for r in zone.enrolments(pid)
        )
        assert got == expected and got
    holder = zone.family_bindings(1000)
    member = zone.family_bindings(1001)
    assert holder == member and len(holder) == 1
    assert holder[0].holder_person_id == 1000 and holder[0].member_person_id == 1001
    assert holder[0].bound_at == dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert zone.family_bindings(1002) == ()
    assert zone.enrolments(99999) == ()


def test_unknown_and_malformed(opened: tuple[Zone, Keyring, Source]) -> None:
    zone, _, src = opened
    unknown = id_number("110101", dt.date(1990, 1, 1), 999)
    assert unknown not in src.tables["persons"]["id_number"]
    assert zone.find_person(unknown) is None
    assert zone.person_by_token(b"\x00" * 32) is None
    assert zone.person_by_token(b"short") is None
    with pytest.raises(InvalidIdNumber) as info:
        zone.find_person("11010119900101123")
    assert "1101" not in str(info.value)
    with pytest.raises(InvalidIdNumber):
        zone.find_person(unknown[:-1] + ("0" if unknown[-1] != "0" else "1"))


def test_lookup_accepts_lower_case_check_character_and_spaces(
    opened: tuple[Zone, Keyring, Source],
) -> None:
    zone, _, src = opened
    with_x = [n for n in src.tables["persons"]["id_number"] if n.endswith("X")]
    number = with_x[0] if with_x else src.tables["persons"]["id_number"][0]
    assert zone.find_person(f"  {number.lower()} ") == zone.find_person(number)


def test_keyring_of_another_zone_is_refused(
    opened: tuple[Zone, Keyring, Source], tmp_path: Path
) -> None:
    assert opened[0].version
    other = tmp_path / "other"
    init_zone(other, MASTER_KEY)
    zone_dir = tmp_path / "zone"
    with pytest.raises(LookupRefused):
        Zone.open(zone_dir, open_keyring(other, MASTER_KEY))
