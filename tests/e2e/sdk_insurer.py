"""An insurer's program using only the installed ``dataward-sdk`` (run by test_sdk_wheel.py
with a clean venv's interpreter, ``python -I``: nothing of the repository on its path).

Reads its connection from stdin as JSON (``token_url``, ``client_id``, ``client_secret``,
``target``, ``key_name``, ``public_key_pem``, ``person``, ``other``) -- the secret never in argv
-- checks ``person``'s outpatient eligibility for underwriting, verifies the answer's receipt
against the pinned zone key, checks ``other`` (no consent: refused) and prints what it saw as
one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys

from dataward.client import Client, ClientCredentialsTokenSource, ConsentRequired
from dataward.transparency import load_public_key


def main() -> int:
    config = json.load(sys.stdin)
    tokens = ClientCredentialsTokenSource(
        config["token_url"],
        config["client_id"],
        config["client_secret"],
        "eligibility:check audit:read",
    )
    key = (config["key_name"], load_public_key(config["public_key_pem"].encode()))
    with Client(config["target"], tokens, audit_key=key) as client:
        result = client.check_eligibility(config["person"], "OUTPATIENT", "INSURANCE_UNDERWRITING")
        checkpoint = client.verify_answer(result)
        try:
            client.check_eligibility(config["other"], "OUTPATIENT", "INSURANCE_UNDERWRITING")
            refused = ""
        except ConsentRequired as error:
            refused = error.reason
    print(
        json.dumps(
            {
                "eligible": result.eligible,
                "coverage_class": str(result.coverage_class),
                "leaf_index": result.receipt.leaf_index,
                "checkpoint_size": checkpoint.size,
                "refused": refused,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
