"""Browser (issue 11, "Steward review"): a partner's submission walked through review to a
successful run. The partner submits through the SDK over the real gRPC API; a steward, in
Debian's chromium (never `playwright install`), opens the pending list and the query, reads the
SQL and the zone's analysis, approves with conditions; the partner then runs it by id and gets
a table. The real stack of `dataward serve` (portal process, zone gRPC API, SQLite stores)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.support.chromium import ARGS, CHROMIUM
from tests.support.review_stack import PASSWORD, PURPOSE, review_stack

pytestmark = pytest.mark.browser

MARKUP = "</pre><script>alert(1)</script>"
# Ad-hoc SQL over the template-only view visits_by_type: PENDING_REVIEW until approved. Its
# literal would break out of the page if the portal rendered the SQL as HTML.
SQL = (
    "SELECT visit_type, COUNT(*) AS claims, COUNT(DISTINCT person_key) AS persons"
    f" FROM visits_by_type WHERE visit_type <> '{MARKUP}' GROUP BY visit_type"
)


def test_a_submission_is_reviewed_in_the_browser_and_then_runs(tmp_path: Path) -> None:
    # `make test` installs it; a missing browser is a broken setup, never a skip.
    assert CHROMIUM.exists(), "Debian's chromium is missing: run `make chromium` (as root)"
    from playwright.sync_api import Dialog, expect, sync_playwright

    with review_stack(tmp_path) as stack:
        query_id = stack.submit(SQL)
        stack.add_steward("reviewer")
        dialogs: list[Dialog] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()

                def on_dialog(dialog: Dialog) -> None:  # a script from the SQL would open one
                    dialogs.append(dialog)
                    dialog.dismiss()

                page.on("dialog", on_dialog)
                page.goto(f"{stack.url}/login")
                page.fill("input[name=username]", "reviewer")
                page.fill("input[name=password]", PASSWORD)
                page.click("button[type=submit]")
                page.click("text=Queries to review")
                row = page.locator(f"tr[data-query='{query_id}']")
                expect(row).to_contain_text("Demo Insurance Co.")
                expect(row).to_contain_text("visits_by_type")
                expect(row).to_contain_text("RULE_NOT_AD_HOC")
                row.locator("a", has_text="Review").click()

                expect(page.locator("#sql")).to_have_text(SQL)  # the text, not markup
                analysis = page.locator("#analysis")
                expect(analysis).to_contain_text("RULE_NOT_AD_HOC")
                expect(analysis).to_contain_text("not one of them")
                expect(analysis.locator(".column", has_text="visit_type")).to_have_count(1)
                expect(analysis.locator(".cells")).to_have_text("6")
                expect(analysis).to_contain_text("Released exactly")
                expect(page.locator("#approvals")).to_contain_text("0 of 1 approval so far")

                form = page.locator("#approve-form")
                expect(form.locator("select[name=mode]")).to_have_value("exact")
                expect(form.locator("input[name=max_runs]")).to_have_value("10")
                last_day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=14)
                form.locator("input[name=expires_on]").fill(last_day.isoformat())
                form.locator("input[name=max_runs]").fill("2")
                page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
                form.locator("button", has_text="Approve").click()
                expect(page.locator(".notice")).to_contain_text(f"Approved {query_id}")
                expect(page.locator(f"tr[data-query='{query_id}']")).to_have_count(0)
            finally:
                browser.close()
        assert dialogs == []

        with stack.partner() as client:
            stored = client.get_query(query_id)
            assert stored.status == "ACCEPTED"
            result = client.run_query(query_id=query_id, purpose=PURPOSE)
        assert result.table.num_rows == 6  # the whole grid of visit_type's domain
        assert {"visit_type", "claims", "persons"} <= set(result.table.column_names)
        assert result.release_mode == "exact"
