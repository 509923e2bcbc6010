"""Write ``docs/result-hash-vectors.json``: answers, their canonical bytes and result hashes.

Each vector is an answer as it arrives on the wire (the response message in proto3 JSON, plus
the request's ``client_nonce`` and, for a face match, the query ciphertext it sent), the
method and result fields the zone hashed for it, the exact canonical JSON text and its
SHA-256. ``docs/receipts.md`` specifies the mapping; ``tests/unit/dataward/
test_result_hash_vectors.py`` checks every vector against the Python implementation (the SDK's
converters, :func:`dataward.client.Client.verify_answer`'s ``release_of`` and
:func:`dataward.receipts.result_hash`).

``python tools/receipt_vectors.py`` rewrites the file; ``--check`` fails if it would change.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from dataward import receipts
from dataward.client._audit_view import audit_page, usage_summary
from dataward.client._convert import (
    consent_grant,
    credit_band,
    eligibility_result,
    identity_result,
)
from dataward.client._query import budget_state, explanation, query_result, submission
from dataward.client._release import Answer, release_of
from dataward.client._scoring import (
    ckks_batch_answer,
    face_match_answer,
    model_info,
    paillier_score_answer,
    pending_models,
)
from dataward.v1 import (
    audit_pb2,
    common_pb2,
    compute_pb2,
    eligibility_pb2,
    identity_pb2,
    query_pb2,
    steward_pb2,
)

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "docs" / "result-hash-vectors.json"

# rpc -> (response type, how the SDK reads that response into an answer value)
Convert = Callable[[Any, str, bytes], Answer]
CONVERTERS: dict[str, tuple[type[Message], Convert]] = {
    "dataward.v1.EligibilityService/Check": (
        eligibility_pb2.CheckResponse,
        lambda r, nonce, _: eligibility_result(r, nonce),
    ),
    "dataward.v1.IdentityService/Verify": (
        identity_pb2.VerifyResponse,
        lambda r, nonce, _: identity_result(r, nonce),
    ),
    "dataward.v1.ComputeService/CreditBand": (
        compute_pb2.CreditBandResponse,
        lambda r, nonce, _: credit_band(r, nonce),
    ),
    "dataward.v1.ComputeService/PaillierScore": (
        compute_pb2.PaillierScoreResponse,
        lambda r, nonce, _: paillier_score_answer(r, nonce),
    ),
    "dataward.v1.ComputeService/CkksBatchScore": (
        compute_pb2.CkksBatchScoreResponse,
        lambda r, nonce, _: ckks_batch_answer(r, nonce),
    ),
    "dataward.v1.ComputeService/EncryptedFaceMatch": (
        compute_pb2.EncryptedFaceMatchResponse,
        lambda r, nonce, query: face_match_answer(r, query, nonce),
    ),
    "dataward.v1.ComputeService/GetModel": (
        compute_pb2.GetModelResponse,
        lambda r, _n, _q: model_info(r.model, r.receipt, receipts.COMPUTE_GET_MODEL),
    ),
    "dataward.v1.StewardService/GrantConsent": (
        steward_pb2.GrantConsentResponse,
        lambda r, nonce, _: consent_grant(r, nonce),
    ),
    "dataward.v1.StewardService/ListPendingModels": (
        steward_pb2.ListPendingModelsResponse,
        lambda r, _n, _q: pending_models(r),
    ),
    "dataward.v1.QueryService/Explain": (
        query_pb2.ExplainResponse,
        lambda r, nonce, _: explanation(r, nonce),
    ),
    "dataward.v1.QueryService/Submit": (
        query_pb2.SubmitResponse,
        lambda r, nonce, _: submission(r, nonce),
    ),
    "dataward.v1.QueryService/Run": (
        query_pb2.RunResponse,
        lambda r, nonce, _: query_result(r, nonce),
    ),
    "dataward.v1.QueryService/GetBudget": (
        query_pb2.GetBudgetResponse,
        lambda r, nonce, _: budget_state(r.budget, r.receipt, nonce),
    ),
    "dataward.v1.AuditService/ListEvents": (
        audit_pb2.ListEventsResponse,
        lambda r, nonce, _: audit_page(r, nonce),
    ),
    "dataward.v1.AuditService/UsageSummary": (
        audit_pb2.UsageSummaryResponse,
        lambda r, nonce, _: usage_summary(r, nonce),
    ),
}


@dataclass(frozen=True)
class Case:
    name: str
    rpc: str
    response: Message
    client_nonce: str = ""
    query_ciphertext: bytes = b""


def canonical_text(method: str, request_id: str, fields: receipts.ResultFields, nonce: str) -> str:
    """The canonical JSON text :func:`dataward.receipts.result_hash` hashes (its UTF-8)."""
    body = {
        "client_nonce": nonce,
        "method": method,
        "request_id": request_id,
        "result": {k: list(v) if isinstance(v, tuple | list) else v for k, v in fields.items()},
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def answer_of(rpc: str, response_json: dict[str, Any], nonce: str, query: bytes) -> Answer:
    """Parse ``response_json`` (proto3 JSON) as ``rpc``'s response and read it as the SDK does."""
    kind, convert = CONVERTERS[rpc]
    message = json_format.ParseDict(response_json, kind())
    return convert(message, nonce, query)


