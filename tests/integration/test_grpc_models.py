"""Model cards over a real gRPC server on 127.0.0.1 (issue 12): a partner registers a
Paillier and a CKKS model (keys made here with phe and TenSEAL, as a partner would) over
RegisterModel's client stream, reads it back, a steward lists what waits and attaches an
auditor's real Ed25519 attestation listed in the policy. Raw generated stubs, so every
refusal's status and ErrorInfo is seen as a client sees it; the registry is a real SQLite
file and every answer and refusal a leaf of the stack's real audit log."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import phe
import pytest
import tenseal as ts
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dataward import receipts
from dataward.compute import ModelCard, attestation_message, paillier_public_key
from dataward.transparency import Receipt
from dataward.v1 import common_pb2, compute_pb2, compute_pb2_grpc, steward_pb2, steward_pb2_grpc
from enclave.analytics import FixedPolicy
from enclave.audit import AuditLog, AuditLogTrail, Decision, RequestReceived, StewardAction
from enclave.compute import CKKS_SLOTS, ModelCards, ModelRegistry
from policies import Policy, default_policy_text, load_policy
from tests.support.grpc_stack import Stack, grpc_stack
from tests.support.person_fakes import KEY_NAME

LENDER = "5"
AUDITOR = "auditor-1"
AUDITOR_KEY = Ed25519PrivateKey.generate()
LOAN = common_pb2.PURPOSE_LOAN_ORIGINATION
CHUNK = 1 << 20


def _policy() -> Policy:
    raw = AUDITOR_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    text = default_policy_text().replace(
        "compute:\n  paillier_noise: 16\n",
        "compute:\n  paillier_noise: 16\n  auditors:\n"
        f"    - {{name: {AUDITOR}, public_key: {base64.b64encode(raw).decode()}}}\n",
        1,
    )
    policy = load_policy(text)
    assert set(policy.auditors) == {AUDITOR}
    return policy


POLICY = _policy()
WEIGHTS = len(POLICY.feature_sets["credit_v1"].features)


@pytest.fixture(scope="module")
def paillier() -> phe.PaillierPublicKey:
    public, private = phe.generate_paillier_keypair(n_length=3072)
    _KEY_BYTES[public.n] = paillier_public_key(public.n, private.p, private.q)
    return public


_KEY_BYTES: dict[int, bytes] = {}
"""Each test key's card public key (the modulus and its proof), by modulus."""


@pytest.fixture(scope="module")
def ckks() -> ts.Context:
    context = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 60])
    context.global_scale = 2.0**40
    return context


def _paillier_card(public: phe.PaillierPublicKey, **changes: object) -> ModelCard:
    n = public.n
    ciphertexts = tuple(
        public.raw_encrypt((j - 3) % n).to_bytes(768, "big") for j in range(WEIGHTS)
    )
    card = ModelCard(
        model_id="lender.risk-a",
        version=1,
        feature_set="credit_v1",
        weight_count=WEIGHTS,
        output_bits=32,
        purpose="LOAN_ORIGINATION",
        scheme="PAILLIER",
        exponent=-2,
        public_key=_KEY_BYTES[n],
        weight_ciphertexts=ciphertexts,
    )
    return dataclasses.replace(card, **changes)  # type: ignore[arg-type]


def _ckks_card(context: ts.Context) -> ModelCard:
    public = context.copy()
    public.make_context_public()
    return ModelCard(
        model_id="lender.batch",
        version=2,
        feature_set="credit_v1",
        weight_count=WEIGHTS,
        output_bits=24,
        purpose="LOAN_ORIGINATION",
        scheme="CKKS",
        exponent=0,
        public_key=public.serialize(),
        weight_ciphertexts=tuple(
            ts.ckks_vector(context, [0.25 * j] * CKKS_SLOTS).serialize() for j in range(WEIGHTS)
        ),
    )


def _sign(card: ModelCard, *, days: int = 30, key: Ed25519PrivateKey = AUDITOR_KEY,
          auditor: str = AUDITOR) -> compute_pb2.ModelAttestation:  # fmt: skip
    expires = int((dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).timestamp())
    signature = key.sign(attestation_message(card.digest(), auditor, expires))
    return compute_pb2.ModelAttestation(auditor=auditor, expires_at=expires, signature=signature)


