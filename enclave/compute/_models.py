"""The model registry (issue 12): partners' model cards, their auditors' attestations and the
one-score-per-consent claims, in ``ZONE/state/models.db`` (SQLite, WAL).

A card enters only once it holds up: its declared fields (:meth:`ModelCard.problems`), its
feature set in the policy in force with one weight per feature, and its key and
ciphertexts checked by the scheme's own core -- Paillier, :class:`PartnerKey` and every
ciphertext a 768-byte integer in ``[1, n^2)`` coprime with ``n``
(:func:`enclave.compute._paillier.check_weights`); CKKS, :func:`load_public_context` and
:func:`load_ciphertext` for each, within :class:`CkksLimits`. An attestation given with the
card, or later (:meth:`ModelRegistry.attest`), must verify when it is given.

The tables (``models``; ``weights``, one row per ciphertext; ``attestations``, appended, the
latest one counts; ``score_claims``, UNIQUE per consent and model version) hold only what the
partner sent and when: the key and ciphertexts as blobs, no clear identifier (a claim's
consent reference is stored as its SHA-256). Triggers refuse every UPDATE and DELETE.

**At rest is not trusted.** :meth:`ModelRegistry.scorable` recomputes the card's digest from
the stored bytes and verifies the latest attestation's Ed25519 signature over it under the
auditors of the policy in force, at every call: a byte changed in the file, an auditor the
policy no longer lists, an expiry passed -- each refuses the score.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from dataward.compute import ModelCard, split_paillier_public_key
from enclave._fsio import open_wal_database
from enclave.compute._attest import Attestation, attestation_problem
from enclave.compute._ckks import CkksLimits, load_ciphertext, load_public_context
from enclave.compute._key import KEY_BITS, PartnerKey, require_gmpy2
from enclave.compute._paillier import EncryptedWeights, check_weights
from enclave.compute.errors import (
    AttestationInvalid,
    ModelCardInvalid,
    ModelExists,
    ModelMismatch,
    ModelNotAttested,
    ModelNotFound,
    PartnerKeyRefused,
    WeightsRefused,
)
from policies import FeatureSet

__all__ = ["ModelRegistry", "ModelStatus", "RegisteredModel"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    organization TEXT NOT NULL,
    model_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    feature_set TEXT NOT NULL,
    weight_count INTEGER NOT NULL,
    output_bits INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    scheme TEXT NOT NULL,
    exponent INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    registered_at INTEGER NOT NULL,
    UNIQUE (organization, model_id, version)
);
CREATE TABLE IF NOT EXISTS weights (
    model_seq INTEGER NOT NULL REFERENCES models (seq),
    position INTEGER NOT NULL,
    ciphertext BLOB NOT NULL,
    PRIMARY KEY (model_seq, position)
);
CREATE TABLE IF NOT EXISTS attestations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    model_seq INTEGER NOT NULL REFERENCES models (seq),
    auditor TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    signature BLOB NOT NULL,
    attested_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS score_claims (
    consent_hash BLOB NOT NULL,
    organization TEXT NOT NULL,
    model_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    claimed_at INTEGER NOT NULL,
    UNIQUE (consent_hash, organization, model_id, version)
);
"""
_APPEND_ONLY = ("models", "weights", "attestations", "score_claims")
_TRIGGERS = "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END;
"""
    for table in _APPEND_ONLY
)
_PAILLIER_CIPHERTEXT_BYTES = 2 * KEY_BITS // 8


class ModelStatus(StrEnum):
    """A model's state under the policy in force (the proto's ``ModelStatus``)."""

    PENDING_ATTESTATION = "PENDING_ATTESTATION"
    """No attestation was ever given."""
    ATTESTED = "ATTESTED"
    """The latest attestation verifies now: the model is scorable."""
    LAPSED = "LAPSED"
    """The latest attestation does not verify now: expired, its auditor no longer listed,
    or the card's stored bytes no longer match what was signed."""


@dataclass(frozen=True)
class RegisteredModel:
    """A stored model: whose, the card as read back, its digest recomputed from those bytes,
    the latest attestation (None: none yet) and when it was registered (UTC)."""

    organization: str
    card: ModelCard
    digest: bytes
    attestation: Attestation | None
    registered_at: dt.datetime

    def problem(self, auditors: Mapping[str, bytes], now: dt.datetime) -> str | None:
        """None when the attestation verifies now; else UNSIGNED, AUDITOR_UNKNOWN, SIGNATURE
        or EXPIRED."""
        return attestation_problem(self.digest, self.attestation, auditors, now)

    def status(self, auditors: Mapping[str, bytes], now: dt.datetime) -> ModelStatus:
        if self.attestation is None:
            return ModelStatus.PENDING_ATTESTATION
        if self.problem(auditors, now) is None:
            return ModelStatus.ATTESTED
        return ModelStatus.LAPSED

    def __repr__(self) -> str:  # never the key or the ciphertexts
        return (
            f"RegisteredModel({self.organization}/{self.card.model_id}/{self.card.version}, "
            f"{self.card.scheme}, digest={self.digest.hex()[:16]}…)"
        )


