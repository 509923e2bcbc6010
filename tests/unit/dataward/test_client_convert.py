"""The SDK's conversions between its values and the wire's messages, without a server: enums
cross by name with their wire prefix, dates and receipts field by field, and an answer keeps
the nonce this client sent, never one read back from the zone."""

from __future__ import annotations

import datetime as dt

import pytest

from dataward import receipts
from dataward.access import Purpose
from dataward.client import (
    Benefit,
    ConsentGrant,
    ConsentRequired,
    EligibilityQuery,
    EligibilityResult,
    IdentityResult,
    ServerError,
)
from dataward.client._convert import (
    benefit_to_proto,
    check_request,
    consent_grant,
    eligibility_result,
    identity_result,
    item_error,
    purpose_to_proto,
    receipt_from_proto,
)
from dataward.client._release import release_of
from dataward.transparency import Receipt
from dataward.v1 import common_pb2, eligibility_pb2, identity_pb2, steward_pb2

NONCE = "n" * 32
RECEIPT = common_pb2.Receipt(
    leaf_index=7,
    leaf_hash=b"\x01" * 32,
    checkpoint_note="note",
    inclusion_proof=[b"\x02" * 32, b"\x03" * 32],
    leaf=b'{"kind":"release"}',
    request_id="req_1",
)


def test_a_query_becomes_a_check_request_with_the_wire_numbers_of_its_names() -> None:
    query = EligibilityQuery(
        "id", Benefit.WORK_INJURY, Purpose.CLAIM_SETTLEMENT, dt.date(2026, 2, 3), "cns_x"
    )
    request = check_request(query, NONCE)
    assert request.benefit == eligibility_pb2.BENEFIT_WORK_INJURY
    assert request.purpose == common_pb2.PURPOSE_CLAIM_SETTLEMENT
    assert (request.as_of.year, request.as_of.month, request.as_of.day) == (2026, 2, 3)
    assert (request.id_number, request.consent_ref, request.client_nonce) == ("id", "cns_x", NONCE)


def test_no_date_leaves_as_of_absent_for_the_zone_to_mean_today() -> None:
    request = check_request(EligibilityQuery("id", Benefit.OUTPATIENT, Purpose.RESEARCH), NONCE)
    assert not request.HasField("as_of")


def test_plain_strings_are_accepted_and_unknown_ones_fail_before_any_call() -> None:
    assert benefit_to_proto("CHRONIC") == eligibility_pb2.BENEFIT_CHRONIC
    assert purpose_to_proto("PUBLIC_HEALTH") == common_pb2.PURPOSE_PUBLIC_HEALTH
    with pytest.raises(ValueError, match="NOT_A_BENEFIT"):
        benefit_to_proto("NOT_A_BENEFIT")
    with pytest.raises(ValueError, match="NOT_A_PURPOSE"):
        purpose_to_proto("NOT_A_PURPOSE")


def test_a_receipt_keeps_every_field_and_an_empty_leaf_is_none() -> None:
    receipt = receipt_from_proto(RECEIPT)
    assert receipt == Receipt(
        7, b"\x01" * 32, "note", (b"\x02" * 32, b"\x03" * 32), b'{"kind":"release"}'
    )
    assert receipt_from_proto(common_pb2.Receipt(leaf_index=1)).leaf is None


def test_an_eligibility_answer_loses_the_wire_prefixes_and_keeps_the_nonce_sent() -> None:
    response = eligibility_pb2.CheckResponse(
        eligible=False,
        coverage_class=eligibility_pb2.COVERAGE_CLASS_RESIDENT,
        reasons=[eligibility_pb2.ELIGIBILITY_REASON_BENEFIT_NOT_COVERED],
        receipt=RECEIPT,
    )
    result = eligibility_result(response, NONCE)
    assert result == EligibilityResult(
        False, "RESIDENT", ("BENEFIT_NOT_COVERED",), receipt_from_proto(RECEIPT), "req_1", NONCE
    )
    unspecified = eligibility_result(eligibility_pb2.CheckResponse(eligible=False), NONCE)
    assert unspecified.coverage_class is None


def test_an_identity_answer_names_the_registry_status_without_its_prefix() -> None:
    response = identity_pb2.VerifyResponse(
        id_number_valid=True,
        name_matches=False,
        registry_status=identity_pb2.REGISTRY_STATUS_EMIGRATED,
        receipt=RECEIPT,
    )
    assert identity_result(response, NONCE) == IdentityResult(
        True, False, "EMIGRATED", receipt_from_proto(RECEIPT), "req_1", NONCE
    )
    assert identity_result(identity_pb2.VerifyResponse(), NONCE).registry_status == ""


def test_a_consent_grant_carries_its_date() -> None:
    response = steward_pb2.GrantConsentResponse(
        consent_ref="cns_x",
        valid_until=common_pb2.Date(year=2027, month=1, day=31),
        receipt=RECEIPT,
    )
    assert consent_grant(response, NONCE) == ConsentGrant(
        "cns_x", dt.date(2027, 1, 31), receipt_from_proto(RECEIPT), "req_1", NONCE
    )


def test_a_refused_batch_item_is_the_typed_error_of_its_code_and_reason() -> None:
    refused = item_error(
        eligibility_pb2.ItemError(code=9, reason="CONSENT_REQUIRED", message="no consent")
    )
    assert isinstance(refused, ConsentRequired)
    assert (refused.reason, refused.message) == ("CONSENT_REQUIRED", "no consent")
    assert isinstance(item_error(eligibility_pb2.ItemError(code=999)), ServerError)


def test_the_release_of_each_answer_is_its_method_and_fields() -> None:
    receipt = receipt_from_proto(RECEIPT)
    eligibility = EligibilityResult(True, "EMPLOYEE", (), receipt)
    assert release_of(eligibility) == (
        receipts.ELIGIBILITY_CHECK,
        receipts.eligibility_fields(eligible=True, coverage_class="EMPLOYEE", reasons=()),
    )
    identity = IdentityResult(True, True, "ACTIVE", receipt)
    assert release_of(identity)[0] == receipts.IDENTITY_VERIFY
    grant = ConsentGrant("cns_x", dt.date(2027, 1, 31), receipt)
    assert release_of(grant)[0] == receipts.GRANT_CONSENT
    with pytest.raises(TypeError, match="Receipt"):
        release_of(receipt)  # type: ignore[arg-type]
