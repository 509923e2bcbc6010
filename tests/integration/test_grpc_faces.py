"""IdentityService.Verify with a selfie end to end (issue 13): the SDK against a real gRPC server
on 127.0.0.1, real dlib on real photographs (tests/fixtures/faces), real durable attempt
limits in SQLite, the real audit log.

The reference templates stand in for the enrolled ``face_templates`` of a dataset version:
computed from the fixtures' "ID-card" photos by the same analyzer (the enrolment path's own
tests cover the store); everything from the wire to the decision is the product's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest

from dataward.client import (
    AttemptsExhausted,
    Client,
    ConsentRequired,
    FaceNotEnrolled,
    ImageInvalid,
    ReceiptInvalid,
    StaticTokenSource,
    Unavailable,
    Unimplemented,
)
from enclave.audit import Decision, RequestReceived, decode_leaf
from enclave.biometrics import (
    DEFAULT_THRESHOLDS,
    FACE_ATTEMPTS_DB,
    FaceAttempts,
    FaceWorkers,
    LocalFaces,
    Template,
)
from enclave.persons import FaceChecking
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import ALICE, BOB, DAVE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "faces"
LOAN = "LOAN_ORIGINATION"
BANK = "acme-bank"
ID_CARD = "obama.jpg"  # ALICE's "ID-card photo"
GENUINE = "obama2.jpg"  # the same person, another photo (dlib distance 0.36)
IMPOSTOR = "biden.jpg"  # another person (0.86)
TWO_FACES = "two_people.jpg"


def photo(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class EnrolledTemplates:
    """:class:`enclave.persons.ReferenceTemplates` over templates computed here."""

    def __init__(self, templates: dict[int, Template]) -> None:
        self._templates = templates

    def reference(self, person_id: int) -> Template | None:
        return self._templates.get(person_id)


@pytest.fixture(scope="module")
def analyzer() -> LocalFaces:
    return LocalFaces()


@contextmanager
def face_stack(
    tmp_path: Path,
    analyzer: LocalFaces,
    server_dir: Path | None = None,
    selfies: FaceWorkers | None = None,
) -> Iterator[Stack]:
    """A server whose zone verifies selfies; ALICE is enrolled with ID_CARD, BOB is not. The
    attempts live in ``tmp_path``; the server's audit log and consents in ``server_dir``
    (default ``tmp_path``: each test server signs with a key of its own). ``selfies``
    analyses the selfies instead of ``analyzer`` (which still makes the reference)."""
    attempts = FaceAttempts(tmp_path / FACE_ATTEMPTS_DB)
    reference = analyzer.analyze(photo(ID_CARD)).template
    assert reference is not None
    templates: dict[int, Template] = {}
    faces = FaceChecking(
        analyzer=selfies or analyzer,
        templates=EnrolledTemplates(templates),
        attempts=attempts,
        thresholds=DEFAULT_THRESHOLDS,
    )
    try:
        with grpc_stack(server_dir or tmp_path, faces=faces) as stack:
            alice = stack.directory.person_by_token(
                stack.directory.tokenizer.token("id_number", ALICE)
            )
            assert alice is not None
            templates[alice.person_id] = reference
            yield stack
    finally:
        attempts.close()


@pytest.fixture
def stack(tmp_path: Path, analyzer: LocalFaces) -> Iterator[Stack]:
    with face_stack(tmp_path, analyzer) as s:
        s.consent(ALICE, partner=BANK, purpose=LOAN)
        s.consent(BOB, partner=BANK, purpose=LOAN)
        yield s


def bank(stack: Stack) -> Client:
    token = stack.issuer.token(org=BANK, purposes=(LOAN,))
    return Client(stack.target, StaticTokenSource(token))


def used(tmp_path: Path, id_number: str, stack: Stack) -> tuple[int, int]:
    token = stack.directory.tokenizer.token("id_number", id_number)
    with FaceAttempts(tmp_path / FACE_ATTEMPTS_DB) as attempts:
        return attempts.used(token, dt.datetime.now(dt.UTC))


def test_genuine_selfie_is_a_match_with_a_receipt_that_verifies(stack: Stack) -> None:
    with bank(stack) as c:
        result = c.verify_identity(ALICE, "张伟", LOAN, selfie=photo(GENUINE))
        assert result.face is not None
        assert (result.face.outcome, result.face.band, result.face.retake) == ("MATCH", "HIGH", "")
        assert result.face.validated_on == DEFAULT_THRESHOLDS.validated_on
        assert (result.name_matches, result.registry_status) == (True, "ACTIVE")
        assert c.verify_answer(result).size > result.receipt.leaf_index
        # The receipt proves the face verdict: another outcome does not verify.
        forged = dataclasses.replace(
            result, face=dataclasses.replace(result.face, outcome="NO_MATCH")
        )
        with pytest.raises(ReceiptInvalid):
            c.verify_answer(forged)


def test_impostor_is_no_match(stack: Stack) -> None:
    with bank(stack) as c:
        result = c.verify_identity(ALICE, "张伟", LOAN, selfie=photo(IMPOSTOR))
    assert result.face is not None
    assert (result.face.outcome, result.face.band) == ("NO_MATCH", "HIGH")


def test_the_id_photo_itself_is_presentation_suspected(stack: Stack) -> None:
    with bank(stack) as c:
        result = c.verify_identity(ALICE, "张伟", LOAN, selfie=photo(ID_CARD))
    assert result.face is not None
    assert (result.face.outcome, result.face.band, result.face.retake) == (
        "INCONCLUSIVE",
        "",
        "PRESENTATION_SUSPECTED",
    )


def _png(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


@pytest.mark.parametrize(
    ("selfie", "retake"),
    [
        (lambda: photo(TWO_FACES), "MULTIPLE_FACES"),
        (lambda: _png(np.full((480, 640, 3), 128, np.uint8)), "NO_FACE"),
    ],
    ids=["two-faces", "no-face"],
)
def test_a_selfie_the_gates_refuse_is_a_retake(stack: Stack, selfie: object, retake: str) -> None:
    with bank(stack) as c:
        result = c.verify_identity(ALICE, "张伟", LOAN, selfie=selfie())  # type: ignore[operator]
        assert c.verify_answer(result).size > result.receipt.leaf_index
    assert result.face is not None
    assert (result.face.outcome, result.face.band, result.face.retake) == (
        "INCONCLUSIVE",
        "",
        retake,
    )


def _png_bomb(side: int = 20_000) -> bytes:
    """A PNG declaring side x side RGB pixels, its IDAT a few kB of zlib of zeros."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    row = b"\x00" + b"\x00" * (side * 3)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(200)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("selfie", "problem"),
    [
        (lambda: b"this is not an image", "NOT_AN_IMAGE"),
        (lambda: b"\xff\xd8\xff" + b"\x00" * 6_000_000, "TOO_LARGE"),
        (_png_bomb, "TOO_MANY_PIXELS"),
        (lambda: photo(GENUINE)[: len(photo(GENUINE)) // 2], "TRUNCATED"),
    ],
    ids=["not-an-image", "too-large", "png-bomb", "truncated-jpeg"],
)
def test_a_bad_image_is_invalid_argument_and_counts_no_attempt(
    stack: Stack, tmp_path: Path, selfie: object, problem: str
) -> None:
    with bank(stack) as c, pytest.raises(ImageInvalid) as refused:
        c.verify_identity(ALICE, "张伟", LOAN, selfie=selfie())  # type: ignore[operator]
    error = refused.value
    assert (error.code, error.reason, error.problem) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "IMAGE_INVALID",
        problem,
    )
    assert used(tmp_path, ALICE, stack) == (0, 0)
    decision = _last_decision(stack)
    assert (decision.allow, decision.reasons) == (False, ("IMAGE_INVALID",))


