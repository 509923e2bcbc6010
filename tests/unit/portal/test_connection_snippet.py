"""The credentials page's Python snippet (issue 14) is real Python for every app."""

from __future__ import annotations

import ast

import pytest

from portal._connection import ConnectionDetails, python_snippet

PUBLISHED = ConnectionDetails(
    issuer="https://portal.example",
    token_endpoint="https://portal.example/oauth/token",
    grpc_target="zone.example:443",
    grpc_tls=True,
    zone_key_name="dataward-zone-z",
    zone_public_key="dataward-zone-z+0badc0de+AQ==",
)


@pytest.mark.parametrize(
    ("scopes", "call"),
    [
        (("eligibility:check",), "client.check_eligibility("),
        (("identity:verify",), "client.verify_identity("),
        (("query:run", "query:submit"), "client.run_query("),
        (("query:submit",), "client.explain("),
        (("audit:read",), "client.audit_public_key()"),
        ((), "client.audit_public_key()"),
    ],
)
def test_each_scope_gets_a_call_that_parses(scopes: tuple[str, ...], call: str) -> None:
    snippet = python_snippet(
        PUBLISHED, client_id="app-1", scopes=scopes, purposes=("RESEARCH",), private_key=False
    )
    ast.parse(snippet)
    assert call in snippet
    assert "target=" not in snippet  # the metadata has it


def test_a_private_key_app_reads_its_key_file_and_no_secret() -> None:
    snippet = python_snippet(
        PUBLISHED, client_id="app-1", scopes=("query:run",), purposes=(), private_key=True
    )
    ast.parse(snippet)
    assert 'private_key=open("app-key.pem", "rb").read()' in snippet
    assert "DATAWARD_CLIENT_SECRET" not in snippet
    assert "Purpose.RESEARCH" in snippet


def test_without_a_published_zone_the_snippet_asks_for_the_target() -> None:
    alone = ConnectionDetails("http://p", "http://p/oauth/token", None, False, None, None)
    snippet = python_snippet(
        alone, client_id="a", scopes=("eligibility:check",), purposes=("X",), private_key=False
    )
    ast.parse(snippet)
    assert 'target="ZONE-HOST:PORT"' in snippet and "load_named_public_key" not in snippet


def test_values_are_python_literals_never_spliced_code() -> None:
    odd = ConnectionDetails('http://p/"); import os; os.system("x', "t", "z:1", False, None, None)
    snippet = python_snippet(
        odd, client_id='a"b', scopes=("audit:read",), purposes=(), private_key=False
    )
    tree = ast.parse(snippet)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    names = {c.func.attr for c in calls if isinstance(c.func, ast.Attribute)}
    assert "system" not in names  # the quote stayed inside the string
    assert '"a\\"b"' in snippet
