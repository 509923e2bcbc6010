"""Portal: client-credentials tokens/s against the real server; JWT verification cost.

``.venv/bin/python -m bench.portal [--threads 4] [--seconds 5] [--max-requests 3000]``

The server is the real one (werkzeug threaded, SQLite with synchronous=FULL) on 127.0.0.1
port 0. Baseline for the token rate: ``GET /.well-known/jwks.json`` on the same server with
the same client threads (HTTP + Flask overhead, no OAuth, no database write). JWT
verification: joserfc ``jwt.decode`` (ES256) + claims check per call, against a cache of
verified tokens (dict lookup + exp check), measured in the same process.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from portal import PortalConfig, serve


def _rate(
    threads: int, seconds: float, cap: int, call: Callable[[requests.Session], None]
) -> float:
    done = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        nonlocal done
        with requests.Session() as session:
            while time.perf_counter() < deadline:
                with lock:
                    if done >= cap:
                        return
                    done += 1
                call(session)

    start = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=3000)
    parser.add_argument("--verifications", type=int, default=2000)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request
    with tempfile.TemporaryDirectory() as tmp:
        server = serve(
            PortalConfig(state_dir=Path(tmp) / "portal", bind="127.0.0.1:0", cookie_secure=False)
        )
        server.start_in_thread()
        try:
            admin = server.portal.admin
            steward = admin.create_steward("steward", "correct horse battery")
            org = admin.create_organization("Bench Bank", "BANK")
            user = admin.create_partner_user(org, "bench", "correct horse battery")
            app = admin.register_app(
                user, "bench", ["identity:verify"], ["LOAN_ORIGINATION"], "bench"
            )
            creds = admin.approve_app(steward, app.client_id)
            url = server.url
            auth = (creds.client_id, creds.client_secret)

            def token(session: requests.Session) -> None:
                r = session.post(
                    f"{url}/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=auth,
                    timeout=30,
                )
                assert r.status_code == 200, r.text

            def bare(session: requests.Session) -> None:
                r = session.get(f"{url}/.well-known/jwks.json", timeout=30)
                assert r.status_code == 200

            print(
                f"portal at {url}; {args.threads} client threads, <= {args.seconds}s, "
                f"<= {args.max_requests} requests per run"
            )
            base = _rate(args.threads, args.seconds, args.max_requests, bare)
            print(f"baseline GET jwks.json:          {base:8.1f} req/s")
            tok = _rate(args.threads, args.seconds, args.max_requests, token)
            print(
                f"client-credentials /oauth/token: {tok:8.1f} req/s  "
                f"(ratio to baseline {tok / base:.2f})"
            )

            access = requests.post(
                f"{url}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=auth,
                timeout=30,
            ).json()
            jwks = KeySet.import_key_set(
                requests.get(f"{url}/.well-known/jwks.json", timeout=30).json()
            )
        finally:
            server.shutdown()
    _verification(access["access_token"], jwks, args.verifications)


def _verification(token: str, jwks: KeySet, n: int) -> None:
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True},
        exp={"essential": True},
        aud={"essential": True, "value": "dataward-zone"},
    )

    def verify() -> dict[str, Any]:
        decoded = jwt.decode(token, jwks, algorithms=["ES256"])
        registry.validate(decoded.claims)
        return dict(decoded.claims)

    cache: dict[str, dict[str, Any]] = {}

    def cached() -> dict[str, Any]:
        claims = cache.get(token)
        if claims is None or claims["exp"] <= time.time():
            claims = cache[token] = verify()
        return claims

    full = 0.0
    for label, fn in (("full ES256 verification", verify), ("cache of verified tokens", cached)):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        per_call = (time.perf_counter() - start) / n * 1e6
        print(f"JWT {label:26s} {per_call:9.2f} us/call")
        if label.startswith("full"):
            full = per_call
    print(f"cache speed-up: {full / per_call:.0f}x")


if __name__ == "__main__":
    main()
