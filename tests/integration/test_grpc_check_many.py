"""``Client.check_many`` (issue 15) against a real server over a real zone and audit log: input
order across streams, the server's per-stream cap learned, item errors, progress, verified
receipts, and a lazily read iterable (never held whole, at most ``window`` items ahead)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from dataward.access import Purpose
from dataward.client import (
    BatchItem,
    Benefit,
    Client,
    ConsentRequired,
    EligibilityQuery,
    IdNumberInvalid,
    InvalidArgument,
    ServerError,
    StaticTokenSource,
)
from dataward.client._batch import BatchRun
from dataward.client._client import new_nonce
from dataward.v1 import eligibility_pb2, eligibility_pb2_grpc
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import ALICE, BOB, CAROL, DAVE

UW = Purpose("INSURANCE_UNDERWRITING")
PEOPLE = (ALICE, BOB, CAROL)
EXPECTED = {ALICE: (True, ()), BOB: (False, ("SUSPENDED_ARREARS",)), CAROL: (False, ("DECEASED",))}


def _query(id_number: str) -> EligibilityQuery:
    return EligibilityQuery(id_number, Benefit.OUTPATIENT, UW)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    # a small per-stream cap, so that a dozen items span streams
    with grpc_stack(tmp_path, max_batch_items=4) as s:
        for person in PEOPLE:
            s.consent(person)
        yield s


def _client(stack: Stack) -> Client:
    return Client(stack.target, StaticTokenSource(stack.issuer.token()))


def _check(items: list[BatchItem], people: list[str]) -> None:
    assert [item.index for item in items] == list(range(len(people)))
    for item, person in zip(items, people, strict=True):
        assert item.error is None and item.result is not None, item.error
        assert (item.result.eligible, item.result.reasons) == EXPECTED[person]


def test_answers_span_streams_in_input_order_with_verified_receipts(stack: Stack) -> None:
    people = [PEOPLE[i % 3] for i in range(11)]
    done: list[int] = []
    with _client(stack) as c:
        items = list(
            c.check_many((_query(p) for p in people), progress=done.append, stream_items=4)
        )
        for item in items:  # check_many verified them already: they verify again
            assert item.result is not None
            c.verify_answer(item.result)
        assert c.largest_checkpoint() is not None  # held to one history while it checked
    _check(items, people)
    assert done == list(range(1, 12))
    request_ids = {item.result.request_id for item in items if item.result is not None}
    assert len(request_ids) == 11  # each item its own answer, logged as its own


def test_the_servers_smaller_cap_is_learned_and_the_rest_resent(stack: Stack) -> None:
    # the client asks for the documented default (1000) per stream; the server takes 4
    people = [PEOPLE[i % 3] for i in range(10)]
    with _client(stack) as c:
        items = list(c.check_many(_query(p) for p in people))
    _check(items, people)


def test_refused_items_are_items_and_the_batch_goes_on(stack: Stack) -> None:
    ids = [ALICE, DAVE, "110101198001010011", BOB, ALICE, DAVE]
    with _client(stack) as c:
        items = list(c.check_many((_query(i) for i in ids), window=2, stream_items=4))
    assert [item.index for item in items] == list(range(6))
    assert isinstance(items[1].error, ConsentRequired) and items[1].result is None
    assert isinstance(items[2].error, IdNumberInvalid)
    assert items[2].error.reason == "ID_NUMBER_INVALID" and items[2].error.code is not None
    assert ALICE not in items[2].error.message and DAVE not in str(items[5].error)
    assert isinstance(items[5].error, ConsentRequired)
    for i in (0, 3, 4):
        assert items[i].result is not None and items[i].error is None
    assert items[3].result is not None and items[3].result.reasons == ("SUSPENDED_ARREARS",)


def test_the_iterable_is_read_lazily_at_most_a_window_ahead(stack: Stack) -> None:
    pulled = 0

    def endless() -> Iterator[EligibilityQuery]:
        nonlocal pulled
        for n in itertools.count():
            pulled += 1
            yield _query(PEOPLE[n % 3])

    window = 3
    with _client(stack) as c:
        batch = c.check_many(endless(), window=window, stream_items=4)
        consumed = 0
        for item in batch:
            consumed += 1
            assert item.index == consumed - 1
            # answered in order: sent-not-answered <= window, the reader's queue of at most
            # min(pack, window) and one query under way
            assert pulled <= consumed + 2 * window + 1, (pulled, consumed)
            if consumed == 14:
                break
        batch.close()  # type: ignore[attr-defined]
    assert consumed == 14 and pulled <= 14 + 2 * window + 1


class _SourceBrokeError(Exception):
    pass


@pytest.mark.parametrize("error", [_SourceBrokeError, SystemExit])
def test_an_iterable_that_raises_gets_the_answers_before_it_then_its_error(
    stack: Stack, error: type[BaseException]
) -> None:
    """The iterable is read on a thread of its own: what it raises -- a BaseException such as
    SystemExit too, which once ended the run as if the input had ended -- is raised on the
    caller's, after the answers before it."""

    def breaks_after_five() -> Iterator[EligibilityQuery]:
        for n in range(5):
            yield _query(PEOPLE[n % 3])
        raise error("the file ended mid-row")

    items: list[BatchItem] = []
    with _client(stack) as c, pytest.raises(error, match="mid-row"):
        for item in c.check_many(breaks_after_five(), window=2, stream_items=4):
            items.append(item)
    _check(items, [PEOPLE[n % 3] for n in range(5)])


