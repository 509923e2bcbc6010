"""Fakes at the zone's seams for the person-level checks (registry, tokenizer, consent store,
audit trail).

They implement the Protocols of ``enclave.persons`` and ``enclave.consent``. The registry fake
and the recording consent store can write to one journal, so a test sees the order in which
the checks consulted them. The audit fake keeps a real RFC 6962 tree and signs real
checkpoints, so receipts it hands out verify with ``dataward.transparency.verify_receipt``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.transparency import Checkpoint, MerkleTree, Receipt, leaf_hash, sign_checkpoint
from enclave.audit import Release, encode_leaf
from enclave.consent import Consent, SqliteConsentStore, guardians_of
from enclave.release import LoggedDecision, LoggedRequest

KEY_NAME = "dataward-test-zone"

# Well-formed GB 11643 numbers (checked with enclave.persons.idnumber).
ALICE = "110101198001010010"  # active, employee scheme, consents
BOB = "110101199002020020"  # suspended with arrears
CAROL = "320102197503030039"  # deceased
DAVE = "440305198504040046"  # active resident, no consent
CHILD = "110101201006060062"  # bound to ALICE as a member
UNKNOWN = "510107199505050056"  # well-formed, not in the registry


@dataclass(frozen=True)
class Person:
    person_id: int
    person_token: bytes
    name_token: bytes
    status: str


@dataclass(frozen=True)
class Enrolment:
    scheme: str
    start_date: dt.date
    end_date: dt.date | None
    status: str
    arrears_months: int = 0
    insured_region_code: str = "110101"


@dataclass(frozen=True)
class Binding:
    holder_person_id: int
    member_person_id: int
    bound_at: dt.datetime
    unbound_at: dt.datetime | None = None
    relation: str = "CHILD"
    method: str = "DOCUMENT"


class HmacTokenizer:
    def __init__(self, key: bytes = b"test-token-key") -> None:
        self._key = key

    def token(self, column: str, value: str) -> bytes:
        return hmac.digest(self._key, f"{column}\0{value.strip()}".encode(), "sha256")


_PERSON_LOOKUPS = (
    "registry.find_person",
    "registry.person_by_token",
    "registry.person_id_by_token",
)


@dataclass
class FakeDirectory:
    """The registry. Every call is appended to ``journal`` as ``"registry.<method>"``."""

    tokenizer: HmacTokenizer
    persons: dict[bytes, Person] = field(default_factory=dict)
    enrolment_rows: dict[int, list[Enrolment]] = field(default_factory=dict)
    bindings: list[Binding] = field(default_factory=list)
    journal: list[str] = field(default_factory=list)

    @property
    def lookups(self) -> int:
        """How many times a person was looked up (by number or by token)."""
        return sum(call in _PERSON_LOOKUPS for call in self.journal)

    def add(self, id_number: str, name: str, status: str, *enrolments: Enrolment) -> Person:
        person = Person(
            len(self.persons) + 1,
            self.tokenizer.token("id_number", id_number),
            self.tokenizer.token("name", name),
            status,
        )
        self.persons[person.person_token] = person
        self.enrolment_rows[person.person_id] = list(enrolments)
        return person

    def find_person(self, id_number: str) -> Person | None:
        self.journal.append("registry.find_person")
        return self.persons.get(self.tokenizer.token("id_number", id_number))

    def person_by_token(self, token: bytes) -> Person | None:
        self.journal.append("registry.person_by_token")
        return self.persons.get(token)

    def person_id_by_token(self, token: bytes) -> int | None:
        self.journal.append("registry.person_id_by_token")
        person = self.persons.get(token)
        return None if person is None else person.person_id

    def enrolments(self, person_id: int) -> Sequence[Enrolment]:
        self.journal.append("registry.enrolments")
        return tuple(self.enrolment_rows.get(person_id, ()))

    def guardians(self, member_person_id: int, at: dt.datetime) -> tuple[int, ...]:
        self.journal.append("registry.guardians")
        return guardians_of(member_person_id, self._bindings_of(member_person_id), at)

    def family_bindings(self, person_id: int) -> Sequence[Binding]:
        self.journal.append("registry.family_bindings")
        return self._bindings_of(person_id)

    def _bindings_of(self, person_id: int) -> tuple[Binding, ...]:
        return tuple(
            b for b in self.bindings if person_id in (b.holder_person_id, b.member_person_id)
        )


def standard_directory() -> FakeDirectory:
    directory = FakeDirectory(HmacTokenizer())
    since = dt.date(2015, 1, 1)
    alice = directory.add(ALICE, "张伟", "ACTIVE", Enrolment("EMPLOYEE", since, None, "ACTIVE"))
    directory.add(BOB, "李娜", "ACTIVE", Enrolment("RESIDENT", since, None, "SUSPENDED", 4))
    directory.add(CAROL, "王芳", "DECEASED", Enrolment("EMPLOYEE", since, None, "ACTIVE"))
    directory.add(DAVE, "刘洋", "ACTIVE", Enrolment("RESIDENT", since, None, "ACTIVE"))
    child = directory.add(CHILD, "张小明", "ACTIVE", Enrolment("RESIDENT", since, None, "ACTIVE"))
    directory.bindings.append(
        Binding(alice.person_id, child.person_id, dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    )
    return directory


class RecordingConsentStore(SqliteConsentStore):
    """The real SQLite consent store, appending each lookup and use of a consent to
    ``journal``: ``"consents.find_valid(person_token)"`` or ``"consents.find_valid(person_ids)"``
    (by which key it was asked), ``"consents.consume"``. Pass a :class:`FakeDirectory`'s journal
    to see the two seams' calls in one order."""

    journal: list[str]

    @classmethod
    def recording(cls, path: Path, journal: list[str]) -> RecordingConsentStore:
        store = cls.open(path)
        assert isinstance(store, cls)
        store.journal = journal
        return store

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
        by = []
        if person_token is not None:
            by.append("person_token")
        if person_ids:
            by.append("person_ids")
        self.journal.append(f"consents.find_valid({', '.join(by)})")
        return super().find_valid(
            partner=partner,
            purpose=purpose,
            at=at,
            person_token=person_token,
            person_ids=person_ids,
            consent_ref=consent_ref,
        )

    def consume(self, consent: Consent, at: dt.datetime) -> bool:
        self.journal.append("consents.consume")
        return super().consume(consent, at)


