"""`dataward serve`'s real stack for the steward review pages (issue 11): the zone with a small
registry and the default policy in force, the portal in its own process, the zone's gRPC API,
an insurer (the policy's organization ``demo-insurer``, by slug) whose app may submit and run
queries through the SDK, and stewards who sign in to the portal."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import requests

from dataward.client import Client, ClientCredentialsTokenSource
from dataward.v1 import query_pb2, query_pb2_grpc
from enclave.dataset import ingest
from enclave.keys import init_zone, open_keyring
from enclave.release import Caller
from launcher._wiring import Serving, start_serving
from launcher.settings import Secret, load_settings
from policies import default_policy_text
from tests.support.zone_source import make_source

MASTER = b"portal-review-pages-master-key-0123"
PASSWORD = "correct horse battery staple 1"
PURPOSE = "INSURANCE_UNDERWRITING"
# Ad-hoc SQL over visits_by_type, a view whose rule allows only its approved templates: the
# zone stores it PENDING_REVIEW (rule RULE_NOT_AD_HOC) until a steward approves it.
NEEDS_REVIEW = (
    "SELECT visit_type, COUNT(*) AS claims, COUNT(DISTINCT person_key) AS persons"
    " FROM visits_by_type GROUP BY visit_type"
)


@dataclass
class ReviewStack:
    serving: Serving
    client_id: str
    client_secret: str
    stewards: dict[str, int] = field(default_factory=dict)  # username -> portal user id

    @property
    def url(self) -> str:
        return self.serving.portal_url

    def partner(self) -> Client:
        """The insurer's SDK client over the real gRPC API (tokens from the real portal)."""
        tokens = ClientCredentialsTokenSource(
            f"{self.url}/oauth/token",
            self.client_id,
            self.client_secret,
            "query:submit query:run",
        )
        return Client(f"127.0.0.1:{self.serving.api.port}", tokens, timeout=30)

    def stored_as_partner(self, query_id: str) -> query_pb2.StoredQuery:
        """QueryService.Get as the insurer, on the wire (the decision's fields with it)."""
        tokens = ClientCredentialsTokenSource(
            f"{self.url}/oauth/token", self.client_id, self.client_secret, "query:submit"
        )
        with grpc.insecure_channel(f"127.0.0.1:{self.serving.api.port}") as channel:
            got = query_pb2_grpc.QueryServiceStub(channel).Get(
                query_pb2.QueryServiceGetRequest(query_id=query_id),
                metadata=(("authorization", f"Bearer {tokens.token()}"),),
                timeout=30,
            )
        return got.query

    def submit(self, sql: str = NEEDS_REVIEW) -> str:
        with self.partner() as client:
            submitted = client.submit(sql, purpose=PURPOSE)
        assert submitted.status == "PENDING_REVIEW", submitted
        return submitted.query_id

    def add_steward(self, username: str) -> None:
        """A steward account ``username`` with :data:`PASSWORD` (once)."""
        if username not in self.stewards:
            self.stewards[username] = self.serving.admin.create_steward(username, PASSWORD).id

    def steward(self, username: str) -> requests.Session:
        """The steward ``username`` (created on first use), signed in over HTTP."""
        self.add_steward(username)
        return signed_in(self.url, username)


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def signed_in(url: str, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/login", timeout=10)
    done = session.post(
        f"{url}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert done.status_code == 302, done.text
    return session


@contextmanager
def review_stack(tmp_path: Path, policy_text: str | None = None) -> Iterator[ReviewStack]:
    """The stack with ``policy_text`` (the default policy) in force and one insurer app."""
    zone_dir = tmp_path / "zone"
    init_zone(zone_dir, MASTER)
    ingest(zone_dir, make_source(60).write(tmp_path / "src"), open_keyring(zone_dir, MASTER))
    settings = load_settings(
        overrides={
            "zone": {"dir": zone_dir},
            "portal": {"bind": "127.0.0.1:0", "cookie_secure": False},
            "grpc": {"bind": "127.0.0.1:0"},
            "audit": {"sqlite_synchronous": "NORMAL"},
        },
        environ={},
    )
    settings = dataclasses.replace(
        settings, zone=dataclasses.replace(settings.zone, master_key=Secret(MASTER))
    )
    serving = start_serving(settings)
    try:
        admin = serving.admin
        approver = admin.create_steward("apps-steward", PASSWORD)  # the steward organization: 1
        # the default policy's grants name the organization by its slug (the token's `org`)
        insurer = admin.create_organization("Demo Insurance Co.", "INSURER", slug="demo-insurer")
        user = admin.create_partner_user(insurer, "insurer", PASSWORD)
        app = admin.register_app(
            user, "pricing", ["query:submit", "query:run"], [PURPOSE], "price from aggregates"
        )
        credentials = admin.approve_app(approver, app.client_id)
        serving.core.policies.apply(
            policy_text or default_policy_text(), Caller("cli", "operator"), "policy.yaml"
        )
        yield ReviewStack(serving, credentials.client_id, credentials.client_secret)
    finally:
        serving.stop()