def test_not_a_query_stops_the_batch_with_a_type_error(stack: Stack) -> None:
    items: list[BatchItem] = []
    with _client(stack) as c, pytest.raises(TypeError, match="EligibilityQuery"):
        for item in c.check_many([_query(ALICE), ALICE]):  # type: ignore[list-item]
            items.append(item)
    _check(items, [ALICE])


def test_an_empty_iterable_opens_no_stream(stack: Stack) -> None:
    before = len(stack.store.appends)
    with _client(stack) as c:
        assert list(c.check_many(iter(()))) == []
    assert len(stack.store.appends) == before  # not even a stream's opening was logged


def test_window_and_stream_items_must_be_positive(stack: Stack) -> None:
    with _client(stack) as c:
        with pytest.raises(ValueError, match="window"):
            c.check_many([], window=0)
        with pytest.raises(ValueError, match="stream_items"):
            c.check_many([], stream_items=0)


def test_a_rate_limited_stream_is_reopened_after_its_retry_delay(tmp_path: Path) -> None:
    # a burst of 4 per organization: the stream's opening and its items take tokens; a
    # refused item ends the stream RESOURCE_EXHAUSTED RATE_LIMITED, the SDK waits and goes on
    with grpc_stack(
        tmp_path, max_batch_items=100, rate_limit_per_second=40.0, rate_limit_burst=4
    ) as stack:
        for person in PEOPLE:
            stack.consent(person)
        people = [PEOPLE[i % 3] for i in range(9)]
        with _client(stack) as c:
            items = list(c.check_many(_query(p) for p in people))
    _check(items, people)


def _counted_run(stack: Stack, *, pack: int, window: int = 256) -> tuple[BatchRun, list[list[int]]]:
    """A check_many run (receipts unverified) over the real server whose request messages are
    recorded: the number of items each carried (0 for a one-item message)."""
    channel = grpc.insecure_channel(stack.target)
    stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
    streams: list[list[int]] = []

    def open_stream(requests: Iterator[eligibility_pb2.CheckBatchRequest], deadline: float) -> Any:
        seen: list[int] = []
        streams.append(seen)

        def counted() -> Iterator[eligibility_pb2.CheckBatchRequest]:
            for message in requests:
                seen.append(len(message.items))
                yield message

        metadata = (("authorization", f"Bearer {stack.issuer.token()}"),)
        return stub.CheckBatch(counted(), metadata=metadata, timeout=deadline)

    run = BatchRun(
        open_stream=open_stream,
        verify=None,
        refresh=lambda: None,
        nonce=new_nonce,
        window=window,
        stream_items=4,
        timeout=10,
        pack=pack,
    )
    return run, streams


def test_items_leave_packed_and_come_back_the_same_as_one_by_one(stack: Stack) -> None:
    people = [PEOPLE[i % 3] for i in range(10)]
    packed_run, packed_streams = _counted_run(stack, pack=3)
    packed = list(packed_run.run((_query(p) for p in people), None))
    single_run, single_streams = _counted_run(stack, pack=1)
    single = list(single_run.run((_query(p) for p in people), None))
    _check(packed, people)
    _check(single, people)
    # at most 4 items per stream (the server's cap): 3 + 1 packed, or 4 messages of one
    assert packed_streams == [[3, 1], [3, 1], [2]]
    assert single_streams == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0]]


def test_a_pack_never_outgrows_the_window(stack: Stack) -> None:
    people = [PEOPLE[i % 3] for i in range(8)]
    run, streams = _counted_run(stack, pack=64, window=2)
    _check(list(run.run((_query(p) for p in people), None)), people)
    assert all(1 <= n <= 2 for seen in streams for n in seen)
    assert sum(n for seen in streams for n in seen) == 8