def _wire_card(card: ModelCard) -> compute_pb2.ModelCard:
    return compute_pb2.ModelCard(
        model_id=card.model_id,
        version=card.version,
        feature_set=card.feature_set,
        weight_count=card.weight_count,
        output_bits=card.output_bits,
        purpose=common_pb2.Purpose.Value(f"PURPOSE_{card.purpose}"),
        scheme=compute_pb2.ModelScheme.Value(f"MODEL_SCHEME_{card.scheme}"),
        exponent=card.exponent,
    )


def _stream(
    card: ModelCard, attestation: compute_pb2.ModelAttestation | None = None
) -> list[compute_pb2.RegisterModelRequest]:
    parts = [compute_pb2.RegisterModelRequest(card=_wire_card(card))]
    key = card.public_key
    parts += [
        compute_pb2.RegisterModelRequest(public_key_chunk=key[i : i + CHUNK])
        for i in range(0, len(key), CHUNK)
    ]
    parts += [
        compute_pb2.RegisterModelRequest(weight_ciphertext=c) for c in card.weight_ciphertexts
    ]
    if attestation is not None:
        parts.append(compute_pb2.RegisterModelRequest(attestation=attestation))
    return parts


@dataclass
class Zone:
    stack: Stack
    db: Path

    def _metadata(self, token: str) -> tuple[tuple[str, str]]:
        return (("authorization", f"Bearer {token}"),)

    def partner_token(
        self, org: str = LENDER, purposes: tuple[str, ...] = ("LOAN_ORIGINATION",)
    ) -> str:
        return self.stack.issuer.token(
            client_id="lender-app", org=org, scopes=("compute:score",), purposes=purposes
        )

    def register(
        self, parts: Sequence[compute_pb2.RegisterModelRequest], token: str = ""
    ) -> compute_pb2.RegisterModelResponse:
        with grpc.insecure_channel(self.stack.target) as channel:
            stub = compute_pb2_grpc.ComputeServiceStub(channel)
            answer = stub.RegisterModel(
                iter(parts), metadata=self._metadata(token or self.partner_token())
            )
        assert isinstance(answer, compute_pb2.RegisterModelResponse)
        return answer

    def get(self, model_id: str, version: int, token: str = "") -> compute_pb2.GetModelResponse:
        with grpc.insecure_channel(self.stack.target) as channel:
            stub = compute_pb2_grpc.ComputeServiceStub(channel)
            answer = stub.GetModel(
                compute_pb2.GetModelRequest(model_id=model_id, version=version),
                metadata=self._metadata(token or self.partner_token()),
            )
        assert isinstance(answer, compute_pb2.GetModelResponse)
        return answer

    def steward(self, method: str, request: object, token: str = "") -> object:
        token = token or self.stack.issuer.token(
            client_id="portal-steward-pages",
            org="1",
            scopes=("steward:admin",),
            purposes=(),
            extra_claims={"sub": "user:3"},
        )
        with grpc.insecure_channel(self.stack.target) as channel:
            stub = steward_pb2_grpc.StewardServiceStub(channel)
            return getattr(stub, method)(request, metadata=self._metadata(token))

    def pending(self) -> steward_pb2.ListPendingModelsResponse:
        answer = self.steward("ListPendingModels", steward_pb2.ListPendingModelsRequest())
        assert isinstance(answer, steward_pb2.ListPendingModelsResponse)
        return answer

    def attest(
        self, card: ModelCard, attestation: compute_pb2.ModelAttestation, org: str = LENDER
    ) -> steward_pb2.AttestModelResponse:
        answer = self.steward(
            "AttestModel",
            steward_pb2.AttestModelRequest(
                organization=org,
                model_id=card.model_id,
                version=card.version,
                attestation=attestation,
            ),
        )
        assert isinstance(answer, steward_pb2.AttestModelResponse)
        return answer

    def events(self, count: int) -> list[object]:
        return [e.event for e in self.stack.log.tail(count)]


