"""``Client.check_many``: any number of eligibility checks over ``CheckBatch`` streams (issue 15).

The queries come from an iterable read lazily -- a file of millions of ID numbers is never held
whole -- and leave over one stream at a time, each of at most ``stream_items`` items (the
server's ``grpc.max_batch_items``), with at most ``window`` items sent and not yet answered,
``pack`` items per message (the packed form: answered a group per response; 1 sends each item
alone, as a zone from before the packed form needs). The queries are read ahead, at most
``min(pack, window)``, by a thread of their own (:class:`_Source`), and items join a message
only within ``PACK_WAIT`` (10 ms) of its first: a slow iterable's item leaves without waiting
for the next one, and a live source may be slower than a stream's deadline (the stream that
ran out of time after answers is reopened once the next query is there).
Answers come back in input order, each checked like a unary answer
(:meth:`~dataward.client.Client.verify_answer`) before it is handed out.

A stream the server ends early is reopened with the items it did not answer:

- ``RESOURCE_EXHAUSTED BATCH_TOO_LARGE``: the server takes fewer items per stream than asked;
  the number it answered is its limit from then on;
- ``RESOURCE_EXHAUSTED RATE_LIMITED``: after the ``retry_after`` it names (doubled for each
  reopening in a row that got no answer);
- ``UNAUTHENTICATED TOKEN_EXPIRED``: with a fresh token (the token source's cache dropped);
- ``DEADLINE_EXCEEDED`` after answers: the stream ran out of time, not the item.

A retry that makes no progress ``MAX_RETRIES`` times in a row raises the last error; any other
status ends the iteration with its typed error, after every answer that came before it. An
item may be re-sent (and re-checked, each check its own audit leaves) when its answer was lost
with its stream. A query the iterable cannot give (it raises, or gives something that is not an
:class:`EligibilityQuery`) stops the sending: the answers to the items before it are handed
out, then its exception is raised.

The iterable is only ever advanced by the reader thread, and no further once the iteration
ended or the caller left it (the ``next`` under way then still returns to that thread, which
ends). A stream's request side (:class:`_Feed`, on gRPC's thread) takes items from the
reader's queue; one taken as its stream closes is the next stream's first.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from dataward.client._convert import check_request, eligibility_result, item_error
from dataward.client._types import BatchItem, EligibilityQuery, EligibilityResult
from dataward.client.errors import (
    DatawardError,
    DeadlineExceeded,
    MessageTooLarge,
    RateLimited,
    ServerError,
    Unauthenticated,
    error_from_rpc,
)
from dataward.v1 import eligibility_pb2

__all__ = [
    "ANSWER_BYTES",
    "DEFAULT_PACK",
    "DEFAULT_STREAM_ITEMS",
    "MAX_RETRIES",
    "BatchRun",
    "packed_window",
]

#: The server's default ``grpc.max_batch_items`` (grpc_api's ServerOptions).
DEFAULT_STREAM_ITEMS = 1000
#: Items per request message: the server's default ``grpc.batch_group``, the most items the
#: zone checks together in one group (issue 15, the packed form).
DEFAULT_PACK = 64
#: A query's text field longer than this is its item's FIELD_INVALID at once, never sent (the
#: zone's own bounds are far below it: an ID number has at most 32 characters).
MAX_FIELD_CHARS = 1024
#: Bytes one answer of a packed response may take, at most (its receipt, about 0.9 kB, grows
#: by 33 bytes per doubling of the audit log): check_many's window times this fits a message.
ANSWER_BYTES = 4096
#: Seconds after a pack's first item within which more items join it (a slow iterable's
#: items are not held for the rest of a pack).
PACK_WAIT = 0.01
#: Reopenings in a row that answered nothing before the last error is raised.
MAX_RETRIES = 5


def packed_window(window: int, pack: int, max_message_bytes: int) -> int:
    """``window`` held to what one message of ``max_message_bytes`` can answer when items
    are packed (the zone answers a stream's unanswered items as one group): one item per
    :data:`ANSWER_BYTES`; -1 (gRPC's "no limit") and the one-item form keep it."""
    if pack <= 1 or max_message_bytes <= 0:
        return window
    return min(window, max(1, max_message_bytes // ANSWER_BYTES))


@dataclass(frozen=True)
class _Item:
    index: int  # across streams, in input order
    request: eligibility_pb2.CheckRequest
    nonce: str


class _Later:
    """What :meth:`_Source.pull_within` gives when no query came in time."""


_LATER = _Later()
#: Seconds between looks at a stream's close while its next first item is awaited.
_CLOSE_POLL = 0.05


class _Source:
    """The caller's queries, read ahead by one thread of their own (``check-many-source``)
    into a queue of at most ``ahead`` items, numbered as they are read: a slow iterable
    blocks that thread, never a pack waiting for its next item, so a pack leaves after
    :data:`PACK_WAIT` whatever the source does, and a live source (stdin, a queue) may be
    slower than a stream's deadline. A failure to give a query is kept (``error``) and ends
    the reading; a query with a field past :data:`MAX_FIELD_CHARS` is refused here as its
    item's error (``take_refused``), never sent: a message over the zone's bound would end
    the stream for all (a corrupt row of a file is one item's FIELD_INVALID, as the zone
    would answer it). ``stop`` ends the reading once the call under way returns."""

    def __init__(
        self, queries: Iterable[EligibilityQuery], nonce: Callable[[], str], *, ahead: int = 1
    ) -> None:
        self._queries = iter(queries)
        self._nonce = nonce
        self.pulled = 0  # items numbered (final once exhausted: the reader has ended)
        self.exhausted = False
        self.error: BaseException | None = None
        self._refused: dict[int, BatchItem] = {}
        self._lock = threading.Lock()  # the reader writes _refused, the caller's thread pops
        self._ready: queue.Queue[_Item | None] = queue.Queue(maxsize=max(1, ahead))
        self._reader: threading.Thread | None = None
        self._stopped = threading.Event()

    def take_refused(self, index: int) -> BatchItem | None:
        with self._lock:
            return self._refused.pop(index, None)

    def pull(self) -> _Item | None:
        """The next item, waiting as long as the iterable takes; None once it is exhausted."""
        got = self._take(None)  # a get without a timeout never gives _LATER
        return None if isinstance(got, _Later) else got

    def pull_within(self, seconds: float) -> _Item | _Later | None:
        """The next item if one comes within ``seconds``, else ``_LATER`` (nothing is
        taken then: the item that comes later is the next pull's)."""
        return self._take(max(0.0, seconds))

    def stop(self) -> None:
        """No more reading: the reader ends after the ``next`` under way (which may block
        on the caller's iterable until it gives something), and no item is queued more."""
        self._stopped.set()
        with contextlib.suppress(queue.Empty):
            while True:  # a reader blocked on a full queue gets room, sees the stop, ends
                self._ready.get_nowait()

    def _take(self, timeout: float | None) -> _Item | _Later | None:
        if self.exhausted:
            return None
        if self._reader is None:
            self._reader = threading.Thread(
                target=self._read, name="check-many-source", daemon=True
            )
            self._reader.start()
        try:
            got = self._ready.get(timeout=timeout)
        except queue.Empty:
            return _LATER
        if got is None:
            self.exhausted = True
        return got

    def _read(self) -> None:
        try:
            while not self._stopped.is_set():
                try:
                    query = next(self._queries)
                except StopIteration:
                    return
                if not isinstance(query, EligibilityQuery):
                    raise TypeError(f"check_many takes EligibilityQuery items, not {type(query)!r}")
                field = _overlong(query)
                if field is not None:
                    self._refuse(field)
                    continue
                nonce = self._nonce()
                item = _Item(self.pulled, check_request(query, nonce), nonce)
                self.pulled += 1
                self._ready.put(item)
        except BaseException as exc:  # the caller's (SystemExit too, raised on this thread):
            self.error = exc  # raised after the answers before it
        finally:
            if not self._stopped.is_set():
                self._ready.put(None)  # the end, after every item queued

    def _refuse(self, field: str) -> None:
        error = eligibility_pb2.ItemError(
            code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
            reason="FIELD_INVALID",
            message=f"field {field!r}: at most {MAX_FIELD_CHARS} characters (not sent)",
        )
        with self._lock:
            self._refused[self.pulled] = BatchItem(self.pulled, None, item_error(error))
        self.pulled += 1


def _overlong(query: EligibilityQuery) -> str | None:
    """The first of ``query``'s text fields past :data:`MAX_FIELD_CHARS`, if any."""
    for name in ("id_number", "consent_ref"):
        value = getattr(query, name)
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            return name
    return None


class _Feed:
    """The request side of one stream: at most ``limit`` items, at most ``window`` unanswered,
    ``pack`` items at most per message (1: the one-item form).

    ``carry`` holds items to send first (those a previous stream did not answer).
    """

    def __init__(
        self, source: _Source, carry: deque[_Item], *, limit: int, window: int, pack: int = 1
    ) -> None:
        self._source = source
        self._carry = carry
        self._limit = limit
        self._window = window
        self._pack = pack
        self._cond = threading.Condition()
        self.sent: list[_Item] = []  # by index within the stream
        self._answered: set[int] = set()
        self._closed = False
        self._pulling = False

    def requests(self) -> Iterator[eligibility_pb2.CheckBatchRequest]:
        while True:
            pack = self._next_pack()
            if not pack:
                return
            if self._pack == 1:
                yield eligibility_pb2.CheckBatchRequest(item=pack[0].request)
            else:
                yield eligibility_pb2.CheckBatchRequest(items=[one.request for one in pack])

    def _next_pack(self) -> list[_Item]:
        """Up to ``pack`` items for the next message; [] once nothing more goes. Waits for
        room only for the first item, and adds more only while they come within
        ``PACK_WAIT`` seconds of the first: a slow iterable's items leave one gap late at
        most, not ``pack`` gaps (a stream's deadline runs meanwhile).

        An item is counted sent in the lock section that takes it, never after the stream
        closed: a stream that ends before the message leaves returns it as unanswered, and
        the next stream sends it."""
        pack: list[_Item] = []
        first_at = 0.0
        while len(pack) < self._pack:
            if pack and time.monotonic() - first_at > PACK_WAIT:
                return pack
            with self._cond:
                while not pack and not self._closed and not self._room():
                    self._cond.wait()
                if self._closed or len(self.sent) >= self._limit or not self._room():
                    return pack
                if self._carry:
                    item = self._carry.popleft()
                    self.sent.append(item)
                    pack.append(item)
                    first_at = first_at or time.monotonic()
                    continue
                self._pulling = True
            try:
                pulled = self._pull(pack, first_at)
            except BaseException:
                with self._cond:
                    self._pulling = False
                    self._cond.notify_all()
                raise
            with self._cond:  # one section with the carry: close(wait=True) then sees it
                self._pulling = False
                self._cond.notify_all()
                if pulled is None or isinstance(pulled, _Later):  # the end; none in time
                    return pack
                if self._closed:  # pulled after the stream ended: the next one sends it
                    self._carry.append(pulled)
                    return pack
                self.sent.append(pulled)
            pack.append(pulled)
            first_at = first_at or time.monotonic()
        return pack

    def _pull(self, pack: list[_Item], first_at: float) -> _Item | _Later | None:
        """The next item from the source: a pack's first as long as it takes (looking at
        the stream's close meanwhile: a closed stream takes nothing more), a later one only
        within ``PACK_WAIT`` of the first."""
        if pack:
            return self._source.pull_within(first_at + PACK_WAIT - time.monotonic())
        while True:
            pulled = self._source.pull_within(_CLOSE_POLL)
            if not isinstance(pulled, _Later):
                return pulled
            with self._cond:
                if self._closed:
                    return pulled

    def _room(self) -> bool:  # under the lock
        return len(self.sent) - len(self._answered) < self._window

    def answered(self, stream_index: int) -> _Item:
        with self._cond:
            if not 0 <= stream_index < len(self.sent) or stream_index in self._answered:
                raise ServerError("the zone answered an item the stream did not send")
            self._answered.add(stream_index)
            self._cond.notify_all()
            return self.sent[stream_index]

    def close(self, *, wait: bool) -> list[_Item]:
        """Stop sending; the items sent and not answered, in order. With ``wait``, returns
        only once no pull of the caller's iterable is under way (the next stream pulls)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            while wait and self._pulling:
                self._cond.wait()
            return [item for i, item in enumerate(self.sent) if i not in self._answered]

    @property
    def answers(self) -> int:
        with self._cond:
            return len(self._answered)


class BatchRun:
    """One ``check_many`` iteration. ``open_stream(requests, timeout)`` opens a CheckBatch
    call; ``verify`` checks an answer (raises); ``refresh`` drops a cached token."""

    def __init__(
        self,
        *,
        open_stream: Callable[[Iterator[eligibility_pb2.CheckBatchRequest], float], Any],
        verify: Callable[[EligibilityResult], object] | None,
        refresh: Callable[[], None],
        nonce: Callable[[], str],
        window: int,
        stream_items: int,
        timeout: float | None,
        pack: int = DEFAULT_PACK,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        if stream_items < 1:
            raise ValueError("stream_items must be at least 1")
        if pack < 1:
            raise ValueError("pack must be at least 1")
        self._pack = pack
        self._open = open_stream
        self._verify = verify
        self._refresh = refresh
        self._nonce = nonce
        self._window = window
        self.stream_items = stream_items
        self._timeout = timeout
        self._sleep = sleep

    def _deadline(self) -> float:
        # A stream carries up to stream_items checks: its deadline grows with them.
        return self._timeout if self._timeout is not None else 10.0 + 0.05 * self.stream_items

    def run(
        self, queries: Iterable[EligibilityQuery], progress: Callable[[int], None] | None
    ) -> Iterator[BatchItem]:
        source = _Source(queries, self._nonce, ahead=min(self._pack, self._window))
        try:
            yield from self._streams(source, progress)
        finally:  # the caller stopped, or the run ended: the reader reads no further
            source.stop()

    def _streams(
        self, source: _Source, progress: Callable[[int], None] | None
    ) -> Iterator[BatchItem]:
        carry: deque[_Item] = deque()
        ready: dict[int, BatchItem] = {}
        done = 0
        failures = 0

        def hand_out() -> Iterator[BatchItem]:
            """The answers ready in input order: the zone's, and those refused unsent."""
            nonlocal done
            while (answer := ready.pop(done, None) or source.take_refused(done)) is not None:
                done += 1
                if progress is not None:
                    progress(done)
                yield answer

        while True:
            if not carry:
                first = source.pull()
                if first is None:
                    break
                carry.append(first)
            feed = _Feed(
                source, carry, limit=self.stream_items, window=self._window, pack=self._pack
            )
            call = self._open(feed.requests(), self._deadline())
            error: DatawardError | None = None
            ended = False
            try:
                for response in call:
                    for answered in self._answers(response):
                        item = feed.answered(answered.index)
                        ready[item.index] = self._item(item, answered)
                    yield from hand_out()
                ended = True
            except grpc.RpcError as exc:
                error = error_from_rpc(exc)
                ended = True
            finally:
                call.cancel()  # a no-op once it ended; else the caller stopped, or a check raised
                # Waiting for a pull under way only when another stream may follow: a caller
                # who stopped must not wait on an iterable that blocks (stdin).
                unanswered = feed.close(wait=ended)
            if error is None and unanswered:
                raise ServerError(
                    f"the zone ended a stream without answering {len(unanswered)} item(s)"
                )
            carry.extendleft(reversed(unanswered))
            yield from hand_out()  # items refused unsent after the stream's last answer
            if error is None:
                failures = 0
                continue
            failures = 0 if feed.answers else failures + 1
            if failures > MAX_RETRIES or not self._retry(error, feed.answers, failures):
                raise error
        yield from hand_out()
        if done != source.pulled:  # an item neither answered nor resent: never lose one quietly
            raise ServerError(f"{source.pulled - done} item(s) were never answered")
        if source.error is not None:
            raise source.error

    def _retry(self, error: DatawardError, answers: int, failures: int) -> bool:
        """Whether a stream ended by ``error`` after ``answers`` answers is reopened
        (``failures``: reopenings in a row that answered nothing)."""
        if isinstance(error, MessageTooLarge) and error.reason == "BATCH_TOO_LARGE":
            if answers == 0:
                return False
            self.stream_items = min(self.stream_items, answers)
            return True
        if isinstance(error, RateLimited):
            # The delay is for ONE token, and a stream's opening takes one: wait longer each
            # time nothing was answered, so that the bucket refills for some items too.
            self._sleep(error.retry_after * 2**failures)
            return True
        if isinstance(error, Unauthenticated) and error.reason == "TOKEN_EXPIRED":
            self._refresh()
            return True
        return isinstance(error, DeadlineExceeded) and answers > 0

    def _answers(
        self, response: eligibility_pb2.CheckBatchResponse
    ) -> Sequence[eligibility_pb2.CheckBatchResponse | eligibility_pb2.CheckBatchItem]:
        """The items one response answers: a group (packed), or itself (one item)."""
        if self._pack == 1:
            return (response,)
        if not response.items:  # a zone from before the packed form took each message as one
            raise ServerError(
                "the zone answered packed items one by one: it does not take the packed "
                "form (check_many(..., pack=1) sends one item per message)"
            )
        return response.items

    def _item(
        self,
        item: _Item,
        response: eligibility_pb2.CheckBatchResponse | eligibility_pb2.CheckBatchItem,
    ) -> BatchItem:
        if not response.HasField("result"):
            return BatchItem(item.index, None, item_error(response.error))
        result = eligibility_result(response.result, item.nonce)
        if self._verify is not None:
            for attempt in range(MAX_RETRIES + 1):
                try:  # its consistency proof is a call of its own, rate-limited like items
                    self._verify(result)
                    break
                except RateLimited as exc:
                    if attempt == MAX_RETRIES:
                        raise
                    self._sleep(exc.retry_after)
        return BatchItem(item.index, result, None)
