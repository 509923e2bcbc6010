"""CKKS batch scoring: the zone's compute against bare TenSEAL doing the same multiply-adds,
in the same run (issue 12; goal <= 1.3x).

    .venv/bin/python -m bench.ckks [--persons 4096] [--features 20] [--rounds 15] \
        [--workers 2] [--pool-calls 24]

The partner's side (untimed): a TenSEAL CKKS context (N=8192, moduli [60, 40, 40, 60], scale
2^40), its public part serialized, one ciphertext per feature holding the weight in all 4096
slots. The zone loads and validates them once (:func:`enclave.compute.load_public_context`,
:func:`enclave.compute.load_ciphertext`; timed apart). A batch of ``--persons`` persons x
``--features`` integer features (0..36) of which ``--consented`` are consented. Then, for
``--rounds`` rounds, alternately (the first of the two swaps each round), median of each:

* ``bare TenSEAL``: the same context and weights deserialized with TenSEAL alone (one thread,
  as the zone loads them), the plaintext columns already built as float64 arrays (the
  unconsented and the slots past the batch zero; TenSEAL's fastest input),
  ``acc = w_0 * x_0; acc += w_j * x_j``, the result serialized;
* ``zone CkksBatchScorer.score``: from the numpy feature matrix and consent mask: bounds
  checked, columns masked and built, ``Enc_pk(0)`` (the re-randomisation) plus the same
  multiply-adds, the result serialized.

Then the worker pool (:class:`enclave.compute.CkksWorkers`, ``--workers`` processes, the model
shipped to each worker once, untimed): the median latency of one call (the in-process score
plus the features' and the result's trip through a pipe), and its throughput for
``--pool-calls`` batches submitted from ``--workers`` threads, against the in-process scorer's
and bare TenSEAL's one-after-another throughput (their medians above).

Every slot of the zone's last result is decrypted with the partner's secret key (SEAL's own
decoder, all 4096 slots): the max error against the exact scores (absolute and relative to
the largest score) and the spread of the slots that must be zero. Sizes of the contexts and
ciphertexts; the load average before and after.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tenseal as ts

from enclave.compute import (
    CKKS_COEFF_MODULUS_BITS,
    CKKS_POLY_MODULUS_DEGREE,
    CKKS_SCALE,
    CKKS_SLOTS,
    CkksBatchScorer,
    CkksWorkers,
    FeatureBound,
    load_ciphertext,
    load_public_context,
)

HIGH = 36


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _partner() -> ts.Context:
    context = ts.context(
        ts.SCHEME_TYPE.CKKS,
        CKKS_POLY_MODULUS_DEGREE,
        coeff_mod_bit_sizes=list(CKKS_COEFF_MODULUS_BITS),
    )
    context.global_scale = CKKS_SCALE
    return context


def _with_galois(secret: ts.Context) -> int:
    galois = secret.copy()
    galois.generate_galois_keys()
    galois.make_context_public()
    return len(galois.serialize())


def _every_slot(secret: ts.Context, result: bytes) -> np.ndarray:
    (ciphertext,) = ts.ckks_vector_from(secret, result).ciphertext()
    seal = secret.seal_context().data
    plain = ts.sealapi.Plaintext()
    ts.sealapi.Decryptor(seal, secret.secret_key().data).decrypt(ciphertext, plain)
    return np.array(ts.sealapi.CKKSEncoder(seal).decode_double(plain))


def _timed(run: Callable[[], bytes]) -> tuple[float, bytes]:
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


@dataclasses.dataclass(frozen=True)
class _PoolRun:
    latency: float  # median seconds of one call, the others idle
    rate: float  # batches per second, --workers calls in flight
    result: bytes
    load: str


def _pool(
    args: argparse.Namespace,
    public_bytes: bytes,
    weight_bytes: list[bytes],
    bounds: Sequence[FeatureBound],
    features: np.ndarray,
    consented: np.ndarray,
) -> _PoolRun | None:
    if args.workers < 1:
        return None
    with CkksWorkers(args.workers) as pool:

        def call(_: int = 0) -> bytes:
            return pool.score(
                b"bench-model",
                context=public_bytes,
                weights=weight_bytes,
                bounds=bounds,
                features=features,
                consented=consented,
                timeout=300.0,
            )

        with ThreadPoolExecutor(args.workers) as threads:
            list(threads.map(call, range(args.workers)))  # every worker loads the model
            latencies = [_timed(call)[0] for _ in range(args.rounds)]
            start = time.perf_counter()
            results = list(threads.map(call, range(args.pool_calls)))
            elapsed = time.perf_counter() - start
    return _PoolRun(statistics.median(latencies), args.pool_calls / elapsed, results[-1], _load())


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.ckks")
    parser.add_argument("--persons", type=int, default=CKKS_SLOTS)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--consented", type=float, default=0.8, help="share of the batch")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (0: skip)")
    parser.add_argument("--pool-calls", type=int, default=24)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    k, n = args.features, args.persons

    load_before = _load()
    secret = _partner()
    public = secret.copy()
    public.make_context_public()
    public_bytes = public.serialize()
    weights = rng.uniform(-1.0, 1.0, size=k)
    weight_bytes = [ts.ckks_vector(secret, [float(w)] * CKKS_SLOTS).serialize() for w in weights]
    features = rng.integers(0, HIGH + 1, size=(n, k))
    consented = rng.random(n) < args.consented

    start = time.perf_counter()
    context = load_public_context(public_bytes)
    loaded_context = time.perf_counter() - start
    start = time.perf_counter()
    zone_weights = [load_ciphertext(context, data) for data in weight_bytes]
    loaded_weights = time.perf_counter() - start
    scorer = CkksBatchScorer([FeatureBound(f"f{j}", 0, HIGH) for j in range(k)])

    bare_context = ts.context_from(public_bytes, n_threads=1)
    bare_weights = [ts.ckks_vector_from(bare_context, data) for data in weight_bytes]
    plain = np.zeros((k, CKKS_SLOTS))
    plain[:, :n] = np.where(consented[:, None], features, 0).T
    columns = list(plain)

    def bare() -> bytes:
        acc = bare_weights[0].mul(columns[0])
        for weight, column in zip(bare_weights[1:], columns[1:], strict=True):
            acc.add_(weight.mul(column))
        return bytes(acc.serialize())

    def zone() -> bytes:
        return scorer.score(context, zone_weights, features, consented)

    runs: dict[str, list[float]] = {"bare": [], "zone": []}
    results: dict[str, bytes] = {}
    zone()  # warm-up
    bare()
    for round_ in range(args.rounds):
        order = ("bare", "zone") if round_ % 2 == 0 else ("zone", "bare")
        for name in order:
            elapsed, results[name] = _timed(bare if name == "bare" else zone)
            runs[name].append(elapsed)
    load_after = _load()
    pool = _pool(args, public_bytes, weight_bytes, scorer.bounds, features, consented)
    if pool is not None:
        results["pool"] = pool.result

    expected = np.zeros(CKKS_SLOTS)
    expected[:n] = np.where(consented, features @ weights, 0.0)
    zero = np.ones(CKKS_SLOTS, dtype=bool)
    zero[:n] = ~consented
    scale = float(np.max(np.abs(expected)))
    print(
        f"CKKS batch score: {n} persons x {k} features (0..{HIGH}), {consented.sum()} consented, "
        f"N={CKKS_POLY_MODULUS_DEGREE}, moduli {list(CKKS_COEFF_MODULUS_BITS)}, scale 2^40, "
        f"one TenSEAL thread; median of {args.rounds} interleaved rounds"
    )
    bare_ms, zone_ms = (statistics.median(runs[name]) * 1e3 for name in ("bare", "zone"))
    print(f"  bare TenSEAL multiply-adds + serialize   {bare_ms:8.2f} ms")
    print(
        f"  zone CkksBatchScorer.score               {zone_ms:8.2f} ms   "
        f"zone/bare {zone_ms / bare_ms:.2f}x (goal <= 1.3x)"
    )
    print(
        f"  zone validation, once per upload: context {loaded_context * 1e3:.1f} ms, "
        f"{k} weight ciphertexts {loaded_weights * 1e3:.1f} ms"
    )
    if pool is not None:
        zone_rate, bare_rate = 1e3 / zone_ms, 1e3 / bare_ms
        print(
            f"  worker pool ({args.workers} processes): one call {pool.latency * 1e3:8.2f} ms   "
            f"pool/zone {pool.latency * 1e3 / zone_ms:.2f}x (the features and the result "
            f"through a pipe); {args.pool_calls} batches from {args.workers} threads "
            f"{pool.rate:.2f} batches/s = {pool.rate / zone_rate:.2f}x the in-process "
            f"scorer's {zone_rate:.2f}/s, {pool.rate / bare_rate:.2f}x bare TenSEAL's "
            f"{bare_rate:.2f}/s (load average after {pool.load})"
        )
    for name, result in results.items():
        slots = _every_slot(secret, result)
        error = float(np.max(np.abs(slots - expected)))
        spread = float(np.max(slots[zero]) - np.min(slots[zero]))
        print(
            f"  {name}: every slot decrypted: max error {error:.2e} ({error / scale:.1e} of the "
            f"largest |score| {scale:.1f}); the {zero.sum()} zero slots: spread {spread:.1e}, "
            f"max |value| {float(np.max(np.abs(slots[zero]))):.1e}"
        )
    print(
        f"  sizes: public context {len(public_bytes):,} B (relin keys, no Galois keys), "
        f"with the secret key {len(secret.serialize(save_secret_key=True)):,} B (the partner's "
        f"own; TenSEAL regenerates its relin keys on load), with Galois keys "
        f"{_with_galois(secret):,} B (refused), "
        f"weight ciphertext {len(weight_bytes[0]):,} B, result {len(results['zone']):,} B"
    )
    print(f"load average before {load_before}, after {load_after} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
