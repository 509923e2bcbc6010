"""The part of the settings tree the audit log reads.

A Protocol, because the settings tree lives in ``launcher`` (above the zone): its
``AuditSettings`` satisfies this structurally, and tests may pass any frozen dataclass.
"""

from __future__ import annotations

from typing import Protocol


class AuditLogSettings(Protocol):
    @property
    def sqlite_synchronous(self) -> str: ...

    @property
    def checkpoint_interval_seconds(self) -> float: ...

    @property
    def checkpoint_every_entries(self) -> int: ...

    @property
    def group_commit_max_batch(self) -> int: ...
