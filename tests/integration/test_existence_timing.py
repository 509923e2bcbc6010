"""Registry membership does not leak through the time a refusal takes (issue 8, fault 8).

The attack run timed `Check` and `Verify` for a registered person without consent against a
valid-looking number the registry does not hold: the answers were byte-identical, but the
unknown number answered about 0.1 ms (7%) faster (500 calls each, Mann-Whitney z = 8.8 and
5.1), because only a known person's guardians were looked up. The consent-refusal path now
does the same work either way.

This measures the zone's own path (:class:`PersonChecks` over the real zone and consent
store, audit leaves to a trail that keeps nothing), where that difference lives, without the
noise of gRPC and fsync: 300 calls of each kind, interleaved in a shuffled order after a
warm-up, compared with a Mann-Whitney U test. ``|z| < 5`` does not flake on a shared machine
once the paths match; before the fix it was far above it. ``bench/`` has the end-to-end form.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from bench._stats import mann_whitney_z
from dataward.transparency import Receipt
from enclave.consent import SqliteConsentStore
from enclave.dataset import Zone, ingest
from enclave.keys import init_zone, open_keyring
from enclave.persons import (
    Benefit,
    ConsentRequired,
    EligibilityQuery,
    IdentityQuery,
    PersonChecks,
    check_character,
)
from enclave.release import Caller
from tests.support.zone_source import MASTER_KEY, make_source

PARTNER = Caller("app-1", "acme-insurance")
UW = "INSURANCE_UNDERWRITING"
CALLS = 300


class _NullTrail:
    """An audit trail that keeps nothing (the same cost for both kinds of call)."""

    def request(self, **fields: object) -> None:
        return None

    def decision(self, **fields: object) -> None:
        return None

    def request_batch(self, entries: object) -> None:  # pragma: no cover (no batch here)
        return None

    def decision_batch(self, entries: object) -> None:  # pragma: no cover (no batch here)
        return None

    def allow_and_release(self, **fields: object) -> Receipt:  # pragma: no cover (refusals only)
        raise AssertionError("no answer is released in this test")

    def request_and_decision(self, request: object, decision: object) -> None:
        return None

    def request_allow_and_release(  # pragma: no cover (refusals only)
        self, request: object, **fields: object
    ) -> Receipt:
        raise AssertionError("no answer is released in this test")


def test_the_statistic_sees_a_real_difference() -> None:
    rng = random.Random(1)
    slow = [1.07 + rng.random() * 0.1 for _ in range(CALLS)]
    fast = [1.0 + rng.random() * 0.1 for _ in range(CALLS)]
    assert mann_whitney_z(slow, fast) > 8
    assert abs(mann_whitney_z(fast, [x + 0.0 for x in fast])) < 1e-9


World = tuple[PersonChecks, str, str, str, list[str]]


@pytest.fixture(scope="module")
def checks(world: World) -> tuple[PersonChecks, str, str, str]:
    return world[:4]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The zone's checks, a plain and a bound person, an unknown number, and the numbers of
    every person bound to a holder (the guardians' lookup runs on their holders' ids)."""
    root = tmp_path_factory.mktemp("timing")
    source = make_source(600)
    zone_dir = root / "zone"
    init_zone(zone_dir, MASTER_KEY)
    keyring = open_keyring(zone_dir, MASTER_KEY)
    ingest(zone_dir, source.write(root / "src"), keyring)
    zone = Zone.open(zone_dir, keyring)
    consents = SqliteConsentStore.open(root / "consent.db", synchronous="OFF")
    checks = PersonChecks(directory=zone, tokenizer=keyring, consents=consents, audit=_NullTrail())
    ids = source.column("persons", "id_number")
    members = set(source.column("family_bindings", "member_person_id"))
    holders = set(source.column("family_bindings", "holder_person_id"))
    person_ids = source.column("persons", "person_id")
    plain = next(i for i, p in zip(ids, person_ids, strict=True) if p not in members | holders)
    bound = next(i for i, p in zip(ids, person_ids, strict=True) if p in members)
    base = ids[0][:14] + "99"
    unknown = next(
        n + check_character(n)
        for n in (base + str(d) for d in range(10))
        if n + check_character(n) not in ids
    )
    member_ids = [i for i, p in zip(ids, person_ids, strict=True) if p in members]
    return checks, plain, bound, unknown, member_ids


