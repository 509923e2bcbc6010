"""End-to-end gRPC latency of each ComputeService answer beside its bare in-process baseline,
in the same run (issue 12, "Show").

    .venv/bin/python -m bench.compute_e2e [--persons 4096] [--scores 30] [--batches 3] \
        [--bands 60]

The stack runs as ``dataward serve`` does (bench.grpc's recipe): a datagen zone ingested, the
real portal issuing access tokens (client credentials, scope ``compute:score``), the gRPC server
on loopback verifying them, consent, rate limit (lifted), audit leaves and signed receipts. The
policy in force is the default with one auditor under ``compute.auditors``; the bank's cards
are made with the SDK (``dataward.client.compute``), signed by that auditor and registered
through ``Client.register_model``. Lines, median and p95 of each:

* ``PaillierScore`` over gRPC (one distinct consenting person per score: one score per consent
  and model version) against ``PaillierScorer.score`` -- the very scorer the server uses, with
  its obfuscator pool -- on the same person's features computed beforehand; interleaved;
* ``CkksBatchScore`` of every person the registry holds, up to 4096, all consenting (one model
  version per batch, each attested) against ``CkksBatchScorer.score`` on the same feature
  matrix, context and weights loaded once (untimed); the max abs error of the decrypted
  scores against the plain weighted sums;
  the bare lines with the features query (and, for CKKS, the card's loading) added show
  where the end-to-end time goes;
* ``CreditBand`` over gRPC against ``CreditEvaluator.band`` for the same persons;

then the sizes of the keys, contexts and ciphertexts, and the load average before and after.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bench._stats import percentile
from dataward.client import Client, ClientCredentialsTokenSource
from dataward.client import compute as partner
from enclave.compute import (
    CkksBatchScorer,
    CreditEvaluator,
    feature_bounds,
    load_ciphertext,
    load_public_context,
)
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.release import Caller
from launcher import Serving, start_serving
from launcher.settings import Secret, load_settings
from policies import default_policy_text
from synthetic import generate

MASTER_KEY = b"bench master key, not a secret"
LOAN = "LOAN_ORIGINATION"
AUDITOR = "auditor-1"
FEATURE_SET = "credit_v1"
SCORECARD = "credit_band_v1"
#: credit_v1's eight features (as the demo's bank weighs them).
WEIGHTS = (1.5, -6.0, -0.5, -2.0, -0.25, -1.0, -0.00075, -4.0)
_STEWARD = Caller("bench", "zone-stewards")
_OPERATOR = Caller("bench", "citizen-channel")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _policy(auditor_key: bytes) -> str:
    text = default_policy_text()
    anchor = "compute:\n  paillier_noise: 16\n"
    if anchor not in text:
        raise RuntimeError("the default policy has no compute section to add an auditor to")
    encoded = base64.b64encode(auditor_key).decode("ascii")
    return text.replace(
        anchor, f"{anchor}  auditors:\n    - name: {AUDITOR}\n      public_key: {encoded}\n"
    )


def _serve(zone_dir: Path) -> Serving:
    settings = load_settings(
        overrides={
            "zone": {"dir": zone_dir},
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
    return start_serving(settings)


def _line(name: str, samples: Sequence[float], base: Sequence[float] | None = None) -> float:
    median = statistics.median(samples) * 1e3
    p95 = percentile(samples, 95) * 1e3
    ratio = ""
    if base is not None:
        ratio = f"   **{median / (statistics.median(base) * 1e3):.2f}x** the bare median"
    print(f"  {name:<44} n={len(samples):<4} median {median:9.2f} ms   p95 {p95:9.2f} ms{ratio}")
    return median


def _interleave(
    pairs: Sequence[tuple[Callable[[], object], Callable[[], object]]],
) -> tuple[list[float], list[float]]:
    """Each pair (gRPC, bare) run alternately, the first of the two swapping each round."""
    grpc_times: list[float] = []
    bare_times: list[float] = []
    for n, (over_grpc, bare) in enumerate(pairs):
        order = ((over_grpc, grpc_times), (bare, bare_times))
        for call, times in order if n % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
    return grpc_times, bare_times


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.compute_e2e")
    parser.add_argument("--persons", type=int, default=4096, help="generated (CKKS batch <= 4096)")
    parser.add_argument("--scores", type=int, default=30, help="Paillier scores, each its person")
    parser.add_argument("--batches", type=int, default=3, help="CKKS batches, each its version")
    parser.add_argument("--bands", type=int, default=60)
    args = parser.parse_args()
    print(f"load average before: {_load()}")
    with tempfile.TemporaryDirectory(prefix="bench-compute-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        source = work / "source"
        generate(source, persons=args.persons)
        zone_dir = work / "zone"
        init_zone(zone_dir, MASTER_KEY)
        ingest(zone_dir, source, open_keyring(zone_dir, MASTER_KEY))
        numbers = pq.read_table(source / "persons.parquet", columns=["id_number"]).column(0)
        ids = [str(number) for number in numbers.to_pylist()]
        print(f"zone: {len(ids):,} persons ingested in {time.perf_counter() - t0:.0f} s")
        serving = _serve(zone_dir)
        try:
            _run(serving, ids, args)
        finally:
            serving.stop()
    print(f"load average after: {_load()}")


def _run(serving: Serving, ids: list[str], args: argparse.Namespace) -> None:
    core = serving.core
    admin = serving.admin
    steward = admin.create_steward("steward", "bench steward password 1")
    bank = admin.create_organization("Bench Bank", "BANK")
    user = admin.create_partner_user(bank, "banker", "bench partner password 1")
    app = admin.register_app(user, "bench", ["compute:score"], [LOAN], "bench")
    creds = admin.approve_app(steward, app.client_id)
    auditor = Ed25519PrivateKey.generate()
    public = auditor.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    core.policies.apply(_policy(public), _STEWARD, "policies/default.yaml")
    policy = core.scoring.policy()
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=90)

    t0 = time.perf_counter()
    batch = ids[: min(len(ids), 4096)]
    for number in batch:
        core.checks.grant_consent(_OPERATOR, id_number=number, partner=bank.slug, purpose=LOAN)
    print(f"consents: {len(batch):,} persons to the bank in {time.perf_counter() - t0:.0f} s")
    person_ids = []
    for number in batch:
        person = core.zone.find_person(number)
        if person is None:
            raise RuntimeError("a generated person is not in the zone")
        person_ids.append(person.person_id)
    today = dt.datetime.now(dt.UTC).date()
    vectors = core.scoring.features.vectors(policy, FEATURE_SET, person_ids, today)
    matrix = np.array([v.values for v in vectors], dtype=np.int64)

    tokens = ClientCredentialsTokenSource(
        f"{serving.portal_url}/oauth/token", creds.client_id, creds.client_secret, "compute:score"
    )
    with Client(f"127.0.0.1:{serving.api.port}", tokens, timeout=120.0) as client:
        # -- Paillier ------------------------------------------------------------------------
        keys = partner.PaillierKeys.generate()
        card = partner.paillier_model_card(
            keys,
            model_id="loan-risk",
            version=1,
            feature_set=FEATURE_SET,
            weights=WEIGHTS,
            exponent=-4,
            output_bits=32,
            purpose=LOAN,
        )
        client.register_model(card, partner.sign_card(card, auditor, AUDITOR, expires))
        model, bounds = core.scoring.model(
            policy,
            bank.slug,
            "loan-risk",
            1,
            scheme="PAILLIER",
            purpose=LOAN,
            now=dt.datetime.now(dt.UTC),
        )
        scorer = core.scoring.paillier.scorer(model, bounds, policy.paillier_noise)
        client.credit_band(batch[-1], LOAN)  # warm the channel and the token
        n = min(args.scores, len(batch))
        answers: list[partner.PaillierAnswer] = []

        def over_grpc(number: str) -> Callable[[], object]:
            return lambda: answers.append(client.paillier_score(number, LOAN, "loan-risk", 1))

        def bare(row: int) -> Callable[[], object]:
            return lambda: scorer.score(tuple(int(v) for v in matrix[row]))

        print(f"PaillierScore, 3072-bit key, {len(bounds)} features ({FEATURE_SET}), noise on:")
        grpc_s, bare_s = _interleave([(over_grpc(batch[i]), bare(i)) for i in range(n)])
        _line("bare PaillierScorer.score (pooled obfuscator)", bare_s)
        _line("PaillierScore over gRPC (SDK, receipt)", grpc_s, bare_s)

        def featured(row: int) -> Callable[[], object]:
            def run() -> object:
                vector = core.scoring.features.vector(policy, FEATURE_SET, person_ids[row], today)
                return scorer.score(vector.values)

            return run

        _, featured_s = _interleave([(bare(i), featured(i)) for i in range(n)])
        _line("bare features query + score", featured_s, bare_s)

        # -- CKKS ----------------------------------------------------------------------------
        ckks = partner.CkksKeys.generate()
        ckks_cards = []
        for version in range(1, args.batches + 2):  # the last one warms the workers up
            ckks_card = partner.ckks_model_card(
                ckks,
                model_id="loan-risk-he",
                version=version,
                feature_set=FEATURE_SET,
                weights=WEIGHTS,
                output_bits=32,
                purpose=LOAN,
            )
            client.register_model(
                ckks_card, partner.sign_card(ckks_card, auditor, AUDITOR, expires)
            )
            ckks_cards.append(ckks_card)
        first = ckks_cards[0]
        context = load_public_context(first.public_key)
        weights = [load_ciphertext(context, c) for c in first.weight_ciphertexts]
        ckks_scorer = CkksBatchScorer(feature_bounds(policy.feature_sets[FEATURE_SET]))
        consented = np.ones(len(batch), dtype=np.bool_)
        results: list[partner.CkksAnswer] = []

        def batch_grpc(version: int) -> Callable[[], object]:
            return lambda: results.append(
                client.ckks_batch_score("loan-risk-he", version, LOAN, batch)
            )

        def batch_bare() -> object:
            return ckks_scorer.score(context, weights, matrix, consented)

        def loaded_bare() -> object:  # a model's first batch: its context and weights loaded
            fresh = load_public_context(first.public_key)
            loaded = [load_ciphertext(fresh, c) for c in first.weight_ciphertexts]
            return ckks_scorer.score(fresh, loaded, matrix, consented)

        warm = time.perf_counter()
        client.ckks_batch_score("loan-risk-he", args.batches + 1, LOAN, batch[:1])
        print(f"  (untimed warm-up: a 1-person batch, {time.perf_counter() - warm:.2f} s)")

        print(f"CkksBatchScore, {len(batch):,} persons x {len(bounds)} features, all consenting:")
        grpc_s, bare_s = _interleave(
            [(batch_grpc(v), batch_bare) for v in range(1, args.batches + 1)]
        )
        _line("bare CkksBatchScorer.score (same matrix)", bare_s)
        _line("CkksBatchScore over gRPC (SDK, receipt)", grpc_s, bare_s)
        _, loaded_s = _interleave([(batch_bare, loaded_bare) for _ in range(args.batches)])
        _line("bare load context+weights, then score", loaded_s, bare_s)

        def batch_featured() -> object:
            rows = core.scoring.features.vectors(policy, FEATURE_SET, person_ids, today)
            features = np.array([v.values for v in rows], dtype=np.int64)
            return ckks_scorer.score(context, weights, features, consented)

        _, featured_s = _interleave([(batch_bare, batch_featured) for _ in range(args.batches)])
        _line("bare features query (all persons) + score", featured_s, bare_s)
        print("  (each gRPC batch is a new model version: the zone loads and validates its card)")
        expected = matrix.astype(np.float64) @ np.array(WEIGHTS)
        decrypted = partner.decrypt_ckks_scores(ckks, results[-1])
        if any(v is None for v in decrypted):
            raise RuntimeError("a consenting person's slot was not scored")
        error = max(abs(float(v) - e) for v, e in zip(decrypted, expected, strict=True))  # type: ignore[arg-type]
        largest = float(np.abs(expected).max())
        print(
            f"  max abs error of the {len(batch):,} decrypted scores vs the plain sums: "
            f"{error:.2e} (largest |score| {largest:.1f}: {error / largest:.1e} relative)"
        )

        # -- credit band ---------------------------------------------------------------------
        evaluator = CreditEvaluator(core.scoring.features)
        m = min(args.bands, len(batch))

        def band_grpc(number: str) -> Callable[[], object]:
            return lambda: client.credit_band(number, LOAN, SCORECARD)

        def band_bare(row: int) -> Callable[[], object]:
            return lambda: evaluator.band(policy, SCORECARD, person_ids[row], today)

        print(f"CreditBand ({SCORECARD}):")
        grpc_s, bare_s = _interleave([(band_grpc(batch[i]), band_bare(i)) for i in range(m)])
        _line("bare CreditEvaluator.band", bare_s)
        _line("CreditBand over gRPC (SDK, receipt)", grpc_s, bare_s)

    print(
        f"sizes: Paillier public key (n and its proof) {len(card.public_key):,} bytes, "
        f"Paillier ciphertext {len(answers[-1].ciphertext):,} bytes; CKKS public context "
        f"{len(first.public_key):,} bytes, one weight ciphertext "
        f"{len(first.weight_ciphertexts[0]):,} bytes, the CKKS answer "
        f"{len(results[-1].ciphertext):,} bytes"
    )


if __name__ == "__main__":
    main()