def _receipt(request_id: str) -> common_pb2.Receipt:
    # Only request_id enters the result hash; the proof fields are the receipt's business.
    return common_pb2.Receipt(request_id=request_id)


def _arrow_ipc() -> bytes:
    import pyarrow as pa

    table = pa.table(
        {
            "province": pa.array(["Hebei", "Shanxi"]),
            "persons": pa.array([1204, None], pa.int64()),
            "suppressed": pa.array([False, True]),
        }
    )
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _model(status: int) -> compute_pb2.ModelInfo:
    return compute_pb2.ModelInfo(
        organization="acme-insurance",
        card=compute_pb2.ModelCard(
            model_id="loan-risk",
            version=3,
            feature_set="credit_v1",
            weight_count=4,
            output_bits=32,
            purpose=common_pb2.PURPOSE_LOAN_ORIGINATION,
        ),
        status=status,
        card_digest=hashlib.sha256(b"model card").digest(),
        registered_at=1_764_720_000,
    )


def cases() -> list[Case]:
    e, i, c, q = eligibility_pb2, identity_pb2, compute_pb2, query_pb2
    ipc = _arrow_ipc()
    budget = q.BudgetState(
        dataset_version="v0003",
        day="2026-12-03",
        per_query_micro=1_000_000,
        limits=[
            q.BudgetLimit(
                name="day", limit_micro=5_000_000, spent_micro=1_500_000, left_micro=3_500_000
            )
        ],
        available_micro=1_000_000,
    )
    return [
        Case(
            "eligibility: eligible, employee scheme",
            "dataward.v1.EligibilityService/Check",
            e.CheckResponse(
                eligible=True,
                coverage_class=e.COVERAGE_CLASS_EMPLOYEE,
                receipt=_receipt("0f3c9a4e7b2d4c1e9a8b7c6d5e4f3a2b"),
            ),
            client_nonce="n-5Jq0rYt3mW8xK2",
        ),
        Case(
            "eligibility: not eligible, two reasons, no coverage class, no nonce",
            "dataward.v1.EligibilityService/Check",
            e.CheckResponse(
                eligible=False,
                reasons=[
                    e.ELIGIBILITY_REASON_SUSPENDED_ARREARS,
                    e.ELIGIBILITY_REASON_BENEFIT_NOT_COVERED,
                ],
                receipt=_receipt("1a2b3c4d5e6f47a8b9c0d1e2f3a4b5c6"),
            ),
        ),
        Case(
            "identity: document only (the name sent is never hashed)",
            "dataward.v1.IdentityService/Verify",
            i.VerifyResponse(
                id_number_valid=True,
                name_matches=False,
                registry_status=i.REGISTRY_STATUS_ACTIVE,
                receipt=_receipt("2b3c4d5e6f7a48b9c0d1e2f3a4b5c6d7"),
            ),
            client_nonce="nonce-identity-1",
        ),
        Case(
            "identity: with a selfie, MATCH HIGH, a non-ASCII and a quote in validated_on",
            "dataward.v1.IdentityService/Verify",
            i.VerifyResponse(
                id_number_valid=True,
                name_matches=True,
                registry_status=i.REGISTRY_STATUS_ACTIVE,
                face=i.FaceCheck(
                    outcome=i.FACE_OUTCOME_MATCH,
                    band=i.FACE_BAND_HIGH,
                    validated_on='LFW View 2 fold 1 "product path"; 身份证 photos',
                ),
                receipt=_receipt("3c4d5e6f7a8b49c0d1e2f3a4b5c6d7e8"),
            ),
            client_nonce="nonce-face-1",
        ),
        Case(
            "identity: with a selfie, INCONCLUSIVE, retake reason",
            "dataward.v1.IdentityService/Verify",
            i.VerifyResponse(
                id_number_valid=True,
                name_matches=True,
                registry_status=i.REGISTRY_STATUS_ACTIVE,
                face=i.FaceCheck(
                    outcome=i.FACE_OUTCOME_INCONCLUSIVE,
                    retake=i.RETAKE_REASON_TOO_BLURRY,
                    validated_on="LFW View 2 fold 1",
                ),
                receipt=_receipt("4d5e6f7a8b9c40d1e2f3a4b5c6d7e8f9"),
            ),
            client_nonce="nonce-face-2",
        ),
        Case(
            "credit band",
            "dataward.v1.ComputeService/CreditBand",
            c.CreditBandResponse(
                band="B",
                scorecard="retail-2026",
                policy_version="7",
                receipt=_receipt("5e6f7a8b9c0d41e2f3a4b5c6d7e8f9a0"),
            ),
            client_nonce="nonce-band",
        ),
        Case(
            "paillier score: ciphertext hashed, negative exponent",
            "dataward.v1.ComputeService/PaillierScore",
            c.PaillierScoreResponse(
                ciphertext=bytes(range(256)) * 3,
                exponent=-4,
                output_bits=32,
                model_id="loan-risk",
                model_version=3,
                policy_version="7",
                receipt=_receipt("6f7a8b9c0d1e42f3a4b5c6d7e8f9a0b1"),
            ),
            client_nonce="nonce-paillier",
        ),
        Case(
            "ckks batch: scored slots as a 0/1 string",
            "dataward.v1.ComputeService/CkksBatchScore",
            c.CkksBatchScoreResponse(
                ciphertext=b"\x00ckks-vector\xff",
                scored=[True, False, True, True],
                model_id="loan-risk-he",
                model_version=1,
                policy_version="7",
                receipt=_receipt("7a8b9c0d1e2f43a4b5c6d7e8f9a0b1c2"),
            ),
            client_nonce="nonce-ckks",
        ),
        Case(
            "encrypted face match: the query sent and the answer, both hashed",
            "dataward.v1.ComputeService/EncryptedFaceMatch",
            c.EncryptedFaceMatchResponse(
                ciphertext=b"answer-ciphertext",
                validated_on="LFW View 2 fold 1",
                receipt=_receipt("8b9c0d1e2f3a44b5c6d7e8f9a0b1c2d3"),
            ),
            client_nonce="nonce-match",
            query_ciphertext=b"query-ciphertext",
        ),
        Case(
            "model: GetModel",
            "dataward.v1.ComputeService/GetModel",
            c.GetModelResponse(
                model=_model(c.MODEL_STATUS_ATTESTED),
                receipt=_receipt("9c0d1e2f3a4b45c6d7e8f9a0b1c2d3e4"),
            ),
        ),
        Case(
            "steward: ListPendingModels",
            "dataward.v1.StewardService/ListPendingModels",
            steward_pb2.ListPendingModelsResponse(
                models=[_model(c.MODEL_STATUS_PENDING_ATTESTATION)],
                receipt=_receipt("a0b1c2d3e4f546a7b8c9d0e1f2a3b4c5"),
            ),
        ),
        Case(
            "steward: GrantConsent",
            "dataward.v1.StewardService/GrantConsent",
            steward_pb2.GrantConsentResponse(
                consent_ref="c-7f3e2a",
                valid_until=common_pb2.Date(year=2027, month=6, day=30),
                receipt=_receipt("b1c2d3e4f5a647b8c9d0e1f2a3b4c5d6"),
            ),
            client_nonce="nonce-consent",
        ),
        Case(
            "query: Explain, rejected, a rule with and without construct",
            "dataward.v1.QueryService/Explain",
            q.ExplainResponse(
                allowed=False,
                view="claims_analysis",
                rule="aggregate",
                release_mode=q.RELEASE_MODE_EXACT,
                rewritten_sql="SELECT province, COUNT(DISTINCT person_key) FROM claims_analysis",
                checks=["min_persons>=10"],
                rejections=[
                    q.QueryRejection(rule="COLUMN_NOT_ALLOWED", construct="id_number"),
                    q.QueryRejection(rule="NO_GROUP_BY"),
                ],
                notices=["tab\tand newline\n are escaped"],
                policy_version="7",
                receipt=_receipt("c2d3e4f5a6b748c9d0e1f2a3b4c5d6e7"),
            ),
            client_nonce="nonce-explain",
        ),
        Case(
            "query: Submit, pending review",
            "dataward.v1.QueryService/Submit",
            q.SubmitResponse(
                query_id="q-0042",
                status=q.QUERY_STATUS_PENDING_REVIEW,
                policy_version="7",
                receipt=_receipt("d3e4f5a6b7c849d0e1f2a3b4c5d6e7f8"),
            ),
            client_nonce="nonce-submit",
        ),
        Case(
            "query: Run, exact release, the Arrow IPC bytes hashed",
            "dataward.v1.QueryService/Run",
            q.RunResponse(
                arrow_ipc=ipc,
                columns=[
                    q.ResultColumn(name="province", kind="dimension"),
                    q.ResultColumn(name="persons", kind="count"),
                ],
                suppressed_cells=1,
                policy_version="7",
                release_mode=q.RELEASE_MODE_EXACT,
                rows=2,
                receipt=_receipt("e4f5a6b7c8d940e1f2a3b4c5d6e7f8a9"),
            ),
            client_nonce="nonce-run",
        ),
        Case(
            "query: Run, DP release: floats as shortest round-trip text, delta",
            "dataward.v1.QueryService/Run",
            q.RunResponse(
                arrow_ipc=ipc,
                columns=[
                    q.ResultColumn(name="province", kind="dimension"),
                    q.ResultColumn(name="persons", kind="count"),
                ],
                policy_version="7",
                release_mode=q.RELEASE_MODE_DP,
                rows=2,
                dp=q.DpRelease(
                    charge_id="ch-9",
                    epsilon_micro=500_000,
                    epsilon_spent_micro=500_000,
                    noise=[
                        q.NoiseInfo(
                            column="persons",
                            mechanism="laplace",
                            scale=2.0,
                            error_bound_95=5.991464547107979,
                            epsilon_micro=250_000,
                            threshold=27,
                        ),
                        q.NoiseInfo(
                            column="amount",
                            mechanism="laplace",
                            scale=1e-05,
                            error_bound_95=1e16,
                            epsilon_micro=250_000,
                        ),
                    ],
                    budget=budget,
                    delta=1e-10,
                ),
                receipt=_receipt("f5a6b7c8d9e041f2a3b4c5d6e7f8a9b0"),
            ),
            client_nonce="nonce-dp",
        ),
        Case(
            "query: GetBudget",
            "dataward.v1.QueryService/GetBudget",
            q.GetBudgetResponse(
                budget=budget, receipt=_receipt("a6b7c8d9e0f142a3b4c5d6e7f8a9b0c1")
            ),
            client_nonce="nonce-budget",
        ),
        Case(
            "audit: ListEvents, a refused request, a steward action, a cursor",
            "dataward.v1.AuditService/ListEvents",
            audit_pb2.ListEventsResponse(
                entries=[
                    audit_pb2.AuditLogEntry(
                        leaf_index=41,
                        logged_at_micros=1_764_720_000_123_456,
                        kind="request_received",
                        client_id="app-1",
                        organization="acme-insurance",
                        method="EligibilityService/Check",
                        purpose="INSURANCE_UNDERWRITING",
                        request_id="5d1c2b3a4f5e46d7c8b9a0f1e2d3c4b5",
                        decision=audit_pb2.AUDIT_DECISION_DENY,
                        reasons=["CONSENT_REQUIRED"],
                        about_person=True,
                    ),
                    audit_pb2.AuditLogEntry(
                        leaf_index=37,
                        logged_at_micros=1_764_719_990_000_001,
                        kind="steward_action",
                        actor="user:3",
                        action="approve_query",
                        target="q-0042",
                    ),
                ],
                next_page_token="37",  # noqa: S106 (a page cursor)
                receipt=_receipt("b7c8d9e0f1a243b4c5d6e7f8a9b0c1d2"),
            ),
            client_nonce="nonce-audit-page",
        ),
        Case(
            "audit: UsageSummary, two apps, days and refusals by reason",
            "dataward.v1.AuditService/UsageSummary",
            audit_pb2.UsageSummaryResponse(
                apps=[
                    audit_pb2.AppUsage(
                        client_id="app-1",
                        organization="acme-insurance",
                        calls=3,
                        refused=1,
                        days=[
                            audit_pb2.DailyUsage(
                                day=common_pb2.Date(year=2026, month=12, day=2), calls=1
                            ),
                            audit_pb2.DailyUsage(
                                day=common_pb2.Date(year=2026, month=12, day=3),
                                calls=2,
                                refused=1,
                            ),
                        ],
                        refusals=[audit_pb2.RefusalCount(reason="CONSENT_REQUIRED", count=1)],
                    ),
                    audit_pb2.AppUsage(
                        client_id="",
                        calls=2,
                        refused=2,
                        days=[
                            audit_pb2.DailyUsage(
                                day=common_pb2.Date(year=2026, month=12, day=3),
                                calls=2,
                                refused=2,
                            )
                        ],
                        refusals=[audit_pb2.RefusalCount(reason="TOKEN_INVALID", count=2)],
                    ),
                ],
                from_time=1_762_128_000,
                to_time=1_764_720_000,
                receipt=_receipt("c8d9e0f1a2b344c5d6e7f8a9b0c1d2e3"),
            ),
        ),
    ]


