"""The SQLite consent store and the guardian rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from enclave.consent import Consent, ConsentNotFound, ConsentStore, SqliteConsentStore, guardians_of
from tests.support.person_fakes import Binding

T0 = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConsentStore]:
    s = SqliteConsentStore.open(tmp_path / "state" / "consent.db")
    yield s
    s.close()


def grant(store: ConsentStore, **kw: object) -> Consent:
    fields: dict[str, object] = {
        "partner": "acme-insurance",
        "person_token": b"t" * 32,
        "person_id": 1,
        "purpose": "INSURANCE_UNDERWRITING",
        "valid_from": T0,
        "valid_until": T0 + 30 * DAY,
        "single_use": False,
    }
    fields.update(kw)
    return store.grant(**fields)  # type: ignore[arg-type]


def find(store: ConsentStore, **kw: object) -> Consent | None:
    fields: dict[str, object] = {
        "partner": "acme-insurance",
        "purpose": "INSURANCE_UNDERWRITING",
        "at": T0 + DAY,
        "person_token": b"t" * 32,
    }
    fields.update(kw)
    return store.find_valid(**fields)  # type: ignore[arg-type]


def test_valid_consent_is_found_only_for_its_partner_purpose_and_window(
    store: ConsentStore,
) -> None:
    consent = grant(store)
    assert find(store) == consent
    assert find(store, partner="other-bank") is None
    assert find(store, purpose="LOAN_ORIGINATION") is None
    assert find(store, at=T0 - DAY) is None
    assert find(store, at=T0 + 30 * DAY) is None  # valid_until is exclusive
    assert find(store, person_token=b"u" * 32) is None


def test_consent_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "consent.db"
    first = SqliteConsentStore.open(path)
    consent = grant(first)
    first.close()
    again = SqliteConsentStore.open(path)
    assert find(again) == consent
    again.close()


def test_single_use_consent_is_consumed_once(store: ConsentStore) -> None:
    consent = grant(store, single_use=True)
    found = find(store)
    assert found == consent
    assert store.consume(consent, T0 + DAY)
    assert not store.consume(consent, T0 + DAY)
    assert find(store) is None


def test_revoked_consent_is_not_valid(store: ConsentStore) -> None:
    consent = grant(store)
    store.revoke(consent.consent_ref, T0)
    assert find(store) is None
    with pytest.raises(ConsentNotFound):
        store.revoke("cns_nope", T0)


def test_consent_ref_restricts_the_match(store: ConsentStore) -> None:
    consent = grant(store)
    assert find(store, consent_ref=consent.consent_ref) == consent
    assert find(store, consent_ref="cns_other") is None


def test_holder_consent_found_by_person_id(store: ConsentStore) -> None:
    consent = grant(store, person_id=7)
    assert find(store, person_token=None, person_ids=(7,)) == consent
    assert find(store, person_token=None, person_ids=(8,)) is None


def test_guardians_are_holders_bound_at_the_instant() -> None:
    bindings = [
        Binding(1, 5, T0 - DAY),
        Binding(2, 5, T0 - 10 * DAY, unbound_at=T0 - DAY),  # unbound before
        Binding(3, 5, T0 + DAY),  # bound later
        Binding(5, 9, T0 - DAY),  # 5 is the holder here, not a member
    ]
    assert guardians_of(5, bindings, T0) == (1,)
    assert guardians_of(5, bindings, T0 - 5 * DAY) == (2,)


def test_naive_instants_are_refused(store: ConsentStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        grant(store, valid_from=dt.datetime(2024, 1, 1), valid_until=dt.datetime(2024, 2, 1))