def _leaves(stack: Stack) -> list[object]:
    return [decode_leaf(leaf.leaf).event for leaves, _ in stack.store.appends for leaf in leaves]


def _last_decision(stack: Stack) -> Decision:
    decisions = [e for e in _leaves(stack) if isinstance(e, Decision)]
    return decisions[-1]


def test_a_person_without_an_id_card_template_is_face_not_enrolled(stack: Stack) -> None:
    with bank(stack) as c, pytest.raises(FaceNotEnrolled) as refused:
        c.verify_identity(BOB, "李娜", LOAN, selfie=photo(GENUINE))
    assert (refused.value.code, refused.value.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "FACE_NOT_ENROLLED",
    )


def test_no_consent_comes_before_any_face_work(stack: Stack, tmp_path: Path) -> None:
    with bank(stack) as c, pytest.raises(ConsentRequired):
        c.verify_identity(DAVE, "刘洋", LOAN, selfie=photo(GENUINE))
    assert used(tmp_path, DAVE, stack) == (0, 0)


def test_the_attempt_limit_holds_across_a_restart(tmp_path: Path, analyzer: LocalFaces) -> None:
    with face_stack(tmp_path, analyzer, tmp_path / "first") as first:
        first.consent(ALICE, partner=BANK, purpose=LOAN)
        with bank(first) as c:
            for _ in range(3):
                answer = c.verify_identity(ALICE, "张伟", LOAN, selfie=photo(GENUINE))
                assert answer.face is not None and answer.face.outcome == "MATCH"
    # A new server process over the same zone state: the day's attempts are spent.
    with face_stack(tmp_path, analyzer, tmp_path / "second") as second, bank(second) as c:
        second.consent(ALICE, partner=BANK, purpose=LOAN)
        with pytest.raises(AttemptsExhausted) as refused:
            c.verify_identity(ALICE, "张伟", LOAN, selfie=photo(GENUINE))
        # ... and the document check alone is still answered.
        assert c.verify_identity(ALICE, "张伟", LOAN).face is None
    error = refused.value
    assert (error.code, error.reason, error.limit) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "ATTEMPTS_EXHAUSTED",
        "PERSON_DAY",
    )
    assert error.retry_after is not None and 0 < error.retry_after <= 86_400
    assert used(tmp_path, ALICE, second) == (3, 3)


