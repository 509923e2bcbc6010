"""A client not written here: ``buf curl`` through server reflection, with a bearer token."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from google.rpc import error_details_pb2

from tests.support.grpc_stack import grpc_stack
from tests.support.person_fakes import ALICE

BUF = Path(sys.executable).parent / "buf"


def test_buf_curl_calls_check_through_reflection(tmp_path: Path) -> None:
    assert BUF.exists(), "buf (dev dependency buf-bin) is missing: run `make sync`"
    with grpc_stack(tmp_path) as stack:
        stack.consent(ALICE)
        token = stack.issuer.token()
        url = f"http://{stack.target}/dataward.v1.EligibilityService/Check"
        body = {
            "id_number": ALICE,
            "benefit": "BENEFIT_OUTPATIENT",
            "purpose": "PURPOSE_INSURANCE_UNDERWRITING",
        }
        base = [str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge"]
        ok = subprocess.run(
            [*base, "-H", f"Authorization: Bearer {token}", "--data", json.dumps(body), url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        refused = subprocess.run(
            [*base, "--data", json.dumps(body), url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert ok.returncode == 0, ok.stderr
    answer = json.loads(ok.stdout)
    assert answer["eligible"] is True
    assert answer["coverageClass"] == "COVERAGE_CLASS_EMPLOYEE"
    assert "receipt" in answer
    assert refused.returncode != 0
    error = json.loads(refused.stderr)
    assert error["code"] == "unauthenticated"
    detail = error["details"][0]
    assert detail["type"] == "google.rpc.ErrorInfo"
    raw = base64.b64decode(detail["value"] + "=" * (-len(detail["value"]) % 4))
    info = error_details_pb2.ErrorInfo.FromString(raw)
    assert (info.reason, info.domain) == ("TOKEN_MISSING", "dataward.v1")
