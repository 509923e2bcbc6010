"""The consent store's seam: the value types and the Protocol the zone's checks use.

:class:`enclave.persons.PersonChecks` takes a :class:`ConsentStore`; the SQLite store
(:class:`enclave.consent.SqliteConsentStore`) is today's implementation, PostgreSQL the next.
See :mod:`enclave.consent` for the rules every implementation keeps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Consent", "ConsentStore", "FamilyBindingLike"]


@dataclass(frozen=True)
class Consent:
    consent_ref: str
    partner: str
    person_token: bytes
    person_id: int
    purpose: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    single_use: bool
    used_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


class FamilyBindingLike(Protocol):
    """The fields of a family binding the guardian rule reads."""

    @property
    def holder_person_id(self) -> int: ...
    @property
    def member_person_id(self) -> int: ...
    @property
    def bound_at(self) -> dt.datetime: ...
    @property
    def unbound_at(self) -> dt.datetime | None: ...


class ConsentStore(Protocol):
    """Consent records of one zone. Every write is one durable transaction."""

    def grant(
        self,
        *,
        partner: str,
        person_token: bytes,
        person_id: int,
        purpose: str,
        valid_from: dt.datetime,
        valid_until: dt.datetime,
        single_use: bool,
    ) -> Consent:
        """Record a new consent; returns it with its fresh ``consent_ref``."""

    def exists(self, consent_ref: str) -> bool:
        """Whether the zone issued this reference (only then is it written to the audit log)."""

    def get(self, consent_ref: str) -> Consent:
        """The consent, or :class:`enclave.consent.ConsentNotFound`."""

    def revoke(self, consent_ref: str, at: dt.datetime) -> Consent:
        """Withdraw a consent at ``at`` (idempotent); :class:`ConsentNotFound` if none."""

    def find_valid(
        self,
        *,
        partner: str,
        purpose: str,
        at: dt.datetime,
        person_token: bytes | None = None,
        person_ids: Sequence[int] = (),
        consent_ref: str | None = None,
    ) -> Consent | None:
        """A consent valid at ``at`` for the person token or one of ``person_ids``."""

    def consume(self, consent: Consent, at: dt.datetime) -> bool:
        """Use a consent for one answer: False if a single-use one was used already."""

    def close(self) -> None: ...
