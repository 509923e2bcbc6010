"""Does a refusal tell whether the registry holds a person? (issue 8, fault 8)

Over the real stack (``dataward serve``: portal tokens, the gRPC API, the zone, the audit log),
the same partner sends ``Check`` and ``Verify`` for a registered person without consent and
for a valid-looking number the registry does not hold, shuffled and interleaved. Both answer
``CONSENT_REQUIRED`` with the same bytes; this prints each kind's median time, their ratio
(known / unknown, the baseline being the unknown number measured in the same run) and the
Mann-Whitney z of the two samples (|z| above ~3 would mean the time tells them apart), with
the machine's load average.

``python -m bench.existence [--persons N] [--calls N]``
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import tempfile
import time
from pathlib import Path

from bench._stats import mann_whitney_z
from dataward.client import Client, ClientCredentialsTokenSource, ConsentRequired
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.persons import check_character
from launcher import start_serving
from launcher.settings import Secret, load_settings
from synthetic import generate

MASTER_KEY = b"bench master key, not a secret"
UW = "INSURANCE_UNDERWRITING"


def _unknown_numbers(known: set[str], count: int) -> list[str]:
    """Valid-looking numbers (a real region and birth date, another sequence) nobody has."""
    found: list[str] = []
    for number in sorted(known):
        for sequence in range(1000):
            first17 = f"{number[:14]}{sequence:03d}"
            candidate = first17 + check_character(first17)
            if candidate not in known:
                found.append(candidate)
                if len(found) == count:
                    return found
                break
    raise RuntimeError("not enough unknown numbers")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.existence")
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=500, help="per kind and method")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-existence-") as tmp:
        root = Path(tmp)
        generate(root / "src", args.persons, seed=8)
        init_zone(root / "zone", MASTER_KEY)
        ingest(root / "zone", root / "src", open_keyring(root / "zone", MASTER_KEY))
        import pyarrow.parquet as pq

        ids = pq.read_table(root / "src" / "persons.parquet", columns=["id_number"])
        registered = [str(v) for v in ids.column("id_number").to_pylist()]
        known = registered[: args.calls]
        unknown = _unknown_numbers(set(registered), args.calls)
        settings = load_settings(
            overrides={
                "zone": {"dir": root / "zone"},
                "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
                "grpc": {
                    "bind": "127.0.0.1:0",
                    "rate_limit_per_second": 1e9,
                    "rate_limit_burst": 10**9,
                },
            },
            environ={},
        )
        settings = dataclasses.replace(
            settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER_KEY))
        )
        serving = start_serving(settings)
        try:
            admin = serving.admin
            org = admin.create_organization("Bench Insurance", "INSURER")
            steward = admin.create_steward("steward", "bench steward password 1")
            user = admin.create_partner_user(org, "bench", "bench partner password 1")
            scopes = ["eligibility:check", "identity:verify"]
            app = admin.register_app(user, "bench", scopes, [UW], "bench")
            creds = admin.approve_app(steward, app.client_id)
            tokens = ClientCredentialsTokenSource(
                f"{serving.portal_url}/oauth/token", creds.client_id, creds.client_secret, scopes
            )
            with Client(f"127.0.0.1:{serving.api.port}", tokens) as client:
                calls = {
                    "Check": lambda n: client.check_eligibility(n, "OUTPATIENT", UW),
                    "Verify": lambda n: client.verify_identity(n, "Zhang Wei", UW),
                }
                print(
                    f"{args.persons:,} persons, {args.calls} calls per kind and method, "
                    f"load average {os.getloadavg()[0]:.2f}"
                )
                for method, call in calls.items():
                    order = [(True, n) for n in known] + [(False, n) for n in unknown]
                    random.Random(8).shuffle(order)
                    times: dict[bool, list[float]] = {True: [], False: []}
                    for _, number in order[:100]:  # warm-up
                        _refused(call, number)
                    for is_known, number in order:
                        start = time.perf_counter()
                        _refused(call, number)
                        times[is_known].append(time.perf_counter() - start)
                    k, u = sorted(times[True]), sorted(times[False])
                    mk, mu = k[len(k) // 2] * 1e3, u[len(u) // 2] * 1e3
                    z = mann_whitney_z(times[True], times[False])
                    print(
                        f"  {method:<7} median known {mk:.3f} ms, unknown {mu:.3f} ms "
                        f"(ratio {mk / mu:.3f}), Mann-Whitney z = {z:+.2f}"
                    )
        finally:
            serving.stop()


def _refused(call: object, number: str) -> None:
    try:
        call(number)  # type: ignore[operator]
    except ConsentRequired:
        return
    raise RuntimeError("answered without consent")


if __name__ == "__main__":
    main()
