"""The partner's client: one method per API call, typed results, typed errors, receipt checks.

Each method builds its request (:mod:`dataward.client._convert`), makes the call with the
bearer token and deadline, and converts the answer back; a failed call becomes the typed error
of :mod:`dataward.client.errors`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dataward import receipts
from dataward.access import Purpose
from dataward.attestation import AttestationError, verify_attestation
from dataward.client._audit_view import AuditPage, UsageSummary, audit_page, usage_summary
from dataward.client._batch import (
    DEFAULT_PACK,
    DEFAULT_STREAM_ITEMS,
    BatchRun,
    packed_window,
)
from dataward.client._checkpoints import CheckpointTracker
from dataward.client._convert import (
    check_request,
    consent_grant,
    credit_band,
    eligibility_result,
    identity_result,
    item_error,
    purpose_to_proto,
    receipt_from_proto,
)
from dataward.client._discovery import discover
from dataward.client._enums import Benefit
from dataward.client._keys import PrivateKey
from dataward.client._query import (
    BudgetState,
    Explanation,
    ParameterValue,
    QueryPage,
    QueryResult,
    QuerySubmission,
    StoredQuery,
    budget_state,
    explanation,
    parameters_to_proto,
    query_page,
    query_result,
    require_arrow,
    stored_query,
    submission,
    table_matches,
)
from dataward.client._release import Answer, release_of
from dataward.client._scoring import (
    CkksBatchAnswer,
    FaceMatchAnswer,
    ModelAttestation,
    ModelInfo,
    PaillierScoreAnswer,
    PendingModels,
    attestation_to_proto,
    ckks_batch_answer,
    face_match_answer,
    face_match_requests,
    model_info,
    paillier_score_answer,
    pending_models,
    register_requests,
)
from dataward.client._tokens import (
    ClientCredentialsTokenSource,
    PrivateKeyJwtTokenSource,
    TokenSource,
)
from dataward.client._types import (
    BatchItem,
    ConsentGrant,
    CreditBand,
    EligibilityQuery,
    EligibilityResult,
    IdentityResult,
)
from dataward.client.errors import DiscoveryError, ReceiptInvalid, error_from_rpc
from dataward.compute import ModelCard
from dataward.transparency import (
    Checkpoint,
    Receipt,
    TransparencyError,
    open_checkpoint,
    verify_receipt,
)
from dataward.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    compute_pb2,
    compute_pb2_grpc,
    eligibility_pb2,
    eligibility_pb2_grpc,
    identity_pb2,
    identity_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
    steward_pb2,
    steward_pb2_grpc,
)

__all__ = ["Client"]


def new_nonce() -> str:
    """A fresh request nonce: 32 URL-safe characters (192 random bits)."""
    return secrets.token_urlsafe(24)


class Client:
    """A partner's connection to the zone.

    ``target`` is ``host:port``; ``credentials`` (``grpc.ssl_channel_credentials(...)``) make
    the channel TLS (mutual TLS with a client key and certificate). Every call sends
    ``authorization: Bearer <token>`` from ``token_source``; ``timeout`` is each call's
    deadline in seconds. ``max_message_bytes`` bounds each message either way: 8 MiB by
    default, the server's default, so that a selfie at the zone's 6 MB image limit is sent
    and judged by the zone (issue 13), not refused by this channel.

    ``audit_key`` pins the zone's checkpoint key, ``(key_name, Ed25519PublicKey)``, used by
    :meth:`verify_answer`: load it out of band from the zone's published
    ``ZONE/public/zone-signing-key.pub`` with
    :func:`~dataward.transparency.load_named_public_key` (the file names the key; a file of a
    zone made before issue 14 needs the name given, ``dataward-zone-<zone id>``).
    Without it the key is fetched from the server being verified (see :meth:`audit_public_key`).

    The client keeps the largest checkpoint of the zone's log it has seen and holds every
    receipt's checkpoint to it, CT-style (:mod:`dataward.client._checkpoints`): a newer one
    must extend it, an older one must be a prefix of it, each proved by the zone
    (:meth:`consistency_proof`, scope ``audit:read``); otherwise :meth:`verify_answer` raises
    :class:`LogForked` or :class:`LogRolledBack`. ``trusted_checkpoint`` (a signed note,
    e.g. :meth:`largest_checkpoint` kept from an earlier session or ``dataward audit
    checkpoint``'s output) seeds it, so that even the first answer is held to it; it needs
    the pinned ``audit_key``.
    """

    def __init__(
        self,
        target: str,
        token_source: TokenSource,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        timeout: float = 10.0,
        max_message_bytes: int = 8 * 1024 * 1024,
        audit_key: tuple[str, Ed25519PublicKey] | None = None,
        trusted_checkpoint: str | None = None,
    ) -> None:
        if trusted_checkpoint is not None and audit_key is None:
            raise ValueError("a trusted checkpoint needs the pinned audit_key it was signed by")
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        self._channel = (
            grpc.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.insecure_channel(target, options=options)
        )
        self.target = target
        self._max_message_bytes = max_message_bytes
        self._tokens = token_source
        self._timeout = timeout
        self._eligibility = eligibility_pb2_grpc.EligibilityServiceStub(self._channel)
        self._identity = identity_pb2_grpc.IdentityServiceStub(self._channel)
        self._compute = compute_pb2_grpc.ComputeServiceStub(self._channel)
        self._audit = audit_pb2_grpc.AuditServiceStub(self._channel)
        self._steward = steward_pb2_grpc.StewardServiceStub(self._channel)
        self._query = query_pb2_grpc.QueryServiceStub(self._channel)
        self._audit_key = audit_key
        self._checkpoints = CheckpointTracker()
        if trusted_checkpoint is not None and audit_key is not None:
            try:
                seed = open_checkpoint(trusted_checkpoint, *audit_key)
            except TransparencyError as exc:
                self._channel.close()
                raise ReceiptInvalid(f"the trusted checkpoint does not verify: {exc}") from exc
            if seed.origin != audit_key[0]:
                self._channel.close()
                raise ReceiptInvalid("the trusted checkpoint is of another log than the zone's")
            # The tracker is empty: the seed is kept as it is, no proof is fetched.
            self._checkpoints.observe(
                audit_key[0], seed, trusted_checkpoint, self.consistency_proof
            )

    @classmethod
    def from_issuer(
        cls,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        *,
        private_key: bytes | str | PrivateKey | None = None,
        scope: str | Iterable[str],
        target: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        audit_key: tuple[str, Ed25519PublicKey] | None = None,
        timeout: float = 10.0,
        trusted_checkpoint: str | None = None,
    ) -> Client:
        """A client set up from the portal's RFC 8414 metadata (issue 14): ``issuer`` is the
        portal's URL, as the credentials page shows it.

        The token endpoint, the zone's gRPC target (``dataward_grpc_target``; ``target``
        overrides it) and whether it takes TLS, and the zone's checkpoint key with its name
        are read from the metadata (:mod:`dataward.client._discovery` checks them). The app
        authenticates with ``client_secret`` (``client_secret_basic``) or ``private_key``
        (``private_key_jwt``, RFC 7523; see :class:`PrivateKeyJwtTokenSource`): exactly one.

        ``audit_key`` pins the zone's key as in :class:`Client`; without it the key the
        portal publishes is pinned -- better than the gRPC server's own word, as it comes
        over the portal's HTTPS, but a key loaded out of band
        (:func:`~dataward.transparency.load_named_public_key` over the zone's published file)
        pins against the operator too. The published target, when the metadata says it takes
        TLS and no ``credentials`` are given, is dialled with the system's root certificates
        (a ``target`` of your own is dialled as ``credentials`` say).

        Raises :class:`DiscoveryError` (metadata unusable, or no gRPC target known: give
        ``target``) and ``ValueError`` (not exactly one of secret and key, a key of a kind
        the portal does not take).
        """
        if (client_secret is None) == (private_key is None):
            raise ValueError("give exactly one of client_secret and private_key")
        metadata = discover(issuer, timeout=timeout)
        tokens: TokenSource
        if private_key is not None:
            if "private_key_jwt" not in metadata.token_endpoint_auth_methods:
                raise DiscoveryError("the portal does not take private_key_jwt")
            tokens = PrivateKeyJwtTokenSource(
                metadata.token_endpoint, client_id, private_key, scope, timeout=timeout
            )
        else:
            assert client_secret is not None
            tokens = ClientCredentialsTokenSource(
                metadata.token_endpoint, client_id, client_secret, scope, timeout=timeout
            )
        dial = target or metadata.grpc_target
        if not dial:
            raise DiscoveryError(
                "the portal publishes no gRPC target (the zone is not serving, or the "
                "portal's grpc_target is unset): pass target='host:port'"
            )
        if credentials is None and metadata.grpc_tls and target is None:
            credentials = grpc.ssl_channel_credentials()
        return cls(
            dial,
            tokens,
            credentials=credentials,
            timeout=timeout,
            audit_key=audit_key or metadata.zone_key,
            trusted_checkpoint=trusted_checkpoint,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self._tokens.token()}"),)

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, metadata=self._metadata(), timeout=timeout or self._timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    # -- partner calls -------------------------------------------------------------------
    def check_eligibility(
        self,
        id_number: str,
        benefit: Benefit | str,
        purpose: Purpose | str,
        *,
        as_of: dt.date | None = None,
        consent_ref: str = "",
        timeout: float | None = None,
    ) -> EligibilityResult:
        query = EligibilityQuery(id_number, Benefit(benefit), Purpose(purpose), as_of, consent_ref)
        nonce = new_nonce()
        response = self._call(self._eligibility.Check, check_request(query, nonce), timeout)
        return eligibility_result(response, nonce)

    def check_eligibility_batch(
        self, queries: Iterable[EligibilityQuery], *, timeout: float | None = None
    ) -> Iterator[BatchItem]:
        """One :class:`BatchItem` per query, in order, over ONE stream (at most the server's
        ``grpc.max_batch_items``); a refused item carries its error. Receipts are not checked
        here: :meth:`check_many` is the bulk path (any number of items, checked receipts)."""
        nonces: list[str] = []  # by item index; an answer comes after its item was sent

        def requests() -> Iterator[eligibility_pb2.CheckBatchRequest]:
            for query in queries:
                nonces.append(new_nonce())
                yield eligibility_pb2.CheckBatchRequest(item=check_request(query, nonces[-1]))

        try:
            for response in self._eligibility.CheckBatch(
                requests(), metadata=self._metadata(), timeout=timeout or self._timeout
            ):
                if response.HasField("result"):
                    nonce = nonces[response.index] if response.index < len(nonces) else ""
                    result = eligibility_result(response.result, nonce)
                    yield BatchItem(response.index, result, None)
                else:
                    yield BatchItem(response.index, None, item_error(response.error))
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def check_many(
        self,
        queries: Iterable[EligibilityQuery],
        *,
        progress: Callable[[int], None] | None = None,
        window: int = 256,
        stream_items: int = DEFAULT_STREAM_ITEMS,
        pack: int = DEFAULT_PACK,
        verify: bool = True,
        timeout: float | None = None,
    ) -> Iterator[BatchItem]:
        """Check every query of ``queries`` -- any number, read lazily -- over ``CheckBatch``
        streams; one :class:`BatchItem` per query, in input order (``index`` counts from 0
        across streams).

        An answered item carries its :class:`EligibilityResult`, whose receipt was checked with
        :meth:`verify_answer` (``verify=False`` skips that; ``verify_answer`` may ask the zone
        for consistency proofs, scope ``audit:read``); a refused item carries its error
        (``.code``, ``.reason``, ``.message``: e.g. :class:`ConsentRequired`,
        :class:`IdNumberInvalid`) and the iteration goes on. ``progress(n)`` is called with
        the number of items done before each is handed out.

        At most ``window`` items are sent and not yet answered, and each stream carries at most
        ``stream_items`` (the server's ``grpc.max_batch_items``; a server that takes fewer says
        so, and its number is used from then on). Items leave ``pack`` to a message (the
        packed form, answered a group per response; ``pack=1``: one item per message, for a
        zone from before it). The zone answers a packed stream's unanswered items together,
        so ``window`` is held to what one message of ``max_message_bytes`` can answer
        (4 KiB an answer: 2,048 with the default 8 MiB). The queries are read
        ahead (at most ``min(pack, window)``) by a thread of their own, and items join a
        message only within 10 ms of its first: a slow iterable's item leaves without
        waiting for the next one, and a live source (stdin, a queue) may be slower than a
        stream's deadline in either form (a stream that runs out of time after answers is
        reopened once the next query is there). A stream ended by a rate limit, an expired
        token or its deadline is reopened with the items it did not answer
        (:mod:`dataward.client._batch`). ``timeout`` is each stream's deadline (default
        10 s + 50 ms per item it may carry).

        Raises the typed error that ended a stream for good (after every answer before it),
        :class:`ReceiptInvalid` (or :class:`LogForked` / :class:`LogRolledBack`) for an answer
        whose receipt does not verify, and whatever ``queries`` raised, after the answers to
        the items before it.
        """
        run = BatchRun(
            open_stream=lambda requests, deadline: self._eligibility.CheckBatch(
                requests, metadata=self._metadata(), timeout=deadline
            ),
            verify=self.verify_answer if verify else None,
            refresh=self._refresh_token,
            nonce=new_nonce,
            window=packed_window(window, pack, self._max_message_bytes),
            stream_items=stream_items,
            timeout=timeout,
            pack=pack,
        )
        return run.run(queries, progress)

    def _refresh_token(self) -> None:
        invalidate = getattr(self._tokens, "invalidate", None)
        if callable(invalidate):
            invalidate()

    def verify_identity(
        self,
        id_number: str,
        name: str,
        purpose: Purpose | str,
        *,
        consent_ref: str = "",
        selfie: bytes = b"",
        timeout: float | None = None,
    ) -> IdentityResult:
        """The identity-document check of a consenting person; with ``selfie`` (JPEG or PNG
        bytes) also the 1:1 face check against that person's ID-card photo in the zone:
        ``result.face`` (MATCH, NO_MATCH or INCONCLUSIVE with a retake reason). Each selfie is
        one face attempt (:class:`AttemptsExhausted` past the limits); a refused image is
        :class:`ImageInvalid` and counts none; :class:`FaceNotEnrolled` when the zone holds
        no ID-card face of the person."""
        request = identity_pb2.VerifyRequest(
            id_number=id_number,
            name=name,
            purpose=purpose_to_proto(purpose),
            consent_ref=consent_ref,
            selfie=selfie,
            client_nonce=(nonce := new_nonce()),
        )
        response = self._call(self._identity.Verify, request, timeout)
        return identity_result(response, nonce)

    def credit_band(
        self,
        id_number: str,
        purpose: Purpose | str,
        scorecard: str = "credit_band_v1",
        *,
        timeout: float | None = None,
    ) -> CreditBand:
        """The person's credit band (A-E) by ``scorecard`` of the zone's policy in force, for a
        consented ``purpose`` (e.g. LOAN_ORIGINATION); scope ``compute:score``. Only the band
        leaves the zone, never its features or the score. Verify it with
        :meth:`verify_answer`."""
        request = compute_pb2.CreditBandRequest(
            id_number=id_number,
            purpose=purpose_to_proto(purpose),
            scorecard=scorecard,
            client_nonce=(nonce := new_nonce()),
        )
        response = self._call(self._compute.CreditBand, request, timeout)
        return credit_band(response, nonce)

    # -- encrypted scoring (ComputeService, issue 12; keys and decryption: .compute) ---------
    def register_model(
        self,
        card: ModelCard,
        attestation: ModelAttestation | None = None,
        *,
        timeout: float | None = None,
    ) -> ModelInfo:
        """Register ``card`` (built by :mod:`dataward.client.compute`) with its public key and
        encrypted weights, and the auditor's ``attestation`` if you have it (else a steward
        attaches it later: :meth:`attest_model`). Scope ``compute:score``; the card's purpose
        must be granted. Raises :class:`ModelExists` for a version registered before,
        :class:`InvalidArgument` subclasses for what the zone refuses (``FIELD_INVALID``
        naming the field, :class:`WeightsInvalid`, :class:`ContextInvalid`,
        :class:`CiphertextInvalid`, :class:`ModelMismatch`, :class:`AttestationInvalid`), and
        ``ValueError`` before sending for a card whose fields are out of range. A CKKS card
        is megabytes: give it a ``timeout`` to match."""
        requests = register_requests(card, attestation)
        try:
            response = self._compute.RegisterModel(
                requests, metadata=self._metadata(), timeout=timeout or self._timeout
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        return model_info(response.model, response.receipt, receipts.COMPUTE_REGISTER_MODEL)

    def get_model(self, model_id: str, version: int, *, timeout: float | None = None) -> ModelInfo:
        """One of this organization's models (its status, digest, attestation); scope
        ``compute:score``. :class:`ModelNotFound` for an unknown id or version."""
        request = compute_pb2.GetModelRequest(model_id=model_id, version=version)
        response = self._call(self._compute.GetModel, request, timeout)
        return model_info(response.model, response.receipt, receipts.COMPUTE_GET_MODEL)

    def paillier_score(
        self,
        id_number: str,
        purpose: Purpose | str,
        model_id: str,
        model_version: int,
        *,
        consent_ref: str = "",
        timeout: float | None = None,
    ) -> PaillierScoreAnswer:
        """One consenting person's score under this organization's attested Paillier model:
        an encrypted answer for :func:`dataward.client.compute.decrypt_paillier_score`. Scope
        ``compute:score``. One score per consent and model version
        (:class:`ScoreAlreadyGiven`); :class:`ModelNotAttested`, :class:`ModelNotFound`,
        :class:`ConsentRequired` as their names say. Verify it with :meth:`verify_answer`."""
        request = compute_pb2.PaillierScoreRequest(
            id_number=id_number,
            purpose=purpose_to_proto(purpose),
            model_id=model_id,
            model_version=model_version,
            consent_ref=consent_ref,
            client_nonce=(nonce := new_nonce()),
        )
        response = self._call(self._compute.PaillierScore, request, timeout)
        return paillier_score_answer(response, nonce)

    def ckks_batch_score(
        self,
        model_id: str,
        model_version: int,
        purpose: Purpose | str,
        persons: Iterable[str | tuple[str, str]],
        *,
        timeout: float | None = None,
    ) -> CkksBatchAnswer:
        """Up to 4096 persons' scores under this organization's attested CKKS model, one slot
        each in order: ``persons`` are ID numbers, or ``(id_number, consent_ref)`` pairs.
        A person without consent (or unknown, or scored before under this version) is no
        error: the slot is 0 and ``scored[i]`` False.
        :func:`dataward.client.compute.decrypt_ckks_scores` decrypts it. Scope
        ``compute:score``. Verify it with :meth:`verify_answer`."""
        batch = [
            compute_pb2.BatchPerson(id_number=p)
            if isinstance(p, str)
            else compute_pb2.BatchPerson(id_number=p[0], consent_ref=p[1])
            for p in persons
        ]
        request = compute_pb2.CkksBatchScoreRequest(
            model_id=model_id,
            model_version=model_version,
            purpose=purpose_to_proto(purpose),
            persons=batch,
            client_nonce=(nonce := new_nonce()),
        )
        response = self._call(self._compute.CkksBatchScore, request, timeout)
        return ckks_batch_answer(response, nonce)

    def encrypted_face_match(
        self,
        id_number: str,
        purpose: Purpose | str,
        *,
        context: bytes,
        query: bytes,
        consent_ref: str = "",
        timeout: float | None = None,
    ) -> FaceMatchAnswer:
        """The encrypted face match (issue 13): the consenting person's enrolled ID-card
        template against your encrypted selfie embedding. ``context`` and ``query`` come from
        :class:`dataward.client.compute.FaceMatchKeys` (the public context with Galois keys,
        ~35 MB, and :meth:`~dataward.client.compute.FaceMatchKeys.encrypt_embedding`);
        :func:`dataward.client.compute.face_match_result` decrypts the answer to a bool.
        Scope ``identity:verify``; one face attempt of the same limits as a selfie in
        :meth:`verify_identity` (:class:`AttemptsExhausted`), :class:`FaceNotEnrolled`,
        :class:`ContextInvalid` / :class:`CiphertextInvalid` for refused bytes. Verify it
        with :meth:`verify_answer`."""
        header = compute_pb2.FaceMatchHeader(
            id_number=id_number,
            purpose=purpose_to_proto(purpose),  # ValueError here, before anything is sent
            consent_ref=consent_ref,
            client_nonce=(nonce := new_nonce()),
        )
        requests = face_match_requests(header, context, query)
        try:
            response = self._compute.EncryptedFaceMatch(
                requests, metadata=self._metadata(), timeout=timeout or self._timeout
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        return face_match_answer(response, query, nonce)

    # -- aggregate queries (QueryService) -----------------------------------------------------
    def explain(
        self,
        sql: str | None = None,
        *,
        template: str | None = None,
        parameters: Mapping[str, ParameterValue] | None = None,
        purpose: Purpose | str,
        timeout: float | None = None,
    ) -> Explanation:
        """A dry run of ``sql`` (or the approved ``template``): would :meth:`run_query`
        release it, under which rule and checks, or every reason it would not. Touches no
        data. Scope ``query:submit``. A view not granted raises :class:`PermissionDenied`."""
        request = query_pb2.ExplainRequest(
            sql=sql or "",
            template=template or "",
            parameters=parameters_to_proto(parameters),
            purpose=purpose_to_proto(purpose),
            client_nonce=(nonce := new_nonce()),
        )
        return explanation(self._call(self._query.Explain, request, timeout), nonce)

    def submit(
        self, sql: str, *, purpose: Purpose | str, timeout: float | None = None
    ) -> QuerySubmission:
        """Validate and store ``sql``: ``ACCEPTED`` (run it by ``query_id``),
        ``PENDING_REVIEW`` (a steward must approve it) or ``REJECTED`` with every reason.
        Scope ``query:submit``."""
        request = query_pb2.SubmitRequest(
            sql=sql, purpose=purpose_to_proto(purpose), client_nonce=(nonce := new_nonce())
        )
        return submission(self._call(self._query.Submit, request, timeout), nonce)

    def run_query(
        self,
        sql: str | None = None,
        *,
        query_id: str | None = None,
        template: str | None = None,
        parameters: Mapping[str, ParameterValue] | None = None,
        purpose: Purpose | str,
        timeout: float | None = None,
    ) -> QueryResult:
        """Run an ad-hoc ``sql``, a stored ``query_id`` or an approved ``template`` (exactly
        one) and return the gated table with its receipt (:meth:`verify_answer` checks it).
        Scope ``query:run``. A rejected query raises :class:`InvalidArgument` with
        ``reason == "QUERY_REJECTED"`` and the rule in ``metadata``. Without pyarrow (the
        ``dataward-sdk[query]`` extra) ``ModuleNotFoundError``, before anything is sent."""
        require_arrow()
        request = query_pb2.RunRequest(
            sql=sql or "",
            query_id=query_id or "",
            template=template or "",
            parameters=parameters_to_proto(parameters),
            purpose=purpose_to_proto(purpose),
            client_nonce=(nonce := new_nonce()),
        )
        return query_result(self._call(self._query.Run, request, timeout), nonce)

    def budget(self, *, timeout: float | None = None) -> BudgetState:
        """What this organization has spent and has left of its privacy budget on the live
        dataset version, with a receipt (scope ``query:submit``); charges nothing."""
        request = query_pb2.GetBudgetRequest(client_nonce=(nonce := new_nonce()))
        response = self._call(self._query.GetBudget, request, timeout)
        return budget_state(response.budget, response.receipt, nonce)

    def get_query(self, query_id: str, *, timeout: float | None = None) -> StoredQuery:
        """One stored query of this organization (scope ``query:submit``)."""
        request = query_pb2.QueryServiceGetRequest(query_id=query_id)
        return stored_query(self._call(self._query.Get, request, timeout).query)

    def list_queries(
        self, *, page_size: int = 50, page_token: str = "", timeout: float | None = None
    ) -> QueryPage:
        """A page of this organization's stored queries, newest first (scope
        ``query:submit``); pass ``next_page_token`` back for the next page."""
        request = query_pb2.QueryServiceListRequest(page_size=page_size, page_token=page_token)
        return query_page(self._call(self._query.List, request, timeout))

    # -- receipts ------------------------------------------------------------------------
    def attest(self, *, timeout: float | None = None) -> None:
        """Check that the server holds the zone's signing key (the PINNED ``audit_key``):
        it must sign a fresh random challenge. Sends no token. Raises :class:`ReceiptInvalid`
        if the answer does not verify, and nothing else of this client's is sent before a
        caller has checked this, when the server's address is not trusted on its own."""
        if self._audit_key is None:
            raise ValueError("attest() needs the pinned audit_key")
        challenge = secrets.token_bytes(32)
        try:
            response = self._audit.Attest(
                audit_pb2.AttestRequest(challenge=challenge), timeout=timeout or self._timeout
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        key_name, key = self._audit_key
        if response.key_name != key_name:
            raise ReceiptInvalid("the server attests under another key name than the zone's")
        try:
            verify_attestation(key, key_name, challenge, bytes(response.signature))
        except AttestationError as exc:
            raise ReceiptInvalid(str(exc)) from exc

    def audit_public_key(self) -> tuple[str, Ed25519PublicKey]:
        """The zone's checkpoint key: the pinned ``audit_key``, else fetched once from the server.

        A fetched key TRUSTS THE SERVER: a zone that serves its own key can sign whatever it
        likes, so receipts checked against it prove nothing against that server. Real assurance
        needs a pinned key (``Client(..., audit_key=...)``) loaded from the zone's published
        ``ZONE/public/zone-signing-key.pub`` with
        :func:`dataward.transparency.load_named_public_key`.
        """
        if self._audit_key is None:
            response = self._call(self._audit.GetPublicKey, audit_pb2.GetPublicKeyRequest(), None)
            key = Ed25519PublicKey.from_public_bytes(bytes(response.public_key))
            self._audit_key = (response.key_name, key)
        return self._audit_key

    def verify_receipt(
        self,
        receipt: Receipt,
        *,
        key_name: str | None = None,
        public_key: Ed25519PublicKey | None = None,
    ) -> Checkpoint:
        """Check that ``receipt``'s leaf is in the zone's signed log (key given, or as
        :meth:`audit_public_key`).

        This alone does not tie the receipt to an answer: use :meth:`verify_answer` for that.
        """
        if key_name is None or public_key is None:
            key_name, public_key = self.audit_public_key()
        try:
            return verify_receipt(receipt, key_name, public_key)
        except TransparencyError as exc:
            raise ReceiptInvalid(str(exc)) from exc

    def verify_answer(self, result: Answer) -> Checkpoint:
        """Check that ``result`` is exactly what the zone logged; one call per answer.

        Recomputes the result hash from the answer's own fields, its ``request_id`` and its
        method (:func:`dataward.receipts.result_hash`), checks it equals the ``result_hash`` of
        the release leaf the receipt carries, and checks the inclusion proof of THAT leaf
        against a checkpoint signed by the zone's key (:meth:`audit_public_key`). Then holds
        that checkpoint to the largest one seen (see the class docstring), fetching a
        consistency proof when their sizes differ. Returns the checkpoint. Raises
        :class:`ReceiptInvalid` for a receipt of another answer, an edited field, a leaf the
        proof does not cover, or a bad signature; :class:`LogForked` or :class:`LogRolledBack`
        (both ``ReceiptInvalid``) for a checkpoint that contradicts one seen before.
        """
        method, fields = release_of(result)
        receipt = result.receipt
        if receipt is None:  # a budget state inside a DP answer: its answer's receipt
            raise ReceiptInvalid("this value carries no receipt of its own")
        if isinstance(result, QueryResult) and not table_matches(result):
            raise ReceiptInvalid("the answer's table is not the one its Arrow IPC bytes hold")
        key_name, public_key = self.audit_public_key()
        try:
            checkpoint = receipts.verify_release(
                receipt,
                method=method,
                request_id=result.request_id,
                fields=fields,
                key_name=key_name,
                public_key=public_key,
                client_nonce=result.client_nonce,
            )
        except TransparencyError as exc:
            raise ReceiptInvalid(str(exc)) from exc
        if checkpoint.origin != key_name:  # a zone's log is named as its key
            raise ReceiptInvalid("the receipt's checkpoint is of another log than the zone's")
        note = receipt.checkpoint_note
        self._checkpoints.observe(key_name, checkpoint, note, self.consistency_proof)
        return checkpoint

    def consistency_proof(
        self, old_size: int, new_size: int, *, timeout: float | None = None
    ) -> list[bytes]:
        """The zone's RFC 9162 proof that its log of ``new_size`` entries extends the one of
        ``old_size`` (``AuditService.GetConsistencyProof``, scope ``audit:read``); check it
        with :func:`dataward.transparency.verify_consistency` against two signed roots.
        Raises :class:`NotFound` for a size past the zone's log."""
        request = audit_pb2.GetConsistencyProofRequest(old_size=old_size, new_size=new_size)
        response = self._call(self._audit.GetConsistencyProof, request, timeout)
        return [bytes(p) for p in response.proof]

    # -- the zone's log, for stewards (issue 14) -------------------------------------------
    def list_audit_events(
        self,
        *,
        organization: str = "",
        client_id: str = "",
        method: str = "",
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        page_size: int = 50,
        page_token: str = "",
        client_nonce: str = "",
        timeout: float | None = None,
    ) -> AuditPage:
        """A page of the zone's log, newest first: each request with its decision, and the
        steward actions, policy changes and refusal summaries (``AuditService.ListEvents``,
        scope ``audit:read`` with ``steward:admin``). Filters: an organization's slug, an
        app, a method ("EligibilityService/Check"), [since, until). A page may be short and
        still carry a ``next_page_token``: pass it back to read on. The read is logged like
        any answer: the page's ``receipt`` is its release (:meth:`verify_answer`); a page never
        lists the call that read it."""
        request = audit_pb2.ListEventsRequest(
            organization=organization,
            client_id=client_id,
            method=method,
            from_time=_unix(since),
            to_time=_unix(until),
            page_size=page_size,
            page_token=page_token,
            client_nonce=client_nonce,
        )
        return audit_page(self._call(self._audit.ListEvents, request, timeout), client_nonce)

    def usage_summary(
        self,
        *,
        organization: str = "",
        client_id: str = "",
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        client_nonce: str = "",
        timeout: float | None = None,
    ) -> UsageSummary:
        """Per app, calls per UTC day and refusals by reason in [since, until) (default: the
        30 days before now; at most 366 days), ``AuditService.UsageSummary``, same scope as
        :meth:`list_audit_events`, logged like it (``receipt``; never counting itself)."""
        request = audit_pb2.UsageSummaryRequest(
            organization=organization,
            client_id=client_id,
            from_time=_unix(since),
            to_time=_unix(until),
            client_nonce=client_nonce,
        )
        return usage_summary(self._call(self._audit.UsageSummary, request, timeout), client_nonce)

    def largest_checkpoint(self) -> str | None:
        """The signed note of the largest checkpoint of the zone's log this client has seen
        and held every other one to (``None`` before the first): keep it, and pass it as
        ``trusted_checkpoint`` to the next client so the zone cannot roll back unseen."""
        key_name = self._audit_key[0] if self._audit_key is not None else None
        return self._checkpoints.largest(key_name) if key_name is not None else None

    # -- steward calls -------------------------------------------------------------------
    def grant_consent(
        self,
        id_number: str,
        partner: str,
        purpose: Purpose | str,
        *,
        valid_days: int = 365,
        single_use: bool = False,
    ) -> ConsentGrant:
        request = steward_pb2.GrantConsentRequest(
            id_number=id_number,
            partner=partner,
            purpose=purpose_to_proto(purpose),
            valid_days=valid_days,
            single_use=single_use,
            client_nonce=new_nonce(),
        )
        response = self._call(self._steward.GrantConsent, request, None)
        return consent_grant(response, request.client_nonce)

    def pending_models(self, *, timeout: float | None = None) -> PendingModels:
        """The partners' models waiting for an auditor's attestation, oldest first (scope
        ``steward:admin``): compare each ``card_digest`` with the card file the partner
        handed the auditor (``dataward compute sign-model`` prints it)."""
        request = steward_pb2.ListPendingModelsRequest()
        return pending_models(self._call(self._steward.ListPendingModels, request, timeout))

    def attest_model(
        self,
        organization: str,
        model_id: str,
        version: int,
        attestation: ModelAttestation,
        *,
        timeout: float | None = None,
    ) -> ModelInfo:
        """Attach an auditor's attestation to a registered model (scope ``steward:admin``).
        :class:`AttestationInvalid` (``problem``: SIGNATURE, EXPIRED, AUDITOR_UNKNOWN) when it
        does not verify over the stored card; :class:`ModelNotFound` for an unknown model."""
        request = steward_pb2.AttestModelRequest(
            organization=organization,
            model_id=model_id,
            version=version,
            attestation=attestation_to_proto(attestation),
        )
        response = self._call(self._steward.AttestModel, request, timeout)
        return model_info(response.model, response.receipt, receipts.MODELS_ATTEST)

    def revoke_consent(self, consent_ref: str) -> Receipt:
        request = steward_pb2.RevokeConsentRequest(consent_ref=consent_ref)
        return receipt_from_proto(self._call(self._steward.RevokeConsent, request, None).receipt)


def _unix(moment: dt.datetime | None) -> int:
    """Unix seconds of an aware datetime (0 for None: unbounded)."""
    if moment is None:
        return 0
    if moment.tzinfo is None:
        raise ValueError("give an aware datetime (e.g. datetime.now(UTC))")
    return int(moment.timestamp())
