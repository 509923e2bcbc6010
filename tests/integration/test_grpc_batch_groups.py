"""CheckBatch as the bulk path (issue 15), on a real server over a real audit log: the items
that arrived are checked as one group -- one zone call, one audit commit -- each item still
its own request, decision and release leaves and its own receipt; the reader thread reads at
most ``batch_group`` items ahead and ends with the stream."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from dataward import receipts
from dataward.client._convert import eligibility_result
from dataward.client._release import release_of
from dataward.v1 import common_pb2, eligibility_pb2, eligibility_pb2_grpc
from enclave.audit import AuditStorageError, Decision, Release, RequestReceived, decode_leaf
from enclave.errors import NoDataset
from grpc_api._guard import STREAM_MESSAGE_BYTES
from grpc_api._stream_reader import READER_THREAD
from tests.support.grpc_stack import STEWARD, Stack, grpc_stack, refusal_commits
from tests.support.person_fakes import ALICE, BOB, CAROL, DAVE, KEY_NAME, UNKNOWN

WAIT = 10.0  # the bound on waiting for a thread to get somewhere; never a timing assertion
UW = common_pb2.PURPOSE_INSURANCE_UNDERWRITING


def item(id_number: str, n: int = 0, **kw: Any) -> eligibility_pb2.CheckBatchRequest:
    fields: dict[str, Any] = {
        "id_number": id_number,
        "benefit": eligibility_pb2.BENEFIT_OUTPATIENT,
        "purpose": UW,
        "client_nonce": f"nonce-of-item-{n:04d}",
    }
    fields.update(kw)
    return eligibility_pb2.CheckBatchRequest(item=eligibility_pb2.CheckRequest(**fields))


def packed(*items: eligibility_pb2.CheckBatchRequest) -> eligibility_pb2.CheckBatchRequest:
    """One message carrying ``items`` (each built by :func:`item`) packed."""
    return eligibility_pb2.CheckBatchRequest(items=[one.item for one in items])


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.005)


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == READER_THREAD and t.is_alive()]


def reader_waits_for_room() -> bool:
    """Whether a stream's reader is blocked because ``batch_group`` items wait unanswered
    (it waits for a slot inside StreamReader._run, not on the stream)."""
    frames = sys._current_frames()
    for thread in readers():
        frame = frames.get(thread.ident or -1)
        inner = None
        while frame is not None:
            if frame.f_code.co_name == "_run" and frame.f_code.co_filename.endswith(
                "_stream_reader.py"
            ):
                return inner is not None and inner.f_code.co_name == "acquire"
            inner, frame = frame, frame.f_back
    return False


class Stream:
    """A CheckBatch call whose items the test feeds one by one."""

    def __init__(self, stack: Stack, token: str | None = None) -> None:
        self.channel = grpc.insecure_channel(stack.target)
        self.feed: queue.SimpleQueue[eligibility_pb2.CheckBatchRequest | None] = queue.SimpleQueue()
        stub = eligibility_pb2_grpc.EligibilityServiceStub(self.channel)
        self.call: Any = stub.CheckBatch(
            iter(self.feed.get, None),
            metadata=(("authorization", f"Bearer {token or stack.issuer.token()}"),),
            timeout=30,
        )

    def send(self, *items: eligibility_pb2.CheckBatchRequest) -> None:
        for one in items:
            self.feed.put(one)

    def answers(self, n: int) -> list[eligibility_pb2.CheckBatchResponse]:
        return [next(self.call) for _ in range(n)]

    def close(self) -> list[eligibility_pb2.CheckBatchResponse]:
        self.feed.put(None)
        rest = list(self.call)
        self.channel.close()
        return rest


def verify(stack: Stack, response: eligibility_pb2.CheckBatchResponse, nonce: str) -> None:
    result = eligibility_result(response.result, nonce)
    method, fields = release_of(result)
    assert result.receipt is not None
    receipts.verify_release(
        result.receipt,
        method=method,
        request_id=result.request_id,
        fields=fields,
        key_name=KEY_NAME,
        public_key=stack.audit.key.public_key(),
        client_nonce=nonce,
    )


def answer_commits(stack: Stack) -> list[list[object]]:
    """The events of each commit that holds an answer's release."""
    commits: list[list[object]] = []
    for leaves, _ in stack.store.appends:
        events: list[object] = [decode_leaf(leaf.leaf).event for leaf in leaves]
        if any(isinstance(e, Release) for e in events):
            commits.append(events)
    return commits


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with grpc_stack(tmp_path) as s:
        yield s


