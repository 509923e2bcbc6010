"""``dataward demo``: one narrated walk through the zone, on embedded defaults.

It plays every role on one machine, in a fresh working directory: the registry (a synthetic
export), the operator (zone init, ingest, inspect, lookups), the portal (a steward approves an
insurer's and a bank's apps), the citizen channel (consents), the partners (eligibility and
identity checks and aggregate queries through the SDK over gRPC, each answer's receipt verified
offline), the insured
person ("who checked me"), the bank's confidential models under encryption (Paillier and
CKKS, attested by an auditor) and the auditor (the zone's and the portal's logs verified end
to end).

Clear identity numbers appear in this output only masked; they come from the synthetic source
export (outside the zone), never from the zone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.cookiejar
import re
import secrets
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import pyarrow.parquet as pq

from dataward.client import (
    CkksBatchAnswer,
    Client,
    ClientCredentialsTokenSource,
    ConsentRequired,
    CreditBand,
    DatawardError,
    EligibilityResult,
    FaceMatchAnswer,
    IdentityResult,
    IdNumberInvalid,
    PaillierScoreAnswer,
    QueryRejected,
)
from dataward.transparency import load_public_key
from enclave.audit import who_checked
from enclave.dataset import Zone, ingest, inspect_zone
from enclave.keys import PUBLIC_KEY_FILE, init_zone, open_keyring
from enclave.persons import check_character
from enclave.release import Caller
from launcher._cmd_query import render_table, summary
from launcher._demo_compute import bank_computes
from launcher._demo_faces import (
    DemoFaces,
    bank_encrypted_match,
    bank_face_checks,
    enroll_demo_photos,
)
from launcher._oplog import configure
from launcher._wiring import Serving, start_serving
from launcher.settings import Secret, Settings
from policies import default_policy_text
from synthetic import REFERENCE_DATE, generate

__all__ = ["DemoOptions", "run_demo"]

Answer = (
    EligibilityResult
    | IdentityResult
    | CreditBand
    | PaillierScoreAnswer
    | CkksBatchAnswer
    | FaceMatchAnswer
)

INSURER_PURPOSE = "INSURANCE_UNDERWRITING"
RESEARCH_PURPOSE = "RESEARCH"
BANK_PURPOSE = "LOAN_ORIGINATION"


@dataclass(frozen=True)
class DemoOptions:
    workdir: Path
    persons: int = 2000
    seed: int = 7
    # the face photos of the identity steps (the test fixtures); None: those steps are skipped
    faces: Path | None = None


Say = Callable[[str], None]


def mask(id_number: str) -> str:
    """Show the region prefix and the last four characters only, as ID cards are masked."""
    return f"{id_number[:6]}{'*' * (len(id_number) - 10)}{id_number[-4:]}"


def run_demo(settings: Settings, options: DemoOptions, say: Say) -> None:
    """Run the whole walk-through; raises on the first step that does not behave."""
    source = options.workdir / "registry-export"
    zone_dir = options.workdir / "zone"
    master = settings.zone.master_key or Secret(secrets.token_urlsafe(32).encode())
    if settings.zone.master_key is None:
        say(
            "No DATAWARD_MASTER_KEY set: this demo zone gets a fresh random master key (not shown)."
        )

    _step(say, 1, "The registry exports a synthetic copy of itself")
    report = generate(source, options.persons, options.seed)
    for name, rows in report.rows.items():
        say(f"  {name:<16} {rows:>9,} rows")

    _step(say, 2, "The operator creates the zone and ingests the export")
    init_zone(zone_dir, master.value)
    keyring = open_keyring(zone_dir, master.value)
    ingested = ingest(zone_dir, source, keyring)
    say(f"  dataset version {ingested.version} is live ({ingested.seconds:.1f} s)")
    rejected = sum(t.rejected for t in ingested.tables.values())
    say(f"  {rejected:,} rows rejected (each with its row number and reason, never its values)")
    say("  ID numbers, names and phones are now keyed HMAC tokens plus AES-GCM ciphertext.")
    people = _pick_people(source)
    faces = DemoFaces(options.faces) if options.faces is not None else None
    if faces is not None:
        enroll_demo_photos(
            zone_dir=zone_dir,
            keyring=keyring,
            faces=faces,
            persons=(people.active, people.suspended, people.deceased),
            workdir=options.workdir,
            settings=settings.faces,
            say=say,
        )
    else:
        say("  (no --faces photos given: the face steps are skipped)")

    _step(say, 3, "The catalog: every column has a class")
    summary = inspect_zone(zone_dir)
    for table in summary.tables:
        say(f"  {table.name} ({table.rows:,} rows)")
        for name, cls, stored in table.columns:
            kept = f"  (stored as {', '.join(stored)})" if tuple(stored) != (name,) else ""
            say(f"      {name:<20} {cls}{kept}")

    _step(say, 4, "Operator lookups by ID number: tokenized, then an O(log n) index probe")
    zone = Zone.open(zone_dir, keyring)
    for label, id_number in (
        ("an active person", people.active),
        ("a deceased person", people.deceased),
        ("nobody (valid check character, not in the registry)", people.unknown),
    ):
        person = zone.find_person(id_number)
        found = (
            f"{person.status}, {person.gender}, born {person.birth_date.year}, "
            f"region {person.region_code}"
            if person
            else "not found"
        )
        say(f"  {mask(id_number)}  ({label}): {found}")

    _serve_and_check(settings, zone_dir, master, people, faces, say)


@dataclass(frozen=True)
class _People:
    active: str
    active_name: str
    suspended: str
    deceased: str
    unknown: str
    no_consent: str


def _pick_people(source: Path) -> _People:
    """Choose the demo's cast from the source export (outside the zone)."""
    persons = pq.read_table(source / "persons.parquet").to_pylist()
    enrolments = pq.read_table(source / "enrolments.parquet").to_pylist()
    open_ids = {
        e["person_id"] for e in enrolments if e["status"] == "ACTIVE" and e["end_date"] is None
    }
    arrears_ids = {
        e["person_id"] for e in enrolments if e["status"] == "SUSPENDED" and e["arrears_months"] > 0
    } - open_ids
    alive = [p for p in persons if p["status"] == "ACTIVE"]
    active = [p for p in alive if p["person_id"] in open_ids]
    arrears = [p for p in alive if p["person_id"] in arrears_ids]
    deceased = [p for p in persons if p["status"] == "DECEASED"]
    if len(active) < 2 or not arrears or not deceased:
        raise click.ClickException("the synthetic registry is too small for the demo; use more")
    return _People(
        active=str(active[0]["id_number"]),
        active_name=str(active[0]["name"]),
        suspended=str(arrears[0]["id_number"]),
        deceased=str(deceased[0]["id_number"]),
        unknown=_unused_id(str(active[0]["id_number"]), {str(p["id_number"]) for p in persons}),
        no_consent=str(active[1]["id_number"]),
    )


