"""Sign-in's ``next`` (issue 14 review): only a path of this site, whatever a link carries.

Browsers drop tabs and newlines inside a URL and read ``\\`` as ``/``: ``/<TAB>/evil.example``
reached the browser as ``//evil.example`` (another site), and a newline was a 500."""

from __future__ import annotations

import pytest

from tests.integration.portal.conftest import PASSWORD, Env, csrf_of

_ELSEWHERE = [
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/\x0b/evil.example",
    "/\x00/evil.example",
    "/\u3000/evil.example",
    "/\u2028/evil.example",
    " //evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example",
]


def _sign_in_with(env: Env, target: str) -> tuple[int, str | None]:
    client = env.client()
    page = client.get("/login", query_string={"next": target})
    assert page.status_code == 200
    answer = client.post(
        "/login",
        data={
            "username": "steward",
            "password": PASSWORD,
            "next": target,
            "csrf_token": csrf_of(page.get_data(as_text=True)),
        },
    )
    return answer.status_code, answer.headers.get("Location")


@pytest.mark.parametrize("target", _ELSEWHERE)
def test_a_next_that_could_leave_the_site_goes_home_instead(env: Env, target: str) -> None:
    status, location = _sign_in_with(env, target)
    assert (status, location) == (302, "/steward")


@pytest.mark.parametrize("target", ["/steward/organizations", "/%2F%2Fevil.example"])
def test_a_local_path_is_where_sign_in_returns(env: Env, target: str) -> None:
    status, location = _sign_in_with(env, target)
    assert (status, location) == (302, target)
