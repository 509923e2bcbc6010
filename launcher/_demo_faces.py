"""The demo's face steps (issue 13): the registry enrolls ID-card photos, the bank verifies a
loan applicant's selfie 1:1 -- a genuine selfie, an impostor, the ID photo itself -- and the
attempt limit holds.

The photos are the project's test fixtures (``tests/fixtures/faces``, real press and LFW
photos, see its README): ``make demo`` passes them with ``--faces``; without it these steps
are skipped. They are never shipped in a package.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dataward.client import AttemptsExhausted, Client, FaceMatchAnswer, IdentityResult
from dataward.client import compute as sdk
from enclave.biometrics import LocalFaces
from enclave.dataset import enroll_faces
from enclave.keys import Keyring
from launcher.settings import FaceSettings

__all__ = ["DemoFaces", "bank_encrypted_match", "bank_face_checks", "enroll_demo_photos"]

Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoFaces:
    """Which fixture photo plays which part (file names in the fixtures directory)."""

    directory: Path
    id_photo: str = "obama.jpg"  # the applicant's ID-card photo
    genuine: str = "obama2.jpg"  # the applicant's selfie: another photo of the same person
    impostor: str = "biden.jpg"  # someone else holding the applicant's documents
    resubmitted: str = "obama_small.jpg"  # the ID photo itself, scaled down
    second_id_photo: str = "lfw/William_Macy_0003.jpg"  # the second applicant's ID photo
    second_selfie: str = "lfw/William_Macy_0004.jpg"  # ... and selfie (the encrypted match)
    rejected: str = "two_people.jpg"  # an ID photo the enrolment refuses: two faces

    def read(self, name: str) -> bytes:
        return (self.directory / name).read_bytes()


def enroll_demo_photos(
    *,
    zone_dir: Path,
    keyring: Keyring,
    faces: DemoFaces,
    persons: tuple[str, str, str],
    workdir: Path,
    settings: FaceSettings,
    say: Say,
) -> None:
    """The registry's photo office hands over three ID-card photos and their map (outside the
    zone, like the export); ``zone enroll-faces`` seals two templates, refuses the third."""
    photos = workdir / "id-photos"
    photos.mkdir()
    names = (faces.id_photo, faces.second_id_photo, faces.rejected)
    with (workdir / "id-photos.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "id_number"])
        for name, id_number in zip(names, persons, strict=True):
            shutil.copy(faces.directory / name, photos / Path(name).name)
            writer.writerow([Path(name).name, id_number])
    report = enroll_faces(
        zone_dir,
        keyring,
        images=photos,
        map_csv=workdir / "id-photos.csv",
        analyzer=LocalFaces(limits=settings.limits(), gates=settings.gates()),
    )
    say(
        f"  ID-card photos (`dataward zone enroll-faces`): {report.enrolled} of {report.photos} "
        f"enrolled as sealed templates, version {report.version} is live"
    )
    for reject in report.rejects:
        say(f"    rejected {reject.image}: {reject.reason} (by file name, never by person)")


def bank_face_checks(
    client: Client, *, applicant: str, name: str, purpose: str, faces: DemoFaces, say: Say
) -> list[IdentityResult]:
    """Three selfies for the applicant -- their own, an impostor's, the ID photo itself --
    then a fourth the same day, refused by the attempt limit."""
    answers: list[IdentityResult] = []
    for label, photo in (
        ("the applicant's selfie", faces.genuine),
        ("an impostor's selfie", faces.impostor),
        ("the ID photo itself", faces.resubmitted),
    ):
        result = client.verify_identity(applicant, name, purpose, selfie=faces.read(photo))
        face = result.face
        assert face is not None
        shown = face.outcome + (f" {face.band}" if face.band else "")
        shown += f" (retake: {face.retake})" if face.retake else ""
        say(f"  {label:<24} face {shown}")
        answers.append(result)
    if answers and answers[0].face is not None:
        say(f"  validated on: {answers[0].face.validated_on}")
    try:
        client.verify_identity(applicant, name, purpose, selfie=faces.read(faces.genuine))
    except AttemptsExhausted as exc:
        say(f"  a fourth selfie today: RESOURCE_EXHAUSTED {exc.reason} ({exc.limit})")
    return answers


def bank_encrypted_match(
    client: Client, *, applicant: str, purpose: str, faces: DemoFaces, say: Say
) -> FaceMatchAnswer:
    """The second applicant's selfie embedding, computed by the bank with its own copy of the
    face model, never leaves the bank in clear: the zone matches it under the bank's CKKS key
    and answers one blinded number the bank decrypts to yes or no."""
    probe = LocalFaces().analyze(faces.read(faces.second_selfie))  # on the bank's side
    assert probe.template is not None
    keys = sdk.FaceMatchKeys.generate()
    context = keys.public_context_bytes()
    query = keys.encrypt_embedding(probe.template.values.tolist())
    say(
        f"  the bank encrypts its selfie embedding under its own CKKS key "
        f"(context {len(context) / 1e6:.0f} MB with Galois keys, query {len(query) / 1e3:.0f} kB)"
    )
    # a 35 MB context: a timeout to match (the default 10 s ran out on a loaded machine)
    answer = client.encrypted_face_match(
        applicant, purpose, context=context, query=query, timeout=120
    )
    result = sdk.face_match_result(keys, answer)
    say(
        f"  encrypted face match: {'MATCH' if result.matched else 'NO_MATCH'} "
        "(every slot of the answer holds the same blinded value; only its sign means anything)"
    )
    return answer