def _unused_id(template: str, taken: set[str]) -> str:
    """A syntactically valid ID number (same region and birth date) that nobody holds."""
    for sequence in range(999, 0, -1):
        first17 = f"{template[:14]}{sequence:03d}"
        candidate = first17 + check_character(first17)
        if candidate not in taken:
            return candidate
    raise click.ClickException("no unused ID number found for the demo")


def _serve_and_check(  # noqa: PLR0917 (the demo's cast, in order)
    settings: Settings,
    zone_dir: Path,
    master: Secret,
    people: _People,
    faces: DemoFaces | None,
    say: Say,
) -> None:
    settings = dataclasses.replace(
        settings,
        zone=dataclasses.replace(settings.zone, dir=zone_dir, master_key=master),
        portal=dataclasses.replace(settings.portal, bind="127.0.0.1:0", cookie_secure=False),
        grpc=dataclasses.replace(settings.grpc, bind="127.0.0.1:0"),
        # The narration is the demo's output: the portal process logs errors only, and this
        # process's operational log (the refusals it shows on purpose) goes to a file.
        log=dataclasses.replace(settings.log, level="ERROR"),
    )
    _step(say, 5, "The zone starts serving: the portal and the gRPC API on loopback")
    oplog = zone_dir.parent / "operational.log"
    with oplog.open("a", encoding="utf-8") as log_file:
        configure("INFO", stream=log_file)
        serving = start_serving(settings)
        try:
            bank_checkpoint = _serving_steps(
                settings, serving, zone_dir, people, faces, say=say, oplog=oplog
            )
        finally:
            serving.stop()
            configure("ERROR")  # the file closes: anything later goes to stderr
    _step(say, 16, "The auditor verifies both logs end to end")
    from launcher._verify import verify_all_logs

    for line in verify_all_logs(zone_dir, trusted=[bank_checkpoint] if bank_checkpoint else []):
        say(f"  {line}")
    say("")
    say(f"Done. Everything the demo made is in {zone_dir.parent}")