@pytest.fixture
def zone(tmp_path: Path) -> Iterator[Zone]:
    db = tmp_path / "state" / "models.db"
    registry = ModelRegistry.open(db)

    def cards(log: AuditLog) -> ModelCards:
        return ModelCards(registry, FixedPolicy(POLICY), AuditLogTrail(log))

    try:
        with grpc_stack(tmp_path, cards=cards) as stack:
            yield Zone(stack, db)
    finally:
        registry.close()


def _refusal(exc: grpc.RpcError) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    assert isinstance(exc, grpc.Call)
    status = rpc_status.from_call(exc)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return exc.code(), info.reason, dict(info.metadata)


def _verifies(
    zone: Zone, wire: common_pb2.Receipt, method: str, info: compute_pb2.ModelInfo
) -> None:
    status = compute_pb2.ModelStatus.Name(info.status).removeprefix("MODEL_STATUS_")
    receipts.verify_release(
        Receipt(
            wire.leaf_index,
            bytes(wire.leaf_hash),
            wire.checkpoint_note,
            tuple(bytes(p) for p in wire.inclusion_proof),
            bytes(wire.leaf) or None,
        ),
        method=method,
        request_id=wire.request_id,
        fields=receipts.model_fields(
            organization=info.organization,
            model_id=info.card.model_id,
            version=info.card.version,
            status=status,
            card_digest=bytes(info.card_digest),
        ),
        key_name=KEY_NAME,
        public_key=zone.stack.audit.key.public_key(),
    )


def _denied(zone: Zone, reason: str) -> None:
    """The zone logged the refusal: its request leaf and a denying decision with the reason."""
    request, last = zone.events(2)
    assert isinstance(last, Decision) and not last.allow and last.reasons == (reason,)
    assert isinstance(request, RequestReceived) and request.request_id == last.request_id


def test_a_paillier_model_registers_waits_and_is_attested(
    zone: Zone, paillier: phe.PaillierPublicKey
) -> None:
    card = _paillier_card(paillier)
    registered = zone.register(_stream(card))
    info = registered.model
    assert info.status == compute_pb2.MODEL_STATUS_PENDING_ATTESTATION
    assert (info.organization, info.card.model_id, info.card.version) == (LENDER, card.model_id, 1)
    assert bytes(info.card_digest) == card.digest()
    assert bytes(info.public_key_sha256) == hashlib.sha256(card.public_key).digest()
    assert info.card == _wire_card(card) and not info.HasField("attestation")
    _verifies(zone, registered.receipt, receipts.COMPUTE_REGISTER_MODEL, info)

    got = zone.get(card.model_id, 1)
    assert got.model == info
    _verifies(zone, got.receipt, receipts.COMPUTE_GET_MODEL, got.model)

    pending = zone.pending()
    assert [m.card.model_id for m in pending.models] == [card.model_id]
    assert bytes(pending.models[0].card_digest) == card.digest()

    attestation = _sign(card)
    attested = zone.attest(card, attestation)
    assert attested.model.status == compute_pb2.MODEL_STATUS_ATTESTED
    assert attested.model.attestation == attestation
    _verifies(zone, attested.receipt, receipts.MODELS_ATTEST, attested.model)
    actions = [e for e in zone.events(6) if isinstance(e, StewardAction)]
    assert [(a.steward, a.action, a.target) for a in actions] == [
        ("user:3", "attest_model", f"{LENDER}/{card.model_id}/1")
    ]
    assert zone.pending().models == []
    assert zone.get(card.model_id, 1).model.status == compute_pb2.MODEL_STATUS_ATTESTED


def test_a_ckks_model_registers_with_its_attestation(zone: Zone, ckks: ts.Context) -> None:
    card = _ckks_card(ckks)
    assert len(card.public_key) > CHUNK  # several chunks
    registered = zone.register(_stream(card, _sign(card)))
    assert registered.model.status == compute_pb2.MODEL_STATUS_ATTESTED
    assert registered.model.card.scheme == compute_pb2.MODEL_SCHEME_CKKS
    assert bytes(registered.model.card_digest) == card.digest()
    _verifies(zone, registered.receipt, receipts.COMPUTE_REGISTER_MODEL, registered.model)
    assert zone.pending().models == []


