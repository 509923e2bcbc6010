"""Issue 14, end to end on `dataward serve`'s real stack: what the portal publishes about the
zone is the zone's own -- the gRPC target serve listens on and the key in
ZONE/public/zone-signing-key.pub -- and a partner holding only the portal's URL, its client
id and secret connects with ``Client.from_issuer`` and verifies an answer's receipt against
the key the portal published."""

from __future__ import annotations

from pathlib import Path

import requests

from dataward.client import Client
from dataward.transparency import load_named_public_key
from enclave.keys import PUBLIC_KEY_FILE
from tests.support.review_stack import NEEDS_REVIEW, PURPOSE, review_stack


def test_a_partner_connects_from_the_portal_url_alone(tmp_path: Path) -> None:
    with review_stack(tmp_path) as stack:
        name, key = load_named_public_key((tmp_path / "zone" / PUBLIC_KEY_FILE).read_bytes())
        assert name == stack.serving.core.key_name
        metadata = requests.get(
            f"{stack.url}/.well-known/oauth-authorization-server", timeout=10
        ).json()
        assert metadata["dataward_grpc_target"] == f"127.0.0.1:{stack.serving.api.port}"
        assert metadata["dataward_zone_key_name"] == name
        published = load_named_public_key(metadata["dataward_zone_public_key"].encode())
        assert published[1].public_bytes_raw() == key.public_bytes_raw()

        with Client.from_issuer(
            stack.url, stack.client_id, stack.client_secret, scope="query:submit query:run"
        ) as client:
            assert client.audit_public_key()[0] == name  # pinned from the metadata
            submitted = client.submit(NEEDS_REVIEW, purpose=PURPOSE)
            assert submitted.status == "PENDING_REVIEW"
            checkpoint = client.verify_answer(submitted)  # against the published key
            assert checkpoint.origin == name
