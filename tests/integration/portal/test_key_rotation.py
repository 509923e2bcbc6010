"""Every change of the token-signing key is an entry in the portal log (key ids only)."""

from __future__ import annotations

import json

from dataward.transparency import verify_log_entries
from portal import rotate_signing_key
from tests.integration.portal.conftest import Env


def test_rotation_is_logged_with_the_kids_and_no_key_material(env: Env) -> None:
    old_kid = env.client().get("/.well-known/jwks.json").get_json()["keys"][0]["kid"]
    new_kid = rotate_signing_key(env.portal)
    assert new_kid != old_kid

    export = env.portal.export_log()
    verify_log_entries(
        export.entries, export.checkpoints, export.key_name, export.public_key, origin=export.origin
    )
    rotations = [
        json.loads(e.leaf)
        for e in export.entries
        if json.loads(e.leaf)["kind"] == "signing_key_rotated"
    ]
    assert len(rotations) == 1
    assert set(rotations[0]) == {"kind", "at", "kid", "retired_kids"}
    assert rotations[0]["kid"] == new_kid and rotations[0]["retired_kids"] == [old_kid]

    jwks = env.client().get("/.well-known/jwks.json").get_json()["keys"]
    assert {k["kid"] for k in jwks} == {old_kid, new_kid}
    for key in jwks:  # neither the public coordinates nor a private part reach the log
        for part in ("x", "y", "d"):
            if part in key:
                assert key[part].encode() not in b"".join(e.leaf for e in export.entries)


def test_a_second_rotation_retires_only_the_active_key(env: Env) -> None:
    first = rotate_signing_key(env.portal)
    second = rotate_signing_key(env.portal)
    leaves = [json.loads(e.leaf) for e in env.portal.export_log().entries]
    rotations = [leaf for leaf in leaves if leaf["kind"] == "signing_key_rotated"]
    assert [r["kid"] for r in rotations] == [first, second]
    assert rotations[1]["retired_kids"] == [first]