def _serving_steps(
    settings: Settings,
    serving: Serving,
    zone_dir: Path,
    people: _People,
    faces: DemoFaces | None,
    *,
    say: Say,
    oplog: Path,
) -> str | None:
    say(f"  portal {serving.portal_url}   gRPC 127.0.0.1:{serving.api.port}")
    say(f"  the servers' operational log (JSON lines): {oplog}")
    admin = serving.admin

    _step(say, 6, "A steward approves an insurer's and a bank's apps in the portal")
    steward_password = secrets.token_urlsafe(18)
    steward = admin.create_steward("steward", steward_password)
    # Slugs name partners everywhere (the token's `org`, the policy's grants, consents).
    insurer = admin.create_organization("Demo Insurance Co.", "INSURER", slug="demo-insurer")
    bank = admin.create_organization("Demo Bank", "BANK", slug="demo-bank")
    insurer_user = admin.create_partner_user(insurer, "insurer", secrets.token_urlsafe(18))
    bank_user = admin.create_partner_user(bank, "banker", secrets.token_urlsafe(18))
    insurer_app = admin.register_app(
        insurer_user,
        "eligibility at underwriting",
        ["eligibility:check", "identity:verify", "query:submit", "query:run", "audit:read"],
        [INSURER_PURPOSE, RESEARCH_PURPOSE],
        "check cover, price a supplementary policy and study claims from aggregates",
    )
    bank_app = admin.register_app(
        bank_user,
        "loan applicant check",
        # audit:read: consistency proofs (step 14); compute:score: step 13
        ["identity:verify", "compute:score", "audit:read"],
        [BANK_PURPOSE],
        "KYC, the credit band and the bank's own model under encryption",
    )
    # The steward grants the insurer less than it asked for: no identity checks.
    insurer_creds = admin.approve_app(
        steward,
        insurer_app.client_id,
        ["eligibility:check", "query:submit", "query:run", "audit:read"],
    )
    bank_creds = admin.approve_app(steward, bank_app.client_id)
    say("  insurer app approved with eligibility:check and queries (identity:verify was refused)")
    in_force = serving.core.policies.apply(
        default_policy_text(), Caller("demo", "zone-stewards"), "policies/default.yaml"
    )
    say(f"  the steward puts the default policy in force: version {in_force.version[:12]}")
    say(
        "  bank app approved with identity:verify, compute:score and audit:read "
        "for LOAN_ORIGINATION"
    )
    token_url = f"{serving.portal_url}/oauth/token"

    _step(say, 7, "Persons consent, through the citizen channel (here: `dataward consent`)")
    operator = Caller("demo", "citizen-channel")
    for id_number in (people.active, people.suspended, people.deceased):
        grant = serving.core.checks.grant_consent(
            operator, id_number=id_number, partner=insurer.slug, purpose=INSURER_PURPOSE
        )
        say(
            f"  {mask(id_number)} consents to {insurer.slug} (the insurer) "
            f"until {grant.value.valid_until:%F}"
        )
    for id_number in (people.active, people.suspended):
        serving.core.checks.grant_consent(
            operator, id_number=id_number, partner=bank.slug, purpose=BANK_PURPOSE
        )
    say(
        f"  {mask(people.active)} and {mask(people.suspended)} also consent to "
        f"{bank.slug} (the bank)"
    )

    # The key a partner pins: the zone's published PEM, not one the server hands out.
    key = (serving.core.key_name, load_public_key((zone_dir / PUBLIC_KEY_FILE).read_bytes()))
    answers: list[Answer] = []
    insurer_tokens = ClientCredentialsTokenSource(
        token_url, insurer_creds.client_id, insurer_creds.client_secret, "eligibility:check"
    )
    _step(say, 8, "The insurer checks eligibility for OUTPATIENT cover (SDK over gRPC)")
    with Client(f"127.0.0.1:{serving.api.port}", insurer_tokens) as client:
        as_of = REFERENCE_DATE
        for label, id_number in (
            ("enrolled and paid up", people.active),
            ("behind on contributions", people.suspended),
            ("deceased", people.deceased),
            ("not in the registry", people.unknown),
            ("in the registry, no consent", people.no_consent),
            ("malformed number", people.active[:-1] + "0"),
        ):
            try:
                result = client.check_eligibility(
                    id_number, "OUTPATIENT", INSURER_PURPOSE, as_of=as_of
                )
            except (ConsentRequired, IdNumberInvalid) as exc:
                say(f"  {label:<30} refused: {_status(exc)}")
                continue
            say(f"  {label:<30} {_eligibility_line(result)}")
            answers.append(result)
        say(
            "  (an unknown person and a known one without consent get the very same "
            "refusal: the answer reveals nothing about who is in the registry)"
        )

    target = f"127.0.0.1:{serving.api.port}"
    query_tokens = ClientCredentialsTokenSource(
        token_url,
        insurer_creds.client_id,
        insurer_creds.client_secret,
        "query:submit query:run audit:read",
    )
    _step(say, 9, "The insurer prices from aggregates: explain, run, and a refused query")
    with Client(target, query_tokens, audit_key=key) as client:
        _aggregates(client, say)

        _step(say, 10, "Its research arm asks ad hoc, with differential privacy")
        _research(client, say)

        _step(say, 11, "A query no rule allows goes to review; a steward approves it")
        _reviewed(client, serving.portal_url, steward_password, say)

    _step(say, 12, "The bank verifies a loan applicant's ID number, name and selfie")
    bank_tokens = ClientCredentialsTokenSource(
        token_url,
        bank_creds.client_id,
        bank_creds.client_secret,
        "identity:verify compute:score audit:read",
    )
    with Client(f"127.0.0.1:{serving.api.port}", bank_tokens, audit_key=key) as client:
        for label, name in (("right name", people.active_name), ("wrong name", "张三丰")):
            verdict = client.verify_identity(people.active, name, BANK_PURPOSE)
            say(
                f"  {label:<11} id valid={verdict.id_number_valid} "
                f"name matches={verdict.name_matches} registry={verdict.registry_status}"
            )
            answers.append(verdict)
        if faces is not None:
            answers += bank_face_checks(
                client,
                applicant=people.active,
                name=people.active_name,
                purpose=BANK_PURPOSE,
                faces=faces,
                say=say,
            )
            answers.append(
                bank_encrypted_match(
                    client,
                    applicant=people.suspended,
                    purpose=BANK_PURPOSE,
                    faces=faces,
                    say=say,
                )
            )
        try:
            client.check_eligibility(people.active, "OUTPATIENT", BANK_PURPOSE)
        except DatawardError as exc:
            say(f"  the bank asks for eligibility: {_status(exc)}")

        _step(say, 13, "The bank's credit band, and its own model under encryption")
        answers += bank_computes(
            client,
            bank=bank.slug,
            purpose=BANK_PURPOSE,
            applicant=people.active,
            batch=(people.active, people.suspended, people.no_consent, people.unknown),
            policies=serving.core.policies,
            cards=serving.core.cards,
            workdir=zone_dir.parent,
            say=say,
        )

        _step(say, 14, "Every answer checked against its receipt with the pinned zone key")
        for answer in answers:
            checkpoint = client.verify_answer(answer)
            say(
                f"  leaf {answer.receipt.leaf_index:>3} releases this very answer and "
                f"is in the signed tree of size {checkpoint.size} "
                f"(root {checkpoint.root_hash.hex()[:16]}…)"
            )
        # Each checkpoint was held to the largest one seen, by the zone's consistency
        # proofs; the bank keeps that one to hold the zone to it later (issue 8, item 6).
        bank_checkpoint = client.largest_checkpoint()
        say("  every checkpoint proved consistent with the largest the bank has seen")

    _step(say, 15, f"Who checked me? ({mask(people.active)})")
    token = serving.core.keyring.token("id_number", people.active)
    # The zone logs the token's `org` (a slug); the portal knows the organization's name.
    names = {o.slug: o.name for o in admin.list_organizations()}
    for entry in who_checked(serving.core.audit, token):
        say(
            f"  {entry.time:%Y-%m-%d %H:%M:%S}  "
            f"{names.get(entry.organization, entry.organization):<20} "
            f"{entry.purpose:<24} {entry.decision}"
        )

    return bank_checkpoint