class MemoryAuditTrail:
    """An in-memory audit trail with a real Merkle tree and real signed checkpoints."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.entries: list[dict[str, object]] = []
        self._tree = MerkleTree()
        self._lock = threading.Lock()

    @property
    def public_key(self) -> object:
        return self.key.public_key()

    def _append(self, entry: dict[str, object]) -> int:
        data = json.dumps(entry, sort_keys=True, default=str).encode()
        with self._lock:
            self.entries.append(entry)
            return self._tree.append(leaf_hash(data))

    def request(self, **fields: object) -> None:
        token = fields.get("person_token")
        fields["person_token"] = token.hex() if isinstance(token, bytes) else None
        self._append({"kind": "request", **fields})

    def decision(self, **fields: object) -> None:
        self._append({"kind": "decision", **fields})

    def request_batch(self, entries: Sequence[LoggedRequest]) -> None:
        for e in entries:
            fields = dataclasses.asdict(e)
            self.request(**fields)

    def decision_batch(self, entries: Sequence[LoggedDecision]) -> None:
        for e in entries:
            self.decision(**dataclasses.asdict(e))

    def allow_and_release(
        self,
        *,
        request_id: str,
        policy_version: str,
        result_hash: bytes,
        epsilon_spent_micro: int = 0,
    ) -> Receipt:
        self.decision(request_id=request_id, allow=True, reasons=(), policy_version=policy_version)
        # The real zone's release leaf (enclave.audit's canonical encoding), so receipts tie
        # to answers exactly as the zone's do.
        release = Release(
            request_id=request_id,
            result_hash=result_hash.hex(),
            epsilon_spent_micro=epsilon_spent_micro,
        )
        with self._lock:
            index = self._tree.size
            leaf = encode_leaf(release, index, dt.datetime.now(dt.UTC))
            self.entries.append(
                {"kind": "release", "request_id": request_id, "result": result_hash.hex()}
            )
            self._tree.append(leaf_hash(leaf))
            size = self._tree.size
            note = sign_checkpoint(
                Checkpoint(KEY_NAME, size, self._tree.root(size)), KEY_NAME, self.key
            )
            proof = tuple(self._tree.inclusion_proof(index, size))
            return Receipt(index, self._tree.leaf_hash(index), note, proof, leaf)

    def request_and_decision(self, request: LoggedRequest, decision: LoggedDecision) -> None:
        self.request(**dataclasses.asdict(request))
        self.decision(**dataclasses.asdict(decision))

    def request_allow_and_release(
        self,
        request: LoggedRequest,
        *,
        policy_version: str,
        result_hash: bytes,
        epsilon_spent_micro: int = 0,
    ) -> Receipt:
        self.request(**dataclasses.asdict(request))
        return self.allow_and_release(
            request_id=request.request_id,
            policy_version=policy_version,
            result_hash=result_hash,
            epsilon_spent_micro=epsilon_spent_micro,
        )

    def receipt(self, leaf_index: int) -> Receipt:
        with self._lock:
            size = self._tree.size
            note = sign_checkpoint(
                Checkpoint(KEY_NAME, size, self._tree.root(size)), KEY_NAME, self.key
            )
            proof = tuple(self._tree.inclusion_proof(leaf_index, size))
            return Receipt(leaf_index, self._tree.leaf_hash(leaf_index), note, proof)

    def decisions(self) -> list[dict[str, object]]:
        return [e for e in self.entries if e["kind"] == "decision"]


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()
