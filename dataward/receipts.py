"""What binds an answer to its receipt: the result hash, defined once for zone and partner.

The zone logs every answer as a ``release`` leaf carrying ``request_id`` and ``result_hash``;
the receipt proves that leaf is in the signed log. This module says, for both sides, how the
answer's own fields hash, so a partner can check that the leaf it was given is the release of
THIS answer (not of an earlier one) with nothing but the answer and the zone's public key.

The result hash is SHA-256 over canonical JSON -- sorted keys, no whitespace,
``ensure_ascii=False``, UTF-8 -- of ``{"client_nonce": ..., "method": ..., "request_id": ...,
"result": fields}``, where ``client_nonce`` is the nonce the partner sent with the request
("" if none): an answer and its receipt then prove the answer to THAT request, so an earlier
answer replayed with its own genuine receipt does not verify against a new request's nonce;
where ``fields`` is a flat mapping of ``str`` to ``str | bool | int | list[str]`` (no floats,
no ``None``, no nesting: every language encodes those the same way). The ``*_fields``
functions below fix the fields of each answer kind, so the zone and the SDK cannot drift.

Imports only the standard library and :mod:`dataward.transparency` (the zone imports it too).
Errors are :class:`dataward.transparency.ReceiptError`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dataward.transparency import Checkpoint, Receipt, ReceiptError, verify_receipt

__all__ = [
    "AUDIT_LIST_EVENTS",
    "AUDIT_USAGE_SUMMARY",
    "COMPUTE_CKKS_BATCH",
    "COMPUTE_CREDIT_BAND",
    "COMPUTE_FACE_MATCH",
    "COMPUTE_GET_MODEL",
    "COMPUTE_PAILLIER_SCORE",
    "COMPUTE_REGISTER_MODEL",
    "ELIGIBILITY_CHECK",
    "GRANT_CONSENT",
    "IDENTITY_VERIFY",
    "MODELS_ATTEST",
    "MODELS_LIST_PENDING",
    "QUERY_EXPLAIN",
    "QUERY_GET",
    "QUERY_LIST",
    "QUERY_RUN",
    "QUERY_SUBMIT",
    "REVIEW_APPROVE",
    "REVIEW_GET",
    "REVIEW_LIST",
    "REVIEW_REJECT",
    "REVOKE_CONSENT",
    "FaceFields",
    "ReleaseLeaf",
    "ResultFields",
    "audit_entry_text",
    "audit_events_fields",
    "ckks_batch_fields",
    "consent_grant_fields",
    "consent_revoke_fields",
    "credit_band_fields",
    "eligibility_fields",
    "face_match_fields",
    "identity_fields",
    "model_fields",
    "model_list_fields",
    "paillier_score_fields",
    "parse_release_leaf",
    "query_explain_fields",
    "query_get_fields",
    "query_list_fields",
    "query_run_fields",
    "query_submit_fields",
    "result_hash",
    "review_approve_fields",
    "review_conditions",
    "review_get_fields",
    "review_list_fields",
    "review_reject_fields",
    "usage_app_text",
    "usage_summary_fields",
    "verify_release",
]

# The method names the zone logs (and hashes) for each kind of answer.
ELIGIBILITY_CHECK = "EligibilityService/Check"
IDENTITY_VERIFY = "IdentityService/Verify"
COMPUTE_CREDIT_BAND = "ComputeService/CreditBand"
COMPUTE_REGISTER_MODEL = "ComputeService/RegisterModel"
COMPUTE_GET_MODEL = "ComputeService/GetModel"
COMPUTE_PAILLIER_SCORE = "ComputeService/PaillierScore"
COMPUTE_CKKS_BATCH = "ComputeService/CkksBatchScore"
COMPUTE_FACE_MATCH = "ComputeService/EncryptedFaceMatch"
MODELS_LIST_PENDING = "StewardService/ListPendingModels"
MODELS_ATTEST = "StewardService/AttestModel"
GRANT_CONSENT = "StewardService/GrantConsent"
REVOKE_CONSENT = "StewardService/RevokeConsent"
QUERY_EXPLAIN = "QueryService/Explain"
QUERY_SUBMIT = "QueryService/Submit"
QUERY_RUN = "QueryService/Run"
QUERY_GET = "QueryService/Get"
QUERY_LIST = "QueryService/List"
QUERY_BUDGET = "QueryService/GetBudget"
REVIEW_LIST = "StewardService/ListPendingQueries"
REVIEW_GET = "StewardService/GetQueryReview"
REVIEW_APPROVE = "StewardService/ApproveQuery"
REVIEW_REJECT = "StewardService/RejectQuery"
AUDIT_LIST_EVENTS = "AuditService/ListEvents"
AUDIT_USAGE_SUMMARY = "AuditService/UsageSummary"

ResultValue = str | bool | int | Sequence[str]
ResultFields = Mapping[str, ResultValue]

# One encoder (``json.dumps`` with options builds a new one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


def _plain(name: str, value: object) -> str | bool | int | list[str]:
    # Enum members are str/int subclasses: reduce them to the plain value so the bytes
    # depend on the value alone.
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    raise TypeError(f"result field {name!r} must be str, bool, int or a list of str")


def result_hash(
    method: str, request_id: str, fields: ResultFields, *, client_nonce: str = ""
) -> bytes:
    """SHA-256 of the canonical encoding of (client_nonce, method, request_id, fields)."""
    result = {str(name): _plain(name, value) for name, value in fields.items()}
    return hashlib.sha256(
        _canonical_body(str(client_nonce), str(method), str(request_id), result)
    ).digest()


# json's own string escaper for ``ensure_ascii=False`` (C): what ``_CANONICAL`` writes for a
# str, byte for byte.
_JSON_STR: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


def _canonical_body(
    client_nonce: str, method: str, request_id: str, result: dict[str, str | bool | int | list[str]]
) -> bytes:
    """``_CANONICAL.encode`` of the body, UTF-8 -- written out directly (issue 15, the hot
    path: no dict of the body, no encoder set up per call). The keys are the body's four in
    sorted order and the result's sorted; each value as json writes it. Held equal to
    ``_CANONICAL`` by tests/unit/dataward/test_receipts.py and the published vectors."""
    parts = [
        '{"client_nonce":',
        _JSON_STR(client_nonce),
        ',"method":',
        _JSON_STR(method),
        ',"request_id":',
        _JSON_STR(request_id),
        ',"result":{',
    ]
    first = True
    for name in sorted(result):
        value = result[name]
        if not first:
            parts.append(",")
        first = False
        parts.append(_JSON_STR(name))
        parts.append(":")
        if value is True:
            parts.append("true")
        elif value is False:
            parts.append("false")
        elif isinstance(value, int):
            parts.append(int.__repr__(value))
        elif isinstance(value, str):
            parts.append(_JSON_STR(value))
        else:
            parts.append("[" + ",".join([_JSON_STR(v) for v in value]) + "]")
    parts.append("}}")
    return "".join(parts).encode("utf-8")


def eligibility_fields(
    *, eligible: bool, coverage_class: str | None, reasons: Sequence[str]
) -> dict[str, ResultValue]:
    """The fields of an eligibility answer; no coverage class is the empty string."""
    return {
        "eligible": bool(eligible),
        "coverage_class": str(coverage_class or ""),
        "reasons": [str(r) for r in reasons],
    }


def identity_fields(
    *,
    id_number_valid: bool,
    name_matches: bool,
    registry_status: str,
    face: FaceFields | None = None,
) -> dict[str, ResultValue]:
    """The fields of an identity-document answer; with a selfie (issue 13) also the face
    check's ``face_outcome`` (MATCH, NO_MATCH, INCONCLUSIVE), ``face_band`` (HIGH, MEDIUM,
    "" for INCONCLUSIVE), ``face_retake`` (the retake reason, "" if none) and
    ``face_validated_on`` (the sentence the answer carries) -- never a distance. An answer
    without a selfie hashes exactly the three document fields, as before."""
    fields: dict[str, ResultValue] = {
        "id_number_valid": bool(id_number_valid),
        "name_matches": bool(name_matches),
        "registry_status": str(registry_status),
    }
    if face is not None:
        fields |= {
            "face_outcome": str(face.outcome),
            "face_band": str(face.band),
            "face_retake": str(face.retake),
            "face_validated_on": str(face.validated_on),
        }
    return fields


@dataclass(frozen=True)
class FaceFields:
    """The face check of an identity answer as the receipt hashes it (names without their
    wire prefixes: ``MATCH``, ``HIGH``, ``NO_FACE``; "" where the wire says UNSPECIFIED)."""

    outcome: str
    band: str
    retake: str
    validated_on: str


def credit_band_fields(*, band: str, scorecard: str, policy_version: str) -> dict[str, ResultValue]:
    """The fields of a credit band: the band (A-E), the scorecard and the policy version that
    gave it -- everything the answer carries (never a feature or the score)."""
    return {
        "band": str(band),
        "scorecard": str(scorecard),
        "policy_version": str(policy_version),
    }


def paillier_score_fields(
    *,
    ciphertext: bytes,
    exponent: int,
    output_bits: int,
    model_id: str,
    model_version: int,
    policy_version: str,
) -> dict[str, ResultValue]:
    """The fields of a Paillier score: the SHA-256 of the returned ciphertext bytes (hex), the
    exponent and width the partner decodes with, the model and the policy version."""
    return {
        "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
        "exponent": int(exponent),
        "output_bits": int(output_bits),
        "model_id": str(model_id),
        "model_version": int(model_version),
        "policy_version": str(policy_version),
    }


def ckks_batch_fields(
    *,
    ciphertext: bytes,
    scored: Sequence[bool],
    model_id: str,
    model_version: int,
    policy_version: str,
) -> dict[str, ResultValue]:
    """The fields of a CKKS batch: the SHA-256 of the returned ciphertext bytes (hex), which
    slots hold a score (a string of 0 and 1, slot 0 first), the model and the policy version."""
    return {
        "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
        "scored": "".join("1" if s else "0" for s in scored),
        "model_id": str(model_id),
        "model_version": int(model_version),
        "policy_version": str(policy_version),
    }


def face_match_fields(
    *, query: bytes, ciphertext: bytes, validated_on: str
) -> dict[str, ResultValue]:
    """The fields of an encrypted face match (issue 13): the SHA-256 (hex) of the partner's
    query ciphertext bytes (the answer is for that query) and of the returned answer bytes,
    and the sentence on what the threshold was validated on -- never a template or a score
    (the zone cannot read the answer)."""
    return {
        "query_sha256": hashlib.sha256(query).hexdigest(),
        "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
        "validated_on": str(validated_on),
    }


def model_fields(
    *, organization: str, model_id: str, version: int, status: str, card_digest: bytes
) -> dict[str, ResultValue]:
    """The fields of an answer about one model (RegisterModel, GetModel, AttestModel): whose,
    which, its status (``PENDING_ATTESTATION``, ``ATTESTED``, ``LAPSED``) and its card digest
    (hex)."""
    return {
        "organization": str(organization),
        "model_id": str(model_id),
        "version": int(version),
        "status": str(status),
        "card_digest": card_digest.hex(),
    }


def model_list_fields(*, models: Sequence[str]) -> dict[str, ResultValue]:
    """The fields of a list of models: each as ``<organization>/<model_id>/<version>``."""
    return {"models": [str(m) for m in models]}


def consent_grant_fields(*, consent_ref: str, valid_until: dt.date) -> dict[str, ResultValue]:
    """The fields of a consent grant: its reference and last valid day (ISO 8601, UTC)."""
    return {"consent_ref": str(consent_ref), "valid_until": valid_until.isoformat()}


def consent_revoke_fields(*, consent_ref: str) -> dict[str, ResultValue]:
    """The fields of a consent revocation."""
    return {"consent_ref": str(consent_ref), "revoked": True}


def query_run_fields(
    *,
    arrow_ipc: bytes,
    suppressed_cells: int,
    policy_version: str,
    release_mode: str,
    columns: Sequence[tuple[str, str]],
    dp: Mapping[str, ResultValue] | None = None,
) -> dict[str, ResultValue]:
    """The fields of a query's answer: the SHA-256 of its Arrow IPC stream bytes (exactly the
    bytes the answer carries), the cells the gate suppressed, the policy version, the release
    mode (``exact`` or ``dp``), each column with its kind (``name:kind``) and, in ``dp``
    mode, the :func:`dp_run_fields`."""
    fields: dict[str, ResultValue] = {
        "ipc_sha256": hashlib.sha256(arrow_ipc).hexdigest(),
        "suppressed_cells": int(suppressed_cells),
        "policy_version": str(policy_version),
        "release_mode": str(release_mode),
        "columns": [f"{name}:{kind}" for name, kind in columns],
    }
    if dp is not None:
        fields |= dict(dp)
    return fields


def noise_text(
    *,
    column: str,
    mechanism: str,
    scale: float,
    error_bound_95: float,
    epsilon_micro: int,
    threshold: int | None = None,
) -> str:
    """One noisy column as a DP answer's fields carry it:
    ``column:mechanism:scale=..:bound95=..:epsilon_micro=..[:threshold=..]``."""
    text = (
        f"{column}:{mechanism}:scale={float(scale)!r}:bound95={float(error_bound_95)!r}:"
        f"epsilon_micro={int(epsilon_micro)}"
    )
    return text if threshold is None else f"{text}:threshold={int(threshold)}"


def dp_run_fields(
    *,
    charge_id: str,
    epsilon_micro: int,
    epsilon_spent_micro: int,
    replayed: bool,
    noise: Sequence[str],
    budget_left_micro: int,
    delta: float = 0.0,
) -> dict[str, ResultValue]:
    """The DP part of a query's answer: the budget charge, its price and what this call
    spent (0 for a stored answer returned again), each noisy column's noise
    (``column:mechanism:scale=..:bound95=..:epsilon_micro=..``) and the budget left."""
    return {
        "charge_id": str(charge_id),
        "epsilon_micro": int(epsilon_micro),
        "epsilon_spent_micro": int(epsilon_spent_micro),
        "replayed": bool(replayed),
        "noise": [str(n) for n in noise],
        "budget_left_micro": int(budget_left_micro),
        # partition selection's delta (0: none), as text so that it hashes exactly
        **({"delta": repr(float(delta))} if delta else {}),
    }


def query_explain_fields(
    *,
    allowed: bool,
    view: str,
    rule: str,
    release_mode: str,
    rewritten_sql: str,
    checks: Sequence[str],
    rejections: Sequence[str],
    notices: Sequence[str],
    policy_version: str,
) -> dict[str, ResultValue]:
    """The fields of an explanation; ``rejections`` as ``RULE(construct)`` (or ``RULE``)."""
    return {
        "allowed": bool(allowed),
        "view": str(view),
        "rule": str(rule),
        "release_mode": str(release_mode),
        "rewritten_sql": str(rewritten_sql),
        "checks": [str(c) for c in checks],
        "rejections": [str(r) for r in rejections],
        "notices": [str(n) for n in notices],
        "policy_version": str(policy_version),
    }


def query_submit_fields(
    *, query_id: str, status: str, rejections: Sequence[str], policy_version: str
) -> dict[str, ResultValue]:
    """The fields of a submission: its id ("" when rejected), status and rejections."""
    return {
        "query_id": str(query_id),
        "status": str(status),
        "rejections": [str(r) for r in rejections],
        "policy_version": str(policy_version),
    }


def query_get_fields(
    *,
    query_id: str,
    status: str,
    rejection_reason: str | None = None,
    conditions: Sequence[str] | None = None,
    runs_left: int | None = None,
) -> dict[str, ResultValue]:
    """The fields of a stored query's answer. For a query a steward decided, also the
    rejection reason or the approval's conditions (``mode``, ``epsilon_micro``, ``expires_at``,
    ``max_runs``, each ``name=value``: :func:`review_conditions`) and the runs left; a query
    no steward decided has exactly ``query_id`` and ``status``."""
    fields: dict[str, ResultValue] = {"query_id": str(query_id), "status": str(status)}
    if rejection_reason is not None:
        fields["rejection_reason"] = str(rejection_reason)
    if conditions is not None:
        fields["conditions"] = [str(c) for c in conditions]
    if runs_left is not None:
        fields["runs_left"] = int(runs_left)
    return fields


def review_conditions(
    *, mode: str, epsilon_micro: int, expires_at: int, max_runs: int
) -> list[str]:
    """An approval's conditions as result-field text: ``["mode=dp", "epsilon_micro=500000",
    "expires_at=<unix seconds>", "max_runs=10"]`` (epsilon as an integer of micro-epsilon,
    never a float: every language encodes integers alike)."""
    return [
        f"mode={mode}",
        f"epsilon_micro={int(epsilon_micro)}",
        f"expires_at={int(expires_at)}",
        f"max_runs={int(max_runs)}",
    ]


def review_list_fields(*, query_ids: Sequence[str]) -> dict[str, ResultValue]:
    """The fields of a page of pending queries (``ListPendingQueries``): their ids in order."""
    return {"query_ids": [str(q) for q in query_ids]}


def review_get_fields(
    *, query_id: str, status: str, approvals: Sequence[str], policy_version: str
) -> dict[str, ResultValue]:
    """The fields of one query's review (``GetQueryReview``): its id, status, the stewards
    who approved it so far (their subjects, oldest first) and the policy it was judged under."""
    return {
        "query_id": str(query_id),
        "status": str(status),
        "approvals": [str(a) for a in approvals],
        "policy_version": str(policy_version),
    }


def review_approve_fields(
    *, query_id: str, status: str, approvals: int, approvals_needed: int, conditions: Sequence[str]
) -> dict[str, ResultValue]:
    """The fields of an approval (``ApproveQuery``): the status after it, the approvals so
    far and needed, and the conditions this approval recorded (:func:`review_conditions`)."""
    return {
        "query_id": str(query_id),
        "status": str(status),
        "approvals": int(approvals),
        "approvals_needed": int(approvals_needed),
        "conditions": [str(c) for c in conditions],
    }


def review_reject_fields(*, query_id: str, status: str) -> dict[str, ResultValue]:
    """The fields of a rejection (``RejectQuery``): the id and the status after it (the
    reason is not part of the answer)."""
    return {"query_id": str(query_id), "status": str(status)}


def query_list_fields(*, query_ids: Sequence[str]) -> dict[str, ResultValue]:
    """The fields of a page of stored queries: their ids, in the page's order."""
    return {"query_ids": [str(q) for q in query_ids]}