PRICING_QUERY = (
    "SELECT age_band, visit_type, COUNT(DISTINCT person_key) AS persons,"
    " SUM(total_cents) AS total, AVG(total_cents) AS average"
    " FROM claims_analysis GROUP BY age_band, visit_type ORDER BY age_band, visit_type"
)
REFUSED_QUERY = (
    "SELECT person_key, SUM(total_cents) AS spent FROM claims_analysis GROUP BY person_key"
)


def _aggregates(client: Client, say: Say) -> None:
    """Step 9: an allowed aggregate explained and run (small cells suppressed, the receipt
    verified), and a query singling out persons refused with its rule."""
    plan = client.explain(PRICING_QUERY, purpose=INSURER_PURPOSE)
    client.verify_answer(plan)
    verdict = "allowed" if plan.allowed else "not allowed"
    say(f"  explain: {verdict}, view {plan.view}, {plan.rule} rule, {plan.release_mode} release")
    for rejection in plan.rejections:
        say(f"    rejected: {rejection}")
    for check in plan.checks:
        say(f"    - {check}")
    for notice in plan.notices:
        say(f"    note: {notice}")
    result = client.run_query(PRICING_QUERY, purpose=INSURER_PURPOSE)
    checkpoint = client.verify_answer(result)
    lines = render_table(result.table)
    for line in lines[:9]:
        say(f"    {line}")
    if len(lines) > 9:
        say(f"    ... ({len(lines) - 9} more rows)")
    say(f"  {summary(result, checkpoint.size)}")
    try:
        client.run_query(REFUSED_QUERY, purpose=INSURER_PURPOSE)
    except QueryRejected as exc:
        refused = f"{exc.rule}({exc.construct})" if exc.construct else exc.rule
        say(f"  per-person spending: refused: {_status(exc)} {refused}")