def _timings(
    call: Callable[[str], object], known: str, unknown: str
) -> tuple[list[float], list[float]]:
    order = [known] * CALLS + [unknown] * CALLS
    random.Random(8).shuffle(order)
    for number in order[:100]:  # warm-up: caches, branch predictors, SQLite's page cache
        call(number)
    times: dict[str, list[float]] = {known: [], unknown: []}
    for number in order:
        start = time.perf_counter_ns()
        call(number)
        times[number].append(time.perf_counter_ns() - start)
    return times[known], times[unknown]


def _refused(call: Callable[[str], object]) -> Callable[[str], object]:
    def run(number: str) -> object:
        try:
            call(number)
        except ConsentRequired as exc:
            return exc
        raise AssertionError("answered without consent")

    return run


@pytest.mark.parametrize("who", ["plain", "bound"])
@pytest.mark.parametrize("method", ["check", "verify"])
def test_a_known_person_without_consent_takes_as_long_as_an_unknown_number(
    checks: tuple[PersonChecks, str, str, str], who: str, method: str
) -> None:
    zone_checks, plain, bound, unknown = checks
    known = plain if who == "plain" else bound

    def check(number: str) -> object:
        return zone_checks.check_eligibility(
            PARTNER, EligibilityQuery(number, Benefit.OUTPATIENT, None, UW)
        )

    def verify(number: str) -> object:
        return zone_checks.verify_identity(PARTNER, IdentityQuery(number, "Zhang Wei", UW))

    known_ns, unknown_ns = _timings(
        _refused(check if method == "check" else verify), known, unknown
    )
    z = mann_whitney_z(known_ns, unknown_ns)
    median = sorted(known_ns)[CALLS // 2], sorted(unknown_ns)[CALLS // 2]
    print(
        f"\n{method} {who}: median known {median[0] / 1e3:.1f} us, "
        f"unknown {median[1] / 1e3:.1f} us, Mann-Whitney z = {z:.2f}"
    )
    assert abs(z) < 5, f"refusals differ in time: z = {z:.2f} (medians {median} ns)"


FRESH = 120  # numbers of each kind asked once each: no lookup of them is in memory yet


def _fresh_numbers(ids: list[str], taken: set[str], count: int) -> list[str]:
    """``count`` valid numbers the registry does not hold, none asked before."""
    found: list[str] = []
    for prefix in dict.fromkeys(i[:14] for i in ids):
        for d in range(900, 1000):  # sequences the source never gives
            n = f"{prefix}{d:03d}"
            number = n + check_character(n)
            if number not in taken and number not in found:
                found.append(number)
            if len(found) == count:
                return found
    raise AssertionError("not enough unknown numbers")


def test_a_first_lookup_of_a_known_person_takes_as_long_as_of_an_unknown_number(
    world: World,
) -> None:
    # The consent store answers a token it has read before from memory (issue 15): a number
    # asked for the first time reads the database whether the registry holds it or not, and
    # the guardians' lookup always does, so the first refusal of a known person must take as
    # long as that of an unknown number.
    # Bound members: for them the guardians' lookup asks real holders' ids, where a memory
    # of person ids would answer an unknown number's (nobody's) from memory and theirs not.
    zone_checks, plain, bound, unknown, bound_members = world
    known = [i for i in bound_members if i not in (plain, bound)][: FRESH + 20]
    assert len(known) == FRESH + 20
    strangers = _fresh_numbers(known, {*bound_members, plain, bound, unknown}, FRESH + 20)
    warm = known[FRESH:] + strangers[FRESH:]
    order = [(n, True) for n in known[:FRESH]] + [(n, False) for n in strangers[:FRESH]]
    random.Random(9).shuffle(order)

    def check(number: str) -> object:
        return zone_checks.check_eligibility(
            PARTNER, EligibilityQuery(number, Benefit.OUTPATIENT, None, UW)
        )

    refused = _refused(check)
    for number in warm:  # the code paths warm, none of the measured numbers asked
        refused(number)
    times: dict[bool, list[float]] = {True: [], False: []}
    for number, is_known in order:
        start = time.perf_counter_ns()
        refused(number)
        times[is_known].append(time.perf_counter_ns() - start)
    z = mann_whitney_z(times[True], times[False])
    print(f"\nfirst lookups: Mann-Whitney z = {z:.2f}")
    assert abs(z) < 5, f"first refusals differ in time: z = {z:.2f}"
