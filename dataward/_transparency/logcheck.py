"""End-to-end verification of a stored log: its leaves and its signed checkpoints.

Used by ``dataward audit verify`` for the zone's log and, with the same code, for the portal's
log: anything that can hand over its entries in order and its checkpoint notes in the order
they were signed, plus the public key, can be verified here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dataward._transparency.errors import (
    CheckpointError,
    LogVerificationError,
    ProofError,
)
from dataward._transparency.merkle import leaf_hash, verify_consistency
from dataward._transparency.note import Checkpoint, open_checkpoint
from dataward._transparency.tree import MerkleTree


@dataclass(frozen=True)
class StoredEntry:
    """One stored entry: its position, its bytes, and the leaf hash stored beside it (if any)."""

    index: int
    leaf: bytes
    leaf_hash: bytes | None = None


@dataclass(frozen=True)
class LogSummary:
    """What verification established."""

    entries: int
    checkpoints: int
    # The newest checkpoint; entries past its size are hashed but not yet signed.
    latest: Checkpoint | None
    # The largest of the trusted checkpoints the log was held to (it extends them all).
    trusted: Checkpoint | None = None

    @property
    def unsigned_entries(self) -> int:
        return self.entries - (self.latest.size if self.latest else 0)


# Returns None when the leaf is well formed at this index, else what is wrong (public text).
LeafCheck = Callable[[int, bytes], str | None]


def verify_log_entries(
    entries: Iterable[StoredEntry],
    checkpoint_notes: Sequence[str],
    key_name: str,
    public_key: Ed25519PublicKey,
    *,
    origin: str | None = None,
    check_leaf: LeafCheck | None = None,
    trusted: Sequence[Checkpoint] = (),
) -> LogSummary:
    """Recompute the tree from ``entries`` and check every checkpoint against it.

    Checks, stopping at the first failure: every checkpoint's signature (and origin, if
    given) and that sizes never shrink; then, entry by entry, that positions are contiguous
    from 0, that each leaf hashes to its stored hash, ``check_leaf``; each checkpoint's root
    once the tree reaches its size, and the consistency proof between consecutive
    checkpoints; finally that no checkpoint covers more entries than are stored (truncation).
    Raises :class:`LogVerificationError` naming the first bad entry (or the range it lies in).

    ``trusted``: checkpoints the caller holds from outside the log (saved or received earlier,
    already opened with the log's key). The log's own checkpoints cannot catch entries
    deleted together with every checkpoint covering them, nor a log rebuilt and re-signed by
    whoever holds the key; these can: the recomputed root at each trusted size must be the
    trusted root (the current tree then extends it: the strongest consistency check there
    is), and the log must hold at least that many entries.
    """
    checkpoints = _open_all(checkpoint_notes, key_name, public_key, origin)
    held = sorted(trusted, key=lambda cp: cp.size)
    next_held = 0
    tree = MerkleTree()
    next_cp = 0
    previous: Checkpoint | None = None

    def reach_checkpoints() -> None:
        nonlocal next_cp, previous, next_held
        while next_cp < len(checkpoints) and checkpoints[next_cp].size == tree.size:
            cp = checkpoints[next_cp]
            first = previous.size if previous else 0
            if tree.root() != cp.root_hash:
                raise LogVerificationError(
                    f"entries {first}..{cp.size - 1} do not match signed checkpoint "
                    f"#{next_cp} (size {cp.size}): an entry in this range was altered",
                    first=first,
                    last=cp.size - 1,
                    checkpoint=next_cp,
                )
            if previous is not None:
                try:
                    verify_consistency(
                        previous.size,
                        cp.size,
                        previous.root_hash,
                        cp.root_hash,
                        tree.consistency_proof(previous.size, cp.size),
                    )
                except ProofError as exc:
                    raise LogVerificationError(
                        f"checkpoint #{next_cp} is not consistent with #{next_cp - 1}: {exc}",
                        checkpoint=next_cp,
                    ) from exc
            previous = cp
            next_cp += 1
        # After the log's own checkpoints of this size: an entry edited in place is then
        # named by them; a trusted root that still differs means the log was rewritten.
        while next_held < len(held) and held[next_held].size == tree.size:
            cp = held[next_held]
            if tree.root() != cp.root_hash:
                raise LogVerificationError(
                    f"entries 0..{cp.size - 1} do not match the trusted checkpoint (size "
                    f"{cp.size}): the log was rewritten since that checkpoint was signed",
                    first=0,
                    last=cp.size - 1,
                )
            next_held += 1

    reach_checkpoints()
    for entry in entries:
        i = tree.size
        if entry.index != i:
            what = "is missing" if entry.index > i else "is stored twice or out of order"
            raise LogVerificationError(f"entry {i} {what}", entry=i)
        computed = leaf_hash(entry.leaf)
        if entry.leaf_hash is not None and entry.leaf_hash != computed:
            raise LogVerificationError(
                f"entry {i}: the leaf does not match its stored hash (edited)", entry=i
            )
        if check_leaf is not None:
            problem = check_leaf(i, entry.leaf)
            if problem is not None:
                raise LogVerificationError(f"entry {i}: {problem}", entry=i)
        tree.append(computed)
        reach_checkpoints()
    if next_cp < len(checkpoints):
        cp = checkpoints[next_cp]
        raise LogVerificationError(
            f"the log is truncated: checkpoint #{next_cp} covers {cp.size} entries, "
            f"only {tree.size} are stored; entry {tree.size} is the first missing",
            entry=tree.size,
            checkpoint=next_cp,
        )
    if next_held < len(held):
        cp = held[-1]
        raise LogVerificationError(
            f"the log is smaller than the trusted checkpoint: it covers {cp.size} entries, "
            f"only {tree.size} are stored; entry {tree.size} is the first missing",
            entry=tree.size,
        )
    return LogSummary(
        entries=tree.size,
        checkpoints=len(checkpoints),
        latest=previous,
        trusted=held[-1] if held else None,
    )


def _open_all(
    notes: Sequence[str], key_name: str, public_key: Ed25519PublicKey, origin: str | None
) -> list[Checkpoint]:
    opened: list[Checkpoint] = []
    for j, note in enumerate(notes):
        try:
            cp = open_checkpoint(note, key_name, public_key)
        except CheckpointError as exc:
            raise LogVerificationError(f"checkpoint #{j}: {exc}", checkpoint=j) from exc
        if origin is not None and cp.origin != origin:
            raise LogVerificationError(
                f"checkpoint #{j} is for another log (origin {cp.origin!r})", checkpoint=j
            )
        if opened and cp.size < opened[-1].size:
            raise LogVerificationError(
                f"checkpoint #{j} (size {cp.size}) is smaller than the one before it "
                f"(size {opened[-1].size}): the log went backwards",
                checkpoint=j,
            )
        opened.append(cp)
    return opened
