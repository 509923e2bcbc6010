"""The release skeleton over a real AuditLog (issue 15, one durable commit per answer): what
each step commits, and that nothing asked goes unlogged or is logged twice -- a request begun
outside an ``answers`` method is durable at once, one inside rides with its decision, a zone
error nobody refused and a fault are still logged as denials, a request left undecided fails
closed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward import receipts
from enclave.audit import AuditLog, AuditLogTrail, SqliteAuditStore, decode_leaf
from enclave.errors import NoDataset
from enclave.persons import ConsentRequired
from enclave.release import Caller, Releaser, answers
from launcher.settings import AuditSettings
from tests.support.audit_stores import RecordingStore

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NAME = "dataward.zone/test"
PARTNER = Caller("app-1", "acme-insurance")
METHOD = receipts.ELIGIBILITY_CHECK
FIELDS = receipts.eligibility_fields(eligible=True, coverage_class="A", reasons=())


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.store = RecordingStore(SqliteAuditStore.open(tmp_path / "audit.db"))
        settings = AuditSettings(checkpoint_every_entries=1000, checkpoint_interval_seconds=3600)
        self.log = AuditLog(self.store, settings, KEY, NAME, NAME)
        self.release = Releaser(AuditLogTrail(self.log), "test/1")

    def commits(self) -> list[list[str]]:
        return [[_short(decode_leaf(x.leaf).event) for x in rows] for rows, _ in self.store.appends]


def _short(event: object) -> str:
    reasons = ",".join(getattr(event, "reasons", ()))
    return f"{type(event).__name__}:{getattr(event, 'allow', '')}:{reasons}"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.log.close()


R = "RequestReceived::"
ALLOW = "Decision:True:"
REL = "Release::"


def test_outside_an_answers_method_the_request_is_durable_at_once(world: World) -> None:
    request = world.release.begin(PARTNER, METHOD)
    assert world.commits() == [[R]]
    world.release.release(request, FIELDS)
    assert world.commits() == [[R], [ALLOW, REL]]


def test_inside_one_the_answer_is_one_commit(world: World) -> None:
    @answers
    def check() -> None:
        request = world.release.begin(PARTNER, METHOD)
        assert world.commits() == []  # pending: nothing logged before the decision
        world.release.release(request, FIELDS)

    check()
    assert world.commits() == [[R, ALLOW, REL]]


def test_a_refusal_is_one_commit_and_is_not_logged_again_on_its_way_out(world: World) -> None:
    @answers
    def check() -> None:
        world.release.refuse(world.release.begin(PARTNER, METHOD), ConsentRequired())

    with pytest.raises(ConsentRequired):
        check()
    assert world.commits() == [[R, "Decision:False:CONSENT_REQUIRED"]]


def test_a_zone_error_nobody_refused_is_logged_with_its_reason(world: World) -> None:
    @answers
    def check() -> None:
        world.release.begin(PARTNER, METHOD)
        raise NoDataset()

    with pytest.raises(NoDataset):
        check()
    assert world.commits() == [[R, f"Decision:False:{NoDataset.reason}"]]


class _BugError(Exception):
    pass


def test_a_fault_after_log_now_adds_only_the_denial(world: World) -> None:
    @answers
    def check() -> None:
        world.release.log_now(world.release.begin(PARTNER, METHOD))
        raise _BugError()

    with pytest.raises(_BugError):
        check()
    assert world.commits() == [[R], ["Decision:False:INTERNAL"]]


def test_log_now_then_release_logs_the_request_once(world: World) -> None:
    @answers
    def check() -> None:
        request = world.release.log_now(world.release.begin(PARTNER, METHOD))
        world.release.log_now(request)  # already durable: nothing more
        world.release.release(request, FIELDS)

    check()
    assert world.commits() == [[R], [ALLOW, REL]]


def test_a_request_left_undecided_fails_closed_logged_as_denied(world: World) -> None:
    @answers
    def check() -> None:
        world.release.begin(PARTNER, METHOD)

    with pytest.raises(RuntimeError):
        check()
    assert world.commits() == [[R, "Decision:False:INTERNAL"]]


def test_a_request_is_decided_once(world: World) -> None:
    @answers
    def check() -> None:
        request = world.release.begin(PARTNER, METHOD)
        world.release.release(request, FIELDS)
        world.release.release(request, FIELDS)

    with pytest.raises(RuntimeError):
        check()
    assert world.commits() == [[R, ALLOW, REL]]