RESEARCH_QUERY = (
    "SELECT age_band, gender, COUNT(DISTINCT person_key) AS persons"
    " FROM claims_analysis GROUP BY age_band, gender"
)


def _research(client: Client, say: Say) -> None:
    """Step 10: the RESEARCH grant is dp-only: an ad-hoc query on claims_analysis is charged
    to the organization's privacy budget and released noisy, with each cell's error bound;
    the same query again returns the very same numbers at no cost."""
    plan = client.explain(RESEARCH_QUERY, purpose=RESEARCH_PURPOSE)
    client.verify_answer(plan)
    say(f"  explain: {'allowed' if plan.allowed else 'not allowed'}, {plan.release_mode} release")
    for check in plan.checks:
        if "noise of scale" in check or check.startswith("costs epsilon"):
            say(f"    - {check}")
    first = client.run_query(RESEARCH_QUERY, purpose=RESEARCH_PURPOSE)
    checkpoint = client.verify_answer(first)
    for line in render_table(first.table)[:7]:
        say(f"    {line}")
    for line in summary(first, checkpoint.size).splitlines():
        say(f"  {line}")
    again = client.run_query(RESEARCH_QUERY, purpose=RESEARCH_PURPOSE)
    client.verify_answer(again)
    same = "the very same numbers" if again.arrow_ipc == first.arrow_ipc else "DIFFERENT numbers"
    assert again.dp is not None
    say(
        f"  asked again: {same}, epsilon {again.dp.epsilon_spent_micro / 1e6:g} spent "
        "(repeating a query cannot average its noise away)"
    )
    budget = client.budget()
    client.verify_answer(budget)
    for limit in budget.limits:
        say(
            f"  budget {limit.name.replace('_', ' ')}: {limit.spent_micro / 1e6:g} spent of "
            f"{limit.limit_micro / 1e6:g}"
        )


