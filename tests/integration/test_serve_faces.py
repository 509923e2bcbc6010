"""`dataward serve` verifies selfies (issue 13): a real zone whose ID-card photos were enrolled
with ``enroll_faces``, served by ``start_serving`` from the ``[faces]`` settings (the face
workers started on the first selfie and closed at shutdown, the sealed templates of the live
version, the attempts in ZONE/state/face_attempts.db), a partner app registered through the
portal, the SDK verifying a genuine selfie and an impostor and running an encrypted face match
of the bank's own embedding, every receipt verified, and the attempt limit the two share
holding across a restart of the server."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from dataward.client import AttemptsExhausted, Client, ClientCredentialsTokenSource
from dataward.client.compute import FaceMatchKeys, face_match_result
from enclave.biometrics import FACE_ATTEMPTS_DB, LocalFaces
from enclave.dataset import enroll_faces, ingest
from enclave.keys import init_zone, open_keyring
from enclave.release import Caller
from launcher._wiring import Serving, start_serving
from launcher.settings import Secret, Settings, load_settings
from tests.support.zone_source import make_source

MASTER = b"serve-faces-master-key-0123456789abc"
LOAN = "LOAN_ORIGINATION"
FACES = Path(__file__).parents[1] / "fixtures" / "faces"
STEWARD = Caller("steward-1", "zone-stewards")


def _settings(zone_dir: Path, workers: int) -> Settings:
    settings = load_settings(
        overrides={
            "zone": {"dir": zone_dir},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": {"bind": "127.0.0.1:0"},
            "audit": {"sqlite_synchronous": "NORMAL"},
            "compute": {"ckks_workers": 0},
            "faces": {"workers": workers, "attempts_per_day": 3},
        },
        environ={},
    )
    return dataclasses.replace(
        settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER))
    )


@pytest.fixture
def zone(tmp_path: Path) -> tuple[Path, str, str]:
    """A zone of 12 persons, the first enrolled with obama.jpg: (dir, id number, name)."""
    zone_dir = tmp_path / "zone"
    init_zone(zone_dir, MASTER)
    keyring = open_keyring(zone_dir, MASTER)
    source = make_source(12)
    ingest(zone_dir, source.write(tmp_path / "src"), keyring)
    id_number = source.tables["persons"]["id_number"][0]
    name = source.tables["persons"]["name"][0]
    images = tmp_path / "id-cards"
    images.mkdir()
    shutil.copy(FACES / "obama.jpg", images / "card.jpg")
    map_csv = tmp_path / "map.csv"
    map_csv.write_text(f"image,id_number\ncard.jpg,{id_number}\n", encoding="utf-8")
    report = enroll_faces(zone_dir, keyring, images=images, map_csv=map_csv, analyzer=LocalFaces())
    assert report.enrolled == 1, report.rejects
    return zone_dir, id_number, name


@contextmanager
def served(zone_dir: Path, workers: int) -> Iterator[Serving]:
    serving = start_serving(_settings(zone_dir, workers))
    try:
        yield serving
    finally:
        serving.stop()


def _bank(serving: Serving, name: str, id_number: str) -> Client:
    """A bank's approved app, with a consent of the person for it."""
    admin = serving.admin
    org = admin.create_organization(f"Lender {name}", "BANK")
    steward = admin.create_steward(f"steward-{name}", "correct horse battery staple 1")
    partner = admin.create_partner_user(org, f"user-{name}", "correct horse battery staple 2")
    scopes = ["identity:verify", "audit:read"]
    app = admin.register_app(partner, f"app-{name}", scopes, [LOAN], "loans")
    creds = admin.approve_app(steward, app.client_id)
    serving.core.checks.grant_consent(STEWARD, id_number=id_number, partner=org.slug, purpose=LOAN)
    tokens = ClientCredentialsTokenSource(
        f"{serving.portal_url}/oauth/token", creds.client_id, creds.client_secret, " ".join(scopes)
    )
    key = (serving.core.key_name, serving.core.keyring.public_key)
    return Client(f"127.0.0.1:{serving.api.port}", tokens, audit_key=key)


def test_a_served_zone_verifies_selfies_and_keeps_the_attempts_across_a_restart(
    zone: tuple[Path, str, str],
) -> None:
    zone_dir, id_number, name = zone
    with served(zone_dir, workers=1) as serving:
        assert serving.core.checks.serves_faces
        analyzer = serving.core.faces.analyzer
        assert not analyzer.started  # nothing is started before the first selfie
        with _bank(serving, "a", id_number) as client:
            genuine = client.verify_identity(
                id_number, name, LOAN, selfie=(FACES / "obama2.jpg").read_bytes()
            )
            assert analyzer.started
            impostor = client.verify_identity(
                id_number, name, LOAN, selfie=(FACES / "biden.jpg").read_bytes()
            )
            # The bank's own embedding of its selfie, matched under its key (the third attempt).
            keys = FaceMatchKeys.generate()
            probe = LocalFaces().analyze((FACES / "obama2.jpg").read_bytes())
            assert probe.template is not None
            encrypted = client.encrypted_face_match(
                id_number,
                LOAN,
                context=keys.public_context_bytes(),
                query=keys.encrypt_embedding(probe.template.values.tolist()),
            )
            assert serving.core.checks.serves_face_match
            assert face_match_result(keys, encrypted).matched
            for answer in (genuine, impostor, encrypted):
                assert client.verify_answer(answer).size > answer.receipt.leaf_index
    assert genuine.face is not None and genuine.face.outcome == "MATCH"
    assert impostor.face is not None and impostor.face.outcome == "NO_MATCH"
    assert genuine.name_matches
    assert (zone_dir / FACE_ATTEMPTS_DB).is_file()
    # Stopped: the face workers are closed with the server.
    assert not analyzer.started

    with (
        served(zone_dir, workers=0) as again,
        _bank(again, "b", id_number) as client,
        pytest.raises(AttemptsExhausted) as refused,
    ):
        client.verify_identity(id_number, name, LOAN, selfie=(FACES / "obama2.jpg").read_bytes())
    assert (refused.value.code, refused.value.limit) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "PERSON_DAY",
    )
    assert refused.value.retry_after is not None and refused.value.retry_after > 0