def query_budget_fields(
    *,
    dataset_version: str,
    day: str,
    per_query_micro: int,
    limits: Sequence[tuple[str, int, int, int]],
    available_micro: int,
) -> dict[str, ResultValue]:
    """The fields of a budget read: the dataset version, the UTC day, the per-query limit,
    each limit as ``name:limit:spent:left`` (micro-epsilon) and what the next query may cost."""
    return {
        "dataset_version": str(dataset_version),
        "day": str(day),
        "per_query_micro": int(per_query_micro),
        "limits": [f"{n}:{int(lim)}:{int(sp)}:{int(le)}" for n, lim, sp, le in limits],
        "available_micro": int(available_micro),
    }


def audit_entry_text(
    *,
    leaf_index: int,
    logged_at_micros: int,
    kind: str,
    client_id: str,
    organization: str,
    method: str,
    purpose: str,
    request_id: str,
    decision: str,
    reasons: Sequence[str],
    about_person: bool,
    released: bool,
    actor: str,
    action: str,
    target: str,
    count: int,
) -> str:
    """One entry of a ``ListEvents`` page as its result field holds it: the canonical JSON
    text (as the result hash's) of the entry's wire fields by their proto names, ``decision``
    as ``allow``, ``deny``, ``pending`` or "" (UNSPECIFIED)."""
    entry = {
        "leaf_index": int(leaf_index),
        "logged_at_micros": int(logged_at_micros),
        "kind": str(kind),
        "client_id": str(client_id),
        "organization": str(organization),
        "method": str(method),
        "purpose": str(purpose),
        "request_id": str(request_id),
        "decision": str(decision),
        "reasons": [str(r) for r in reasons],
        "about_person": bool(about_person),
        "released": bool(released),
        "actor": str(actor),
        "action": str(action),
        "target": str(target),
        "count": int(count),
    }
    return _CANONICAL.encode(entry)


