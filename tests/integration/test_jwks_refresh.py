"""The JWKS cache behind the real gRPC server: refreshed on an unknown ``kid`` (a key rotation
at the portal), never more often than the minimum refetch interval, and kept when the portal
is unreachable. HTTP GETs are counted at the fake token issuer (the process boundary).

Each test owns the issuer's lifetime (an ``ExitStack``) so it can take the portal away while
the zone keeps serving; the revocation feed is given a long staleness bound so that only the
JWKS path is under test.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import grpc
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from dataward.client import Client, StaticTokenSource, Unauthenticated, Unavailable
from grpc_api import (
    JwksCache,
)
from tests.support.grpc_stack import Stack, zone_stack
from tests.support.person_fakes import ALICE
from tests.support.token_issuer import TokenIssuer

UW = "INSURANCE_UNDERWRITING"
UNKNOWN_KEY_MESSAGE = "the token is signed with an unknown key"
NO_KEYS_MESSAGE = "the zone cannot verify tokens right now; retry later"


@contextmanager
def zone(
    tmp_path: Path, issuer: TokenIssuer, *, min_refetch: float, max_age: float = 3600.0
) -> Iterator[Stack]:
    """The gRPC server over the fake registry, trusting ``issuer`` (already serving)."""
    jwks = JwksCache(issuer.jwks_url, min_refetch_seconds=min_refetch, max_age_seconds=max_age)
    # The floods below are of bad tokens from one address: lift the per-address limit on
    # their refusals (tested in test_grpc_hardening), which would cut them short.
    with zone_stack(
        tmp_path, issuer, jwks=jwks, stale_after=600, unauthenticated_refusals_burst=10**6
    ) as stack:
        stack.consent(ALICE, purpose=UW)
        yield stack


def signed(issuer: TokenIssuer, key: ECKey, kid: str) -> str:
    """A fresh token with the issuer's usual claims (new ``jti``), signed by ``key`` as ``kid``."""
    payload = issuer.token().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": kid}, claims, key)


def new_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256"})


def eligible(stack: Stack, token: str) -> bool:
    with Client(stack.target, StaticTokenSource(token), timeout=5) as c:
        return c.check_eligibility(ALICE, "OUTPATIENT", UW).eligible


def refusal(stack: Stack, token: str, kind: type[Exception]) -> tuple[object, str, str]:
    with (
        Client(stack.target, StaticTokenSource(token), timeout=5) as c,
        pytest.raises(kind) as excinfo,
    ):
        c.check_eligibility(ALICE, "OUTPATIENT", UW)
    error = excinfo.value
    return error.code, error.reason, error.message  # type: ignore[attr-defined]


def test_rotated_key_triggers_one_refetch_and_verifies(tmp_path: Path) -> None:
    issuer = TokenIssuer()
    with issuer.serving(), zone(tmp_path, issuer, min_refetch=0.3) as stack:
        assert eligible(stack, issuer.token())
        assert issuer.jwks_fetches == 1
        time.sleep(0.35)  # past the minimum refetch interval since that fetch
        issuer.key = new_key("k2")  # the portal rotates: its JWKS now serves k2
        assert eligible(stack, signed(issuer, issuer.key, "k2"))
        assert issuer.jwks_fetches == 2
        # Further tokens of the new key are verified from the cache.
        assert eligible(stack, signed(issuer, issuer.key, "k2"))
        assert eligible(stack, signed(issuer, issuer.key, "k2"))
        assert issuer.jwks_fetches == 2


def test_unknown_kid_is_refused_and_refetches_stay_under_the_minimum_interval(
    tmp_path: Path,
) -> None:
    min_refetch = 0.5
    issuer = TokenIssuer()
    with issuer.serving(), zone(tmp_path, issuer, min_refetch=min_refetch) as stack:
        started = time.monotonic()
        assert eligible(stack, issuer.token())
        attempts = 0
        while time.monotonic() - started < 1.6:
            # A flood of tokens naming keys the issuer never had (random kid each time).
            stranger = new_key(secrets.token_hex(4))
            assert refusal(stack, signed(issuer, stranger, str(stranger.kid)), Unauthenticated) == (
                grpc.StatusCode.UNAUTHENTICATED,
                "TOKEN_INVALID",
                UNKNOWN_KEY_MESSAGE,
            )
            attempts += 1
        elapsed = time.monotonic() - started
    assert attempts >= 10
    # One fetch at the first call, then at most one per interval; an unknown kid does refetch.
    assert 2 <= issuer.jwks_fetches <= 1 + math.floor(elapsed / min_refetch)
    assert issuer.jwks_fetches < attempts


def test_issuer_unreachable_with_keys_cached_still_verifies(tmp_path: Path) -> None:
    issuer = TokenIssuer()
    with ExitStack() as portal:
        portal.enter_context(issuer.serving())
        with zone(tmp_path, issuer, min_refetch=0.1, max_age=0.2) as stack:
            assert eligible(stack, issuer.token())
            attempts = stack.jwks.fetches
            portal.close()  # the portal goes away
            time.sleep(0.3)  # the cached set is now stale: the next call tries to refetch
            assert eligible(stack, issuer.token())
            assert stack.jwks.fetches > attempts, "the stale set was not refetched"
            # An unknown kid is still refused as such, not as "portal unavailable".
            stranger = new_key("k9")
            assert refusal(stack, signed(issuer, stranger, "k9"), Unauthenticated) == (
                grpc.StatusCode.UNAUTHENTICATED,
                "TOKEN_INVALID",
                UNKNOWN_KEY_MESSAGE,
            )
    assert issuer.jwks_fetches == 1


def test_no_cached_key_and_issuer_unreachable_is_unavailable(tmp_path: Path) -> None:
    issuer = TokenIssuer()
    with ExitStack() as portal:
        portal.enter_context(issuer.serving())
        token = issuer.token()
        with zone(tmp_path, issuer, min_refetch=0.1) as stack:
            portal.close()  # before the zone ever fetched the JWKS
            assert refusal(stack, token, Unavailable) == (
                grpc.StatusCode.UNAVAILABLE,
                "UNAVAILABLE",
                NO_KEYS_MESSAGE,
            )
            assert stack.jwks.fetches == 1
    assert issuer.jwks_fetches == 0