PROPOSED_QUERY = (
    "SELECT visit_type, COUNT(DISTINCT person_key) AS persons, SUM(total_cents) AS total"
    " FROM visits_by_type GROUP BY visit_type"
)


def _reviewed(client: Client, portal_url: str, password: str, say: Say) -> None:
    """Step 11: the insurer submits a query over a template-only view (a template it
    proposes): PENDING_REVIEW; the steward signs in to the portal, reads the analysis and
    approves it with conditions (the portal calls the zone with the steward's own token);
    the insurer runs it by id."""
    submitted = client.submit(PROPOSED_QUERY, purpose=INSURER_PURPOSE)
    client.verify_answer(submitted)
    why = ", ".join(str(r) for r in submitted.rejections)
    say(f"  submitted {submitted.query_id}: {submitted.status} ({why})")
    steward = _PortalSession(portal_url)
    steward.sign_in("steward", password)
    listed = steward.get("/steward/queries")
    say(f"  the steward's review list shows it: {submitted.query_id in listed}")
    page = steward.get(f"/steward/queries/{submitted.query_id}")
    if "visits_by_type" not in page:
        raise RuntimeError("the review page does not show the query's view")
    last_day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    steward.post(
        f"/steward/queries/{submitted.query_id}/approve",
        {"mode": "exact", "epsilon": "0", "expires_on": last_day.isoformat(), "max_runs": "3"},
    )
    stored = client.get_query(submitted.query_id)
    conditions = stored.conditions
    if stored.status != "ACCEPTED" or conditions is None:
        raise RuntimeError(f"the approval did not take: {stored.status}")
    say(
        f"  approved in the portal: {conditions.mode} release through "
        f"{conditions.expires_at - dt.timedelta(seconds=1):%Y-%m-%d}, at most "
        f"{conditions.max_runs} runs"
    )
    result = client.run_query(query_id=submitted.query_id, purpose=INSURER_PURPOSE)
    checkpoint = client.verify_answer(result)
    for line in render_table(result.table):
        say(f"    {line}")
    say(f"  {summary(result, checkpoint.size).splitlines()[0]}")
    left = client.get_query(submitted.query_id).runs_left
    say(f"  runs left under the approval: {left}")


class _PortalSession:
    """A steward's browser session on the portal, over plain HTTP on loopback (cookies and
    the forms' CSRF token, as a browser keeps them)."""

    def __init__(self, url: str) -> None:
        if not url.startswith("http://127.0.0.1:"):  # the demo's own portal, nothing else
            raise RuntimeError(f"not the demo's loopback portal: {url}")
        self._url = url
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self._opener.open(f"{self._url}{path}", timeout=30) as response:
            return str(response.read().decode("utf-8"))

    def post(self, path: str, form: dict[str, str], *, csrf_from: str = "/steward") -> str:
        token = re.search(r'name="csrf_token" value="([^"]+)"', self.get(csrf_from))
        if token is None:
            raise RuntimeError("the portal's form has no CSRF token")
        body = urllib.parse.urlencode({**form, "csrf_token": token.group(1)}).encode("ascii")
        # the URL is the demo's loopback portal (checked in __init__), never user input
        request = urllib.request.Request(f"{self._url}{path}", data=body, method="POST")  # noqa: S310
        with self._opener.open(request, timeout=30) as response:
            return str(response.read().decode("utf-8"))

    def sign_in(self, username: str, password: str) -> None:
        page = self.post("/login", {"username": username, "password": password}, csrf_from="/login")
        if "Sign in" in page and "Sign out" not in page:
            raise RuntimeError("the steward could not sign in to the portal")


def _eligibility_line(result: EligibilityResult) -> str:
    verdict = "ELIGIBLE" if result.eligible else "not eligible"
    reasons = ", ".join(result.reasons) or "-"
    return f"{verdict:<13} class={result.coverage_class or '-'} reasons={reasons}"


def _status(exc: DatawardError) -> str:
    return f"{exc.code.name if exc.code else '?'} {exc.reason}"


def _step(say: Say, number: int, title: str) -> None:
    say("")
    say(f"[{number}] {title}")