def audit_events_fields(*, entries: Sequence[str], next_page_token: str) -> dict[str, ResultValue]:
    """The fields of a ``ListEvents`` page: its entries in order (:func:`audit_entry_text`)
    and the cursor of the next page."""
    return {"entries": [str(e) for e in entries], "next_page_token": str(next_page_token)}


def usage_app_text(
    *,
    client_id: str,
    organization: str,
    calls: int,
    refused: int,
    days: Sequence[tuple[dt.date, int, int]],
    refusals: Sequence[tuple[str, int]],
) -> str:
    """One app of a ``UsageSummary`` as its result field holds it: canonical JSON text of
    its fields, each day as ``YYYY-MM-DD:calls:refused`` and each refusal count as
    ``REASON:count``, in the answer's order."""
    app = {
        "client_id": str(client_id),
        "organization": str(organization),
        "calls": int(calls),
        "refused": int(refused),
        "days": [f"{d.isoformat()}:{int(c)}:{int(r)}" for d, c, r in days],
        "refusals": [f"{reason}:{int(n)}" for reason, n in refusals],
    }
    return _CANONICAL.encode(app)


def usage_summary_fields(
    *, apps: Sequence[str], from_time: int, to_time: int, truncated: bool
) -> dict[str, ResultValue]:
    """The fields of a ``UsageSummary``: its apps in order (:func:`usage_app_text`), the
    window in Unix seconds as the answer carries it, and whether it was truncated."""
    return {
        "apps": [str(a) for a in apps],
        "from_time": int(from_time),
        "to_time": int(to_time),
        "truncated": bool(truncated),
    }


