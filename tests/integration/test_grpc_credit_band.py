"""ComputeService.CreditBand end to end: the SDK against a real server on loopback over a real
synthetic registry ingested into a zone, the zone-owned credit evaluation served as a
person-level answer with a receipt, and every refusal with its exact status and reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import grpc
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward import receipts
from dataward.attestation import sign_attestation
from dataward.client import (
    Client,
    ConsentRequired,
    IdNumberInvalid,
    InvalidArgument,
    PermissionDenied,
    ReceiptInvalid,
    StaticTokenSource,
    Unimplemented,
)
from dataward.v1 import common_pb2, compute_pb2, compute_pb2_grpc
from enclave.audit import AuditLog, AuditLogRefusals, AuditLogTrail, RequestReceived, decode_leaf
from enclave.compute import CreditEvaluator, FeatureComputer
from enclave.consent import SqliteConsentStore
from enclave.dataset import Zone
from enclave.keys import Keyring, open_keyring
from enclave.persons import CreditScoring, PersonChecks
from grpc_api import (
    JwksCache,
    RevocationFeed,
    ServerOptions,
    TokenVerifier,
    build_server,
    raw_public_key,
)
from policies import default_policy
from tests.support.audit_stores import RecordingStore
from tests.support.grpc_stack import STEWARD, audit_log, grpc_stack
from tests.support.person_fakes import KEY_NAME, UNKNOWN
from tests.support.query_export import synthetic_export
from tests.support.token_issuer import AUDIENCE, ZONE_CLIENT, TokenIssuer
from tests.support.zone_source import MASTER_KEY

LOAN = "LOAN_ORIGINATION"
PARTNER = "acme-bank"
SCORE = ("compute:score", "audit:read")
#: The synthetic export's reference date (its claims end on it): the zone's "today" here.
AS_OF = dt.date(2026, 6, 30)


@dataclass
class CreditStack:
    issuer: TokenIssuer
    target: str
    checks: PersonChecks
    zone: Zone
    store: RecordingStore
    log: AuditLog
    id_numbers: tuple[str, ...]

    def consent(self, id_number: str, purpose: str = LOAN) -> None:
        self.checks.grant_consent(STEWARD, id_number=id_number, partner=PARTNER, purpose=purpose)

    def client(self, **kw: object) -> Client:
        kw.setdefault("org", PARTNER)
        kw.setdefault("scopes", SCORE)
        kw.setdefault("purposes", (LOAN,))
        return Client(self.target, StaticTokenSource(self.issuer.token(**kw)))  # type: ignore[arg-type]

    def person_id(self, id_number: str) -> int:
        person = self.zone.find_person(id_number)
        assert person is not None
        return person.person_id

    def leaves(self) -> list[bytes]:
        return [leaf.leaf for leaves, _ in self.store.appends for leaf in leaves]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CreditStack]:
    root = tmp_path_factory.mktemp("credit")
    export = synthetic_export(root, persons=300)
    keyring: Keyring = open_keyring(export.zone, MASTER_KEY)
    zone = Zone.open(export.zone, keyring)
    people = pq.read_table(root / "src" / "persons.parquet", columns=["id_number"])
    id_numbers = tuple(str(v) for v in people.column("id_number").to_pylist())
    key = Ed25519PrivateKey.generate()
    issuer = TokenIssuer()
    with issuer.serving(), audit_log(root, key) as (log, store):
        consents = SqliteConsentStore.open(root / "state" / "consent.db")
        checks = PersonChecks(
            directory=zone,
            tokenizer=keyring,
            consents=consents,
            audit=AuditLogTrail(log),
            clock=lambda: dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC),
            credit=CreditScoring(CreditEvaluator(FeatureComputer(zone)), default_policy),
        )
        feed = RevocationFeed(issuer.revocations_url, *ZONE_CLIENT, poll_seconds=0.2)
        feed.start()
        verifier = TokenVerifier(
            issuer=issuer.issuer,
            audience=AUDIENCE,
            jwks=JwksCache(issuer.jwks_url, min_refetch_seconds=0.5),
            revocations=feed,
        )
        server = build_server(
            ServerOptions(bind="127.0.0.1:0"),
            checks=checks,
            verifier=verifier,
            receipts=log,
            refusals=AuditLogRefusals(log),
            audit_key_name=KEY_NAME,
            audit_public_key=raw_public_key(key.public_key()),
            attest=partial(sign_attestation, key, KEY_NAME),
        )
        try:
            yield CreditStack(
                issuer, f"127.0.0.1:{server.port}", checks, zone, store, log, id_numbers
            )
        finally:
            server.stop(None)
            feed.stop()
            consents.close()


def test_a_consented_person_gets_the_evaluators_band_with_a_receipt_that_verifies(
    stack: CreditStack,
) -> None:
    person = stack.id_numbers[3]
    stack.consent(person)
    with stack.client() as c:
        answer = c.credit_band(person, LOAN)
        checkpoint = c.verify_answer(answer)
    assert checkpoint.size > answer.receipt.leaf_index
    policy = default_policy()
    expected = CreditEvaluator(FeatureComputer(stack.zone)).band(
        policy, "credit_band_v1", stack.person_id(person), AS_OF
    )
    assert (answer.band, answer.scorecard, answer.policy_version) == (
        expected.band,
        "credit_band_v1",
        policy.version,
    )
    assert answer.band in {"A", "B", "C", "D", "E"}


def test_the_receipt_covers_the_band(stack: CreditStack) -> None:
    person = stack.id_numbers[4]
    stack.consent(person)
    with stack.client() as c:
        answer = c.credit_band(person, LOAN)
        other = "A" if answer.band != "A" else "B"
        with pytest.raises(ReceiptInvalid):
            c.verify_answer(
                type(answer)(
                    other,
                    answer.scorecard,
                    answer.policy_version,
                    answer.receipt,
                    answer.request_id,
                    answer.client_nonce,
                )
            )
    fields = receipts.credit_band_fields(
        band=answer.band, scorecard=answer.scorecard, policy_version=answer.policy_version
    )
    assert set(fields) == {"band", "scorecard", "policy_version"}


def test_only_the_band_leaves(stack: CreditStack) -> None:
    person = stack.id_numbers[5]
    stack.consent(person)
    with grpc.insecure_channel(stack.target) as channel:
        stub = compute_pb2_grpc.ComputeServiceStub(channel)
        token = stack.issuer.token(org=PARTNER, scopes=SCORE, purposes=(LOAN,))
        response = stub.CreditBand(
            compute_pb2.CreditBandRequest(
                id_number=person,
                purpose=common_pb2.PURPOSE_LOAN_ORIGINATION,
                scorecard="credit_band_v1",
            ),
            metadata=(("authorization", f"Bearer {token}"),),
        )
    assert {f.name for f, _ in response.ListFields()} <= {
        "band",
        "scorecard",
        "policy_version",
        "receipt",
    }


def test_no_consent_and_an_unknown_person_are_the_same_consent_required(
    stack: CreditStack,
) -> None:
    without = stack.id_numbers[6]
    other_purpose = stack.id_numbers[7]
    stack.consent(other_purpose, purpose="INSURANCE_UNDERWRITING")
    assert stack.zone.find_person(UNKNOWN) is None
    errors = []
    with stack.client() as c:
        for number in (without, other_purpose, UNKNOWN):
            with pytest.raises(ConsentRequired) as refused:
                c.credit_band(number, LOAN)
            errors.append(refused.value)
    assert {(e.code, e.reason, str(e)) for e in errors} == {
        (grpc.StatusCode.FAILED_PRECONDITION, "CONSENT_REQUIRED", str(errors[0]))
    }


def test_another_partners_consent_does_not_count(stack: CreditStack) -> None:
    person = stack.id_numbers[8]
    stack.consent(person)
    with stack.client(org="other-bank") as c, pytest.raises(ConsentRequired):
        c.credit_band(person, LOAN)


def test_wrong_scope_is_permission_denied(stack: CreditStack) -> None:
    person = stack.id_numbers[9]
    stack.consent(person)
    with (
        stack.client(scopes=("eligibility:check",)) as c,
        pytest.raises(PermissionDenied) as refused,
    ):
        c.credit_band(person, LOAN)
    assert refused.value.code is grpc.StatusCode.PERMISSION_DENIED


def test_a_purpose_the_app_does_not_hold_is_permission_denied(stack: CreditStack) -> None:
    person = stack.id_numbers[9]
    client = stack.client(purposes=("INSURANCE_UNDERWRITING",))
    with client as c, pytest.raises(PermissionDenied) as refused:
        c.credit_band(person, LOAN)
    assert refused.value.reason == "PURPOSE_NOT_GRANTED"


@pytest.mark.parametrize("number", ["110101198001010011", "12345", "x" * 40, ""])
def test_a_malformed_id_number_is_invalid_argument(stack: CreditStack, number: str) -> None:
    with stack.client() as c, pytest.raises(InvalidArgument) as refused:
        c.credit_band(number, LOAN)
    assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT
    if number in ("110101198001010011", "12345"):
        assert isinstance(refused.value, IdNumberInvalid)


@pytest.mark.parametrize("scorecard", ["no_such_card", "credit_v1", "", "s" * 200])
def test_an_unknown_scorecard_is_field_invalid_naming_scorecard(
    stack: CreditStack, scorecard: str
) -> None:
    person = stack.id_numbers[10]
    stack.consent(person)
    with stack.client() as c:
        with pytest.raises(InvalidArgument) as refused:
            c.credit_band(person, LOAN, scorecard)
        # refused before consent is looked at: the consent is still there
        assert c.credit_band(person, LOAN).band in {"A", "B", "C", "D", "E"}
    assert (refused.value.code, refused.value.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "FIELD_INVALID",
    )
    assert refused.value.metadata.get("field") == "scorecard"


def test_the_audit_leaves_hold_no_id_number_and_name_the_person_by_token(
    stack: CreditStack,
) -> None:
    person = stack.id_numbers[11]
    stack.consent(person)
    before = len(stack.leaves())
    with stack.client() as c:
        c.credit_band(person, LOAN)
        with pytest.raises(ConsentRequired):
            c.credit_band(stack.id_numbers[12], LOAN)
        with pytest.raises(InvalidArgument):
            c.credit_band(person, LOAN, "no_such_card")
    leaves = stack.leaves()
    new = leaves[before:]
    assert new
    for leaf in leaves:
        text = leaf.decode("utf-8", "replace")
        for number in (*stack.id_numbers, UNKNOWN):
            assert number not in text
    requests = [
        e
        for e in (decode_leaf(leaf).event for leaf in new)
        if isinstance(e, RequestReceived) and e.method == receipts.COMPUTE_CREDIT_BAND
    ]
    assert len(requests) == 3
    assert all(r.person_token for r in requests)


def test_a_server_without_credit_scoring_does_not_serve_compute(tmp_path: Path) -> None:
    with grpc_stack(tmp_path) as plain:
        token = plain.issuer.token(scopes=SCORE, purposes=(LOAN,))
        with Client(plain.target, StaticTokenSource(token)) as c, pytest.raises(Unimplemented):
            c.credit_band(UNKNOWN, LOAN)
