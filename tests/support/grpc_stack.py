"""A real gRPC server on 127.0.0.1:0 over the fake registry and the fake token issuer.

Answers, the zone's refusals, the API's own refusals and the receipts
``AuditService.GetReceipt`` serves all go to one real :class:`AuditLog` in ``tmp_path``
(``log``), over a :class:`RecordingStore` that counts commits and can fail them (``store``);
with ``log_checks=False`` the person checks log to an in-memory trail (``audit``) instead.
:func:`refusal_commits` reads back the refusals the API made at the door.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.attestation import sign_attestation
from enclave.analytics import AggregateQueries, QueryReviews
from enclave.audit import (
    ACCESS_POLICY_VERSION,
    AuditLog,
    AuditLogRefusals,
    AuditLogTrail,
    Decision,
    RequestReceived,
    SqliteAuditStore,
    decode_leaf,
)
from enclave.compute import ModelCards
from enclave.consent import SqliteConsentStore
from enclave.persons import FaceChecking, PersonChecks
from enclave.policy import PolicyStore
from enclave.release import Caller
from grpc_api import (
    ApiServer,
    JwksCache,
    RevocationFeed,
    ServerOptions,
    TokenVerifier,
    build_server,
    raw_public_key,
)
from launcher.settings import AuditSettings
from tests.support.audit_stores import RecordingStore
from tests.support.person_fakes import KEY_NAME, FakeDirectory, MemoryAuditTrail, standard_directory
from tests.support.token_issuer import AUDIENCE, ZONE_CLIENT, TokenIssuer

STEWARD = Caller("steward-1", "zone-stewards")


@contextmanager
def audit_log(
    tmp_path: Path, key: Ed25519PrivateKey, checkpoint_seconds: float = 3600.0
) -> Iterator[tuple[AuditLog, RecordingStore]]:
    """A real audit log signing with ``key`` as ``KEY_NAME``, over a recording store."""
    store = RecordingStore(SqliteAuditStore.open(tmp_path / "state" / "audit.db"))
    settings = AuditSettings(checkpoint_interval_seconds=checkpoint_seconds)
    log = AuditLog(store, settings, key, KEY_NAME, KEY_NAME)
    try:
        yield log, store
    finally:
        log.close()


@dataclass
class Stack:
    issuer: TokenIssuer
    server: ApiServer
    checks: PersonChecks
    directory: FakeDirectory
    audit: MemoryAuditTrail
    feed: RevocationFeed
    jwks: JwksCache
    log: AuditLog
    store: RecordingStore

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def consent(self, id_number: str, partner: str = "acme-insurance", **kw: object) -> str:
        answer = self.checks.grant_consent(
            STEWARD,
            id_number=id_number,
            partner=partner,
            purpose=str(kw.pop("purpose", "INSURANCE_UNDERWRITING")),
            **kw,  # type: ignore[arg-type]
        )
        return answer.value.consent_ref


@contextmanager
def grpc_stack(tmp_path: Path, **options: Any) -> Iterator[Stack]:
    """The server over the fake registry and a fake issuer serving for the stack's lifetime."""
    issuer = TokenIssuer()
    with issuer.serving(), zone_stack(tmp_path, issuer, **options) as stack:
        yield stack


@contextmanager
def zone_stack(
    tmp_path: Path,
    issuer: TokenIssuer,
    *,
    jwks: JwksCache | None = None,
    poll: float = 0.2,
    stale_after: float | None = None,
    checkpoint_seconds: float = 3600.0,
    log_checks: bool = True,
    queries: Callable[[AuditLog], AggregateQueries] | None = None,
    policies: Callable[[AuditLog], PolicyStore] | None = None,
    reviews: Callable[[AuditLog], QueryReviews] | None = None,
    cards: Callable[[AuditLog], ModelCards] | None = None,
    faces: FaceChecking | None = None,
    **options: object,
) -> Iterator[Stack]:
    """The server trusting ``issuer``, whose lifetime the caller owns (it may take the portal
    away mid-test); ``jwks`` replaces the default key cache, ``options`` go to ServerOptions.
    With ``log_checks`` the person checks log to the real audit log too (``audit`` stays empty).
    ``queries`` builds the QueryService's zone side over the stack's audit log (None: not served);
    ``policies`` the zone's policy store (None: ApplyPolicy and GetPolicy are UNAVAILABLE);
    ``reviews`` the steward review's zone side (None: its calls are UNAVAILABLE); ``cards`` the
    model cards' (None: RegisterModel/GetModel UNIMPLEMENTED, the steward's UNAVAILABLE);
    ``faces`` the face checking of a selfie (None: a selfie is UNIMPLEMENTED).
    """
    audit = MemoryAuditTrail()  # the same key signs both trails' checkpoints
    with audit_log(tmp_path, audit.key, checkpoint_seconds) as (log, store):
        directory = standard_directory()
        consents = SqliteConsentStore.open(tmp_path / "state" / "consent.db")
        trail = AuditLogTrail(log) if log_checks else audit
        checks = PersonChecks(
            directory=directory,
            tokenizer=directory.tokenizer,
            consents=consents,
            audit=trail,
            faces=faces,
        )
        jwks = jwks or JwksCache(issuer.jwks_url, min_refetch_seconds=0.5)
        feed = RevocationFeed(
            issuer.revocations_url,
            *ZONE_CLIENT,
            poll_seconds=poll,
            stale_after_seconds=stale_after,
        )
        feed.start()
        verifier = TokenVerifier(
            issuer=issuer.issuer, audience=AUDIENCE, jwks=jwks, revocations=feed
        )
        server = build_server(
            ServerOptions(bind="127.0.0.1:0", **options),  # type: ignore[arg-type]
            checks=checks,
            verifier=verifier,
            receipts=log,
            refusals=AuditLogRefusals(log),
            audit_key_name=KEY_NAME,
            audit_public_key=raw_public_key(audit.key.public_key()),
            attest=partial(sign_attestation, audit.key, KEY_NAME),
            queries=queries(log) if queries is not None else None,
            policies=policies(log) if policies is not None else None,
            reviews=reviews(log) if reviews is not None else None,
            cards=cards(log) if cards is not None else None,
            audit_events=log,
        )
        try:
            yield Stack(issuer, server, checks, directory, audit, feed, jwks, log, store)
        finally:
            server.stop(None)
            feed.stop()
            consents.close()


def refusal_commits(stack: Stack) -> list[tuple[RequestReceived, Decision]]:
    """Each commit of a refusal at the door, checked to be exactly one request + its denial."""
    pairs = []
    for leaves, _checkpoint in stack.store.appends:
        events = [decode_leaf(leaf.leaf).event for leaf in leaves]
        at_the_door = any(
            isinstance(e, Decision) and e.policy_version == ACCESS_POLICY_VERSION for e in events
        )
        if not at_the_door:  # the zone's own leaves (answers, its refusals) share the log
            continue
        assert len(events) == 2, "a refusal is ONE commit of exactly two leaves"
        request, decision = events
        assert isinstance(request, RequestReceived) and isinstance(decision, Decision)
        assert request.person_token is None and request.consent_ref is None
        assert decision.request_id == request.request_id
        assert (decision.allow, decision.policy_version) == (False, ACCESS_POLICY_VERSION)
        pairs.append((request, decision))
    return pairs
