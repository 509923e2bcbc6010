"""The encrypted face match on real face templates (issue 13): dlib descriptors of the
fixture photos (tests/fixtures/faces, through the product's analyzer), matched under the
partner's key against each other -- the decrypted sign agrees with the clear cosine against
the zone's tau on every genuine and impostor pair."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import tenseal as ts

from enclave.biometrics import DEFAULT_THRESHOLDS, LocalFaces
from enclave.compute import CKKS_SLOTS, face_match, load_ciphertext, load_face_match_context
from tests.unit.enclave.compute.conftest import make_context

FACES = Path(__file__).resolve().parents[3] / "fixtures" / "faces"
PAIRS = [
    ("obama.jpg", "obama2.jpg"),
    ("lfw/Bob_Graham_0002.jpg", "lfw/Bob_Graham_0004.jpg"),
    ("lfw/William_Macy_0003.jpg", "lfw/William_Macy_0004.jpg"),
    ("lfw/Zico_0002.jpg", "lfw/Zico_0003.jpg"),
]
OTHERS = [
    "biden.jpg",
    "lfw/Carl_Reiner_0001.jpg",
    "lfw/Hamid_Efendi_0001.jpg",
    "lfw/Benjamin_Netanyahu_0001.jpg",
]


def test_the_encrypted_decision_is_the_clear_one_on_real_templates() -> None:
    analyzer = LocalFaces()
    names = sorted({n for pair in PAIRS for n in pair} | set(OTHERS))
    templates: dict[str, npt.NDArray[np.float64]] = {}
    for name in names:
        probe = analyzer.analyze((FACES / name).read_bytes())
        if probe.template is None:
            pytest.fail(f"no template for {name}: {probe.retake}")
        templates[name] = probe.template.normalized()
    secret = make_context()
    secret.generate_galois_keys()
    public = secret.copy()
    public.make_context_public()
    context = load_face_match_context(public.serialize())
    tau = DEFAULT_THRESHOLDS.encrypted_cosine
    impostors = [(a[0], b) for a, b in itertools.product(PAIRS, OTHERS)]
    genuine_matched = 0
    for left, right in [*PAIRS, *impostors]:
        q = np.zeros(CKKS_SLOTS)
        q[:128] = templates[left]
        query = load_ciphertext(context, ts.ckks_vector(secret, q).serialize())
        answer = ts.ckks_vector_from(secret, face_match(query, templates[right], tau)).decrypt()
        cosine = float(templates[left] @ templates[right])
        assert (answer[0] > 0) is (cosine > tau), (left, right, cosine)
        genuine_matched += (left, right) in PAIRS and cosine > tau
    assert genuine_matched >= 1  # the same person, different photos, passes the tau in force
