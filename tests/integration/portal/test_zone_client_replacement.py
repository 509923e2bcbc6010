"""`replace_zone_client`: each `dataward serve` start gets a fresh zone secret and every
earlier zone client stops working, logged as portal events."""

from __future__ import annotations

import json

from tests.integration.portal.conftest import Env


def _feed_status(env: Env, client_id: str, secret: str) -> int:
    response = env.client().get("/oauth/revocations?since=0", auth=(client_id, secret))
    return response.status_code


def test_replacing_the_zone_client_revokes_every_earlier_one(env: Env) -> None:
    first = env.portal.admin.create_zone_client()
    assert _feed_status(env, first.client_id, first.client_secret) == 200
    second = env.portal.admin.replace_zone_client()
    assert _feed_status(env, first.client_id, first.client_secret) == 401
    assert _feed_status(env, second.client_id, second.client_secret) == 200
    third = env.portal.admin.replace_zone_client()

    assert _feed_status(env, third.client_id, third.client_secret) == 200
    for old in (first, second):
        assert _feed_status(env, old.client_id, old.client_secret) == 401
        assert env.portal.admin.get_app(old.client_id).status == "REVOKED"
    assert env.portal.admin.get_app(third.client_id).status == "APPROVED"

    leaves = [json.loads(e.leaf) for e in env.portal.export_log().entries]
    revoked = [
        leaf["client_id"]
        for leaf in leaves
        if leaf["kind"] == "app_decided" and leaf["status"] == "REVOKED"
    ]
    assert revoked == [first.client_id, second.client_id]  # each revoked once, in order
    assert not any(c.client_secret in json.dumps(leaves) for c in (first, second, third))


def test_replacing_without_an_earlier_zone_client_just_creates_one(env: Env) -> None:
    only = env.portal.admin.replace_zone_client()
    assert _feed_status(env, only.client_id, only.client_secret) == 200
    assert env.portal.admin.get_app(only.client_id).status == "APPROVED"
