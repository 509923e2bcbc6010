"""The auditor's page over HTTP (issue 12): stewards only, CSRF-checked, every malformed form
field a 400 naming it, the zone's refusals with their status; nothing reaches the zone for a
form that is not well formed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.support.review_stack import ReviewStack, csrf_of, review_stack, signed_in

VALID = '{"format": "dataward-model-attestation/1", "auditor": "auditor-1", "expires_at": 1900000000, "signature": "%s"}'  # noqa: E501


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewStack]:
    with review_stack(tmp_path_factory.mktemp("model-pages")) as s:
        yield s


def _post(session: requests.Session, url: str, **form: str) -> requests.Response:
    page = session.get(f"{url}/steward/models", timeout=10)
    assert page.status_code == 200, page.text
    form.setdefault("csrf_token", csrf_of(page.text))
    return session.post(f"{url}/steward/models/attest", data=form, timeout=10)


def test_only_a_signed_in_steward_sees_the_page(stack: ReviewStack) -> None:
    anonymous = requests.get(f"{stack.url}/steward/models", allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302  # to sign-in (issue 14)
    assert anonymous.headers["Location"] == "/login?next=/steward/models"
    partner = signed_in(stack.url, "insurer")
    assert partner.get(f"{stack.url}/steward/models", timeout=10).status_code == 403
    steward = stack.steward("pages-steward")
    page = steward.get(f"{stack.url}/steward/models", timeout=10)
    assert page.status_code == 200
    assert "No model card is waiting" in page.text


def test_a_form_without_its_csrf_token_is_refused(stack: ReviewStack) -> None:
    steward = signed_in(stack.url, "pages-steward")
    answer = steward.post(
        f"{stack.url}/steward/models/attest",
        data={"organization": "2", "model_id": "m", "version": "1", "attestation": "{}"},
        timeout=10,
    )
    assert answer.status_code in (400, 403)


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"organization": "110101199003070012", "model_id": "m", "version": "1"}, "organization"),
        ({"organization": "2", "model_id": "Bad Id", "version": "1"}, "model_id"),
        ({"organization": "2", "model_id": "m", "version": "0"}, "version"),
        ({"organization": "2", "model_id": "m", "version": "x"}, "version"),
        (
            {"organization": "2", "model_id": "m", "version": "1", "attestation": "[]"},
            "attestation",
        ),
        (
            {"organization": "2", "model_id": "m", "version": "1", "attestation": VALID % "AA=="},
            "signature",
        ),
    ],
)
def test_a_malformed_form_is_a_400_naming_the_field(
    stack: ReviewStack, form: dict[str, str], named: str
) -> None:
    steward = stack.steward("pages-steward")
    answer = _post(steward, stack.url, **form)
    assert answer.status_code == 400
    assert named in answer.text
    assert "Traceback" not in answer.text


def test_an_unknown_model_is_the_zones_not_found(stack: ReviewStack) -> None:
    steward = stack.steward("pages-steward")
    signature = "A" * 86 + "=="  # 64 bytes
    answer = _post(
        steward,
        stack.url,
        organization="2",
        model_id="no-such-model",
        version="1",
        attestation=VALID % signature,
    )
    assert answer.status_code == 404
    assert "MODEL_NOT_FOUND" in answer.text