def test_another_organizations_model_is_not_found(
    zone: Zone, paillier: phe.PaillierPublicKey
) -> None:
    card = _paillier_card(paillier)
    zone.register(_stream(card))
    with pytest.raises(grpc.RpcError) as caught:
        zone.get(card.model_id, 1, token=zone.partner_token(org="6"))
    assert _refusal(caught.value)[:2] == (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND")
    _denied(zone, "MODEL_NOT_FOUND")
    with pytest.raises(grpc.RpcError) as unknown:
        zone.get(card.model_id, 2)
    assert _refusal(unknown.value)[:2] == (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND")


def _refused(
    zone: Zone, parts: Sequence[compute_pb2.RegisterModelRequest], token: str = ""
) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        zone.register(parts, token)
    return _refusal(caught.value)


def test_the_stream_must_be_card_key_weights_attestation(
    zone: Zone, paillier: phe.PaillierPublicKey
) -> None:
    card = _paillier_card(paillier)
    good = _stream(card, _sign(card))
    cases = {
        "card": [good[1:], [], [good[0], *good]],
        "public_key_chunk": [[good[0], good[2], good[1], *good[3:]]],
        "attestation": [[*good, good[-2]]],
    }
    for field, streams in cases.items():
        for parts in streams:
            code, reason, metadata = _refused(zone, parts)
            assert (code, reason, metadata.get("field")) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "FIELD_INVALID",
                field,
            ), field
            _denied(zone, "FIELD_INVALID")
    assert zone.pending().models == []


def test_size_limits_hold_while_streaming(zone: Zone, paillier: phe.PaillierPublicKey) -> None:
    card = _paillier_card(paillier)
    good = _stream(card)
    too_many = [*good, good[-1]]
    big_chunk = [good[0], compute_pb2.RegisterModelRequest(public_key_chunk=bytes(CHUNK + 1))]
    big_weight = [
        good[0],
        good[1],
        compute_pb2.RegisterModelRequest(weight_ciphertext=bytes(1_000_001)),
    ]
    huge_key = [good[0], *[compute_pb2.RegisterModelRequest(public_key_chunk=bytes(CHUNK))] * 39]
    for parts, field in (
        (too_many, "weight_ciphertexts"),
        (big_chunk, "public_key_chunk"),
        (big_weight, "weight_ciphertext"),
        (huge_key, "public_key"),
    ):
        code, reason, metadata = _refused(zone, parts)
        assert (code, reason, metadata.get("field")) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "MESSAGE_TOO_LARGE",
            field,
        )
        _denied(zone, "MESSAGE_TOO_LARGE")


def test_junk_as_a_ckks_ciphertext_or_context_is_invalid_argument(
    zone: Zone, ckks: ts.Context
) -> None:
    """5 MB of random bytes as a CKKS weight ciphertext is INVALID_ARGUMENT (issue 12), as is
    a context past 40 MB or random bytes of a ciphertext's size: the CKKS rules' own reasons."""
    card = _ckks_card(ckks)
    good = _stream(card)
    key_parts = [p for p in good if p.WhichOneof("part") == "public_key_chunk"]
    junk = [
        good[0],
        *key_parts,
        compute_pb2.RegisterModelRequest(weight_ciphertext=os.urandom(5_000_000)),
    ]
    assert _refused(zone, junk)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "CIPHERTEXT_INVALID")
    assert _refused(zone, junk)[2].get("problem") == "TOO_LARGE"
    _denied(zone, "CIPHERTEXT_INVALID")
    small_junk = [
        good[0],
        *key_parts,
        *[compute_pb2.RegisterModelRequest(weight_ciphertext=os.urandom(300_000))] * WEIGHTS,
    ]
    code, reason, metadata = _refused(zone, small_junk)
    assert (code, reason, metadata.get("problem")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "CIPHERTEXT_INVALID",
        "MALFORMED",
    )
    huge = [good[0], *[compute_pb2.RegisterModelRequest(public_key_chunk=bytes(CHUNK))] * 39]
    code, reason, metadata = _refused(zone, huge)
    assert (code, reason, metadata.get("problem")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "CONTEXT_INVALID",
        "TOO_LARGE",
    )
    assert zone.pending().models == []