class ModelRegistry:
    """The zone's model cards in SQLite. Thread-safe; every write one durable transaction."""

    def __init__(self, connection: sqlite3.Connection, limits: CkksLimits | None = None) -> None:
        self._db = connection
        self._limits = limits or CkksLimits()
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, path: Path, *, limits: CkksLimits | None = None, synchronous: str = "FULL"
    ) -> ModelRegistry:
        db = open_wal_database(path, synchronous=synchronous)
        db.executescript(_SCHEMA + _TRIGGERS)
        return cls(db, limits)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- writes -------------------------------------------------------------------------------
    def register(
        self,
        organization: str,
        card: ModelCard,
        attestation: Attestation | None = None,
        *,
        feature_sets: Mapping[str, FeatureSet],
        auditors: Mapping[str, bytes],
        now: dt.datetime,
    ) -> RegisteredModel:
        """Store ``card`` for ``organization`` once it holds up (see the module docstring):
        :class:`ModelCardInvalid` (a declared field), :class:`ModelMismatch` (feature set),
        :class:`PartnerKeyRefused` / :class:`WeightsRefused` (Paillier),
        :class:`~enclave.compute.ContextInvalid` / :class:`~enclave.compute.CiphertextInvalid`
        (CKKS), :class:`AttestationInvalid` (a given attestation that does not verify),
        :class:`ModelExists` (this id and version registered before). The card's purpose is
        the caller's to check."""
        check_card(card, feature_sets, self._limits)
        digest = card.digest()
        if attestation is not None:
            problem = attestation_problem(digest, attestation, auditors, now)
            if problem is not None:
                raise AttestationInvalid(problem)
        at = int(now.timestamp())
        try:
            with self._transaction() as db:
                # A key is one organization's: an attestation covers the card, not who
                # registers it, so another organization re-registering the same card (its
                # key, its ciphertexts) would make it scorable with no auditor's review.
                if db.execute(
                    "SELECT 1 FROM models WHERE public_key = ? AND organization != ? LIMIT 1",
                    (card.public_key, organization),
                ).fetchone():
                    raise ModelCardInvalid("public_key", "the key is another organization's")
                cursor = db.execute(
                    "INSERT INTO models (organization, model_id, version, feature_set,"
                    " weight_count, output_bits, purpose, scheme, exponent, public_key,"
                    " registered_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        organization,
                        card.model_id,
                        card.version,
                        card.feature_set,
                        card.weight_count,
                        card.output_bits,
                        card.purpose,
                        card.scheme,
                        card.exponent,
                        card.public_key,
                        at,
                    ),
                )
                seq = int(cursor.lastrowid or 0)
                db.executemany(
                    "INSERT INTO weights (model_seq, position, ciphertext) VALUES (?,?,?)",
                    [(seq, i, c) for i, c in enumerate(card.weight_ciphertexts)],
                )
                if attestation is not None:
                    _append_attestation(db, seq, attestation, at)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise ModelExists() from None
            raise
        return RegisteredModel(organization, card, digest, attestation, _utc(at))

    def attest(
        self,
        organization: str,
        model_id: str,
        version: int,
        attestation: Attestation,
        *,
        auditors: Mapping[str, bytes],
        now: dt.datetime,
        record: Callable[[], None] | None = None,
    ) -> RegisteredModel:
        """Append ``attestation`` to the model (it becomes the one that counts) once it
        verifies for the card as stored: :class:`ModelNotFound`, :class:`AttestationInvalid`.
        A model may be attested again (a renewal, another auditor). ``record`` runs inside the
        transaction, after the append and before the commit (the caller's audit leaf)."""
        with self._lock:
            seq, found = self._load(organization, model_id, version)
            problem = attestation_problem(found.digest, attestation, auditors, now)
            if problem is not None:
                raise AttestationInvalid(problem)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                _append_attestation(self._db, seq, attestation, int(now.timestamp()))
                if record is not None:
                    record()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return RegisteredModel(
            found.organization, found.card, found.digest, attestation, found.registered_at
        )

    def claim_score(
        self, *, consent_ref: str, organization: str, model_id: str, version: int, now: dt.datetime
    ) -> bool:
        """Claim the one score of ``consent_ref`` under this model version: True if this call
        claimed it, False if it was claimed before (durable on return either way)."""
        consent_hash = hashlib.sha256(consent_ref.encode("utf-8")).digest()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO score_claims (consent_hash, organization, model_id,"
                " version, claimed_at) VALUES (?,?,?,?,?)",
                (consent_hash, organization, model_id, version, int(now.timestamp())),
            )
            return cursor.rowcount == 1

    # -- reads --------------------------------------------------------------------------------
    def get(self, organization: str, model_id: str, version: int) -> RegisteredModel:
        """The organization's model of this id and version, read back from the file (the
        digest recomputed); :class:`ModelNotFound` (another organization's is not found)."""
        with self._lock:
            return self._load(organization, model_id, version)[1]

    def pending(self) -> list[RegisteredModel]:
        """Every model never attested, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT organization, model_id, version FROM models AS m WHERE NOT EXISTS"
                " (SELECT 1 FROM attestations AS a WHERE a.model_seq = m.seq) ORDER BY m.seq"
            ).fetchall()
            return [self._load(str(o), str(i), int(v))[1] for o, i, v in rows]

    def scorable(
        self,
        organization: str,
        model_id: str,
        version: int,
        *,
        auditors: Mapping[str, bytes],
        now: dt.datetime,
    ) -> RegisteredModel:
        """The model, if its latest attestation verifies NOW over the digest recomputed from
        the stored bytes under ``auditors`` (the policy in force's): :class:`ModelNotFound`,
        :class:`ModelNotAttested` with its ``problem``."""
        found = self.get(organization, model_id, version)
        problem = found.problem(auditors, now)
        if problem is not None:
            raise ModelNotAttested(problem)
        return found

    def _load(self, organization: str, model_id: str, version: int) -> tuple[int, RegisteredModel]:
        if isinstance(version, bool) or not isinstance(version, int):
            raise ModelNotFound()
        row = self._db.execute(
            "SELECT seq, feature_set, weight_count, output_bits, purpose, scheme, exponent,"
            " public_key, registered_at FROM models"
            " WHERE organization = ? AND model_id = ? AND version = ?",
            (organization, model_id, version),
        ).fetchone()
        if row is None:
            raise ModelNotFound()
        seq, feature_set, weight_count, output_bits, purpose, scheme, exponent, key, at = row
        ciphertexts = tuple(
            bytes(c)
            for (c,) in self._db.execute(
                "SELECT ciphertext FROM weights WHERE model_seq = ? ORDER BY position", (seq,)
            )
        )
        card = ModelCard(
            model_id=model_id,
            version=version,
            feature_set=str(feature_set),
            weight_count=int(weight_count),
            output_bits=int(output_bits),
            purpose=str(purpose),
            scheme=str(scheme),
            exponent=int(exponent),
            public_key=bytes(key),
            weight_ciphertexts=ciphertexts,
        )
        latest = self._db.execute(
            "SELECT auditor, expires_at, signature FROM attestations WHERE model_seq = ?"
            " ORDER BY seq DESC LIMIT 1",
            (seq,),
        ).fetchone()
        attestation = (
            None
            if latest is None
            else Attestation(str(latest[0]), int(latest[1]), bytes(latest[2]))
        )
        return int(seq), RegisteredModel(organization, card, card.digest(), attestation, _utc(at))


def check_card(card: ModelCard, feature_sets: Mapping[str, FeatureSet], limits: CkksLimits) -> None:
    """Raise the first thing wrong with ``card`` (see :meth:`ModelRegistry.register`)."""
    problems = card.problems()
    if problems:
        raise ModelCardInvalid(*problems[0])
    found = feature_sets.get(card.feature_set)
    if found is None:
        raise ModelMismatch(f"the policy in force has no feature set {card.feature_set!r}")
    if len(found.features) != card.weight_count:
        raise ModelMismatch(
            f"feature set {card.feature_set!r} has {len(found.features)} features, the card "
            f"declares {card.weight_count} weights"
        )
    if card.scheme == "PAILLIER":
        _check_paillier(card)
    else:
        context = load_public_context(card.public_key, limits)
        for ciphertext in card.weight_ciphertexts:
            load_ciphertext(context, ciphertext, limits)


def _check_paillier(card: ModelCard) -> None:
    require_gmpy2()
    try:
        n, roots = split_paillier_public_key(card.public_key)
    except ValueError as exc:
        raise PartnerKeyRefused("size", str(exc)) from None
    key = PartnerKey(n)
    key.check_proof(roots)
    values: list[int] = []
    for index, ciphertext in enumerate(card.weight_ciphertexts):
        if len(ciphertext) != _PAILLIER_CIPHERTEXT_BYTES:
            raise WeightsRefused(
                f"a ciphertext is {_PAILLIER_CIPHERTEXT_BYTES} bytes, big-endian",
                index,
                check="size",
            )
        values.append(int.from_bytes(ciphertext, "big"))
    check_weights(key, EncryptedWeights(tuple(values), card.exponent), card.weight_count)


def _append_attestation(
    db: sqlite3.Connection, seq: int, attestation: Attestation, at: int
) -> None:
    db.execute(
        "INSERT INTO attestations (model_seq, auditor, expires_at, signature, attested_at)"
        " VALUES (?,?,?,?,?)",
        (seq, attestation.auditor, attestation.expires_at, attestation.signature, at),
    )


def _utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC)
