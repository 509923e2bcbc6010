"""The model registry: cards checked at registration, attestations verified from the stored
bytes at every score, one score per consent and model version. Real keys (phe, TenSEAL,
Ed25519 with cryptography), a real SQLite file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import tenseal as ts
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.compute import ModelCard, attestation_message, paillier_public_key
from enclave.compute import (
    CKKS_SLOTS,
    Attestation,
    AttestationInvalid,
    CiphertextInvalid,
    ContextInvalid,
    ModelCardInvalid,
    ModelExists,
    ModelMismatch,
    ModelNotAttested,
    ModelNotFound,
    ModelRegistry,
    ModelStatus,
    PartnerKeyRefused,
    WeightsRefused,
)
from policies import FeatureSet, default_policy
from tests.unit.enclave.compute.conftest import Partner

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
LATER = int((NOW + dt.timedelta(days=30)).timestamp())
ORG = "7"


@pytest.fixture(scope="module")
def feature_sets() -> dict[str, FeatureSet]:
    return dict(default_policy().feature_sets)


@pytest.fixture(scope="module")
def width(feature_sets: dict[str, FeatureSet]) -> int:
    return len(feature_sets["credit_v1"].features)


@dataclasses.dataclass(frozen=True)
class Auditor:
    name: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, card: ModelCard, expires_at: int = LATER) -> Attestation:
        message = attestation_message(card.digest(), self.name, expires_at)
        return Attestation(self.name, expires_at, self.private.sign(message))


@pytest.fixture
def auditor() -> Auditor:
    return Auditor("auditor-1", Ed25519PrivateKey.generate())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ModelRegistry]:
    registry = ModelRegistry.open(tmp_path / "state" / "models.db")
    yield registry
    registry.close()


CardFactory = Callable[..., ModelCard]


@pytest.fixture
def paillier_card(partner: Partner, width: int) -> CardFactory:
    def make(**changes: object) -> ModelCard:
        weights = partner.encrypt([3, -2, 5, 1, 7, 4, 2, 9][:width], exponent=-2)
        card = ModelCard(
            model_id="risk.model-a",
            version=1,
            feature_set="credit_v1",
            weight_count=width,
            output_bits=32,
            purpose="LOAN_ORIGINATION",
            scheme="PAILLIER",
            exponent=-2,
            public_key=paillier_public_key(partner.public.n, partner.private.p, partner.private.q),
            weight_ciphertexts=tuple(c.to_bytes(768, "big") for c in weights.ciphertexts),
        )
        return dataclasses.replace(card, **changes)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="module")
def ckks_blobs(
    secret_context: ts.Context, public_bytes: bytes, width: int
) -> tuple[bytes, tuple[bytes, ...]]:
    ciphertexts = tuple(
        ts.ckks_vector(secret_context, [0.5 * (j + 1)] * CKKS_SLOTS).serialize()
        for j in range(width)
    )
    return public_bytes, ciphertexts


@pytest.fixture
def ckks_card(ckks_blobs: tuple[bytes, tuple[bytes, ...]], width: int) -> ModelCard:
    key, ciphertexts = ckks_blobs
    return ModelCard(
        model_id="batch-model",
        version=3,
        feature_set="credit_v1",
        weight_count=width,
        output_bits=32,
        purpose="LOAN_ORIGINATION",
        scheme="CKKS",
        exponent=0,
        public_key=key,
        weight_ciphertexts=ciphertexts,
    )


def _register(
    store: ModelRegistry,
    card: ModelCard,
    feature_sets: dict[str, FeatureSet],
    attestation: Attestation | None = None,
    auditors: dict[str, bytes] | None = None,
) -> ModelStatus:
    model = store.register(
        ORG, card, attestation, feature_sets=feature_sets, auditors=auditors or {}, now=NOW
    )
    return model.status(auditors or {}, NOW)


def test_a_paillier_card_registers_reads_back_and_scores_once_attested(
    store: ModelRegistry,
    paillier_card: CardFactory,
    feature_sets: dict[str, FeatureSet],
    auditor: Auditor,
) -> None:
    card = paillier_card()
    auditors = {auditor.name: auditor.public}
    assert (
        _register(store, card, feature_sets, auditors=auditors) is ModelStatus.PENDING_ATTESTATION
    )
    got = store.get(ORG, card.model_id, 1)
    assert got.card == card and got.digest == card.digest() and got.attestation is None
    assert got.registered_at == NOW
    assert [m.card.model_id for m in store.pending()] == [card.model_id]
    with pytest.raises(ModelNotAttested) as unsigned:
        store.scorable(ORG, card.model_id, 1, auditors=auditors, now=NOW)
    assert unsigned.value.problem == "UNSIGNED"
    attested = store.attest(ORG, card.model_id, 1, auditor.sign(card), auditors=auditors, now=NOW)
    assert attested.status(auditors, NOW) is ModelStatus.ATTESTED
    assert store.scorable(ORG, card.model_id, 1, auditors=auditors, now=NOW).card == card
    assert store.pending() == []
    assert "risk.model-a" in repr(attested) and str(card.public_key[:8]) not in repr(attested)


def test_a_ckks_card_registers_with_its_attestation(
    store: ModelRegistry,
    ckks_card: ModelCard,
    feature_sets: dict[str, FeatureSet],
    auditor: Auditor,
) -> None:
    auditors = {auditor.name: auditor.public}
    status = _register(store, ckks_card, feature_sets, auditor.sign(ckks_card), auditors)
    assert status is ModelStatus.ATTESTED
    found = store.scorable(ORG, "batch-model", 3, auditors=auditors, now=NOW)
    assert found.card == ckks_card
    assert store.pending() == []


def test_another_organizations_model_is_not_found(
    store: ModelRegistry, paillier_card: CardFactory, feature_sets: dict[str, FeatureSet]
) -> None:
    card = paillier_card()
    _register(store, card, feature_sets)
    for org, model_id, version in (
        ("8", card.model_id, 1),
        (ORG, "other", 1),
        (ORG, card.model_id, 2),
    ):
        with pytest.raises(ModelNotFound):
            store.get(org, model_id, version)
        with pytest.raises(ModelNotFound):
            store.scorable(org, model_id, version, auditors={}, now=NOW)


def test_a_second_registration_is_refused(
    store: ModelRegistry, paillier_card: CardFactory, feature_sets: dict[str, FeatureSet]
) -> None:
    _register(store, paillier_card(), feature_sets)
    with pytest.raises(ModelExists):
        _register(store, paillier_card(), feature_sets)
    _register(store, paillier_card(version=2), feature_sets)  # a new version is fine
    assert [m.card.version for m in store.pending()] == [1, 2]


def test_another_organizations_card_and_attestation_cannot_be_replayed(
    store: ModelRegistry,
    paillier_card: CardFactory,
    ckks_card: ModelCard,
    feature_sets: dict[str, FeatureSet],
    auditor: Auditor,
) -> None:
    """The digest an auditor signs covers the card, not who registers it: the same card with
    its attestation, registered by another organization, is refused (its key is ORG's), and
    so is any other card under that key; nothing is stored for the other organization."""
    auditors = {auditor.name: auditor.public}
    for card in (paillier_card(), ckks_card):
        attestation = auditor.sign(card)
        assert _register(store, card, feature_sets, attestation, auditors) is ModelStatus.ATTESTED
        copy = dataclasses.replace(card, model_id="copy", version=7)
        for replayed, given in ((card, attestation), (copy, None)):
            with pytest.raises(ModelCardInvalid) as refused:
                store.register(
                    "other-org",
                    replayed,
                    given,
                    feature_sets=feature_sets,
                    auditors=auditors,
                    now=NOW,
                )
            assert refused.value.field == "public_key"
        with pytest.raises(ModelNotFound):
            store.get("other-org", card.model_id, card.version)
    _register(store, paillier_card(version=2), feature_sets)  # the owner's new version is fine


def test_an_altered_ciphertext_at_rest_is_caught_by_the_signature(
    tmp_path: Path,
    paillier_card: CardFactory,
    feature_sets: dict[str, FeatureSet],
    auditor: Auditor,
) -> None:
    path = tmp_path / "models.db"
    auditors = {auditor.name: auditor.public}
    card = paillier_card()
    store = ModelRegistry.open(path)
    store.register(
        ORG, card, auditor.sign(card), feature_sets=feature_sets, auditors=auditors, now=NOW
    )
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = path.read_bytes()
    target = card.weight_ciphertexts[1]
    at = raw.index(target) + 100
    path.write_bytes(raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :])
    reopened = ModelRegistry.open(path)
    try:
        found = reopened.get(ORG, card.model_id, 1)
        assert found.card.weight_ciphertexts[1] != target
        assert found.status(auditors, NOW) is ModelStatus.LAPSED
        with pytest.raises(ModelNotAttested) as caught:
            reopened.scorable(ORG, card.model_id, 1, auditors=auditors, now=NOW)
        assert caught.value.problem == "SIGNATURE"
    finally:
        reopened.close()


def test_expired_unknown_and_removed_auditors_lapse_the_model(
    store: ModelRegistry,
    paillier_card: CardFactory,
    feature_sets: dict[str, FeatureSet],
    auditor: Auditor,
) -> None:
    auditors = {auditor.name: auditor.public}
    card = paillier_card()
    _register(store, card, feature_sets, auditor.sign(card), auditors)
    after = dt.datetime.fromtimestamp(LATER, dt.UTC)
    cases = [
        (auditors, after, "EXPIRED"),
        ({}, NOW, "AUDITOR_UNKNOWN"),  # the auditor was removed from the policy
        ({"auditor-2": auditor.public}, NOW, "AUDITOR_UNKNOWN"),
        ({auditor.name: Auditor("x", Ed25519PrivateKey.generate()).public}, NOW, "SIGNATURE"),
    ]
    for listed, now, problem in cases:
        assert store.get(ORG, card.model_id, 1).status(listed, now) is ModelStatus.LAPSED
        with pytest.raises(ModelNotAttested) as caught:
            store.scorable(ORG, card.model_id, 1, auditors=listed, now=now)
        assert caught.value.problem == problem
        assert not isinstance(caught.value, AttestationInvalid)


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (lambda a: dataclasses.replace(a, signature=bytes(64)), "SIGNATURE"),
        (lambda a: dataclasses.replace(a, signature=a.signature[:63]), "SIGNATURE"),
        (lambda a: dataclasses.replace(a, expires_at=a.expires_at + 1), "SIGNATURE"),
        (lambda a: dataclasses.replace(a, auditor="auditor-9"), "AUDITOR_UNKNOWN"),
        (lambda a: dataclasses.replace(a, expires_at=0), "EXPIRED"),
    ],
)
def test_a_submitted_attestation_that_does_not_verify_is_refused(
    store: ModelRegistry,
    paillier_card: CardFactory,
    feature_sets: dict[str, FeatureSet],
    auditor: Auditor,
    tamper: Callable[[Attestation], Attestation],
    problem: str,
) -> None:
    auditors = {auditor.name: auditor.public}
    card = paillier_card()
    bad = tamper(auditor.sign(card))
    with pytest.raises(AttestationInvalid) as at_register:
        _register(store, card, feature_sets, bad, auditors)
    assert at_register.value.problem == problem
    with pytest.raises(ModelNotFound):  # nothing was stored
        store.get(ORG, card.model_id, 1)
    _register(store, card, feature_sets)
    with pytest.raises(AttestationInvalid) as at_attest:
        store.attest(ORG, card.model_id, 1, bad, auditors=auditors, now=NOW)
    assert at_attest.value.problem == problem
    assert store.get(ORG, card.model_id, 1).attestation is None


def test_an_attestation_signed_for_another_card_is_refused(
    store: ModelRegistry,
    paillier_card: CardFactory,
    feature_sets: dict[str, FeatureSet],
    auditor: Auditor,
) -> None:
    auditors = {auditor.name: auditor.public}
    card = paillier_card()
    other = auditor.sign(paillier_card(output_bits=40))
    with pytest.raises(AttestationInvalid) as caught:
        _register(store, card, feature_sets, other, auditors)
    assert caught.value.problem == "SIGNATURE"


def test_an_attestation_over_a_card_with_its_key_swapped_is_refused(
    store: ModelRegistry,
    paillier_card: CardFactory,
    feature_sets: dict[str, FeatureSet],
    auditor: Auditor,
    other_partner: Partner,
) -> None:
    """The signed card's id, version and weights under ANOTHER key (the one whose owner would
    decrypt): the digest covers the key and ciphertexts, so the attestation does not verify."""
    auditors = {auditor.name: auditor.public}
    card = paillier_card()
    swapped_key = paillier_public_key(
        other_partner.public.n, other_partner.private.p, other_partner.private.q
    )
    weights = other_partner.encrypt([3, -2, 5, 1, 7, 4, 2, 9][: card.weight_count], exponent=-2)
    swapped = dataclasses.replace(
        card,
        public_key=swapped_key,
        weight_ciphertexts=tuple(c.to_bytes(768, "big") for c in weights.ciphertexts),
    )
    with pytest.raises(AttestationInvalid) as caught:
        _register(store, swapped, feature_sets, auditor.sign(card), auditors)
    assert caught.value.problem == "SIGNATURE"
    assert store.pending() == []


def test_an_expired_attestation_can_be_renewed(
    store: ModelRegistry,
    paillier_card: CardFactory,
    feature_sets: dict[str, FeatureSet],
    auditor: Auditor,
) -> None:
    auditors = {auditor.name: auditor.public}
    card = paillier_card()
    _register(store, card, feature_sets, auditor.sign(card), auditors)
    after = dt.datetime.fromtimestamp(LATER + 10, dt.UTC)
    renewed = auditor.sign(card, LATER + 3600)
    store.attest(ORG, card.model_id, 1, renewed, auditors=auditors, now=after)
    assert (
        store.scorable(ORG, card.model_id, 1, auditors=auditors, now=after).attestation == renewed
    )


def test_card_fields_and_the_feature_set_are_checked(
    store: ModelRegistry,
    paillier_card: CardFactory,
    feature_sets: dict[str, FeatureSet],
    width: int,
) -> None:
    with pytest.raises(ModelCardInvalid) as bad_id:
        _register(store, paillier_card(model_id="Person 110101199003074518"), feature_sets)
    assert bad_id.value.field == "model_id"
    assert "110101" not in str(bad_id.value)
    with pytest.raises(ModelCardInvalid) as bad_bits:
        _register(store, paillier_card(output_bits=0), feature_sets)
    assert bad_bits.value.field == "output_bits"
    with pytest.raises(ModelMismatch):
        _register(store, paillier_card(feature_set="unknown_set"), feature_sets)
    short = paillier_card()
    short = dataclasses.replace(
        short, weight_count=width - 1, weight_ciphertexts=short.weight_ciphertexts[:-1]
    )
    with pytest.raises(ModelMismatch):
        _register(store, short, feature_sets)
    assert store.pending() == []


def test_paillier_keys_and_ciphertexts_are_checked(
    store: ModelRegistry,
    paillier_card: CardFactory,
    feature_sets: dict[str, FeatureSet],
    partner: Partner,
) -> None:
    n = partner.public.n
    with pytest.raises(PartnerKeyRefused) as short_key:
        _register(store, paillier_card(public_key=b"\x01" * 383), feature_sets)
    assert short_key.value.check == "size" and short_key.value.reason == "WEIGHTS_INVALID"
    with pytest.raises(PartnerKeyRefused) as even:
        even_key = (n + 1).to_bytes(384, "big") + paillier_card().public_key[384:]  # proof kept
        _register(store, paillier_card(public_key=even_key), feature_sets)
    assert even.value.check == "odd"
    card = paillier_card()
    bad_cases = [
        (bytes(768), "[1, n^2)"),
        ((n * n).to_bytes(768, "big"), "[1, n^2)"),
        (n.to_bytes(768, "big"), "coprime"),
        (b"\x01" * 767, "768 bytes"),
    ]
    for ciphertext, problem in bad_cases:
        changed = (card.weight_ciphertexts[0], ciphertext, *card.weight_ciphertexts[2:])
        with pytest.raises(WeightsRefused) as caught:
            _register(store, dataclasses.replace(card, weight_ciphertexts=changed), feature_sets)
        assert caught.value.index == 1 and problem in str(caught.value)
        assert caught.value.reason == "WEIGHTS_INVALID"
    assert store.pending() == []


def test_ckks_contexts_and_ciphertexts_are_checked(
    store: ModelRegistry,
    ckks_card: ModelCard,
    secret_context: ts.Context,
    feature_sets: dict[str, FeatureSet],
) -> None:
    with pytest.raises(ContextInvalid) as with_secret:
        _register(
            store,
            dataclasses.replace(
                ckks_card, public_key=secret_context.serialize(save_secret_key=True)
            ),
            feature_sets,
        )
    assert with_secret.value.problem == "SECRET_KEY"
    with pytest.raises(ContextInvalid):
        _register(store, dataclasses.replace(ckks_card, public_key=b"not a context"), feature_sets)
    broken = (b"garbage", *ckks_card.weight_ciphertexts[1:])
    with pytest.raises(CiphertextInvalid) as malformed:
        _register(store, dataclasses.replace(ckks_card, weight_ciphertexts=broken), feature_sets)
    assert malformed.value.problem == "MALFORMED"
    assert store.pending() == []


def test_a_score_is_claimed_once_per_consent_and_model_version(
    tmp_path: Path, store: ModelRegistry
) -> None:
    claim = dict(consent_ref="cns_abc", organization=ORG, model_id="m", version=1, now=NOW)
    assert store.claim_score(**claim) is True  # type: ignore[arg-type]
    assert store.claim_score(**claim) is False  # type: ignore[arg-type]
    assert store.claim_score(**{**claim, "version": 2}) is True  # type: ignore[arg-type]
    assert store.claim_score(**{**claim, "organization": "8"}) is True  # type: ignore[arg-type]
    assert store.claim_score(**{**claim, "consent_ref": "cns_abd"}) is True  # type: ignore[arg-type]


def test_concurrent_claims_give_one_score(store: ModelRegistry) -> None:
    results: list[bool] = []
    lock = threading.Lock()

    def claim() -> None:
        got = store.claim_score(
            consent_ref="cns_x", organization=ORG, model_id="m", version=1, now=NOW
        )
        with lock:
            results.append(got)

    threads = [threading.Thread(target=claim) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True]


def test_rows_cannot_be_rewritten_and_consent_refs_are_not_stored_in_clear(
    tmp_path: Path, paillier_card: CardFactory, feature_sets: dict[str, FeatureSet]
) -> None:
    path = tmp_path / "models.db"
    store = ModelRegistry.open(path)
    store.register(ORG, paillier_card(), feature_sets=feature_sets, auditors={}, now=NOW)
    store.claim_score(
        consent_ref="cns_secretref", organization=ORG, model_id="m", version=1, now=NOW
    )
    store.close()
    with sqlite3.connect(path, isolation_level=None) as db:
        for statement in (
            "UPDATE models SET version = 9",
            "DELETE FROM weights",
            "DELETE FROM score_claims",
            "UPDATE score_claims SET version = 2",
        ):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"cns_secretref" not in path.read_bytes()
