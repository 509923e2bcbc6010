"""The encrypted face match (issue 13): the zone's computation against bare TenSEAL doing the
same operations, in the same run; the worker pool's latency; sizes; the sign's agreement
with the clear cosine near tau.

    .venv/bin/python -m bench.face_match [--rounds 15] [--pairs 64] [--workers 1]

The partner's side (untimed but reported): a face-match context (N=8192, moduli
[60, 40, 40, 60], scale 2^40, Galois keys: :class:`dataward.client.compute.FaceMatchKeys`),
its public part serialized, a unit 128-d query at cosine 0.97 from a unit template,
zero-padded to 4096 slots. The zone validates the context once
(:func:`enclave.compute.load_face_match_context`, timed apart). Then for ``--rounds``
rounds, alternately (the first of the two swaps each round), median of each:

* ``bare TenSEAL``: the same context deserialized with TenSEAL alone (one thread), the query
  deserialized, ``q * (r*q + s*t)``, the constant added, ``sum_``, a fresh ``Enc(0)`` added,
  serialized;
* ``zone face_match``: the query validated (:func:`enclave.compute.load_ciphertext`: level,
  scale, slots), a fresh blinding from :mod:`secrets`, the same operations, the answer's
  sizes rewritten to 4096 slots.

Then ``match_face`` (the context parsed and validated again, as the zone does per call: each
match brings its own) and the worker pool (:class:`enclave.compute.CkksWorkers`: the 35 MB
context pickled to the worker and parsed there). Every slot of an answer is decrypted: the
slots' spread and the error against the clear value (a known blinding). ``--pairs`` queries at
cosines within 0.01 of tau: how often the decrypted sign differs from the clear one. The
load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import tenseal as ts

from dataward.client import compute
from enclave.biometrics import DEFAULT_THRESHOLDS
from enclave.compute import (
    CKKS_SLOTS,
    CkksWorkers,
    FaceBlinding,
    face_match,
    load_ciphertext,
    load_face_match_context,
    match_face,
)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _timed(run: Callable[[], bytes]) -> tuple[float, bytes]:
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def _unit(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    v = rng.normal(size=128)
    unit: npt.NDArray[np.float64] = v / np.linalg.norm(v)
    return unit


def _at(
    t: npt.NDArray[np.float64], cosine: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    other = rng.normal(size=128)
    other -= (other @ t) * t
    other /= np.linalg.norm(other)
    near: npt.NDArray[np.float64] = cosine * t + np.sqrt(1.0 - cosine**2) * other
    return near


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.face_match")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (0: skip)")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    tau = DEFAULT_THRESHOLDS.encrypted_cosine

    load_before = _load()
    start = time.perf_counter()
    keys = compute.FaceMatchKeys.generate()
    keygen = time.perf_counter() - start
    public = keys.public_context_bytes()
    t = _unit(rng)
    q = _at(t, 0.97, rng)
    query = keys.encrypt_embedding(list(q))

    start = time.perf_counter()
    context = load_face_match_context(public)
    loaded_context = time.perf_counter() - start

    bare_context = ts.context_from(public, n_threads=1)
    bare_context.auto_rescale = bare_context.auto_relin = bare_context.auto_mod_switch = True
    bare_context.global_scale = 2.0**40
    padded = np.zeros(CKKS_SLOTS)
    padded[:128] = t

    def bare() -> bytes:
        s, r = 100.0, 50.0
        vector = ts.ckks_vector_from(bare_context, query)
        weighted = vector.mul(r)
        weighted.add_(s * padded)
        total = vector.mul(weighted)
        constant = np.zeros(CKKS_SLOTS)
        constant[0] = -(s * tau + r)
        total.add_(constant)
        total.sum_()
        total.add_(ts.ckks_vector(bare_context, [0.0]))
        return bytes(total.serialize())

    def zone() -> bytes:
        return face_match(load_ciphertext(context, query), t, tau)

    runs: dict[str, list[float]] = {"bare": [], "zone": []}
    results: dict[str, bytes] = {}
    bare()  # warm-up
    zone()
    for round_ in range(args.rounds):
        order = ("bare", "zone") if round_ % 2 == 0 else ("zone", "bare")
        for name in order:
            elapsed, results[name] = _timed(bare if name == "bare" else zone)
            runs[name].append(elapsed)
    full = [
        _timed(lambda: match_face(context=public, query=query, template=t, tau=tau))[0]
        for _ in range(max(3, args.rounds // 3))
    ]
    load_after = _load()
    pool_latency: float | None = None
    if args.workers > 0:
        with CkksWorkers(args.workers) as pool:

            def call() -> bytes:
                return pool.match(context=public, query=query, template=t, tau=tau, timeout=300)

            call()
            pool_latency = statistics.median(_timed(call)[0] for _ in range(5))

    known = FaceBlinding(scale=37.5, offset=-12.25)
    answer = face_match(load_ciphertext(context, query), t, tau, blinding=known)
    slots = np.array(ts.ckks_vector_from(keys.context, answer).decrypt())
    expected = known.scale * (float(q @ t) - tau) + known.offset * (float(q @ q) - 1.0)
    wrong = 0
    margins = rng.uniform(-0.01, 0.01, size=args.pairs)
    for margin in margins:
        pair_t = _unit(rng)
        pair_q = keys.encrypt_embedding(list(_at(pair_t, tau + margin, rng)))
        out = face_match(load_ciphertext(context, pair_q), pair_t, tau)
        value = ts.ckks_vector_from(keys.context, out).decrypt()[0]
        wrong += (value > 0) != (margin > 0)

    bare_ms, zone_ms = (statistics.median(runs[n]) * 1e3 for n in ("bare", "zone"))
    print(
        "Encrypted face match: 128-d unit query in 4096 slots, N=8192, moduli "
        f"[60, 40, 40, 60], scale 2^40, tau {tau}, one TenSEAL thread; median of "
        f"{args.rounds} interleaved rounds"
    )
    print(f"  bare TenSEAL q*(r*q+s*t), sum, +Enc(0)   {bare_ms:8.2f} ms")
    print(
        f"  zone face_match (query validated)        {zone_ms:8.2f} ms   "
        f"zone/bare {zone_ms / bare_ms:.2f}x"
    )
    print(
        f"  zone match_face (context parsed too)     {statistics.median(full) * 1e3:8.2f} ms; "
        f"context validation alone {loaded_context * 1e3:.1f} ms"
    )
    if pool_latency is not None:
        print(
            f"  worker pool ({args.workers} process): one match {pool_latency * 1e3:8.2f} ms "
            "(the context pickled to the worker and parsed there)"
        )
    print(
        f"  every slot decrypted: spread {float(slots.max() - slots.min()):.1e}, error "
        f"{float(np.abs(slots - expected).max()):.1e} against the clear y {expected:.3f} "
        f"(s {known.scale}, r {known.offset})"
    )
    print(
        f"  sign vs clear cosine within 0.01 of tau: {wrong} wrong of {args.pairs} "
        f"(smallest |cosine - tau| {float(np.abs(margins).min()):.1e})"
    )
    print(
        f"  sizes: public context with Galois keys {len(public):,} B, query {len(query):,} B, "
        f"answer {len(results['zone']):,} B; partner key generation {keygen:.2f} s"
    )
    print(f"load average before {load_before}, after {load_after} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
