"""GroupedChecks: unary checks waiting at the same time are checked as one group (issue 15).

The zone side is a fake of ``check_eligibility_many`` (the one method GroupedChecks calls):
it records each group and can hold the first one, so the groups that form are known.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from enclave.errors import CorruptDataset
from enclave.persons import (
    Answer,
    Benefit,
    ConsentRequired,
    EligibilityDecision,
    EligibilityQuery,
    IdentityQuery,
    ItemFault,
    PersonChecks,
)
from enclave.release import Caller
from grpc_api._grouped import GroupedChecks
from grpc_api.errors import Unavailable
from tests.support.person_fakes import ALICE
from tests.unit.enclave.persons.test_eligibility_many import PARTNER, PURPOSE, World

A = Caller("app-a", "acme", frozenset({"INSURANCE_UNDERWRITING"}))
B = Caller("app-b", "beta", frozenset({"INSURANCE_UNDERWRITING"}))


def _query(n: int) -> EligibilityQuery:
    return EligibilityQuery(f"{n:018d}", Benefit.OUTPATIENT, None, "INSURANCE_UNDERWRITING")


class _Zone:
    """check_eligibility_many: an answer per query, or what ``outcome`` says for it."""

    def __init__(self) -> None:
        self.groups: list[tuple[Caller, list[str]]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.outcome: dict[str, Any] = {}
        self.fail: BaseException | None = None
        self.alone: list[str] = []

    def check_eligibility_many(
        self, caller: Caller, queries: Sequence[EligibilityQuery]
    ) -> list[Any]:
        self.entered.set()
        self.hold.wait(10)
        self.groups.append((caller, [q.id_number for q in queries]))
        if self.fail is not None:
            raise self.fail
        return [self.outcome.get(q.id_number, _answer(q.id_number)) for q in queries]

    def verify_identity_many(self, caller: Caller, queries: Sequence[IdentityQuery]) -> list[Any]:
        self.groups.append((caller, [f"verify {q.id_number}" for q in queries]))
        return [_answer(q.id_number) for q in queries]

    def verify_identity(self, caller: Caller, query: IdentityQuery) -> Answer[Any]:
        self.alone.append(query.id_number)
        return _answer(query.id_number)


def _answer(id_number: str) -> Answer[EligibilityDecision]:
    return Answer(cast(EligibilityDecision, id_number), cast(Any, None), id_number)


@pytest.fixture
def zone() -> _Zone:
    return _Zone()


@pytest.fixture
def grouped(zone: _Zone) -> Any:
    made = GroupedChecks(cast(PersonChecks, zone), group=4)
    yield made
    made.close()


def _in_threads(
    grouped: GroupedChecks, asks: list[tuple[Caller, int]]
) -> tuple[dict[int, Any], list[threading.Thread]]:
    """Each ask on a thread of its own, started; its answer or error lands in the dict."""
    results: dict[int, Any] = {}

    def one(caller: Caller, n: int) -> None:
        try:
            results[n] = grouped.check(caller, _query(n))
        except BaseException as exc:
            results[n] = exc

    threads = [threading.Thread(target=one, args=ask) for ask in asks]
    for t in threads:
        t.start()
    return results, threads


def _held_first(
    zone: _Zone, grouped: GroupedChecks, later: list[tuple[Caller, int]]
) -> dict[int, Any]:
    """Call 0 (caller A) is checked alone and held there while ``later`` queue up behind it."""
    zone.hold.clear()
    first, t0 = _in_threads(grouped, [(A, 0)])
    assert zone.entered.wait(10)
    results, threads = _in_threads(grouped, later)
    deadline = threading.Event()
    while grouped._waiting.qsize() < len(later) and not deadline.wait(0.005):
        pass
    zone.hold.set()
    for t in [*t0, *threads]:
        t.join(10)
    return {**first, **results}


def test_checks_waiting_together_are_one_group_each_with_its_own_answer(
    zone: _Zone, grouped: GroupedChecks
) -> None:
    results = _held_first(zone, grouped, [(A, n) for n in (1, 2, 3)])
    assert zone.groups[0] == (A, [f"{0:018d}"])
    assert zone.groups[1][0] == A
    assert sorted(zone.groups[1][1]) == [f"{n:018d}" for n in (1, 2, 3)]
    for n in range(4):
        assert isinstance(results[n], Answer)
        assert results[n].request_id == f"{n:018d}"  # each call gets its own answer


def test_a_group_holds_at_most_its_bound_and_one_callers_checks(
    zone: _Zone, grouped: GroupedChecks
) -> None:
    later = [(A, 1), (B, 2), (A, 3), (B, 4), (A, 5), (A, 6)]
    results = _held_first(zone, grouped, later)
    assert all(isinstance(results[n], Answer) for n in range(7))
    for caller, ids in zone.groups:
        assert len(ids) <= 4
        assert {caller} == {c for c, n in [*later, (A, 0)] if f"{n:018d}" in ids}
    assert sorted(n for _, ids in zone.groups for n in ids) == [f"{n:018d}" for n in range(7)]


def test_a_refusal_is_its_own_calls_error_and_the_others_are_answered(
    zone: _Zone, grouped: GroupedChecks
) -> None:
    zone.outcome[f"{2:018d}"] = ConsentRequired()
    results = _held_first(zone, grouped, [(A, 1), (A, 2), (A, 3)])
    assert isinstance(results[2], ConsentRequired)
    assert all(isinstance(results[n], Answer) for n in (0, 1, 3))


def test_a_fault_on_one_check_is_raised_as_the_unary_call_raised_it(
    zone: _Zone, grouped: GroupedChecks
) -> None:
    bug = KeyError("a bug on this item")
    fault = ItemFault()
    fault.__cause__ = bug
    zone.outcome[f"{1:018d}"] = fault
    corrupt = CorruptDataset()  # a zone fault raised from a raw one keeps its own status
    corrupt.__cause__ = OSError("index truncated")
    zone.outcome[f"{2:018d}"] = corrupt
    results = _held_first(zone, grouped, [(A, 1), (A, 2), (A, 3)])
    assert results[1] is bug
    assert results[2] is corrupt
    assert isinstance(results[3], Answer)


def test_a_fault_of_the_group_fails_every_call_of_it_and_the_next_group_is_served(
    zone: _Zone, grouped: GroupedChecks
) -> None:
    zone.fail = OSError("the audit log is down")
    results = _held_first(zone, grouped, [(A, 1), (A, 2)])
    assert all(results[n] is zone.fail for n in (0, 1, 2))
    zone.fail = None
    assert isinstance(grouped.check(A, _query(9)), Answer)


def test_close_checks_what_was_asked_before_it_and_refuses_later_calls(zone: _Zone) -> None:
    grouped = GroupedChecks(cast(PersonChecks, zone), group=1)
    results = _held_first_then_close(zone, grouped)
    assert all(isinstance(results[n], Answer) for n in (0, 1, 2))
    assert [ids for _, ids in zone.groups] == [[f"{n:018d}"] for n in range(3)]
    with pytest.raises(Unavailable):
        grouped.check(A, _query(5))
    grouped.close()  # twice is fine


def _held_first_then_close(zone: _Zone, grouped: GroupedChecks) -> dict[int, Any]:
    zone.hold.clear()
    first, t0 = _in_threads(grouped, [(A, 0)])
    assert zone.entered.wait(10)
    results, threads = _in_threads(grouped, [(A, 1), (A, 2)])
    pause = threading.Event()
    while grouped._waiting.qsize() < 2 and not pause.wait(0.005):
        pass
    closer = threading.Thread(target=grouped.close)
    closer.start()
    while grouped._waiting.qsize() < 3 and not pause.wait(0.005):  # the end marker is queued
        pass
    zone.hold.set()
    closer.join(10)
    for t in [*t0, *threads]:
        t.join(10)
    assert not closer.is_alive()
    return {**first, **results}


def test_a_group_bound_below_one_is_refused(zone: _Zone) -> None:
    with pytest.raises(ValueError, match="at least one"):
        GroupedChecks(cast(PersonChecks, zone), group=0)


def test_identity_queries_are_groups_of_their_own_and_one_with_a_selfie_is_checked_alone(
    zone: _Zone, grouped: GroupedChecks
) -> None:
    zone.hold.clear()
    first, t0 = _in_threads(grouped, [(A, 0)])
    assert zone.entered.wait(10)
    verified: dict[int, Any] = {}

    def verify(n: int, selfie: bytes = b"") -> None:
        asked = IdentityQuery(f"{n:018d}", "name", "INSURANCE_UNDERWRITING", selfie=selfie)
        verified[n] = grouped.verify(A, asked)

    threads = [threading.Thread(target=verify, args=(n,)) for n in (1, 2)]
    threads.append(threading.Thread(target=verify, args=(3, b"jpeg")))
    for t in threads:
        t.start()
    threads[2].join(10)  # the selfie does not wait behind the held group
    assert zone.alone == [f"{3:018d}"]
    more, t1 = _in_threads(grouped, [(A, 4)])
    pause = threading.Event()
    while grouped._waiting.qsize() < 3 and not pause.wait(0.005):
        pass
    zone.hold.set()
    for t in [*t0, *threads, *t1]:
        t.join(10)
    assert all(isinstance(verified[n], Answer) for n in (1, 2, 3))
    assert isinstance(first[0], Answer) and isinstance(more[4], Answer)
    assert zone.groups[0] == (A, [f"{0:018d}"])
    rest = sorted(ids for _, ids in zone.groups[1:])
    assert rest == [[f"{4:018d}"], [f"verify {1:018d}", f"verify {2:018d}"]]


def test_a_zone_fault_with_a_raw_cause_keeps_its_status_through_the_real_zone(
    tmp_path: Path,
) -> None:
    # Review (issue 15): a zone error raised from a plain exception reached the caller as the
    # plain exception (INTERNAL) where the unary call raised the zone error (UNAVAILABLE).
    world = World(tmp_path)
    grouped = GroupedChecks(world.checks, 8)
    try:
        world.consent(ALICE)

        def broken(token: bytes) -> None:
            raise CorruptDataset() from OSError("index truncated")

        world.directory.person_by_token = broken  # type: ignore[method-assign]
        asked = IdentityQuery(id_number=ALICE, name="张伟", purpose=PURPOSE)
        with pytest.raises(CorruptDataset):
            world.checks.verify_identity(PARTNER, asked)
        with pytest.raises(CorruptDataset):
            grouped.verify(PARTNER, asked)
    finally:
        grouped.close()
        world.close()


def test_a_caller_that_cannot_key_a_group_fails_its_call_and_the_thread_goes_on(
    zone: _Zone, grouped: GroupedChecks
) -> None:
    odd = Caller("app-c", "gamma", cast(Any, {"INSURANCE_UNDERWRITING"}))  # a set: unhashable
    with pytest.raises(TypeError):
        grouped.check(odd, _query(1))
    assert isinstance(grouped.check(A, _query(2)), Answer)
