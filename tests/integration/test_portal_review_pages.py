"""The steward's review pages over HTTP from the real portal (issue 11, "Steward review").

`dataward serve`'s real stack (tests.support.review_stack): the portal in its own process, the
zone's gRPC API, real SQLite stores. A partner submits through the SDK over gRPC; stewards sign
in to the portal, which calls StewardService with a token minted for THAT steward, so the zone
decides (and refuses) under the steward's own name. Every error a user can cause is a precise
status with the zone's words, never a 500.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from markupsafe import escape

from dataward.client import FailedPrecondition
from dataward.v1 import query_pb2
from enclave.audit import RequestReceived
from policies import default_policy_text
from portal import write_zone_target
from tests.support.review_stack import (
    PASSWORD,
    PURPOSE,
    ReviewStack,
    csrf_of,
    review_stack,
    signed_in,
)

EVIL = "</pre><script>alert(1)</script>"
# Still a query the zone must send to review (a literal is no data value of ours), whose text
# would break out of the page if the portal rendered it as HTML.
EVIL_SQL = (
    "SELECT visit_type, COUNT(*) AS claims FROM visits_by_type"
    f" WHERE visit_type <> '{EVIL}' GROUP BY visit_type"
)
TWO_PERSON_POLICY = default_policy_text().replace(
    "  visits_by_type:\n    sql: |", "  visits_by_type:\n    sensitive: true\n    sql: |", 1
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewStack]:
    """One serving stack for the tests that each submit their own queries."""
    with review_stack(tmp_path_factory.mktemp("review-pages")) as running:
        yield running


def _conditions(**changed: str) -> dict[str, str]:
    last_day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    form = {"mode": "exact", "epsilon": "0", "expires_on": last_day.isoformat(), "max_runs": "3"}
    return form | changed


def _post(
    session: requests.Session, url: str, path: str, data: dict[str, str], *, csrf: bool = True
) -> requests.Response:
    if csrf:
        data = {**data, "csrf_token": csrf_of(session.get(f"{url}/steward", timeout=10).text)}
    return session.post(f"{url}{path}", data=data, allow_redirects=False, timeout=30)


def _status_of(stack: ReviewStack, query_id: str) -> str:
    with stack.partner() as client:
        return client.get_query(query_id).status


def test_the_steward_sees_the_pending_submission_and_its_analysis(stack: ReviewStack) -> None:
    query_id = stack.submit(EVIL_SQL)
    steward = stack.steward("alice")
    home = steward.get(f"{stack.url}/steward", timeout=10)
    assert 'href="/steward/queries"' in home.text  # linked from the steward's home

    listed = steward.get(f"{stack.url}/steward/queries", timeout=30)
    assert listed.status_code == 200, listed.text
    row = listed.text.split(f'<tr data-query="{query_id}">', 1)[1].split("</tr>", 1)[0]
    assert (
        "Demo Insurance Co." in row
        and "organization demo-insurer" in row
        and stack.client_id in row
    )
    assert "visits_by_type" in row and "insurance_underwriting" in row
    assert "RULE_NOT_AD_HOC(visits_by_type)" in row and "0 of 1" in row
    assert f'href="/steward/queries/{query_id}"' in row

    page = steward.get(f"{stack.url}/steward/queries/{query_id}", timeout=30)
    assert page.status_code == 200, page.text
    body = page.text
    # the SQL as text: escaped, never markup
    assert EVIL not in body and "<script>" not in body
    assert f'<pre class="sql" id="sql">{escape(EVIL_SQL)}</pre>' in body
    # the policy analysis: the rule and why, the columns and cells, the gate's checks, the cost
    assert "RULE_NOT_AD_HOC" in body and "not one of them" in body
    assert '<span class="tag column">visit_type</span>' in body
    assert '<strong class="cells">6</strong>' in body  # visit_type's public domain
    checks = body.split('<ul class="checks">', 1)[1].split("</ul>", 1)[0]
    assert checks.count("<li>") >= 2 and "No checks named" not in checks
    assert "Released exactly: no privacy budget is spent" in body
    assert "0 of 1 approval so far" in body
    # the forms, with the portal's CSRF token and sane defaults
    default_day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)
    assert f'name="expires_on" type="date" value="{default_day.isoformat()}"' in body
    assert 'name="max_runs" type="number" min="1" step="1" value="10"' in body
    assert '<option value="exact" selected>' in body
    assert body.count('name="csrf_token"') >= 3  # sign-out, approve, reject


def test_an_approval_with_conditions_lets_the_partner_run_it(stack: ReviewStack) -> None:
    query_id = stack.submit()
    steward = stack.steward("bob")
    done = _post(steward, stack.url, f"/steward/queries/{query_id}/approve", _conditions())
    assert done.status_code == 302 and done.headers["Location"].endswith("/steward/queries")
    after = steward.get(f"{stack.url}{done.headers['Location']}", timeout=30)
    assert f"Approved {query_id}" in after.text
    assert f'data-query="{query_id}"' not in after.text  # no longer pending

    with stack.partner() as client:
        stored = client.get_query(query_id)
        assert stored.status == "ACCEPTED"
        result = client.run_query(query_id=query_id, purpose=PURPOSE)
    assert result.table.num_rows == 6 and "visit_type" in result.table.column_names
    # the zone logged the approval under this steward (the token's sub), through the portal's
    # steward-pages client: never a portal-wide identity
    approvals = [
        e.event
        for e in stack.serving.core.audit.tail(stack.serving.core.audit.size)
        if isinstance(e.event, RequestReceived) and e.event.method == "StewardService/ApproveQuery"
    ]
    assert len(approvals) == 1
    logged = approvals[0].client_id
    assert logged.startswith(stack.serving.admin.steward_pages_client())
    assert logged.endswith(f"user:{stack.stewards['bob']}")


def test_a_rejection_carries_the_reason_the_partner_reads(stack: ReviewStack) -> None:
    query_id = stack.submit()
    steward = stack.steward("carol")
    reason = "group by province as well; visit type alone is not what the purpose needs"
    done = _post(steward, stack.url, f"/steward/queries/{query_id}/reject", {"reason": reason})
    assert done.status_code == 302, done.text
    seen = stack.stored_as_partner(query_id)  # what the partner reads
    assert seen.status == query_pb2.QUERY_STATUS_REJECTED and seen.reviewed
    assert seen.rejection_reason == reason
    page = steward.get(f"{stack.url}/steward/queries/{query_id}", timeout=30)
    assert page.status_code == 200 and f'<span class="reason">{reason}</span>' in page.text
    assert "Rejected by carol" in page.text
    assert 'id="approve-form"' not in page.text  # decided: no forms
    # the reason is free text: it goes to the zone, never into the portal's files or log
    state_dir = stack.serving.operator.config.state_dir
    assert not any(reason.encode() in f.read_bytes() for f in state_dir.rglob("*") if f.is_file())

    again = _post(steward, stack.url, f"/steward/queries/{query_id}/approve", _conditions())
    assert again.status_code == 409  # FAILED_PRECONDITION QUERY_NOT_PENDING, in the zone's words
    assert "the query is REJECTED, not pending review" in again.text
    assert "Traceback" not in again.text
    assert '<code class="reason-code">QUERY_NOT_PENDING</code>' in again.text
    assert f'href="/steward/queries/{query_id}"' in again.text  # a way back


def test_each_error_a_steward_can_cause_is_precise(stack: ReviewStack) -> None:
    query_id = stack.submit()
    steward = stack.steward("dave")
    unknown = steward.get(f"{stack.url}/steward/queries/qry_{'A' * 24}", timeout=30)
    assert unknown.status_code == 404 and "Traceback" not in unknown.text  # the zone's NOT_FOUND
    malformed = steward.get(f"{stack.url}/steward/queries/not-a-query", timeout=10)
    assert malformed.status_code == 404 and "no such query" in malformed.text
    bad_page = steward.get(f"{stack.url}/steward/queries?page=garbage", timeout=30)
    assert bad_page.status_code == 400 and "page_token" in bad_page.text, bad_page.text

    path = f"/steward/queries/{query_id}/approve"
    bad_form = _post(steward, stack.url, path, _conditions(mode="dp", epsilon="lots"))
    assert bad_form.status_code == 400 and "epsilon:" in bad_form.text
    past = _post(steward, stack.url, path, _conditions(expires_on="2020-01-01"))
    assert past.status_code == 400 and "expires_on:" in past.text
    # the portal checks the shape; the zone its limits, refused as INVALID_ARGUMENT naming the
    # condition (1..10,000 runs; at most a year ahead)
    too_many = _post(steward, stack.url, path, _conditions(max_runs="20000"))
    assert too_many.status_code == 400 and "max_runs" in too_many.text, too_many.text
    far = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=800)).isoformat()
    too_far = _post(steward, stack.url, path, _conditions(expires_on=far))
    assert too_far.status_code == 400 and "expires_at" in too_far.text, too_far.text
    long_reason = _post(
        steward, stack.url, f"/steward/queries/{query_id}/reject", {"reason": "x" * 1001}
    )
    assert long_reason.status_code == 400 and "reason" in long_reason.text, long_reason.text
    empty_reason = _post(
        steward, stack.url, f"/steward/queries/{query_id}/reject", {"reason": "  "}
    )
    assert empty_reason.status_code == 400 and "reason:" in empty_reason.text
    # a form without the CSRF token never reaches the zone
    forged = _post(steward, stack.url, path, _conditions(), csrf=False)
    assert forged.status_code == 400 and "CSRF token missing" in forged.text
    wrong = _post(steward, stack.url, path, {**_conditions(), "csrf_token": "forged"}, csrf=False)
    assert wrong.status_code == 400 and "CSRF token invalid" in wrong.text
    assert _status_of(stack, query_id) == "PENDING_REVIEW"  # none of it decided anything


def test_partners_and_anonymous_users_are_refused(stack: ReviewStack) -> None:
    query_id = stack.submit()
    partner = signed_in(stack.url, "insurer")
    anonymous = requests.Session()
    for path in ("/steward/queries", f"/steward/queries/{query_id}"):
        assert partner.get(f"{stack.url}{path}", timeout=10).status_code == 403
        away = anonymous.get(f"{stack.url}{path}", allow_redirects=False, timeout=10)
        assert away.status_code == 302 and away.headers["Location"].startswith("/login?next=")
    csrf = csrf_of(partner.get(f"{stack.url}/partner", timeout=10).text)
    for action, data in (("approve", _conditions()), ("reject", {"reason": "mine"})):
        answer = partner.post(
            f"{stack.url}/steward/queries/{query_id}/{action}",
            data={**data, "csrf_token": csrf},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 403
    assert _status_of(stack, query_id) == "PENDING_REVIEW"
    assert PASSWORD not in partner.get(f"{stack.url}/partner", timeout=10).text


def test_an_unreachable_zone_is_503_with_a_message(stack: ReviewStack) -> None:
    query_id = stack.submit()
    steward = stack.steward("erin")
    csrf = csrf_of(steward.get(f"{stack.url}/steward", timeout=10).text)
    state_dir = stack.serving.operator.config.state_dir
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    write_zone_target(state_dir, f"127.0.0.1:{dead}", None)  # as a zone gone away leaves it
    try:
        for answer in (
            steward.get(f"{stack.url}/steward/queries", timeout=30),
            steward.get(f"{stack.url}/steward/queries/{query_id}", timeout=30),
            steward.post(
                f"{stack.url}/steward/queries/{query_id}/approve",
                data={**_conditions(), "csrf_token": csrf},
                allow_redirects=False,
                timeout=30,
            ),
        ):
            assert answer.status_code == 503
            assert "not reachable" in answer.text and "Traceback" not in answer.text
    finally:
        write_zone_target(state_dir, f"127.0.0.1:{stack.serving.api.port}", None)
    assert _status_of(stack, query_id) == "PENDING_REVIEW"


def test_a_sensitive_view_needs_two_different_stewards(tmp_path: Path) -> None:
    with review_stack(tmp_path, TWO_PERSON_POLICY) as running:
        query_id = running.submit()
        first, second = running.steward("frank"), running.steward("grace")
        page = first.get(f"{running.url}/steward/queries/{query_id}", timeout=30)
        assert "two different stewards" in page.text and "0 of 2 approvals" in page.text
        path = f"/steward/queries/{query_id}/approve"

        once = _post(first, running.url, path, _conditions())
        assert once.status_code == 302 and once.headers["Location"].endswith(query_id)
        page = first.get(f"{running.url}{once.headers['Location']}", timeout=30)
        assert "Your approval is recorded (1 of 2)" in page.text
        assert "1 of 2 approvals so far" in page.text and "a second steward is needed" in page.text
        assert "frank at" in page.text  # the approver, by the portal account the zone named
        with running.partner() as client, pytest.raises(FailedPrecondition):
            client.run_query(query_id=query_id, purpose=PURPOSE)  # not yet accepted

        twice = _post(first, running.url, path, _conditions())
        assert twice.status_code == 409, twice.text  # FAILED_PRECONDITION REVIEW_SAME_STEWARD
        assert "a second approval must come from a different steward" in twice.text
        assert '<code class="reason-code">REVIEW_SAME_STEWARD</code>' in twice.text
        assert _status_of(running, query_id) == "PENDING_REVIEW"

        accepted = _post(second, running.url, path, _conditions())
        assert accepted.status_code == 302 and accepted.headers["Location"].endswith("/queries")
        with running.partner() as client:
            result = client.run_query(query_id=query_id, purpose=PURPOSE)
        assert result.table.num_rows == 6