def test_a_zone_answering_packed_items_one_by_one_is_a_server_error(stack: Stack) -> None:
    """A zone from before the packed form reads a packed message as one empty item: the SDK
    refuses its answers rather than match them to the wrong items."""

    def old_zone(requests: Iterator[eligibility_pb2.CheckBatchRequest], deadline: float) -> Any:
        for n, _message in enumerate(requests):
            error = eligibility_pb2.ItemError(code=3, reason="FIELD_INVALID", message="id_number")
            yield eligibility_pb2.CheckBatchResponse(index=n, error=error)

    class _Call:
        def __init__(self, answers: Iterator[eligibility_pb2.CheckBatchResponse]) -> None:
            self._answers = answers

        def __iter__(self) -> Iterator[eligibility_pb2.CheckBatchResponse]:
            return self._answers

        def cancel(self) -> bool:
            return True

    def run_over(open_stream: Callable[..., Any], pack: int = 64) -> BatchRun:
        return BatchRun(
            open_stream=open_stream,
            verify=None,
            refresh=lambda: None,
            nonce=new_nonce,
            window=8,
            stream_items=4,
            timeout=10,
            pack=pack,
        )

    run = run_over(lambda requests, deadline: _Call(old_zone(requests, deadline)))
    with pytest.raises(ServerError, match="packed"):
        list(run.run((_query(p) for p in PEOPLE), None))
    with pytest.raises(ValueError, match="pack"):
        run_over(lambda requests, deadline: None, pack=0)


def test_a_slow_iterable_packed_is_answered_as_it_comes(stack: Stack) -> None:
    """Items 0.2 s apart with a 1 s stream deadline: each leaves within PACK_WAIT of the one
    before it, so every stream answers some before its deadline and is reopened for the rest
    (a pack held for 64 items would time out with nothing answered)."""

    def slow() -> Iterator[EligibilityQuery]:
        for n in range(8):
            if n:
                time.sleep(0.2)
            yield _query(PEOPLE[n % 3])

    with _client(stack) as c:
        items = list(c.check_many(slow(), timeout=1.0, verify=False))
    _check(items, [PEOPLE[n % 3] for n in range(8)])


@pytest.mark.parametrize("pack", [1, 64])
def test_a_live_source_slower_than_the_deadline_is_answered_as_it_comes(
    stack: Stack, pack: int
) -> None:
    """A source that gives a query, then nothing for longer than the stream's deadline (1 s),
    then another: the first is answered before the second exists, the stream that ran out of
    time is reopened for the second, and nothing is lost (packed, the first used to wait for
    the second and time out unanswered)."""
    answered: list[float] = []
    given: list[float] = []

    def live() -> Iterator[EligibilityQuery]:
        for n in range(2):
            if n:
                time.sleep(1.5)
            given.append(time.monotonic())
            yield _query(PEOPLE[n])

    with _client(stack) as c:
        items = []
        for item in c.check_many(live(), timeout=1.0, pack=pack, verify=False):
            answered.append(time.monotonic())
            items.append(item)
    _check(items, list(PEOPLE[:2]))
    assert answered[0] < given[1]


@pytest.mark.parametrize("pack", [1, 64])
def test_a_query_with_an_absurd_field_is_its_own_error_and_never_sent(
    stack: Stack, pack: int
) -> None:
    """A corrupt row (a 300,000-character ID number) would make a message over the zone's
    bound and end the stream for every item: the SDK refuses it unsent as that item's
    FIELD_INVALID, first, in the middle or last, and the others are answered."""
    junk = "1" * 300_000
    ids = [junk, ALICE, junk, BOB, ALICE, junk]
    with _client(stack) as c:
        items = list(c.check_many((_query(i) for i in ids), pack=pack, verify=False))
    assert [item.index for item in items] == list(range(6))
    for n in (0, 2, 5):
        error = items[n].error
        assert isinstance(error, InvalidArgument) and error.reason == "FIELD_INVALID"
        assert "id_number" in error.message and junk not in error.message
    for n in (1, 3, 4):
        assert items[n].result is not None


def test_a_client_with_a_small_message_limit_gets_groups_it_can_read(tmp_path: Path) -> None:
    """The zone answers a packed stream's unanswered items together (here up to 256 to a
    group): a client whose messages are at most 64 KiB keeps fewer unanswered (16), so no
    response is bigger than it accepts (one of 256 answers would be about 230 kB)."""
    with grpc_stack(tmp_path, batch_group=256) as stack:
        for person in PEOPLE:
            stack.consent(person)
        people = [PEOPLE[n % 3] for n in range(600)]
        small = Client(
            stack.target, StaticTokenSource(stack.issuer.token()), max_message_bytes=64 * 1024
        )
        with small as c:
            items = list(c.check_many((_query(p) for p in people), verify=False))
    _check(items, people)
