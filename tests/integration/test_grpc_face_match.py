"""ComputeService.EncryptedFaceMatch end to end (issue 13): a partner's face-match keys made
with the SDK (dataward.client.compute.FaceMatchKeys), a real server on loopback over a real
synthetic registry, the zone's CKKS match, the answer decrypted by the partner -- every slot
the same blinded value, its sign the clear cosine's against the zone's tau -- and every bad
context, query or stream refused with its status and reason, each an audit leaf."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq
import pytest
import tenseal as ts
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward import receipts
from dataward.client import (
    AttemptsExhausted,
    CiphertextInvalid,
    Client,
    ConsentRequired,
    ContextInvalid,
    FaceMatchAnswer,
    FaceNotEnrolled,
    InvalidArgument,
    ReceiptInvalid,
    StaticTokenSource,
)
from dataward.client.compute import FaceMatchKeys, face_match_result
from dataward.v1 import common_pb2, compute_pb2, compute_pb2_grpc
from enclave.audit import AuditLogRefusals, AuditLogTrail, Decision, RequestReceived, decode_leaf
from enclave.biometrics import DEFAULT_THRESHOLDS, FaceAttempts, Template
from enclave.compute import CKKS_SLOTS, LocalCkks
from enclave.consent import SqliteConsentStore
from enclave.dataset import FaceTemplates, Zone
from enclave.keys import Keyring, open_keyring
from enclave.persons import FaceChecking, PersonChecks
from grpc_api import (
    JwksCache,
    RevocationFeed,
    ServerOptions,
    TokenVerifier,
    build_server,
    raw_public_key,
)
from tests.support.audit_stores import RecordingStore
from tests.support.grpc_stack import STEWARD, audit_log
from tests.support.person_fakes import KEY_NAME
from tests.support.query_export import synthetic_export
from tests.support.token_issuer import AUDIENCE, ZONE_CLIENT, TokenIssuer
from tests.support.zone_source import MASTER_KEY

PURPOSE = "IDENTITY_VERIFICATION"
PARTNER = "acme-bank"
SCOPES = ("identity:verify", "audit:read")
NOW = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)
TAU = DEFAULT_THRESHOLDS.encrypted_cosine


class Withheld:
    """The zone's sealed templates (:class:`enclave.dataset.FaceTemplates`) with some persons
    left out: the synthetic registry enrols everyone, a real one does not."""

    def __init__(self, templates: FaceTemplates, withheld: set[int]) -> None:
        self._templates, self._withheld = templates, withheld

    def reference(self, person_id: int) -> Template | None:
        return None if person_id in self._withheld else self._templates.reference(person_id)


class NoSelfies:
    """The selfie analyzer, which the encrypted match never calls."""

    def analyze(self, data: bytes) -> object:
        raise AssertionError("the encrypted face match never analyzes an image")


@dataclass
class MatchStack:
    issuer: TokenIssuer
    target: str
    checks: PersonChecks
    zone: Zone
    store: RecordingStore
    id_numbers: tuple[str, ...]
    templates: dict[str, npt.NDArray[np.float64]]  # by ID number: the clear unit template
    keys: FaceMatchKeys
    public: bytes

    def consent(self, id_number: str) -> str:
        answer = self.checks.grant_consent(
            STEWARD, id_number=id_number, partner=PARTNER, purpose=PURPOSE
        )
        return answer.value.consent_ref

    def client(self) -> Client:
        token = self.issuer.token(org=PARTNER, scopes=SCOPES, purposes=(PURPOSE,))
        return Client(self.target, StaticTokenSource(token))

    def leaves(self) -> list[bytes]:
        return [leaf.leaf for leaves, _ in self.store.appends for leaf in leaves]

    def events(self, since: int) -> list[object]:
        return [decode_leaf(leaf).event for leaf in self.leaves()[since:]]


def _unit(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    v = rng.normal(size=128)
    unit: npt.NDArray[np.float64] = v / np.linalg.norm(v)
    return unit


def _at_cosine(
    t: npt.NDArray[np.float64], cosine: float, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    other = rng.normal(size=128)
    other -= (other @ t) * t
    other /= np.linalg.norm(other)
    near: npt.NDArray[np.float64] = cosine * t + np.sqrt(1.0 - cosine**2) * other
    return near


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MatchStack]:
    root: Path = tmp_path_factory.mktemp("facematch")
    export = synthetic_export(root, persons=60)
    keyring: Keyring = open_keyring(export.zone, MASTER_KEY)
    zone = Zone.open(export.zone, keyring)
    people = pq.read_table(root / "src" / "persons.parquet", columns=["id_number"])
    id_numbers = tuple(str(v) for v in people.column("id_number").to_pylist())
    sealed = FaceTemplates(zone, keyring)
    templates: dict[str, npt.NDArray[np.float64]] = {}
    withheld: set[int] = set()
    for index, number in enumerate(id_numbers):
        person = zone.find_person(number)
        assert person is not None
        if index >= 40:  # no ID-card template from here on
            withheld.add(person.person_id)
            continue
        reference = sealed.reference(person.person_id)
        assert reference is not None
        templates[number] = reference.normalized()  # the clear template, for the test only
    key = Ed25519PrivateKey.generate()
    issuer = TokenIssuer()
    keys = FaceMatchKeys.generate()
    attempts = FaceAttempts(root / "state" / "face_attempts.db")
    with issuer.serving(), audit_log(root, key) as (log, store):
        consents = SqliteConsentStore.open(root / "state" / "consent.db")
        checks = PersonChecks(
            directory=zone,
            tokenizer=keyring,
            consents=consents,
            audit=AuditLogTrail(log),
            clock=lambda: NOW,
            faces=FaceChecking(
                analyzer=NoSelfies(),  # type: ignore[arg-type]
                templates=Withheld(sealed, withheld),
                attempts=attempts,
                thresholds=DEFAULT_THRESHOLDS,
                matcher=LocalCkks(),
            ),
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
        )
        try:
            yield MatchStack(
                issuer,
                f"127.0.0.1:{server.port}",
                checks,
                zone,
                store,
                id_numbers,
                templates,
                keys,
                keys.public_context_bytes(),
            )
        finally:
            server.stop(None)
            feed.stop()
            consents.close()
            attempts.close()


def _match(stack: MatchStack, c: Client, number: str, embedding: list[float]) -> FaceMatchAnswer:
    return c.encrypted_face_match(
        number,
        PURPOSE,
        context=stack.public,
        query=stack.keys.encrypt_embedding(embedding),
        timeout=120.0,
    )


def test_genuine_and_impostor_decrypt_to_the_clear_cosine_against_tau(stack: MatchStack) -> None:
    rng = np.random.default_rng(1)
    with stack.client() as c:
        for index, cosine in ((0, 0.99), (1, 0.96), (2, 0.94), (3, 0.3), (4, -0.2)):
            number = stack.id_numbers[index]
            stack.consent(number)
            embedding = 5.0 * _at_cosine(stack.templates[number], cosine, rng)  # SDK normalises
            answer = c.encrypted_face_match(
                number,
                PURPOSE,
                context=stack.public,
                query=stack.keys.encrypt_embedding(list(embedding)),
                timeout=120.0,
            )
            result = face_match_result(stack.keys, answer)
            assert result.matched is (cosine > TAU)
            assert result.validated_on == DEFAULT_THRESHOLDS.validated_on
            # Every slot holds the one blinded value: no template value, no partial sum.
            slots = np.array(ts.ckks_vector_from(stack.keys.context, answer.ciphertext).decrypt())
            assert slots.shape == (CKKS_SLOTS,)
            assert slots.max() - slots.min() < 1e-3
            assert np.all(np.sign(slots) == np.sign(cosine - TAU))
            assert c.verify_answer(answer) is not None


def test_the_receipt_covers_the_answer_and_the_query(stack: MatchStack) -> None:
    number = stack.id_numbers[5]
    stack.consent(number)
    with stack.client() as c:
        answer = c.encrypted_face_match(
            number,
            PURPOSE,
            context=stack.public,
            query=stack.keys.encrypt_embedding(list(stack.templates[number])),
            timeout=120.0,
        )
        c.verify_answer(answer)
        flipped = bytes([answer.ciphertext[0] ^ 1]) + answer.ciphertext[1:]
        with pytest.raises(ReceiptInvalid):
            c.verify_answer(dataclasses.replace(answer, ciphertext=flipped))
        with pytest.raises(ReceiptInvalid):
            c.verify_answer(dataclasses.replace(answer, query=answer.query[:-1] + b"\x00"))


def test_bad_contexts_and_queries_are_refused_with_their_reason(stack: MatchStack) -> None:
    no_galois = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 60])
    no_galois.global_scale = 2.0**40
    secret = stack.keys.context.serialize(save_secret_key=True, save_galois_keys=True)
    cases: list[tuple[bytes, bytes | None, type[InvalidArgument], str]] = [
        (no_galois.serialize(save_secret_key=False), None, ContextInvalid, "NO_GALOIS_KEYS"),
        (secret, None, ContextInvalid, "SECRET_KEY"),
        (b"x" * 49_000_000, None, ContextInvalid, "TOO_LARGE"),
        (b"\xff" * 64, None, ContextInvalid, "MALFORMED"),
        (stack.public, b"\xff" * 64, CiphertextInvalid, "MALFORMED"),
        (stack.public, b"y" * 1_000_001, CiphertextInvalid, "TOO_LARGE"),
    ]
    t = stack.templates[stack.id_numbers[10]]
    with stack.client() as c:
        for index, (context, query, error, problem) in enumerate(cases):
            number = stack.id_numbers[10 + index]
            stack.consent(number)
            before = len(stack.leaves())
            with pytest.raises(error) as caught:
                c.encrypted_face_match(
                    number,
                    PURPOSE,
                    context=context,
                    query=query or stack.keys.encrypt_embedding(list(t)),
                    timeout=120.0,
                )
            assert caught.value.reason in {"CONTEXT_INVALID", "CIPHERTEXT_INVALID"}
            assert caught.value.problem == problem  # type: ignore[attr-defined]
            events = stack.events(before)
            assert any(
                isinstance(e, RequestReceived) and e.method == receipts.COMPUTE_FACE_MATCH
                for e in events
            )
            assert any(isinstance(e, Decision) and not e.allow for e in events)


def test_not_enrolled_no_consent_and_attempts(stack: MatchStack) -> None:
    rng = np.random.default_rng(3)
    embedding = list(_unit(rng))
    with stack.client() as c:
        unenrolled = stack.id_numbers[50]
        stack.consent(unenrolled)
        with pytest.raises(FaceNotEnrolled):
            _match(stack, c, unenrolled, embedding)
        with pytest.raises(ConsentRequired):
            _match(stack, c, stack.id_numbers[30], embedding)  # enrolled, no consent
        # The same durable limits as a selfie: 3 a day per person, across partners.
        number = stack.id_numbers[31]
        stack.consent(number)
        for _ in range(3):
            _match(stack, c, number, embedding)
        with pytest.raises(AttemptsExhausted) as exhausted:
            _match(stack, c, number, embedding)
        assert exhausted.value.retry_after is not None


def test_stream_out_of_order_is_field_invalid_and_logged(stack: MatchStack) -> None:
    number = stack.id_numbers[35]
    header = compute_pb2.FaceMatchHeader(
        id_number=number, purpose=common_pb2.PURPOSE_IDENTITY_VERIFICATION
    )
    bad_streams = [
        [compute_pb2.EncryptedFaceMatchRequest(context_chunk=b"x")],  # no header first
        [
            compute_pb2.EncryptedFaceMatchRequest(header=header),
            compute_pb2.EncryptedFaceMatchRequest(query_ciphertext=b"q"),  # no context
        ],
        [
            compute_pb2.EncryptedFaceMatchRequest(header=header),
            compute_pb2.EncryptedFaceMatchRequest(context_chunk=b"x"),
        ],  # no query
        [
            compute_pb2.EncryptedFaceMatchRequest(header=header),
            compute_pb2.EncryptedFaceMatchRequest(context_chunk=b"x" * ((1 << 20) + 1)),
        ],  # a chunk over 1 MiB
    ]
    token = stack.issuer.token(org=PARTNER, scopes=SCOPES, purposes=(PURPOSE,))
    with grpc.insecure_channel(stack.target) as channel:
        stub = compute_pb2_grpc.ComputeServiceStub(channel)
        for stream in bad_streams:
            before = len(stack.leaves())
            with pytest.raises(grpc.RpcError) as caught:
                stub.EncryptedFaceMatch(
                    iter(stream), metadata=(("authorization", f"Bearer {token}"),), timeout=30
                )
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert len(stack.leaves()) > before  # the refusal is an audit leaf


def test_no_clear_id_number_in_any_leaf(stack: MatchStack) -> None:
    for leaf in stack.leaves():
        text = leaf.decode("utf-8", "replace")
        for number in stack.id_numbers:
            assert number not in text


def test_bytes_refused_by_their_envelopes_count_no_attempt(stack: MatchStack) -> None:
    number = stack.id_numbers[36]
    stack.consent(number)
    no_galois = ts.context(ts.SCHEME_TYPE.CKKS, 8192, coeff_mod_bit_sizes=[60, 40, 40, 60])
    no_galois.global_scale = 2.0**40
    embedding = list(stack.templates[number])
    with stack.client() as c:
        for _ in range(4):  # more than the day's 3 attempts: none of them counted
            with pytest.raises(ContextInvalid):
                c.encrypted_face_match(
                    number,
                    PURPOSE,
                    context=no_galois.serialize(save_secret_key=False),
                    query=stack.keys.encrypt_embedding(embedding),
                    timeout=120.0,
                )
        for _ in range(3):
            assert face_match_result(stack.keys, _match(stack, c, number, embedding)).matched
        with pytest.raises(AttemptsExhausted):
            _match(stack, c, number, embedding)


def test_uploads_read_at_once_are_bounded_server_wide(stack: MatchStack) -> None:
    """Each upload holds up to ~96 MB while read, before consent: past
    MAX_FACE_MATCH_UPLOADS at once, RESOURCE_EXHAUSTED RATE_LIMITED (issue 13 review)."""
    import threading

    from grpc_api._servicers import MAX_FACE_MATCH_UPLOADS

    header = compute_pb2.FaceMatchHeader(
        id_number=stack.id_numbers[36], purpose=common_pb2.PURPOSE_IDENTITY_VERIFICATION
    )
    release = threading.Event()

    def held() -> Iterator[compute_pb2.EncryptedFaceMatchRequest]:
        yield compute_pb2.EncryptedFaceMatchRequest(header=header)
        yield compute_pb2.EncryptedFaceMatchRequest(context_chunk=b"x")
        release.wait(30)  # the upload stays open, being read

    token = stack.issuer.token(org=PARTNER, scopes=SCOPES, purposes=(PURPOSE,))
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(stack.target) as channel:
        stub = compute_pb2_grpc.ComputeServiceStub(channel)
        pending = [
            stub.EncryptedFaceMatch.future(held(), metadata=metadata, timeout=60)
            for _ in range(MAX_FACE_MATCH_UPLOADS)
        ]
        try:
            deadline = time.monotonic() + 20
            refused = None
            while time.monotonic() < deadline and refused is None:
                try:
                    stub.EncryptedFaceMatch(
                        iter([compute_pb2.EncryptedFaceMatchRequest(header=header)]),
                        metadata=metadata,
                        timeout=30,
                    )
                except grpc.RpcError as exc:
                    if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        refused = exc
                    else:
                        time.sleep(0.1)  # the held uploads are not all being read yet
            assert refused is not None
            assert "encrypted face matches are read at once" in (refused.details() or "")
        finally:
            release.set()
            for future in pending:
                with pytest.raises(grpc.RpcError):
                    future.result(timeout=60)  # no query: each ends FIELD_INVALID
