"""The ledger's hash chain: ``hash_n = sha256(hash_{n-1} || canonical(entry_n))``.

The canonical encoding is JSON with sorted keys, no whitespace, ASCII only, of every column
but the hashes; it includes the sequence number, so reordering entries breaks the chain as
editing or deleting one does. The first entry chains from 32 zero bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

__all__ = ["GENESIS", "Entry", "entry_hash"]

GENESIS = bytes(32)


@dataclass(frozen=True)
class Entry:
    """The hashed columns of one ledger row."""

    sequence: int
    charge_id: str
    partner: str
    dataset_version: str
    query_key: str
    micro_epsilon: int
    day: str
    charged_at: int

    def canonical(self) -> bytes:
        fields = {
            "sequence": self.sequence,
            "charge_id": self.charge_id,
            "partner": self.partner,
            "dataset_version": self.dataset_version,
            "query_key": self.query_key,
            "micro_epsilon": self.micro_epsilon,
            "day": self.day,
            "charged_at": self.charged_at,
        }
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(previous: bytes, entry: Entry) -> bytes:
    return hashlib.sha256(previous + entry.canonical()).digest()