def vector(case: Case) -> dict[str, Any]:
    response = json_format.MessageToDict(case.response)
    answer = answer_of(case.rpc, response, case.client_nonce, case.query_ciphertext)
    method, fields = release_of(answer)
    request_id = answer.request_id
    text = canonical_text(method, request_id, fields, case.client_nonce)
    digest = receipts.result_hash(method, request_id, fields, client_nonce=case.client_nonce)
    assert hashlib.sha256(text.encode("utf-8")).digest() == digest, case.name
    entry: dict[str, Any] = {
        "name": case.name,
        "rpc": case.rpc,
        "response_type": case.response.DESCRIPTOR.full_name,
        "response": response,
        "client_nonce": case.client_nonce,
    }
    if case.query_ciphertext:
        entry["query_ciphertext"] = base64.b64encode(case.query_ciphertext).decode()
    entry |= {
        "method": method,
        "request_id": request_id,
        "result": json.loads(text)["result"],
        "canonical_json": text,
        "result_hash": digest.hex(),
    }
    return entry


def document() -> str:
    data = {
        "description": (
            "Result-hash test vectors (docs/receipts.md): each answer as it arrives "
            "(response in proto3 JSON, the request's client_nonce, for a face match the query "
            "sent), the method and result fields the zone hashes, the canonical JSON text "
            "(hash its UTF-8 bytes) and its SHA-256 in hex."
        ),
        "vectors": [vector(c) for c in cases()],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file would change")
    options = parser.parse_args()
    text = document()
    if options.check:
        if VECTORS.read_text(encoding="utf-8") != text:
            print(
                f"{VECTORS.relative_to(ROOT)} is stale: run tools/receipt_vectors.py",
                file=sys.stderr,
            )
            return 1
        return 0
    VECTORS.parent.mkdir(exist_ok=True)
    VECTORS.write_text(text, encoding="utf-8")
    print(f"wrote {VECTORS.relative_to(ROOT)}: {len(cases())} vectors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