def test_the_audit_log_names_the_token_never_the_number(stack: Stack, tmp_path: Path) -> None:
    with bank(stack) as c:
        c.verify_identity(ALICE, "张伟", LOAN, selfie=photo(GENUINE))
    token = stack.directory.tokenizer.token("id_number", ALICE)
    requests = [e for e in _leaves(stack) if isinstance(e, RequestReceived)]
    assert requests[-1].person_token == token.hex()
    for path in (tmp_path / "state").glob("*.db*"):
        data = path.read_bytes()
        assert ALICE.encode() not in data, path
        assert "张伟".encode() not in data, path


def test_a_zone_without_face_checking_is_unimplemented(tmp_path: Path) -> None:
    with grpc_stack(tmp_path) as plain:
        plain.consent(ALICE, partner=BANK, purpose=LOAN)
        with bank(plain) as c, pytest.raises(Unimplemented):
            c.verify_identity(ALICE, "张伟", LOAN, selfie=photo(GENUINE))


def test_face_workers_that_cannot_answer_in_time_are_unavailable(
    tmp_path: Path, analyzer: LocalFaces
) -> None:
    """A real worker process past its time limit: UNAVAILABLE (retry), logged; the attempt
    counted (it was taken before the work)."""
    with (
        FaceWorkers(1, timeout=0.05) as workers,
        face_stack(tmp_path, analyzer, selfies=workers) as stack,
        bank(stack) as c,
    ):
        stack.consent(ALICE, partner=BANK, purpose=LOAN)
        with pytest.raises(Unavailable) as refused:
            c.verify_identity(ALICE, "张伟", LOAN, selfie=photo(GENUINE))
        assert (refused.value.code, refused.value.reason) == (
            grpc.StatusCode.UNAVAILABLE,
            "UNAVAILABLE",
        )
        assert refused.value.metadata.get("problem") == "TIMEOUT"
        assert _last_decision(stack).reasons == ("UNAVAILABLE",)
        assert used(tmp_path, ALICE, stack) == (1, 1)
