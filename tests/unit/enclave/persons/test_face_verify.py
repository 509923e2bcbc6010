"""PersonChecks.verify_identity with a selfie (issue 13): the order of the steps and what each
refusal logs and counts. Real dlib (LocalFaces) on the fixtures' photographs, real SQLite
attempts and consents; the face workers' failure is an analyzer that fails, at that seam."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from enclave.biometrics import (
    DEFAULT_THRESHOLDS,
    FACE_ATTEMPTS_DB,
    AttemptsExhausted,
    FaceAttempts,
    FaceNotEnrolled,
    FaceOutcome,
    FaceWorkerFailed,
    ImageInvalid,
    LocalFaces,
    Probe,
    Retake,
    Template,
)
from enclave.consent import SqliteConsentStore
from enclave.persons import (
    ConsentRequired,
    FaceChecking,
    IdentityQuery,
    PersonChecks,
    SelfieNotSupported,
)
from enclave.release import Caller
from tests.support.person_fakes import ALICE, BOB, DAVE, MemoryAuditTrail, standard_directory

FIXTURES = Path(__file__).parents[3] / "fixtures" / "faces"
BANK = Caller("app-1", "acme-bank")
STEWARD = Caller("steward-1", "zone-stewards")
LOAN = "LOAN_ORIGINATION"
NOW = dt.datetime(2026, 6, 30, 10, tzinfo=dt.UTC)


def photo(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="module")
def local() -> LocalFaces:
    return LocalFaces()


class Templates:
    def __init__(self) -> None:
        self.by_person: dict[int, Template] = {}
        self.asked: list[int] = []

    def reference(self, person_id: int) -> Template | None:
        self.asked.append(person_id)
        return self.by_person.get(person_id)


class FailingAnalyzer:
    """The face workers, crashed."""

    def __init__(self) -> None:
        self.calls = 0

    def analyze(self, data: bytes) -> Probe:
        self.calls += 1
        raise FaceWorkerFailed("CRASHED", "the worker exited")


class World:
    def __init__(self, tmp_path: Path, analyzer: object, faces: bool = True) -> None:
        self.directory = standard_directory()
        self.audit = MemoryAuditTrail()
        self.consents = SqliteConsentStore.open(tmp_path / "consent.db")
        self.attempts = FaceAttempts(tmp_path / FACE_ATTEMPTS_DB, per_day=2)
        self.templates = Templates()
        checking = FaceChecking(
            analyzer=analyzer,  # type: ignore[arg-type]
            templates=self.templates,
            attempts=self.attempts,
            thresholds=DEFAULT_THRESHOLDS,
        )
        self.checks = PersonChecks(
            directory=self.directory,
            tokenizer=self.directory.tokenizer,
            consents=self.consents,
            audit=self.audit,
            clock=lambda: NOW,
            faces=checking if faces else None,
        )

    def token(self, id_number: str) -> bytes:
        return self.directory.tokenizer.token("id_number", id_number)

    def enrol(self, id_number: str, template: Template) -> None:
        person = self.directory.person_by_token(self.token(id_number))
        assert person is not None
        self.templates.by_person[person.person_id] = template

    def consent(self, id_number: str, **kw: object) -> str:
        return self.checks.grant_consent(
            STEWARD,
            id_number=id_number,
            partner="acme-bank",
            purpose=LOAN,
            **kw,  # type: ignore[arg-type]
        ).value.consent_ref

    def verify(self, id_number: str, selfie: bytes, name: str = "张伟") -> object:
        return self.checks.verify_identity(
            BANK, IdentityQuery(id_number, name, LOAN, selfie=selfie)
        )

    def used(self, id_number: str) -> tuple[int, int]:
        return self.attempts.used(self.token(id_number), NOW)

    def last_decision(self) -> dict[str, object]:
        return [e for e in self.audit.entries if e["kind"] == "decision"][-1]

    def close(self) -> None:
        self.attempts.close()
        self.consents.close()


@pytest.fixture
def world(tmp_path: Path, local: LocalFaces) -> Iterator[World]:
    w = World(tmp_path, local)
    template = local.analyze(photo("obama.jpg")).template
    assert template is not None
    w.enrol(ALICE, template)
    yield w
    w.close()


def test_a_genuine_selfie_matches_and_counts_one_attempt(world: World) -> None:
    world.consent(ALICE)
    answer = world.verify(ALICE, photo("obama2.jpg"))
    face = answer.value.face  # type: ignore[attr-defined]
    assert face.outcome is FaceOutcome.MATCH
    assert world.used(ALICE) == (1, 1)
    assert [e["kind"] for e in world.audit.entries[-3:]] == ["request", "decision", "release"]
    assert world.last_decision()["allow"] is True


def test_a_bad_image_is_refused_before_consent_and_counts_nothing(world: World) -> None:
    # DAVE has no consent: the image is refused first, for everyone alike.
    with pytest.raises(ImageInvalid) as refused:
        world.verify(DAVE, b"GIF89a not taken", name="刘洋")
    assert refused.value.problem == "NOT_AN_IMAGE"
    assert world.used(DAVE) == (0, 0)
    assert world.last_decision()["reasons"] == ("IMAGE_INVALID",)
    assert world.templates.asked == []


def test_no_consent_counts_no_attempt(world: World) -> None:
    with pytest.raises(ConsentRequired):
        world.verify(DAVE, photo("obama2.jpg"), name="刘洋")
    assert world.used(DAVE) == (0, 0)


def test_attempts_exhausted_is_logged_and_leaves_a_single_use_consent_unused(
    world: World,
) -> None:
    world.consent(ALICE)
    world.verify(ALICE, photo("obama2.jpg"))
    world.verify(ALICE, photo("biden.jpg"))
    single = world.consent(ALICE, single_use=True)
    with pytest.raises(AttemptsExhausted) as refused:
        world.checks.verify_identity(
            BANK, IdentityQuery(ALICE, "张伟", LOAN, consent_ref=single, selfie=photo("obama2.jpg"))
        )
    assert refused.value.limit == "PERSON_DAY"
    assert world.last_decision()["reasons"] == ("ATTEMPTS_EXHAUSTED",)
    assert world.used(ALICE) == (2, 2)
    assert (
        world.consents.find_valid(
            partner="acme-bank",
            purpose=LOAN,
            at=NOW,
            consent_ref=single,
            person_token=world.token(ALICE),
        )
        is not None
    )


def test_no_template_is_face_not_enrolled_after_the_attempt_is_counted(world: World) -> None:
    world.consent(BOB)
    with pytest.raises(FaceNotEnrolled):
        world.verify(BOB, photo("obama2.jpg"), name="李娜")
    assert world.last_decision()["reasons"] == ("FACE_NOT_ENROLLED",)
    assert world.used(BOB) == (1, 1)


def test_a_retake_is_an_answer(world: World) -> None:
    world.consent(ALICE)
    answer = world.verify(ALICE, photo("two_people.jpg"))
    face = answer.value.face  # type: ignore[attr-defined]
    assert (face.outcome, face.retake) == (FaceOutcome.INCONCLUSIVE, Retake.MULTIPLE_FACES)


def test_the_face_workers_failing_is_logged_as_unavailable(
    tmp_path: Path, local: LocalFaces
) -> None:
    failing = FailingAnalyzer()
    w = World(tmp_path, failing)
    try:
        template = local.analyze(photo("obama.jpg")).template
        assert template is not None
        w.enrol(ALICE, template)
        w.consent(ALICE)
        with pytest.raises(FaceWorkerFailed):
            w.verify(ALICE, photo("obama2.jpg"))
        assert failing.calls == 1
        assert w.last_decision()["reasons"] == ("UNAVAILABLE",)
    finally:
        w.close()


def test_a_zone_without_face_checking_refuses_the_selfie(tmp_path: Path) -> None:
    w = World(tmp_path, FailingAnalyzer(), faces=False)
    try:
        w.consent(ALICE)
        with pytest.raises(SelfieNotSupported):
            w.verify(ALICE, photo("obama2.jpg"))
        assert not w.checks.serves_faces
    finally:
        w.close()


def test_the_request_is_durable_before_the_attempt_is_counted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: an answer is one commit, but a face attempt is a durable effect before the
    answer, so its request leaf is logged first (Releaser.log_now) -- never an attempt counted
    that no leaf asked for."""
    world.consent(ALICE)
    seen: list[list[object]] = []
    take = world.attempts.take

    def counted(**kw: object) -> object:
        seen.append([e["kind"] for e in world.audit.entries[-1:]])
        return take(**kw)  # type: ignore[arg-type]

    monkeypatch.setattr(world.attempts, "take", counted)
    before = len(world.audit.entries)
    world.verify(ALICE, photo("obama2.jpg"))
    assert seen == [["request"]]
    assert len(world.audit.entries) - before == 3  # request, then decision and release