def test_items_are_the_unary_answers_each_with_its_own_leaves_and_receipt(stack: Stack) -> None:
    for person in (ALICE, BOB, CAROL):
        stack.consent(person)
    people = [ALICE, BOB, CAROL, ALICE, BOB]
    with grpc.insecure_channel(stack.target) as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        metadata = (("authorization", f"Bearer {stack.issuer.token()}"),)
        unary = [
            stub.Check(item(p, n).item, metadata=metadata, timeout=10) for n, p in enumerate(people)
        ]
        batch = list(
            stub.CheckBatch(
                iter([item(p, n) for n, p in enumerate(people)]), metadata=metadata, timeout=10
            )
        )
    assert [r.index for r in batch] == list(range(5))
    assert all(r.HasField("result") for r in batch)
    for one, many in zip(unary, batch, strict=True):
        assert (many.result.eligible, many.result.coverage_class, list(many.result.reasons)) == (
            one.eligible,
            one.coverage_class,
            list(one.reasons),
        )
    for n, response in enumerate(batch):
        verify(stack, response, f"nonce-of-item-{n:04d}")
    ids = [r.result.receipt.request_id for r in batch]
    assert len(set(ids)) == 5
    events = [e for commit in answer_commits(stack) for e in commit]
    for request_id in ids:
        own = [e for e in events if getattr(e, "request_id", None) == request_id]
        assert [type(e) for e in own] == [RequestReceived, Decision, Release]


def test_a_refused_item_is_an_item_error_with_its_reason_while_the_others_pass(
    stack: Stack,
) -> None:
    stack.consent(ALICE)
    items = [
        item(ALICE, 0),
        item(DAVE, 1),  # no consent
        item(UNKNOWN, 2),  # not in the registry: the same refusal
        item(ALICE[:-1] + "1", 3),  # a bad check digit
        item(ALICE, 4, purpose=common_pb2.PURPOSE_LOAN_ORIGINATION),  # not granted
        item(ALICE, 5),
    ]
    with grpc.insecure_channel(stack.target) as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        metadata = (("authorization", f"Bearer {stack.issuer.token()}"),)
        answered = list(stub.CheckBatch(iter(items), metadata=metadata, timeout=10))
    assert [r.index for r in answered] == list(range(6))
    outcome = [
        ("result",) if r.HasField("result") else (r.error.code, r.error.reason) for r in answered
    ]
    assert outcome == [
        ("result",),
        (grpc.StatusCode.FAILED_PRECONDITION.value[0], "CONSENT_REQUIRED"),
        (grpc.StatusCode.FAILED_PRECONDITION.value[0], "CONSENT_REQUIRED"),
        (grpc.StatusCode.INVALID_ARGUMENT.value[0], "ID_NUMBER_INVALID"),
        (grpc.StatusCode.PERMISSION_DENIED.value[0], "PURPOSE_NOT_GRANTED"),
        ("result",),
    ]
    assert answered[1].error.message == answered[2].error.message
    verify(stack, answered[0], "nonce-of-item-0000")
    verify(stack, answered[5], "nonce-of-item-0005")
    events = [decode_leaf(leaf.leaf).event for leaf in stack.store.leaves()]
    denials = [e for e in events if isinstance(e, Decision) and not e.allow]
    assert sorted(d.reasons[0] for d in denials) == sorted(
        ["CONSENT_REQUIRED", "CONSENT_REQUIRED", "ID_NUMBER_INVALID", "PURPOSE_NOT_GRANTED"]
    )


