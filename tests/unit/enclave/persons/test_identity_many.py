"""PersonChecks.verify_identity_many (issue 15: unary Verify calls without a selfie checked in
groups): for each item the unary call's steps, refusals and verdict, each item its own leaves
and receipt, the group ONE commit of the real audit log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dataward import receipts
from enclave.audit import Decision, Release, RequestReceived
from enclave.errors import ZoneError
from enclave.persons import (
    Answer,
    ConsentRequired,
    DocumentVerdict,
    IdentityQuery,
    InvalidField,
    InvalidIdNumber,
    PurposeNotGranted,
)
from enclave.persons._batch import ItemFault
from tests.support.person_fakes import ALICE, BOB, CAROL, DAVE, KEY_NAME, UNKNOWN
from tests.unit.enclave.audit.conftest import KEY
from tests.unit.enclave.persons.test_eligibility_many import (
    BAD_CHECK_DIGIT,
    PARTNER,
    PURPOSE,
    World,
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


def query(id_number: str, name: str = "张伟", **kw: object) -> IdentityQuery:
    fields: dict[str, object] = {
        "id_number": id_number,
        "name": name,
        "purpose": PURPOSE,
        "client_nonce": f"nonce-of-item-{id_number[-4:]}",
    }
    fields.update(kw)
    return IdentityQuery(**fields)  # type: ignore[arg-type]


def many(world: World, queries: list[IdentityQuery]) -> list[Answer[DocumentVerdict] | ZoneError]:
    before = len(world.store.appends)
    answers = world.checks.verify_identity_many(PARTNER, queries)
    assert len(world.store.appends) == before + 1, "a group is ONE commit"
    return answers


def unary(world: World, q: IdentityQuery) -> DocumentVerdict | type[ZoneError]:
    try:
        return world.checks.verify_identity(PARTNER, q).value
    except ZoneError as exc:
        return type(exc)


def test_the_verdicts_and_refusals_are_the_unary_ones_each_with_its_own_receipt(
    world: World,
) -> None:
    for person in (ALICE, BOB, CAROL):
        world.consent(person)
    queries = [
        query(ALICE),  # the name matches
        query(BOB, "张伟"),  # it does not
        query(CAROL, "王芳"),  # deceased
        query(DAVE, "刘洋"),  # no consent
        query(UNKNOWN),  # not in the registry: the same refusal
        query(BAD_CHECK_DIGIT),
        query(ALICE, purpose="LOAN_ORIGINATION"),  # not granted to the app
        query(ALICE, "x" * 65),  # over the name's bound
        query(ALICE, "   "),  # blank
    ]
    expected = [unary(world, q) for q in queries]
    answers = many(world, queries)
    got = [a.value if isinstance(a, Answer) else type(a) for a in answers]
    assert got == expected
    assert got[3:] == [
        ConsentRequired,
        ConsentRequired,
        InvalidIdNumber,
        PurposeNotGranted,
        InvalidField,
        InvalidField,
    ]
    released = [a for a in answers if isinstance(a, Answer)]
    assert len(released) == 3
    assert len({a.receipt.checkpoint_note for a in released}) == 1
    for a, q in zip(released, queries[:3], strict=True):
        verdict = a.value
        receipts.verify_release(
            a.receipt,
            method=receipts.IDENTITY_VERIFY,
            request_id=a.request_id,
            fields=receipts.identity_fields(
                id_number_valid=verdict.id_number_valid,
                name_matches=verdict.name_matches,
                registry_status=verdict.registry_status,
                face=None,
            ),
            key_name=KEY_NAME,
            public_key=KEY.public_key(),
            client_nonce=q.client_nonce,
        )
    events = world.group_events()
    assert sum(isinstance(e, RequestReceived) for e in events) == len(queries)
    assert sum(isinstance(e, Decision) for e in events) == len(queries)
    assert sum(isinstance(e, Release) for e in events) == 3
    assert all(
        getattr(e, "method", receipts.IDENTITY_VERIFY) == receipts.IDENTITY_VERIFY
        for e in events
        if isinstance(e, RequestReceived)
    )
    assert "张伟" not in str(events) and ALICE not in str(events)


def test_a_single_use_consent_answers_one_item_only(world: World) -> None:
    world.consent(ALICE, single_use=True)
    answers = many(world, [query(ALICE), query(ALICE)])
    assert isinstance(answers[0], Answer)
    assert isinstance(answers[1], ConsentRequired)


def test_a_query_with_a_selfie_is_not_for_a_group(world: World) -> None:
    world.consent(ALICE)
    answers = many(world, [query(ALICE, selfie=b"\xff\xd8"), query(ALICE)])
    assert isinstance(answers[0], ItemFault)
    assert isinstance(answers[1], Answer)