def test_every_refusal_of_a_card_has_its_status_and_reason(
    zone: Zone, paillier: phe.PaillierPublicKey, ckks: ts.Context
) -> None:
    card = _paillier_card(paillier)
    n = paillier.n
    bad_ckks = _ckks_card(ckks)
    _KEY_BYTES[n + 1] = (n + 1).to_bytes(384, "big") + _KEY_BYTES[n][384:]  # even, proof kept
    other_key = Ed25519PrivateKey.generate()
    cases = [
        (_stream(_paillier_card(paillier, model_id="110101199003074518")),
         grpc.StatusCode.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "model_id"}),
        (_stream(_paillier_card(paillier, output_bits=65)),
         grpc.StatusCode.INVALID_ARGUMENT, "FIELD_INVALID", {"field": "output_bits"}),
        (_stream(_paillier_card(paillier, purpose="INSURANCE_UNDERWRITING")),
         grpc.StatusCode.PERMISSION_DENIED, "PURPOSE_NOT_GRANTED", {}),
        (_stream(_paillier_card(paillier, feature_set="other_set")),
         grpc.StatusCode.FAILED_PRECONDITION, "MODEL_MISMATCH", {}),
        (_stream(_paillier_card(paillier, public_key=_KEY_BYTES[n + 1])),
         grpc.StatusCode.INVALID_ARGUMENT, "WEIGHTS_INVALID", {"problem": "odd"}),
        (_stream(_paillier_card(paillier, weight_ciphertexts=(bytes(768),) * WEIGHTS)),
         grpc.StatusCode.INVALID_ARGUMENT, "WEIGHTS_INVALID", {"index": "0", "problem": "range"}),
        (_stream(dataclasses.replace(bad_ckks, public_key=ckks.serialize(save_secret_key=True))),
         grpc.StatusCode.INVALID_ARGUMENT, "CONTEXT_INVALID", {"problem": "SECRET_KEY"}),
        (_stream(dataclasses.replace(bad_ckks, weight_ciphertexts=(b"x",) * WEIGHTS)),
         grpc.StatusCode.INVALID_ARGUMENT, "CIPHERTEXT_INVALID", {"problem": "MALFORMED"}),
        (_stream(card, _sign(card, key=other_key)),
         grpc.StatusCode.INVALID_ARGUMENT, "MODEL_NOT_ATTESTED", {"problem": "SIGNATURE"}),
        (_stream(card, _sign(card, auditor="auditor-2")),
         grpc.StatusCode.INVALID_ARGUMENT, "MODEL_NOT_ATTESTED", {"problem": "AUDITOR_UNKNOWN"}),
        (_stream(card, _sign(card, days=-1)),
         grpc.StatusCode.INVALID_ARGUMENT, "MODEL_NOT_ATTESTED", {"problem": "EXPIRED"}),
    ]  # fmt: skip
    for parts, code, reason, metadata in cases:
        got = _refused(zone, parts)
        assert got[:2] == (code, reason), (reason, got)
        assert metadata.items() <= got[2].items(), (reason, got)
        _denied(zone, reason)
    assert zone.pending().models == []
    zone.register(_stream(card))
    assert _refused(zone, _stream(card))[:2] == (grpc.StatusCode.ALREADY_EXISTS, "MODEL_EXISTS")
    _denied(zone, "MODEL_EXISTS")


