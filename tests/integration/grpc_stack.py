"""A real gRPC server on 127.0.0.1:0 over the fake registry and the fake token issuer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from enclave.consent import ConsentStore
from enclave.person_checks import Caller, PersonChecks
from grpc_api import (
    ApiServer,
    JwksCache,
    RevocationFeed,
    ServerOptions,
    TokenVerifier,
    build_server,
    raw_public_key,
)
from tests.person_fakes import KEY_NAME, FakeDirectory, MemoryAuditTrail, standard_directory
from tests.token_issuer import AUDIENCE, ZONE_CLIENT, TokenIssuer

STEWARD = Caller("steward-1", "zone-stewards")


@dataclass
class Stack:
    issuer: TokenIssuer
    server: ApiServer
    checks: PersonChecks
    directory: FakeDirectory
    audit: MemoryAuditTrail
    feed: RevocationFeed
    jwks: JwksCache

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
def grpc_stack(tmp_path: Path, **options: object) -> Iterator[Stack]:
    issuer = TokenIssuer()
    with issuer.serving():
        directory = standard_directory()
        audit = MemoryAuditTrail()
        consents = ConsentStore.open(tmp_path / "state" / "consent.db")
        checks = PersonChecks(
            directory=directory, tokenizer=directory.tokenizer, consents=consents, audit=audit
        )
        jwks = JwksCache(issuer.jwks_url, min_refetch_seconds=0.5)
        feed = RevocationFeed(
            issuer.revocations_url, *ZONE_CLIENT, poll_seconds=float(options.pop("poll", 0.2))
        )
        feed.start()
        verifier = TokenVerifier(
            issuer=issuer.issuer, audience=AUDIENCE, jwks=jwks, revocations=feed
        )
        server = build_server(
            ServerOptions(bind="127.0.0.1:0", **options),  # type: ignore[arg-type]
            checks=checks,
            verifier=verifier,
            receipts=audit,
            audit_key_name=KEY_NAME,
            audit_public_key=raw_public_key(audit.key.public_key()),
        )
        try:
            yield Stack(issuer, server, checks, directory, audit, feed, jwks)
        finally:
            server.stop(None)
            feed.stop()
            consents.close()
