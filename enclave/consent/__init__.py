"""Consent: a person's permission for one partner to ask about them for one purpose.

A consent record is (partner organization, person token, purpose, ``valid_from``,
``valid_until``, single-use or not, ``used_at``, ``revoked_at``). It is stored in SQLite
(``ZONE/state/consent.db``, WAL, ``synchronous=FULL``) under the person's keyed token — never
the identity number — plus the person's internal ``person_id`` (a join key, needed for the
guardian rule below).

**Lookup before existence.** A partner's request is matched to consents by the token of the
identity number it sent, which can be computed for any well-formed number. A person the
registry does not hold therefore simply has no consent, and the answer (``CONSENT_REQUIRED``)
is the same as for a known person without consent.

**Validity.** A consent is valid at instant ``t`` when ``valid_from <= t < valid_until``, it is
not revoked, and — if single-use — not used yet. A single-use consent is consumed (``used_at``
set, atomically) when an answer is released under it; a concurrent second request finds it
used.

**Guardians.** A consent recorded for a holder H also covers every member M that is bound to
H at the moment of the request (a family binding ``holder=H, member=M`` with
``bound_at <= t`` and no ``unbound_at`` or ``unbound_at > t``), for the same partner and
purpose, within the consent's own validity; using it for M consumes it if single-use. Once
either side unbinds, the holder's consent no longer covers the member. The person's own
consent is always tried first.

**Concurrency.** Lookups do not queue behind writes or each other: the SQLite store reads on
a read-only connection per thread (WAL readers), each read a fresh snapshot that sees every
write committed before it; grants, revocations and consumption go through its one writer
connection, and consumption is conditional, so a single-use consent is consumed once. The
lookup by token is answered from memory once read, kept in step by the store's own writes
(after ``revoke`` or ``consume`` returns, no lookup answers from before it); the guardians'
lookup always reads the database, so it costs the same for any number.

Here: :mod:`~enclave.consent.interface` (the :class:`ConsentStore` Protocol the checks take and
its value types), :func:`guardians_of` (the guardian rule), :class:`SqliteConsentStore`.
"""

from enclave.consent._sqlite import SqliteConsentStore
from enclave.consent.errors import ConsentError, ConsentNotFound
from enclave.consent.guardians import guardians_of
from enclave.consent.interface import Consent, ConsentStore, FamilyBindingLike

__all__ = [
    "Consent",
    "ConsentError",
    "ConsentNotFound",
    "ConsentStore",
    "FamilyBindingLike",
    "SqliteConsentStore",
    "guardians_of",
]
