"""The `compute:` section: the Paillier noise and the auditors who may attest model cards."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.compute import MODEL_ID
from policies import PolicyError, default_policy, load_policy
from policies._compute import AUDITOR_NAME
from tests.unit.policies.documents import document, text

_DOCUMENT_VERSION = "b7004241282514b3d003b6b30cee24b957523671577686697f77b682919188fe"


def _raw_key() -> bytes:
    return Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _with(section: Any) -> str:
    doc = document()
    doc["compute"] = section
    return text(doc)


def _refusal(section: Any) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy(_with(section))
    return caught.value


def test_the_section_loads_into_the_policy() -> None:
    one, two = _raw_key(), _raw_key()
    policy = load_policy(
        _with(
            {
                "paillier_noise": 16,
                "auditors": [
                    {"name": "auditor-1", "public_key": _b64(one)},
                    {"name": "lab.b", "public_key": _b64(two)},
                ],
            }
        )
    )
    assert policy.paillier_noise == 16
    assert dict(policy.auditors) == {"auditor-1": one, "lab.b": two}


def test_without_the_section_no_noise_no_auditor_and_the_version_is_kept() -> None:
    plain = load_policy(text(document()))
    assert (plain.paillier_noise, dict(plain.auditors)) == (0, {})
    assert plain.version == _DOCUMENT_VERSION


def test_the_section_enters_the_version_when_present() -> None:
    key = _raw_key()
    empty = load_policy(_with({})).version
    noisy = load_policy(_with({"paillier_noise": 16})).version
    audited = load_policy(
        _with({"paillier_noise": 16, "auditors": [{"name": "a", "public_key": _b64(key)}]})
    ).version
    other = load_policy(
        _with({"paillier_noise": 16, "auditors": [{"name": "a", "public_key": _b64(_raw_key())}]})
    ).version
    assert len({_DOCUMENT_VERSION, empty, noisy, audited, other}) == 5
    assert load_policy(_with({"paillier_noise": 0, "auditors": []})).version == empty


def test_the_default_policy_adds_noise_and_no_auditor() -> None:
    policy = default_policy()
    assert policy.paillier_noise == 16
    assert dict(policy.auditors) == {}


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ([], "compute"),
        ({"noise": 1}, "compute.noise"),
        ({"paillier_noise": -1}, "compute.paillier_noise"),
        ({"paillier_noise": (1 << 20) + 1}, "compute.paillier_noise"),
        ({"paillier_noise": 1.5}, "compute.paillier_noise"),
        ({"paillier_noise": True}, "compute.paillier_noise"),
        ({"auditors": {"a": "b"}}, "compute.auditors"),
        ({"auditors": ["a"]}, "compute.auditors[0]"),
        ({"auditors": [{"name": "a"}]}, "compute.auditors[0].public_key"),
        ({"auditors": [{"name": "A", "public_key": "x"}]}, "compute.auditors[0].name"),
        ({"auditors": [{"name": "a1234567", "public_key": "x"}]}, "compute.auditors[0].name"),
        ({"auditors": [{"name": "a", "public_key": "not base64!"}]},
         "compute.auditors[0].public_key"),
        ({"auditors": [{"name": "a", "public_key": _b64(b"\x01" * 31)}]},
         "compute.auditors[0].public_key"),
        ({"auditors": [{"name": "a", "public_key": 7}]}, "compute.auditors[0].public_key"),
        ({"auditors": [{"name": "a", "public_key": _b64(b"\x01" * 32), "x": 1}]},
         "compute.auditors[0].x"),
        ({"auditors": [{"name": "a", "public_key": _b64(b"\x01" * 32)},
                       {"name": "a", "public_key": _b64(b"\x02" * 32)}]},
         "compute.auditors[1].name"),
        ({"auditors": [{"name": "a", "public_key": _b64(b"\x01" * 32)},
                       {"name": "b", "public_key": _b64(b"\x01" * 32)}]},
         "compute.auditors[1].public_key"),
    ],
)  # fmt: skip
def test_every_bad_value_names_its_path(section: Any, path: str) -> None:
    assert _refusal(section).path == path


def test_the_auditor_name_is_the_sdk_model_id() -> None:
    assert AUDITOR_NAME.pattern == MODEL_ID.pattern
