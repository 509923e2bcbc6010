"""AuditService.GetConsistencyProof, and the SDK holding every receipt to the largest checkpoint
it has seen (issue 8, item 6): a zone that rolls its log back or forks it is caught by its
partners, against a real gRPC server on 127.0.0.1:0 over a real audit log.

The zone is restarted over the same database (one fixed key), with the newest entries and the
checkpoints covering them deleted in between: exactly the tampering ``audit verify`` used to
accept. A partner that kept its largest checkpoint (``Client.largest_checkpoint``) seeds the
next client with it (``trusted_checkpoint``) and the first answer of the shortened log fails.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.client import (
    Client,
    InvalidArgument,
    LogForked,
    LogRolledBack,
    NotFound,
    PermissionDenied,
    ReceiptInvalid,
    StaticTokenSource,
)
from dataward.transparency import open_checkpoint, verify_consistency
from enclave.audit import AuditLog, AuditLogRefusals, AuditLogTrail, Decision, RequestReceived
from enclave.consent import SqliteConsentStore
from enclave.persons import PersonChecks
from grpc_api import (
    ApiServer,
    JwksCache,
    RevocationFeed,
    ServerOptions,
    TokenVerifier,
    build_server,
    raw_public_key,
)
from tests.support.grpc_stack import STEWARD, audit_log
from tests.support.person_fakes import ALICE, BOB, KEY_NAME, standard_directory
from tests.support.token_issuer import AUDIENCE, ZONE_CLIENT, TokenIssuer

UW = "INSURANCE_UNDERWRITING"
KEY = Ed25519PrivateKey.generate()  # the zone key, the same across restarts of a test's zone
PINNED = (KEY_NAME, KEY.public_key())


@dataclass
class Zone:
    issuer: TokenIssuer
    server: ApiServer
    checks: PersonChecks
    log: AuditLog

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def client(self, *, scopes: tuple[str, ...] | None = None, **kw: object) -> Client:
        token = self.issuer.token(scopes=scopes) if scopes else self.issuer.token()
        return Client(self.target, StaticTokenSource(token), audit_key=PINNED, **kw)  # type: ignore[arg-type]


@pytest.fixture
def issuer() -> Iterator[TokenIssuer]:
    issuer = TokenIssuer()
    with issuer.serving():
        yield issuer


@contextmanager
def serving(tmp_path: Path, issuer: TokenIssuer) -> Iterator[Zone]:
    """The zone as ``serve`` wires it: person checks, refusals and AuditService on ONE log."""
    with audit_log(tmp_path, KEY) as (log, _store):
        consents = SqliteConsentStore.open(tmp_path / "state" / "consent.db")
        directory = standard_directory()
        checks = PersonChecks(
            directory=directory,
            tokenizer=directory.tokenizer,
            consents=consents,
            audit=AuditLogTrail(log),
        )
        feed = RevocationFeed(issuer.revocations_url, *ZONE_CLIENT, poll_seconds=0.2)
        feed.start()
        verifier = TokenVerifier(
            issuer=issuer.issuer,
            audience=AUDIENCE,
            jwks=JwksCache(issuer.jwks_url, min_refetch_seconds=0.5),
            revocations=feed,
        )
        server = build_server(
            ServerOptions(bind="127.0.0.1:0"),
            checks=checks,
            verifier=verifier,
            receipts=log,
            refusals=AuditLogRefusals(log),
            audit_key_name=KEY_NAME,
            audit_public_key=raw_public_key(KEY.public_key()),
        )
        try:
            yield Zone(issuer, server, checks, log)
        finally:
            server.stop(None)
            feed.stop()
            consents.close()


@pytest.fixture
def zone(tmp_path: Path, issuer: TokenIssuer) -> Iterator[Zone]:
    with serving(tmp_path, issuer) as z:
        for person in (ALICE, BOB):
            z.checks.grant_consent(STEWARD, id_number=person, partner="acme-insurance", purpose=UW)
        yield z


def _truncate(tmp_path: Path, keep: int) -> None:
    """Delete every entry from ``keep`` on and every checkpoint covering one of them."""
    conn = sqlite3.connect(tmp_path / "state" / "audit.db")
    with conn:
        conn.execute("DELETE FROM leaves WHERE idx >= ?", (keep,))
        conn.execute("DELETE FROM checkpoints WHERE size > ?", (keep,))
    conn.close()


# -- the server side ---------------------------------------------------------------------------


def test_the_proof_shows_a_later_checkpoint_extends_an_earlier_one(zone: Zone) -> None:
    with zone.client() as c:
        first = c.check_eligibility(ALICE, "OUTPATIENT", UW)
        second = c.check_eligibility(BOB, "OUTPATIENT", UW)
        old = open_checkpoint(first.receipt.checkpoint_note, *PINNED)
        new = open_checkpoint(second.receipt.checkpoint_note, *PINNED)
        assert old.size < new.size
        proof = c.consistency_proof(old.size, new.size)
        verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
        assert c.consistency_proof(0, new.size) == [] == c.consistency_proof(new.size, new.size)


def test_sizes_out_of_order_or_past_the_log_are_refused_precisely(zone: Zone) -> None:
    size = zone.log.size
    with zone.client() as c:
        with pytest.raises(InvalidArgument) as wrong:
            c.consistency_proof(size, size - 1)
        assert (wrong.value.code, wrong.value.reason) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "FIELD_INVALID",
        )
        assert wrong.value.metadata == {"field": "old_size"}
        assert wrong.value.message == "old_size must not be larger than new_size"
        with pytest.raises(NotFound) as past:
            c.consistency_proof(1, size + 1000)
        assert (past.value.code, past.value.reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
        assert past.value.message == "new_size is larger than the audit log"
        assert str(size + 1000) not in past.value.message


def test_the_proof_needs_audit_read_and_a_refusal_is_logged_like_any_other(zone: Zone) -> None:
    before = zone.log.size
    with zone.client(scopes=("eligibility:check",)) as c, pytest.raises(PermissionDenied) as info:
        c.consistency_proof(0, 1)
    assert info.value.reason == "SCOPE_NOT_GRANTED"
    request, decision = (logged.event for logged in zone.log.tail(zone.log.size - before))
    assert isinstance(request, RequestReceived) and isinstance(decision, Decision)
    assert (request.method, request.client_id) == ("AuditService/GetConsistencyProof", "app-1")
    assert (decision.allow, decision.reasons) == (False, ("SCOPE_NOT_GRANTED",))


# -- the SDK ------------------------------------------------------------------------------------


def test_every_receipt_is_held_to_the_largest_checkpoint_seen(zone: Zone) -> None:
    with zone.client() as c:
        answers = [c.check_eligibility(p, "OUTPATIENT", UW) for p in (ALICE, BOB, ALICE)]
        assert c.largest_checkpoint() is None
        assert (
            c.verify_answer(answers[2]).size > c.verify_answer(answers[0]).size
        )  # older: a prefix
        c.verify_answer(answers[1])
        assert c.largest_checkpoint() == answers[2].receipt.checkpoint_note
        later = c.check_eligibility(BOB, "OUTPATIENT", UW)
        c.verify_answer(later)  # newer: proved to extend it
        assert c.largest_checkpoint() == later.receipt.checkpoint_note


def test_without_audit_read_a_second_checkpoint_cannot_be_checked_and_is_not_adopted(
    zone: Zone,
) -> None:
    with zone.client(scopes=("eligibility:check",)) as c:
        first = c.check_eligibility(ALICE, "OUTPATIENT", UW)
        second = c.check_eligibility(BOB, "OUTPATIENT", UW)
        c.verify_answer(first)  # the first is kept as it is: nothing to hold it to yet
        with pytest.raises(PermissionDenied):
            c.verify_answer(second)  # fail closed: unproven, so not verified
        assert c.largest_checkpoint() == first.receipt.checkpoint_note


def test_a_zone_rolled_back_under_a_kept_checkpoint_is_caught(
    tmp_path: Path, issuer: TokenIssuer
) -> None:
    with serving(tmp_path, issuer) as zone:
        zone.checks.grant_consent(STEWARD, id_number=ALICE, partner="acme-insurance", purpose=UW)
        with zone.client() as c:
            for _ in range(4):
                c.verify_answer(c.check_eligibility(ALICE, "OUTPATIENT", UW))
            kept = c.largest_checkpoint()
    assert kept is not None
    seen = open_checkpoint(kept, *PINNED)
    _truncate(tmp_path, 2)  # keeps the consent grant's request leaf; its release is gone

    with serving(tmp_path, issuer) as zone:
        zone.checks.grant_consent(STEWARD, id_number=ALICE, partner="acme-insurance", purpose=UW)
        with zone.client(trusted_checkpoint=kept) as c:
            answer = c.check_eligibility(ALICE, "OUTPATIENT", UW)
            assert open_checkpoint(answer.receipt.checkpoint_note, *PINNED).size < seen.size
            with pytest.raises(LogRolledBack, match="rolled back") as info:
                c.verify_answer(answer)
            assert c.largest_checkpoint() == kept
    # The evidence: two notes signed by the zone key, the larger one no longer provable.
    assert (info.value.seen, info.value.presented) == (kept, answer.receipt.checkpoint_note)
    assert isinstance(info.value, ReceiptInvalid)


def test_a_zone_that_rewrote_its_history_past_a_kept_checkpoint_is_caught(
    tmp_path: Path, issuer: TokenIssuer
) -> None:
    with serving(tmp_path, issuer) as zone:
        zone.checks.grant_consent(STEWARD, id_number=ALICE, partner="acme-insurance", purpose=UW)
        with zone.client() as c:
            c.verify_answer(c.check_eligibility(ALICE, "OUTPATIENT", UW))
            kept = c.largest_checkpoint()
    assert kept is not None
    seen = open_checkpoint(kept, *PINNED)
    _truncate(tmp_path, 2)

    with serving(tmp_path, issuer) as zone:
        zone.checks.grant_consent(STEWARD, id_number=ALICE, partner="acme-insurance", purpose=UW)
        with zone.client(trusted_checkpoint=kept) as c:
            answer = c.check_eligibility(ALICE, "OUTPATIENT", UW)
            while open_checkpoint(answer.receipt.checkpoint_note, *PINNED).size <= seen.size:
                answer = c.check_eligibility(ALICE, "OUTPATIENT", UW)
            with pytest.raises(LogForked, match="not consistent") as info:
                c.verify_answer(answer)
    assert (info.value.seen, info.value.presented) == (kept, answer.receipt.checkpoint_note)


def test_a_trusted_checkpoint_must_verify_with_the_pinned_key(zone: Zone) -> None:
    with zone.client() as c:
        note = c.check_eligibility(ALICE, "OUTPATIENT", UW).receipt.checkpoint_note
    forged = note.replace(f"\n{open_checkpoint(note, *PINNED).size}\n", "\n1\n", 1)
    with pytest.raises(ReceiptInvalid, match="trusted checkpoint does not verify"):
        zone.client(trusted_checkpoint=forged)
    with pytest.raises(ValueError, match="pinned audit_key"):
        Client(zone.target, StaticTokenSource("t"), trusted_checkpoint=note)
