"""The consent store's by-token memory (issue 15): the same answers as the SQL lookup, kept in
step by every write whatever the value passed, off when asked, gone with the store."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import sqlite3
from pathlib import Path

import pytest

from enclave.consent import SqliteConsentStore
from tests.unit.enclave.test_consent import DAY, T0, find, grant


def test_cached_tokens_zero_does_not_crash_a_lookup(tmp_path: Path) -> None:
    """cached_tokens=0 turns the memory off: every lookup reads the database."""
    store = SqliteConsentStore.open(tmp_path / "consent.db", cached_tokens=0)
    try:
        consent = grant(store)
        assert find(store) == consent
        store.revoke(consent.consent_ref, T0)
        assert find(store) is None
    finally:
        store.close()


def test_consume_of_a_consent_with_other_fields_still_invalidates_it(tmp_path: Path) -> None:
    """consume() marks the row by consent_ref: the memory it drops is the row's own key, read
    back from the database, not the fields of the value passed (review: a value whose fields
    differ left the consumed consent in memory, honoured again)."""
    store = SqliteConsentStore.open(tmp_path / "consent.db")
    try:
        consent = grant(store, single_use=True)
        assert find(store) == consent  # cached now
        other = dataclasses.replace(consent, person_token=b"x" * 32)
        assert store.consume(other, T0 + DAY)  # the row is used (UPDATE by consent_ref)
        assert store.get(consent.consent_ref).used_at is not None
        # a lookup that starts after consume returned: must not honour it
        assert find(store) is None
    finally:
        store.close()


def test_lookup_after_close_is_not_answered_from_memory(tmp_path: Path) -> None:
    """A closed store answers no lookup, from memory or not."""
    store = SqliteConsentStore.open(tmp_path / "consent.db")
    grant(store)
    assert find(store) is not None
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        find(store)


def _rank(consent: object) -> object:
    """What the lookup orders by: two consents of one rank are an arbitrary pick either way."""
    return None if consent is None else (consent.single_use, consent.valid_until)  # type: ignore[attr-defined]


def _sql(store: SqliteConsentStore, **kw: object) -> object:
    # person_token with a person id nobody has: the SQL path, the same predicate.
    return find(store, person_ids=(-987654,), **kw)


@pytest.mark.parametrize("seed", range(8))
def test_the_memory_answers_what_the_sql_lookup_answers(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    store = SqliteConsentStore.open(tmp_path / f"c{seed}.db")
    tokens = [b"t" * 32, b"u" * 32]
    refs: list[str] = []
    mismatches: list[str] = []
    try:
        for step in range(150):
            op = rng.random()
            if op < 0.35:
                start = T0 + dt.timedelta(
                    microseconds=rng.randrange(-3, 4) * 500_000_000 + rng.randrange(3)
                )
                length = dt.timedelta(
                    microseconds=rng.choice([1, 2, 10**6, 86_400 * 10**6, 10**12])
                )
                c = grant(
                    store,
                    person_token=rng.choice(tokens),
                    valid_from=start,
                    valid_until=start + length,
                    single_use=rng.random() < 0.5,
                )
                refs.append(c.consent_ref)
            elif op < 0.45 and refs:
                store.revoke(rng.choice(refs), T0)
            elif op < 0.6 and refs:
                store.consume(store.get(rng.choice(refs)), T0)
            else:
                at = T0 + dt.timedelta(microseconds=rng.randrange(-2 * 10**9, 2 * 10**9))
                if rng.random() < 0.05 and refs:
                    c = store.get(rng.choice(refs))
                    at = rng.choice(
                        [c.valid_from, c.valid_until, c.valid_until - dt.timedelta(microseconds=1)]
                    )
                tok = rng.choice(tokens)
                ref = rng.choice([None, None, *(refs[-3:])])
                fast = find(store, person_token=tok, at=at, consent_ref=ref)
                slow = _sql(store, person_token=tok, at=at, consent_ref=ref)
                if fast != slow:
                    kind = "tie" if _rank(fast) == _rank(slow) else "DIFF"
                    mismatches.append(f"{kind} step {step}: {fast} vs {slow}")
        assert not [m for m in mismatches if m.startswith("DIFF")], mismatches
    finally:
        store.close()
