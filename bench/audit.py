"""Audit log: appends/s with group commit vs one commit per append; proof times at 1M entries.

``.venv/bin/python -m bench.audit [--entries 1000000] [--threads 16] [--appends 3000]``

Both append runs use the same SQLite store code with synchronous=FULL in the same process;
the baseline is ``group_commit_max_batch=1`` (one transaction and fsync per append). The 1M
tree is built with the bulk path (``MerkleTree.from_leaf_hashes``, what ``AuditLog.open``
does from the stored hashes); proof times are per call, p50/p99 over random requests.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.transparency import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from enclave.audit import AuditLog, NewCheckpoint, NewLeaf, RequestReceived, SqliteAuditStore
from launcher.settings import AuditSettings


class _CountingStore(SqliteAuditStore):
    """The real SQLite store, counting its commits (one ``append`` = one transaction)."""

    commits = 0

    def append(self, leaves: Sequence[NewLeaf], checkpoint: NewCheckpoint | None = None) -> None:
        self.commits += 1
        super().append(leaves, checkpoint)


def _appends_per_second(db: Path, batch: int, threads: int, total: int) -> tuple[float, int]:
    settings = AuditSettings(sqlite_synchronous="FULL", group_commit_max_batch=batch)
    store = _CountingStore.open(db, settings.sqlite_synchronous)
    log = AuditLog(store, settings, Ed25519PrivateKey.generate(), "bench", "bench")
    per_thread = total // threads
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(per_thread):
                log.append(RequestReceived("c", "org", "m", "p", None, None, f"{t:08x}{i:024x}"))
        except BaseException as exc:  # the bench must fail loudly, not time failures
            errors.append(exc)

    start = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    log.close()
    if errors:
        raise SystemExit(f"bench.audit: appends failed: {errors[0]!r}")
    if log.size != per_thread * threads:
        raise SystemExit(f"bench.audit: {log.size} entries logged, {per_thread * threads} sent")
    return per_thread * threads / elapsed, store.commits


def _percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {p50:.3f} ms, p99 {p99:.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--appends", type=int, default=3000)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        grouped, g_commits = _appends_per_second(
            Path(tmp) / "grouped.db", 512, args.threads, args.appends
        )
        single, s_commits = _appends_per_second(
            Path(tmp) / "single.db", 1, args.threads, max(args.threads, args.appends // 5)
        )
    print(f"appends, {args.threads} threads, synchronous=FULL")
    print(f"  group commit:        {grouped:9.0f} appends/s ({g_commits} commits)")
    print(f"  one commit / append: {single:9.0f} appends/s ({s_commits} commits)")
    print(f"  ratio group/single:  {grouped / single:9.1f}x")

    n = args.entries
    print(f"building a {n:,}-entry tree (bulk path) ...", flush=True)
    start = time.perf_counter()
    tree = MerkleTree.from_leaf_hashes(leaf_hash(i.to_bytes(8, "big")) for i in range(n))
    print(f"  built in {time.perf_counter() - start:.1f} s")
    root = tree.root()
    rng = random.Random(6962)
    inc: list[float] = []
    for _ in range(args.samples):
        i = rng.randrange(n)
        t0 = time.perf_counter()
        proof = tree.inclusion_proof(i)
        inc.append(time.perf_counter() - t0)
        verify_inclusion(tree.leaf_hash(i), i, n, proof, root)
    con: list[float] = []
    for _ in range(args.samples):
        old = rng.randrange(1, n)
        t0 = time.perf_counter()
        proof = tree.consistency_proof(old)
        con.append(time.perf_counter() - t0)
        verify_consistency(old, n, tree.root(old), root, proof)
    # Baseline in the same run: one full recompute of the root, which a proof without stored
    # subtree hashes would cost.
    t0 = time.perf_counter()
    MerkleTree.from_leaf_hashes(tree.leaf_hash(i) for i in range(n)).root()
    full = time.perf_counter() - t0
    print(f"proofs at {n:,} entries ({args.samples} random requests each, all verified)")
    print(f"  inclusion proof:   {_percentiles(inc)}")
    print(f"  consistency proof: {_percentiles(con)}")
    print(
        f"  full recompute (baseline): {full * 1000:.0f} ms; "
        f"ratio recompute/inclusion p50: {full / statistics.median(inc):,.0f}x"
    )


if __name__ == "__main__":
    main()
