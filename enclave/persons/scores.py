"""Encrypted scores served as person-level answers (issue 12): what
:meth:`enclave.persons.PersonChecks.paillier_score` and
:meth:`~enclave.persons.PersonChecks.ckks_batch_score` need, and what they answer.

:class:`EncryptedScoring` holds the model registry, the feature computer over the live dataset
version, the policy in force (read once per call), the CKKS backend (worker processes, or the
calling process) and a small cache of Paillier scorers with their obfuscator pools, one pool
per partner key. :meth:`EncryptedScoring.model` is the one check of a model against a request:
attested under the policy in force (the signature re-verified from the stored bytes), of the
scheme the method serves, for the request's purpose, over a feature set the policy in force
has with the card's number of features. Only ciphertexts leave (:class:`EncryptedScore`,
:class:`BatchScores`); the features never do.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from dataward.compute import MAX_MODEL_VERSION, MODEL_ID, split_paillier_public_key
from enclave.compute import (
    CkksWorkerFailed,
    EncryptedWeights,
    FeatureBound,
    FeatureComputer,
    ModelMismatch,
    ModelRegistry,
    ObfuscatorPool,
    PaillierScorer,
    PartnerKey,
    PartnerKeyRefused,
    RegisteredModel,
    feature_bounds,
)
from enclave.persons.errors import InvalidField
from policies import Policy

__all__ = [
    "BatchScores",
    "CkksBackend",
    "EncryptedScore",
    "EncryptedScoring",
    "PaillierScorers",
    "StartedOnFirstUse",
    "model_problem",
]

#: How long a CKKS batch may compute before the zone gives up (seconds).
CKKS_TIMEOUT_SECONDS = 120.0


class CkksBackend(Protocol):
    """Scores one batch under a model's context: :class:`enclave.compute.LocalCkks` in the
    calling process, :class:`enclave.compute.CkksWorkers` in worker processes."""

    def score(
        self,
        model_key: bytes,
        *,
        context: bytes,
        weights: Sequence[bytes],
        bounds: Sequence[FeatureBound],
        features: npt.ArrayLike,
        consented: npt.ArrayLike,
        timeout: float,
    ) -> bytes: ...
    def match(
        self,
        *,
        context: bytes,
        query: bytes,
        template: npt.NDArray[np.float64],
        tau: float,
        timeout: float,
    ) -> bytes:
        """The encrypted face match (issue 13): also the :class:`EncryptedFaceMatcher`."""

    def close(self) -> None: ...


class StartedOnFirstUse:
    """A CKKS backend made by ``factory`` on the first batch (e.g. worker processes, which
    cost seconds and memory to start): a zone that never scores a CKKS batch never starts
    them. A factory that fails is tried again on the next batch. Thread-safe."""

    def __init__(self, factory: Callable[[], CkksBackend]) -> None:
        self._factory = factory
        self._backend: CkksBackend | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _started(self) -> CkksBackend:
        with self._lock:
            if self._closed:
                raise CkksWorkerFailed("CLOSED", "the CKKS backend is closed")
            if self._backend is None:
                self._backend = self._factory()
            return self._backend

    def score(
        self,
        model_key: bytes,
        *,
        context: bytes,
        weights: Sequence[bytes],
        bounds: Sequence[FeatureBound],
        features: npt.ArrayLike,
        consented: npt.ArrayLike,
        timeout: float,
    ) -> bytes:
        return self._started().score(
            model_key,
            context=context,
            weights=weights,
            bounds=bounds,
            features=features,
            consented=consented,
            timeout=timeout,
        )

    def match(
        self,
        *,
        context: bytes,
        query: bytes,
        template: npt.NDArray[np.float64],
        tau: float,
        timeout: float,
    ) -> bytes:
        return self._started().match(
            context=context, query=query, template=template, tau=tau, timeout=timeout
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()


@dataclass(frozen=True, slots=True)
class EncryptedScore:
    """What a Paillier score answers: the re-randomised ciphertext (768 bytes, big-endian),
    the exponent and width to decode it with, the model and the policy version."""

    ciphertext: bytes
    exponent: int
    output_bits: int
    model_id: str
    model_version: int
    policy_version: str


@dataclass(frozen=True, slots=True)
class BatchScores:
    """What a CKKS batch answers: the serialized result ciphertext and, per requested person,
    whether their slot holds a score."""

    ciphertext: bytes
    scored: tuple[bool, ...]
    model_id: str
    model_version: int
    policy_version: str


class PaillierScorers:
    """Paillier scorers by (card digest, noise), with one obfuscator pool per partner key;
    the least recently used ``size`` are kept (an evicted pool is closed). Thread-safe."""

    def __init__(self, *, size: int = 16, pool_target: int = 64) -> None:
        self._size, self._pool_target = size, pool_target
        self._scorers: collections.OrderedDict[tuple[bytes, int], PaillierScorer] = (
            collections.OrderedDict()
        )
        self._pools: dict[int, ObfuscatorPool] = {}
        self._lock = threading.Lock()

    def scorer(
        self, model: RegisteredModel, bounds: Sequence[FeatureBound], noise: int
    ) -> PaillierScorer:
        """The scorer of ``model`` under ``bounds`` and ``noise`` (built on first use; raises
        what :class:`PaillierScorer` raises for a model the registry should have refused)."""
        key = (model.digest, noise)
        with self._lock:
            found = self._scorers.get(key)
            if found is not None and found.bounds == tuple(bounds):
                self._scorers.move_to_end(key)
                return found
        card = model.card
        # The key's proof of gcd(n, phi(n)) = 1, checked again once per cached scorer: a card
        # stored without one (registered before keys carried it) is refused, never scored.
        try:
            n, roots = split_paillier_public_key(card.public_key)
        except ValueError:
            raise PartnerKeyRefused("proof", "the stored key carries no proof") from None
        partner = PartnerKey(n)
        partner.check_proof(roots)
        weights = EncryptedWeights(
            tuple(int.from_bytes(c, "big") for c in card.weight_ciphertexts), card.exponent
        )
        with self._lock:
            pool = self._pools.get(partner.n)
            if pool is None:
                pool = self._pools[partner.n] = ObfuscatorPool(partner, target=self._pool_target)
        scorer = PaillierScorer(
            partner, weights, bounds, card.output_bits, noise=noise, obfuscators=pool
        )
        with self._lock:
            self._scorers[key] = scorer
            while len(self._scorers) > self._size:
                self._scorers.popitem(last=False)
            live = {s.key.n for s in self._scorers.values()}
            for n in [n for n in self._pools if n not in live]:
                self._pools.pop(n).close()
        return scorer

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()
            self._scorers.clear()


def model_problem(model_id: str, version: int) -> InvalidField | None:
    """A refusal for a request's model fields out of their documented form, else None."""
    if not isinstance(model_id, str) or not MODEL_ID.fullmatch(model_id):
        return InvalidField("model_id", "1..64 characters of a-z 0-9 _ . -")
    if isinstance(version, bool) or not isinstance(version, int):
        return InvalidField("model_version", f"1..{MAX_MODEL_VERSION}")
    if not 1 <= version <= MAX_MODEL_VERSION:
        return InvalidField("model_version", f"1..{MAX_MODEL_VERSION}")
    return None


