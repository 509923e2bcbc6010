"""The largest checkpoint a client has seen of each log, and the consistency of every other one
with it: what Certificate Transparency clients do with signed tree heads (issue 8, item 6).

A receipt proves that its leaf is in *a* tree the zone signed. Alone, it cannot show that the
zone keeps one append-only history: a zone could truncate its log -- deleting answers it gave
-- and sign the shorter history from then on, or show different partners different logs. So
the client keeps, per zone key (one key signs one log: another origin is a fork), the largest
checkpoint it has seen, and for each checkpoint a receipt rests on:

- larger than the kept one: it fetches the consistency proof from the kept size to the new
  one (RFC 9162 §2.1.4), verifies it against both signed roots, and keeps the new one;
- smaller: it fetches the proof from the new (older) size to the kept one -- an older receipt
  must rest on a prefix of what was seen;
- the same size: the roots must be equal (no proof needed).

A proof that does not verify, or one size with two roots, is :class:`LogForked`; the zone
answering that its log is smaller than a checkpoint it signed is :class:`LogRolledBack`. Both
carry the two signed notes: evidence anyone can check with the zone's public key. Any other
failure to fetch a proof (no ``audit:read`` scope, the zone unavailable) is raised as it is,
and nothing is adopted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dataward.client.errors import LogForked, LogRolledBack, NotFound
from dataward.transparency import Checkpoint, ProofError, verify_consistency

__all__ = ["CheckpointTracker", "Prover"]

#: ``prove(old_size, new_size)``: the zone's consistency proof between two sizes of its log
#: (raises :class:`~dataward.client.errors.NotFound` for a size past the log).
Prover = Callable[[int, int], Sequence[bytes]]


@dataclass(frozen=True)
class _Seen:
    checkpoint: Checkpoint
    note: str


def _describe(cp: Checkpoint) -> str:
    return f"size {cp.size} (root {cp.root_hash.hex()[:16]}…)"


class CheckpointTracker:
    """The largest checkpoint seen per zone key. Thread-safe.

    A zone's key signs ONE log: a checkpoint under the same key with another origin is a
    second history, a fork (issue 8 review: tracking per (key, origin) let a rewritten
    history under a changed origin pass as a new log, and a client then seeded the next one
    with it).
    """

    def __init__(self) -> None:
        self._largest: dict[str, _Seen] = {}
        self._lock = threading.Lock()

    def largest(self, key_name: str) -> str | None:
        """The signed note of the largest checkpoint seen under ``key_name``, or ``None``."""
        with self._lock:
            seen = self._largest.get(key_name)
        return seen.note if seen is not None else None

    def observe(self, key_name: str, checkpoint: Checkpoint, note: str, prove: Prover) -> None:
        """Check ``checkpoint`` (signature already verified; ``note`` is its signed text)
        against the largest one kept for its log, fetching proofs with ``prove``; keep it if
        it is larger. The first checkpoint of a log is kept as it is (seed the tracker with
        a trusted one to avoid trusting the first answer).

        Raises :class:`LogForked` or :class:`LogRolledBack`; anything ``prove`` raises other
        than ``NotFound`` is raised as it is.
        """
        log = key_name
        while True:
            with self._lock:
                known = self._largest.get(log)
                if known is None:
                    self._largest[log] = _Seen(checkpoint, note)
                    return
            self._check(known, checkpoint, note, prove)  # outside the lock: an RPC
            with self._lock:
                if self._largest.get(log) is not known:
                    continue  # another call moved it meanwhile: check against the new one
                if checkpoint.size > known.checkpoint.size:
                    self._largest[log] = _Seen(checkpoint, note)
                return

    @staticmethod
    def _check(known: _Seen, new: Checkpoint, note: str, prove: Prover) -> None:
        old = known.checkpoint
        if new.origin != old.origin:
            raise LogForked(
                f"the zone's key signed a checkpoint of another log (origin {new.origin!r}, "
                f"where {old.origin!r} was seen before)",
                seen=known.note,
                presented=note,
            )
        if new.size == old.size:
            if new.root_hash != old.root_hash:
                raise LogForked(
                    f"the zone's log forked: two checkpoints of size {new.size} with different "
                    f"roots ({old.root_hash.hex()[:16]}… seen before, "
                    f"{new.root_hash.hex()[:16]}… now)",
                    seen=known.note,
                    presented=note,
                )
            return
        small, large = (old, new) if new.size > old.size else (new, old)
        try:
            proof = prove(small.size, large.size)
        except NotFound as exc:
            raise LogRolledBack(
                f"the zone's log was rolled back: it no longer holds the {large.size} entries "
                f"its checkpoint (root {large.root_hash.hex()[:16]}…) covers; checkpoints "
                f"seen: {_describe(old)} before, {_describe(new)} now",
                seen=known.note,
                presented=note,
            ) from exc
        try:
            verify_consistency(small.size, large.size, small.root_hash, large.root_hash, proof)
        except ProofError as exc:
            raise LogForked(
                f"the zone's log forked: its checkpoint of {_describe(new)} is not consistent "
                f"with the checkpoint of {_describe(old)} seen before ({exc})",
                seen=known.note,
                presented=note,
            ) from exc
