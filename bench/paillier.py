"""Paillier-3072 scores (issue 12): the zone's masked, re-randomised score against bare phe +
gmpy2 doing the same dot product, in the same run.

    .venv/bin/python -m bench.paillier [--features 20] [--repeats 60] [--scores 400]

One partner key of 3072 bits (generated here, timed), a model of ``--features`` weights
(random, -2..2, fixed point at exponent -4: one exponent for the model) encrypted as the
partner would, and persons' features drawn within :data:`BOUNDS` (credit_v1-like: months
insured and in arrears of 36, claim counts by visit type, self-paid buckets, flags, and a few
signed trends; cycled to the feature count). Prints:

1. ``bare phe``: ``sum(EncryptedNumber * x)`` with phe's own operators, then
   ``ciphertext()`` (phe obfuscates it with a fresh ``r^n``, computed inline) -- what a
   careful user of phe would send; against ``PaillierScorer.score`` with no pool (the same
   dot product, the width mask, noise, a fresh ``r^n`` computed inline). Interleaved, after a
   warm-up, ``--repeats`` each (the order alternates), medians and their ratio (goal <= 1.2x),
   in wall time and in this thread's CPU time (steadier on a shared, loaded machine);
   both answers decrypted once and checked to agree in the low ``width`` bits (untimed);
2. with an :class:`ObfuscatorPool` filled first: ``--scores`` scores in one thread, each
   taking a precomputed obfuscator (checked: none inline), as scores per second of that
   thread's CPU time (``time.thread_time``: one core; the pool's refill thread works on
   the other core meanwhile, outside the GIL) and of wall time (goal >= 200/s/core);
3. the pool's refill rate (obfuscators per second, one background thread) and what it means
   for a sustained load: every score consumes one, so one core sustains
   ``1 / (t_score + t_obfuscator)`` scores per second; the pool buys latency for bursts;
4. sizes: the public key (bytes of ``n``), a ciphertext (``PaillierScore.to_bytes``), and the
   load average (1, 5, 15 min) before and after.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from fractions import Fraction

import phe

from dataward.compute import decode_score, weight_mantissa
from enclave.compute import (
    EncryptedWeights,
    FeatureBound,
    ObfuscatorPool,
    PaillierScorer,
    PartnerKey,
)

EXPONENT = -4
WIDTH = 32
BOUNDS = (
    ("months_insured_36", 0, 36),
    ("months_in_arrears_36", 0, 36),
    ("claims_outpatient_12", 0, 60),
    ("claims_inpatient_12", 0, 12),
    ("claims_pharmacy_12", 0, 60),
    ("claims_emergency_12", 0, 12),
    ("self_paid_bucket_12", 0, 9),
    ("chronic_flag", 0, 1),
    ("arrears_trend", -12, 12),
    ("claims_trend", -24, 24),
)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _interleave(
    calls: dict[str, Callable[[], object]], repeats: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Per call: (wall times, this thread's CPU times)."""
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in calls}
    for call in calls.values():
        call()  # warm-up
    names = list(calls)
    for round_ in range(repeats):
        for name in names if round_ % 2 == 0 else names[::-1]:
            t0, c0 = time.perf_counter(), time.thread_time()
            calls[name]()
            times[name][0].append(time.perf_counter() - t0)
            times[name][1].append(time.thread_time() - c0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--scores", type=int, default=400)
    args = parser.parse_args()
    print(f"load average before: {_load()}")

    t0 = time.perf_counter()
    public, private = phe.generate_paillier_keypair(n_length=3072)
    print(f"key generation (3072 bits, the partner's side): {time.perf_counter() - t0:.2f} s")
    rng = random.Random(12)
    bounds = tuple(
        FeatureBound(f"{name}_{i // len(BOUNDS)}", low, high)
        for i, (name, low, high) in zip(range(args.features), _cycle(BOUNDS), strict=False)
    )
    weights = [Fraction(rng.randint(-(2 * 16**4), 2 * 16**4), 16**4) for _ in bounds]
    mantissas = [weight_mantissa(w, EXPONENT) for w in weights]
    encrypted = [
        public.encrypt(phe.EncodedNumber(public, m % public.n, EXPONENT)) for m in mantissas
    ]
    model = EncryptedWeights(tuple(e.ciphertext() for e in encrypted), EXPONENT)
    key = PartnerKey(public.n)
    people = [[rng.randint(b.low, b.high) for b in bounds] for _ in range(64)]
    turn = iter(range(10**9))

    def person() -> list[int]:
        return people[next(turn) % len(people)]

    def bare() -> int:
        x = person()
        total = encrypted[0] * x[0]
        for enc, value in zip(encrypted[1:], x[1:], strict=True):
            total = total + enc * value
        ciphertext: int = total.ciphertext()  # obfuscated: a fresh r^n, inline
        return ciphertext

    inline = PaillierScorer(key, model, bounds, WIDTH)

    def ours() -> int:
        return inline.score(person()).ciphertext

    # the two agree (untimed)
    x = people[0]
    expected = sum(w * v for w, v in zip(weights, x, strict=True))
    bare_total = sum((e * v for e, v in zip(encrypted, x, strict=True)), public.encrypt(0))
    assert private.decrypt(bare_total) == expected
    score = inline.score(x)
    assert decode_score(private.raw_decrypt(score.ciphertext), WIDTH, score.exponent) == expected

    times = _interleave({"bare": bare, "ours": ours}, args.repeats)
    bare_ms, bare_cpu = (statistics.median(t) * 1e3 for t in times["bare"])
    ours_ms, ours_cpu = (statistics.median(t) * 1e3 for t in times["ours"])
    print(
        f"{args.features}-feature score, re-randomised, obfuscator inline, median of "
        f"{args.repeats}: bare phe+gmpy2 {bare_ms:.2f} ms, PaillierScorer {ours_ms:.2f} ms: "
        f"**{ours_ms / bare_ms:.2f}x** wall (goal <= 1.2x); thread CPU {bare_cpu:.2f} vs "
        f"{ours_cpu:.2f} ms: {ours_cpu / bare_cpu:.2f}x"
    )

    with ObfuscatorPool(key, target=args.scores, batch=16) as pool:
        t0 = time.perf_counter()
        pool.wait_full()
        fill_s = time.perf_counter() - t0
        pooled = PaillierScorer(key, model, bounds, WIDTH, obfuscators=pool)
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        for i in range(args.scores):
            pooled.score(people[i % len(people)])
        wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
        stats = pool.stats()
    assert stats.inline == 0, stats
    per_score = cpu / args.scores
    obfuscator_s = fill_s / args.scores
    print(
        f"pooled: {args.scores} scores in one thread: **{args.scores / cpu:,.0f} scores/s per "
        f"core** (thread CPU; goal >= 200), {args.scores / wall:,.0f}/s wall, "
        f"{per_score * 1e3:.2f} ms each; none inline"
    )
    print(
        f"pool refill: {args.scores} obfuscators in {fill_s:.2f} s by one background thread "
        f"({1 / obfuscator_s:,.1f}/s, {obfuscator_s * 1e3:.1f} ms each); sustained per core "
        f"(every score consumes one): {1 / (per_score + obfuscator_s):,.1f} scores/s"
    )
    print(
        f"sizes: public key {(public.n.bit_length() + 7) // 8} bytes, ciphertext "
        f"{len(score.to_bytes())} bytes; load average after: {_load()}"
    )


def _cycle(items: tuple[tuple[str, int, int], ...]) -> list[tuple[str, int, int]]:
    return [items[i % len(items)] for i in range(10_000)]


if __name__ == "__main__":
    main()