def test_what_arrived_is_one_group_and_one_commit_and_the_reader_holds_at_most_the_bound(
    tmp_path: Path,
) -> None:
    with grpc_stack(tmp_path, batch_group=4) as stack:
        stack.consent(ALICE)
        before = len(answer_commits(stack))
        stack.store.gate = threading.Event()  # the next commit waits inside the store
        stack.store.at_gate.clear()  # (set by the consent's commit)
        stream = Stream(stack)
        try:
            stream.send(item(ALICE, 0))
            assert stack.store.at_gate.wait(WAIT)  # item 0's group is committing
            stream.send(*[item(ALICE, n) for n in range(1, 11)])
            # Back-pressure: 4 items read and unanswered, and the reader reads no further.
            until(reader_waits_for_room, "the reader waits for room")
            stack.store.gate.set()
            answered = stream.answers(11)
        finally:
            stack.store.gate.set()
            rest = stream.close()
    assert rest == []
    assert [r.index for r in answered] == list(range(11))
    assert all(r.HasField("result") for r in answered)
    commits = answer_commits(stack)[before:]
    index_of = {r.result.receipt.request_id: r.index for r in answered}
    groups = [
        [index_of[e.request_id] for e in commit if isinstance(e, RequestReceived)]
        for commit in commits
    ]
    assert groups[0] == [0]
    assert groups[1] == [1, 2, 3, 4]  # what waited: ONE zone call, ONE commit
    assert all(len(g) <= 4 for g in groups)
    assert [i for g in groups for i in g] == list(range(11))  # each item once, in order
    for commit in commits:  # each item: request, decision, release, consecutive
        assert [type(e) for e in commit] == [RequestReceived, Decision, Release] * (
            len(commit) // 3
        )
    for group in commits:
        notes = {
            r.result.receipt.checkpoint_note
            for r in answered
            if r.result.receipt.request_id in {getattr(e, "request_id", "") for e in group}
        }
        assert len(notes) == 1  # one checkpoint per group's commit
    until(lambda: not readers(), "the reader ended with the stream")


@pytest.mark.parametrize("form", ["one item per message", "packed in one message"])
def test_the_per_stream_cap_holds_inside_a_group(tmp_path: Path, form: str) -> None:
    items = [item(ALICE, n) for n in range(10)]
    messages = [packed(*items)] if form.startswith("packed") else items
    with grpc_stack(tmp_path, max_batch_items=3, batch_group=64) as stack:
        stack.consent(ALICE)
        with grpc.insecure_channel(stack.target) as channel:
            stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            metadata = (("authorization", f"Bearer {stack.issuer.token()}"),)
            answered: list[eligibility_pb2.CheckBatchResponse | eligibility_pb2.CheckBatchItem]
            answered = []
            with pytest.raises(grpc.RpcError) as excinfo:
                for response in stub.CheckBatch(iter(messages), metadata=metadata, timeout=10):
                    answered.extend(response.items or [response])
    assert [r.index for r in answered] == [0, 1, 2]
    assert excinfo.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    until(lambda: not readers(), "the reader ended with the stream")


def test_a_consent_revoked_between_groups_is_not_honoured(stack: Stack) -> None:
    ref = stack.consent(ALICE)
    stream = Stream(stack)
    try:
        stream.send(item(ALICE, 0))
        (first,) = stream.answers(1)
        stack.checks.revoke_consent(STEWARD, ref)
        stream.send(item(ALICE, 1))
        (second,) = stream.answers(1)
    finally:
        rest = stream.close()
    assert rest == []
    assert first.HasField("result")
    assert (second.index, second.error.reason) == (1, "CONSENT_REQUIRED")


@pytest.mark.parametrize("waiting", ["on the stream", "for room"])
def test_a_cancel_mid_stream_leaves_no_reader_thread(tmp_path: Path, waiting: str) -> None:
    with grpc_stack(tmp_path, batch_group=2) as stack:
        stack.consent(ALICE)
        stream = Stream(stack)
        stream.send(item(ALICE, 0), item(ALICE, 1))
        stream.answers(2)
        assert readers()
        if waiting == "for room":
            stack.store.gate = threading.Event()
            stack.store.at_gate.clear()
            stream.send(*[item(ALICE, n) for n in range(2, 8)])
            assert stack.store.at_gate.wait(WAIT)
            until(reader_waits_for_room, "the reader waits for room")
        stream.call.cancel()
        if stack.store.gate is not None:
            stack.store.gate.set()
        until(lambda: not readers(), "the reader ended after the cancel")
        stream.channel.close()
        # The stream's place among the partner's open streams is given back too.
        again = Stream(stack)
        again.send(item(ALICE, 9))
        assert again.answers(1)[0].HasField("result")
        assert again.close() == []
    until(lambda: not readers(), "no reader left")


