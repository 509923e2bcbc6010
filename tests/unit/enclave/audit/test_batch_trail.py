"""The batch leaves of a CKKS batch (issue 12): one request leaf per person, then one decision
leaf per person, each group ONE commit, every person findable by their token."""

from __future__ import annotations

from enclave.audit import AuditLogTrail, Decision, RequestReceived, decode_leaf
from enclave.errors import ZoneError
from enclave.release import Caller, Releaser
from tests.unit.enclave.audit.conftest import OpenRecorded

CALLER = Caller("app-1", "bank-1", frozenset({"LOAN_ORIGINATION"}))


class _RefusedError(ZoneError):
    reason = "CONSENT_REQUIRED"


def test_members_are_one_commit_of_requests_and_one_of_decisions(
    open_recorded: OpenRecorded,
) -> None:
    log, store = open_recorded(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600.0)
    releaser = Releaser(AuditLogTrail(log), "test/1")
    tokens = [bytes([i]) * 32 for i in range(3)]
    members = releaser.begin_members(
        CALLER,
        "ComputeService/CkksBatchScore",
        purpose="LOAN_ORIGINATION",
        members=[("", tokens[0]), ("", None), ("", tokens[2])],
    )
    assert len(members) == 3 and len({m.request_id for m in members}) == 3
    assert len(store.appends) == 1 and len(store.appends[0][0]) == 3

    releaser.decide_members([(members[0], None), (members[1], _RefusedError()), (members[2], None)])
    assert len(store.appends) == 2 and len(store.appends[1][0]) == 3

    events = [decode_leaf(leaf.leaf).event for leaf in store.leaves()]
    requests = [e for e in events if isinstance(e, RequestReceived)]
    assert [r.person_token for r in requests] == [tokens[0].hex(), None, tokens[2].hex()]
    assert {r.client_id for r in requests} == {"app-1"}
    decisions = [e for e in events if isinstance(e, Decision)]
    assert [d.allow for d in decisions] == [True, False, True]
    assert decisions[1].reasons == ("CONSENT_REQUIRED",)
    assert [d.request_id for d in decisions] == [m.request_id for m in members]
    found = store.by_person(tokens[2].hex())
    assert [leaf.index for leaf in found] == [2]


def test_an_empty_batch_logs_nothing(open_recorded: OpenRecorded) -> None:
    log, store = open_recorded()
    releaser = Releaser(AuditLogTrail(log), "test/1")
    assert releaser.begin_members(CALLER, "m", purpose="p", members=[]) == []
    releaser.decide_members([])
    assert store.appends == []