@dataclass
class EncryptedScoring:
    """What the encrypted scores need (see the module docstring)."""

    models: ModelRegistry
    features: FeatureComputer
    policy: Callable[[], Policy]
    ckks: CkksBackend
    paillier: PaillierScorers = field(default_factory=PaillierScorers)
    ckks_timeout: float = CKKS_TIMEOUT_SECONDS

    def model(
        self,
        policy: Policy,
        organization: str,
        model_id: str,
        version: int,
        *,
        scheme: str,
        purpose: str,
        now: dt.datetime,
    ) -> tuple[RegisteredModel, tuple[FeatureBound, ...]]:
        """The caller's attested model and its feature set's bounds; raises
        :class:`~enclave.compute.ModelNotFound`, :class:`~enclave.compute.ModelNotAttested`
        or :class:`~enclave.compute.ModelMismatch`."""
        model = self.models.scorable(
            organization, model_id, version, auditors=policy.auditors, now=now
        )
        card = model.card
        if card.scheme != scheme:
            raise ModelMismatch(f"the model is a {card.scheme} model, not {scheme}")
        if card.purpose != purpose:
            raise ModelMismatch("the request's purpose is not the model card's")
        features = policy.feature_sets.get(card.feature_set)
        if features is None:
            raise ModelMismatch("the policy in force has no feature set of the card's name")
        bounds = feature_bounds(features)
        if len(bounds) != card.weight_count:
            raise ModelMismatch(
                f"the feature set has {len(bounds)} features, the card {card.weight_count}"
            )
        return model, bounds

    def close(self) -> None:
        self.paillier.close()
        self.ckks.close()