@pytest.mark.parametrize(
    ("fault", "code", "reason"),
    [
        (NoDataset(), grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),  # a zone error: its reason
        (RuntimeError("torn registry page"), grpc.StatusCode.INTERNAL, "INTERNAL"),  # not one
    ],
    ids=["zone-fault", "bug"],
)
def test_a_fault_on_one_item_is_its_error_and_every_item_released_is_answered(
    tmp_path: Path,
    fault: Exception,
    code: grpc.StatusCode,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with grpc_stack(tmp_path, batch_group=2) as stack:
        _fault_in_a_group(stack, fault, code, reason)
    # The operator's line: the item's audit request id and the error's kind, never its text.
    (failed,) = [r for r in caplog.records if r.getMessage() == "batch_item_failed"]
    assert failed.status == code.name and failed.error == type(fault).__name__  # type: ignore[attr-defined]
    if code is grpc.StatusCode.INTERNAL:  # a bug: the line leads to the item's audit leaves
        assert failed.audit_request_id  # type: ignore[attr-defined]
    assert "torn" not in str(vars(failed))
    until(lambda: not readers(), "the reader ended with the stream")


def _fault_in_a_group(stack: Stack, fault: Exception, code: grpc.StatusCode, reason: str) -> None:
    for person in (ALICE, BOB):
        stack.consent(person)
    bob = stack.directory.tokenizer.token("id_number", BOB)
    registry = stack.directory.person_by_token

    def person_by_token(token: bytes) -> Any:
        if token == bob:
            raise fault
        return registry(token)

    stack.directory.person_by_token = person_by_token  # type: ignore[method-assign]
    stream = Stream(stack)
    try:
        stream.send(item(ALICE, 0))
        first = stream.answers(1)
        before = len(stack.store.appends)
        gate = stack.store.gate = threading.Event()
        stack.store.at_gate.clear()
        stream.send(item(ALICE, 1))
        assert stack.store.at_gate.wait(WAIT)
        stream.send(item(BOB, 2), item(ALICE, 3))
        until(reader_waits_for_room, "items 2 and 3 wait, read")
        gate.set()
        answered = [*first, *stream.answers(3)]
        if code is grpc.StatusCode.INTERNAL:  # a bug on one item: the stream goes on
            stream.send(item(ALICE, 4))
            answered += stream.answers(1)
        else:  # the zone is down: the group answered, then the stream ends as a call would
            with pytest.raises(grpc.RpcError) as ended:
                stream.answers(1)
            assert ended.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        if stack.store.gate is not None:
            stack.store.gate.set()
        rest = stream.close() if code is grpc.StatusCode.INTERNAL else []
        stream.channel.close()
    assert rest == []
    assert [r.index for r in answered] == [0, 1, 2, 3, 4][: len(answered)]
    assert len(answered) == (5 if code is grpc.StatusCode.INTERNAL else 4)
    bob_answer = answered[2]
    assert bob_answer.HasField("error")
    assert (bob_answer.error.code, bob_answer.error.reason) == (code.value[0], reason)
    assert "torn" not in bob_answer.error.message  # a fault's own text stays inside
    for n in (0, 1, 3, 4)[: len(answered) - 1]:
        verify(stack, answered[n], f"nonce-of-item-{n:04d}")
    # The faulty group (BOB, ALICE 3) is ONE commit: BOB's request and its denial, ALICE's
    # release -- and ALICE's answer was delivered.
    events = [decode_leaf(leaf.leaf).event for leaf in stack.store.appends[before + 1][0]]
    requests = [e for e in events if isinstance(e, RequestReceived)]
    decisions = [e for e in events if isinstance(e, Decision)]
    released = [e for e in events if isinstance(e, Release)]
    assert len(requests) == len(decisions) == 2
    assert [(d.allow, d.reasons) for d in decisions if not d.allow] == [(False, (reason,))]
    assert [r.request_id for r in released] == [
        eligibility_result(answered[3].result, "nonce-of-item-0003").request_id
    ]


def test_a_packed_stream_is_answered_a_group_per_response_as_the_unary_calls_are(
    tmp_path: Path,
) -> None:
    with grpc_stack(tmp_path, batch_group=4) as stack:
        for person in (ALICE, BOB, CAROL):
            stack.consent(person)
        people = [ALICE, BOB, CAROL, DAVE, ALICE, BOB, CAROL]  # DAVE: no consent
        messages = [packed(*[item(p, n) for n, p in enumerate(people[:3])])]
        messages.append(packed(*[item(p, n + 3) for n, p in enumerate(people[3:])]))
        with grpc.insecure_channel(stack.target) as channel:
            stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            metadata = (("authorization", f"Bearer {stack.issuer.token()}"),)
            responses = list(stub.CheckBatch(iter(messages), metadata=metadata, timeout=10))
            single = list(
                stub.CheckBatch(
                    iter([item(p, n) for n, p in enumerate(people)]),
                    metadata=metadata,
                    timeout=10,
                )
            )
    assert all(not r.HasField("result") and not r.HasField("error") for r in responses)
    assert all(1 <= len(r.items) <= 4 for r in responses)  # a group per response
    answered = [a for r in responses for a in r.items]
    assert [a.index for a in answered] == list(range(7))
    assert [a.HasField("result") for a in answered] == [True, True, True, False, True, True, True]
    assert answered[3].error.reason == "CONSENT_REQUIRED"
    for one, many in zip(single, answered, strict=True):
        assert one.index == many.index and one.HasField("result") == many.HasField("result")
        if one.HasField("result"):
            assert (one.result.eligible, list(one.result.reasons)) == (
                many.result.eligible,
                list(many.result.reasons),
            )
    for a in answered:
        if a.HasField("result"):
            verify(stack, a, f"nonce-of-item-{a.index:04d}")  # type: ignore[arg-type]
    for r in responses:  # one group, one commit: every receipt of a response, one checkpoint
        notes = {a.result.receipt.checkpoint_note for a in r.items if a.HasField("result")}
        assert len(notes) <= 1


def test_a_message_with_item_and_items_ends_the_stream_after_the_answers_before_it(
    stack: Stack,
) -> None:
    stack.consent(ALICE)
    both = packed(item(ALICE, 1))
    both.item.CopyFrom(item(ALICE, 2).item)
    stream = Stream(stack)
    try:
        stream.send(packed(item(ALICE, 0)))
        first = stream.answers(1)
        stream.send(item(ALICE, 1))  # one item alone in a packed stream: still answered packed
        second = stream.answers(1)
        stream.send(both)
        with pytest.raises(grpc.RpcError) as excinfo:
            stream.close()
    finally:
        stream.channel.close()
    assert [a.index for a in first[0].items] == [0]
    assert [a.index for a in second[0].items] == [1] and not second[0].HasField("result")
    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "FIELD_INVALID" in str(excinfo.value.trailing_metadata())
    until(lambda: not readers(), "the reader ended with the stream")


def test_a_packed_message_takes_the_readers_bound_item_by_item(tmp_path: Path) -> None:
    """A message of more items than ``batch_group`` is read a slot per item: the reader holds
    at most the bound unanswered, the rest wait in gRPC's flow control (the message itself is
    bounded by STREAM_MESSAGE_BYTES)."""
    with grpc_stack(tmp_path, batch_group=4) as stack:
        stack.consent(ALICE)
        stack.store.gate = threading.Event()
        stack.store.at_gate.clear()
        stream = Stream(stack)
        try:
            stream.send(packed(item(ALICE, 0)))
            assert stack.store.at_gate.wait(WAIT)  # item 0's group is committing
            stream.send(packed(*[item(ALICE, n) for n in range(1, 11)]))
            until(reader_waits_for_room, "the reader waits for room")
            stack.store.gate.set()
            answered: list[eligibility_pb2.CheckBatchItem] = []
            while len(answered) < 11:
                answered.extend(next(stream.call).items)
        finally:
            stack.store.gate.set()
            rest = stream.close()
    assert rest == []
    assert [a.index for a in answered] == list(range(11))
    assert all(a.HasField("result") for a in answered)
    until(lambda: not readers(), "the reader ended with the stream")


def test_a_message_bigger_than_a_stream_could_carry_is_refused_unparsed(stack: Stack) -> None:
    """8 MiB of empty packed items would parse into about 385 MiB: a CheckBatch message over
    STREAM_MESSAGE_BYTES is refused RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE, charged and
    logged, after the answers before it (issue 15 review)."""
    stack.consent(ALICE)
    bound = STREAM_MESSAGE_BYTES
    with grpc.insecure_channel(stack.target) as channel:
        call = channel.stream_stream("/dataward.v1.EligibilityService/CheckBatch")  # type: ignore[call-arg]
        metadata = (("authorization", f"Bearer {stack.issuer.token()}"),)
        first = packed(item(ALICE, 0)).SerializeToString()
        hostile = b"\x12\x00" * (bound // 2 + 1)  # empty items, one byte past the bound
        answers = []
        with pytest.raises(grpc.RpcError) as excinfo:
            for answer in call(iter([first, hostile]), metadata=metadata, timeout=10):
                answers.append(eligibility_pb2.CheckBatchResponse.FromString(answer))
    assert [a.index for r in answers for a in r.items] == [0]
    assert excinfo.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "MESSAGE_TOO_LARGE" in str(excinfo.value.trailing_metadata())
    assert [d.reasons for _, d in refusal_commits(stack)] == [("MESSAGE_TOO_LARGE",)]
    until(lambda: not readers(), "the reader ended with the stream")


def test_an_empty_message_of_a_packed_stream_is_no_item(stack: Stack) -> None:
    """Not a phantom empty item answered FIELD_INVALID, which would shift every later index
    off the client's own count."""
    stack.consent(ALICE)
    messages = [
        packed(item(ALICE, 0), item(ALICE, 1)),
        eligibility_pb2.CheckBatchRequest(),
        packed(item(ALICE, 2)),
    ]
    with grpc.insecure_channel(stack.target) as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        metadata = (("authorization", f"Bearer {stack.issuer.token()}"),)
        answered = [
            a
            for r in stub.CheckBatch(iter(messages), metadata=metadata, timeout=10)
            for a in r.items
        ]
    assert [(a.index, a.HasField("result")) for a in answered] == [(0, True), (1, True), (2, True)]
    for a in answered:
        verify(stack, a, f"nonce-of-item-{a.index:04d}")  # type: ignore[arg-type]


def test_a_group_too_big_for_one_response_goes_in_several(tmp_path: Path) -> None:
    """A packed response stays within half the send limit: a group of 100 answers of about
    760 bytes each under a 64 KiB limit is several responses, every answer delivered."""
    with grpc_stack(tmp_path, max_message_bytes=64 * 1024, batch_group=128) as stack:
        stack.consent(ALICE)
        with grpc.insecure_channel(stack.target) as channel:
            stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            metadata = (("authorization", f"Bearer {stack.issuer.token()}"),)
            message = packed(*[item(ALICE, n) for n in range(100)])
            responses = list(stub.CheckBatch(iter([message]), metadata=metadata, timeout=20))
    assert len(responses) > 1
    assert all(r.ByteSize() <= 32 * 1024 for r in responses)
    answered = [a for r in responses for a in r.items]
    assert [a.index for a in answered] == list(range(100))
    assert all(a.HasField("result") for a in answered)


def test_empty_messages_of_a_packed_stream_are_charged_like_items(tmp_path: Path) -> None:
    """An empty message (or one of unknown fields alone) is no item, but it costs the zone a
    parse and a turn: it takes a rate-limit token, so a stream of them ends RATE_LIMITED
    instead of running free (issue 15 review: 100,000 of them, 8 s of CPU, no token)."""
    with grpc_stack(tmp_path, rate_limit_per_second=0.001, rate_limit_burst=5) as stack:
        stack.consent(ALICE)
        messages = [packed(item(ALICE, 0))] + [eligibility_pb2.CheckBatchRequest()] * 20
        messages.append(packed(item(ALICE, 1)))
        with grpc.insecure_channel(stack.target) as channel:
            stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            metadata = (("authorization", f"Bearer {stack.issuer.token()}"),)
            answered: list[eligibility_pb2.CheckBatchItem] = []
            with pytest.raises(grpc.RpcError) as excinfo:
                for response in stub.CheckBatch(iter(messages), metadata=metadata, timeout=10):
                    answered.extend(response.items)
    assert [a.index for a in answered] == [0]  # the stream's token, item 0's, 3 empty ones
    assert excinfo.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "RATE_LIMITED" in str(excinfo.value.trailing_metadata())
    until(lambda: not readers(), "the reader ended with the stream")


def test_unary_checks_waiting_together_are_one_group_and_one_commit(tmp_path: Path) -> None:
    # Issue 15: unary Check calls go through the server's GroupedChecks: those asked while a
    # group's commit is made are checked together, each its own leaves and receipt.
    with grpc_stack(tmp_path, batch_group=4) as stack:
        stack.consent(ALICE)
        stack.consent(BOB)
        grouped = stack.server.grouped
        assert grouped is not None
        before = len(answer_commits(stack))
        stack.store.gate = threading.Event()
        stack.store.at_gate.clear()
        answers: dict[int, Any] = {}
        with grpc.insecure_channel(stack.target) as channel:
            stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
            metadata = (("authorization", f"Bearer {stack.issuer.token()}"),)

            def call(n: int, person: str) -> None:
                try:
                    answers[n] = stub.Check(item(person, n).item, metadata=metadata, timeout=10)
                except grpc.RpcError as exc:
                    answers[n] = exc

            people = [ALICE, BOB, UNKNOWN, ALICE, BOB]
            threads = [threading.Thread(target=call, args=(0, people[0]))]
            threads[0].start()
            try:
                assert stack.store.at_gate.wait(WAIT)  # call 0's group is committing
                threads += [
                    threading.Thread(target=call, args=(n, p)) for n, p in enumerate(people) if n
                ]
                for t in threads[1:]:
                    t.start()
                until(lambda: grouped._waiting.qsize() == 4, "four calls wait for their group")
            finally:
                stack.store.gate.set()
            for t in threads:
                t.join(WAIT)
    refused = answers[2]
    assert isinstance(refused, grpc.RpcError)
    assert refused.code() is grpc.StatusCode.FAILED_PRECONDITION  # no consent: as ever
    served = {n: a for n, a in answers.items() if n != 2}
    for n, response in served.items():
        assert isinstance(response, eligibility_pb2.CheckResponse)
        verify(stack, eligibility_pb2.CheckBatchResponse(result=response), f"nonce-of-item-{n:04d}")
    commits = answer_commits(stack)[before:]
    index_of = {r.receipt.request_id: n for n, r in served.items()}
    groups = [
        sorted(index_of.get(e.request_id, -1) for e in commit if isinstance(e, RequestReceived))
        for commit in commits
    ]
    assert groups == [[0], [-1, 1, 3, 4]]  # the four that waited: ONE commit (-1: refused)
    notes = {served[n].receipt.checkpoint_note for n in (1, 3, 4)}
    assert len(notes) == 1


def test_a_failing_commit_fails_every_unary_call_of_its_group_unavailable(stack: Stack) -> None:
    stack.consent(ALICE)
    stack.consent(BOB)
    stack.store.failing = AuditStorageError("the disk is full")
    codes: list[grpc.StatusCode] = []
    with grpc.insecure_channel(stack.target) as channel:
        stub = eligibility_pb2_grpc.EligibilityServiceStub(channel)
        metadata = (("authorization", f"Bearer {stack.issuer.token()}"),)
        for n, person in enumerate((ALICE, BOB)):
            with pytest.raises(grpc.RpcError) as caught:
                stub.Check(item(person, n).item, metadata=metadata, timeout=10)
            codes.append(caught.value.code())
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 2  # the store refused: nothing released