def test_attest_model_refusals(zone: Zone, paillier: phe.PaillierPublicKey) -> None:
    card = _paillier_card(paillier)
    zone.register(_stream(card))
    other = Ed25519PrivateKey.generate()
    for attestation, problem in (
        (_sign(card, key=other), "SIGNATURE"),
        (_sign(card, auditor="auditor-9"), "AUDITOR_UNKNOWN"),
        (_sign(card, days=-1), "EXPIRED"),
        (_sign(_paillier_card(paillier, output_bits=40)), "SIGNATURE"),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            zone.attest(card, attestation)
        assert _refusal(caught.value) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "MODEL_NOT_ATTESTED",
            {"problem": problem},
        )
        _denied(zone, "MODEL_NOT_ATTESTED")
    with pytest.raises(grpc.RpcError) as unknown:
        zone.attest(card, _sign(card), org="6")
    assert _refusal(unknown.value)[:2] == (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND")
    assert [m.card.model_id for m in zone.pending().models] == [card.model_id]
    # a partner cannot list or attest: the steward's scope
    with pytest.raises(grpc.RpcError) as partner:
        zone.steward(
            "ListPendingModels", steward_pb2.ListPendingModelsRequest(), zone.partner_token()
        )
    assert partner.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_no_key_ciphertext_or_identifier_in_any_audit_leaf(
    zone: Zone, paillier: phe.PaillierPublicKey
) -> None:
    card = _paillier_card(paillier, model_id="model.x")
    attestation = _sign(card)
    zone.register(_stream(card))
    zone.attest(card, attestation)
    _refused(zone, _stream(_paillier_card(paillier, model_id="110101199003074518")))
    leaves = [leaf.leaf for leaves, _ in zone.stack.store.appends for leaf in leaves]
    blob = b"".join(leaves)
    assert card.public_key[:32] not in blob
    assert all(c[:32] not in blob for c in card.weight_ciphertexts)
    assert bytes(attestation.signature)[:32] not in blob
    assert b"110101199003074518" not in blob
    requests = [e for e in zone.events(40) if isinstance(e, RequestReceived)]
    assert requests and all(r.person_token is None and not r.consent_ref for r in requests)
    assert b"110101199003074518" not in zone.db.read_bytes()


REGISTER = "/dataward.v1.ComputeService/RegisterModel"


def test_the_upload_goes_through_the_door_like_any_call(
    zone: Zone, paillier: phe.PaillierPublicKey
) -> None:
    parts = _stream(_paillier_card(paillier))
    steward = zone.stack.issuer.token(
        client_id="lender-app", org=LENDER, scopes=("steward:admin",), purposes=()
    )
    forged = zone.stack.issuer.token(
        client_id="lender-app",
        org=LENDER,
        scopes=("compute:score",),
        purposes=("LOAN_ORIGINATION",),
        forged=True,
    )
    for token, code in (
        ("", grpc.StatusCode.UNAUTHENTICATED),
        (forged, grpc.StatusCode.UNAUTHENTICATED),
        (steward, grpc.StatusCode.PERMISSION_DENIED),
    ):
        with grpc.insecure_channel(zone.stack.target) as channel:
            stub = compute_pb2_grpc.ComputeServiceStub(channel)
            metadata = (("authorization", f"Bearer {token}"),) if token else ()
            with pytest.raises(grpc.RpcError) as caught:
                stub.RegisterModel(iter(parts), metadata=metadata)
        assert caught.value.code() == code
    # a message that does not parse ends the upload INVALID_ARGUMENT MALFORMED_REQUEST
    with grpc.insecure_channel(zone.stack.target) as channel:
        rpc = channel.stream_unary(REGISTER, None, None)  # raw bytes
        first = parts[0].SerializeToString()
        with pytest.raises(grpc.RpcError) as malformed:
            rpc(
                iter([first, b"\x0a\xff"]),
                metadata=(("authorization", f"Bearer {zone.partner_token()}"),),
                timeout=10,
            )
    assert _refusal(malformed.value)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST")
    assert zone.pending().models == []


def test_a_registration_logs_its_request_before_the_registry_stores_it(
    zone: Zone, paillier: phe.PaillierPublicKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: an answer is one commit (request, decision, release), but a registration is
    a durable effect before its answer, so its request leaf is durable first
    (Releaser.log_now): never a stored model that no leaf asked for."""
    seen: list[object] = []
    store = ModelRegistry.register

    def register(self: ModelRegistry, *args: object, **kw: object) -> object:
        seen.extend(zone.events(1))
        return store(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ModelRegistry, "register", register)
    registered = zone.register(_stream(_paillier_card(paillier)))
    (request,) = seen
    assert isinstance(request, RequestReceived)
    assert request.method == receipts.COMPUTE_REGISTER_MODEL
    assert request.request_id == registered.receipt.request_id