@dataclass(frozen=True)
class ReleaseLeaf:
    """What a partner reads from a release leaf: its position, request and result hash."""

    seq: int
    request_id: str
    result_hash: bytes


def parse_release_leaf(leaf: bytes) -> ReleaseLeaf:
    """Read a ``release`` leaf (the zone's canonical JSON of its Release audit event).

    Raises :class:`ReceiptError` when the bytes are not a release leaf.
    """
    try:
        data = json.loads(leaf)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReceiptError("the receipt's leaf is not JSON") from exc
    if not isinstance(data, dict) or data.get("kind") != "release":
        raise ReceiptError("the receipt's leaf is not a release leaf")
    seq, request_id, digest = data.get("seq"), data.get("request_id"), data.get("result_hash")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ReceiptError("the release leaf has no valid seq")
    if not isinstance(request_id, str) or not request_id:
        raise ReceiptError("the release leaf has no request_id")
    if not isinstance(digest, str) or not _HEX_SHA256.fullmatch(digest):
        raise ReceiptError("the release leaf has no valid result_hash")
    return ReleaseLeaf(seq, request_id, bytes.fromhex(digest))


def verify_release(
    receipt: Receipt,
    *,
    method: str,
    request_id: str,
    fields: ResultFields,
    key_name: str,
    public_key: Ed25519PublicKey,
    client_nonce: str = "",
) -> Checkpoint:
    """Check that ``receipt`` proves the release of exactly this answer; returns its checkpoint.

    ``client_nonce`` is the nonce the caller itself sent with the request (never one taken
    from the answer): an answer to another request does not verify.

    The receipt must carry its leaf; the leaf must be a release of ``request_id`` at the
    receipt's index whose result hash equals :func:`result_hash` of this answer; the inclusion
    proof must lead from THAT leaf to a checkpoint signed by ``public_key``. Raises
    :class:`ReceiptError`, :class:`~dataward.transparency.ProofError` or
    :class:`~dataward.transparency.CheckpointError`.
    """
    if receipt.leaf is None:
        raise ReceiptError("the receipt carries no leaf: it cannot be tied to an answer")
    release = parse_release_leaf(receipt.leaf)
    if release.seq != receipt.leaf_index:
        raise ReceiptError("the release leaf names another position than the receipt")
    if release.request_id != request_id:
        raise ReceiptError("the receipt is the release of another request")
    if release.result_hash != result_hash(method, request_id, fields, client_nonce=client_nonce):
        raise ReceiptError("the answer does not match the result hash its receipt logged")
    return verify_receipt(receipt, key_name, public_key, leaf=receipt.leaf)
