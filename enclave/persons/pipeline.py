"""Person-level checks: eligibility and identity documents for a partner, consent for stewards.

:class:`PersonChecks` is the one place that orders the steps of a person-level call, so that
every front end (gRPC, CLI) behaves the same; the audit steps are those of every answer
(:class:`enclave.release.Releaser`):

1. validate the request's fields (:func:`enclave.persons.fields.field_problem`, the ID number)
   -- the request leaf carries a client's text only in its fixed format;
2. open the request (its audit leaf: who, organization, method, purpose, consent reference,
   the person's *token*, never the number -- logged with the decision), then refuse what is
   invalid or not granted (a purpose the caller's app does not hold);
3. find a valid consent **by the token first**, before the registry is consulted, so an
   unknown person is indistinguishable from a known person without consent; then the
   guardians' consents, with the same work for a person the registry does not hold (see
   :meth:`PersonChecks._consent`), and the answer is the same ``ConsentRequired`` either way;
4. decide with the pure rules (:mod:`enclave.persons.eligibility`,
   :mod:`enclave.persons.identity`), or compute the credit band on the live dataset version
   under the policy in force (:class:`enclave.persons.CreditScoring`; only the band leaves);
5. consume a single-use consent, then log the request, the allowing decision and the
   release (the result's hash with the client's nonce -- the partner recomputes it from the
   answer) in ONE commit, and return the answer with the receipt of the release leaf (leaf
   bytes included). A crash between the consumption and that commit loses one use of the
   consent; it never releases an answer unlogged.

Nothing is returned before its leaves are durable (issue 15: one commit per answer). A refusal
is logged as the request and a denying decision with its reason code, in one commit, durable
before the error is raised. A step with a durable effect before the answer makes the request
durable first (:meth:`Releaser.log_now`): a face attempt counted, a Paillier score claimed, a
CKKS batch's members (their claims), a consent granted or revoked. Every public call is
:func:`enclave.release.answers`: a fault that is not a zone error still logs the request and
a denying ``INTERNAL`` decision before it propagates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from dataward import receipts
from enclave.audit import CONSENT_REF
from enclave.biometrics import (
    AttemptsExhausted,
    FaceNotEnrolled,
    FaceVerdict,
    ImageInvalid,
    decide,
    inspect_image,
)
from enclave.compute import (
    CKKS_SLOTS,
    CkksBatchTooLarge,
    FeatureBound,
    FeaturePersonUnknown,
    RegisteredModel,
    ScoreAlreadyGiven,
    screen_face_match,
)
from enclave.consent import Consent, ConsentNotFound, ConsentStore
from enclave.errors import ZoneError
from enclave.keys import normalize
from enclave.persons._batch import BatchSteps, check_eligibility_many, verify_identity_many
from enclave.persons.credit import MAX_SCORECARD_CHARS, CreditScoring, ScoredBand
from enclave.persons.eligibility import EligibilityDecision, decide_eligibility
from enclave.persons.errors import (
    ConsentRequired,
    InvalidField,
    PersonCheckError,
    PersonNotFound,
    PurposeNotGranted,
    SelfieNotSupported,
)
from enclave.persons.faces import EncryptedFaceAnswer, FaceChecking
from enclave.persons.fields import MAX_NAME_CHARS, field_problem
from enclave.persons.identity import DocumentVerdict, verify_document
from enclave.persons.idnumber import InvalidIdNumber, validate_id_number
from enclave.persons.interface import (
    Answer,
    CkksBatchQuery,
    CreditBandQuery,
    EligibilityQuery,
    FaceMatchQuery,
    IdentityQuery,
    PaillierScoreQuery,
    PersonDirectory,
    Tokenizer,
)
from enclave.persons.scores import BatchScores, EncryptedScore, EncryptedScoring, model_problem
from enclave.release import AuditTrail, Caller, Releaser, Request, answers
from policies import Policy

__all__ = ["MAX_CONSENT_DAYS", "POLICY_VERSION", "PersonChecks"]

POLICY_VERSION = "person-checks/1"
MAX_CONSENT_DAYS = 3650
# A person id no registry row has (ids are positive): stands in for an unknown person so that
# looking them up costs the same as looking up a known one.
_NOBODY = -1
_T = TypeVar("_T")
_Query = EligibilityQuery | IdentityQuery | CreditBandQuery | PaillierScoreQuery | FaceMatchQuery


class PersonChecks:
    """The person-level checks over a registry, a consent store and an audit trail."""

    def __init__(
        self,
        *,
        directory: PersonDirectory,
        tokenizer: Tokenizer,
        consents: ConsentStore,
        audit: AuditTrail,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        credit: CreditScoring | None = None,
        scoring: EncryptedScoring | None = None,
        faces: FaceChecking | None = None,
    ) -> None:
        """``credit`` serves :meth:`credit_band`, ``scoring`` :meth:`paillier_score` and
        :meth:`ckks_batch_score`, ``faces`` the selfie of :meth:`verify_identity` and
        :meth:`encrypted_face_match` (None: not served)."""
        self._directory = directory
        self._credit = credit
        self._scoring = scoring
        self._faces = faces
        self._tokenizer = tokenizer
        self._consents = consents
        self._release = Releaser(audit, POLICY_VERSION)
        self._clock = clock

    # -- partner calls -------------------------------------------------------------------
    @answers
    def check_eligibility(
        self, caller: Caller, query: EligibilityQuery
    ) -> Answer[EligibilityDecision]:
        method = receipts.ELIGIBILITY_CHECK
        request, token, now = self._begin(caller, method, query)
        if query.benefit is None:
            self._release.refuse(request, InvalidField("benefit", "required"))
        consent = self._consent(caller, request, query, token, now)
        as_of = query.as_of or now.date()
        person = self._directory.person_by_token(token)  # validated and tokenized in _begin
        if person is None:
            decision = decide_eligibility("ACTIVE", (), query.benefit, as_of)  # NOT_ENROLLED
        else:
            enrolments = self._directory.enrolments(person.person_id)
            decision = decide_eligibility(person.status, enrolments, query.benefit, as_of)
        fields = receipts.eligibility_fields(
            eligible=decision.eligible,
            coverage_class=decision.coverage_class,
            reasons=decision.reasons,
        )
        return self._answer(
            request,
            consent=consent,
            now=now,
            value=decision,
            fields=fields,
            client_nonce=query.client_nonce,
        )

    @property
    def serves_credit(self) -> bool:
        """Whether :meth:`credit_band` is served (a credit scoring was given)."""
        return self._credit is not None

    @answers
    def credit_band(self, caller: Caller, query: CreditBandQuery) -> Answer[ScoredBand]:
        """The person's band by ``query.scorecard`` of the policy in force, today (the zone's
        calendar, UTC), on the live dataset version.

        An unknown scorecard is INVALID_ARGUMENT ``FIELD_INVALID`` naming ``scorecard``
        (refused before consent is looked at: it says nothing of the person). An unknown
        person and a person without consent are the same ``ConsentRequired``; so is a
        consented person the live dataset version no longer holds.
        """
        if self._credit is None:  # a wiring bug: the server serves no ComputeService then
            raise PersonCheckError("credit bands are not served by this zone")
        request, token, now = self._begin(caller, receipts.COMPUTE_CREDIT_BAND, query)
        policy = self._credit.policy()  # one policy for the check and the computation
        if not query.scorecard:
            self._release.refuse(request, InvalidField("scorecard", "required"))
        if len(query.scorecard) > MAX_SCORECARD_CHARS or query.scorecard not in policy.scorecards:
            unknown = InvalidField("scorecard", "the policy in force has no scorecard of this name")
            self._release.refuse(request, unknown)
        consent = self._consent(caller, request, query, token, now)
        person_id = self._directory.person_id_by_token(token)  # validated in _begin
        if person_id is None:  # consented, but not in the live dataset version
            self._release.refuse(request, ConsentRequired())
        try:
            scored = self._credit.band(policy, query.scorecard, person_id, now.date())
        except FeaturePersonUnknown:
            self._release.refuse(request, ConsentRequired())
        except ZoneError as exc:  # a fault of the zone's computation: logged, then raised
            self._release.refuse(request, exc)
        fields = receipts.credit_band_fields(
            band=scored.band, scorecard=scored.scorecard, policy_version=scored.policy_version
        )
        return self._answer(
            request,
            consent=consent,
            now=now,
            value=scored,
            fields=fields,
            client_nonce=query.client_nonce,
        )

    @property
    def serves_scores(self) -> bool:
        """Whether the encrypted scores are served (an encrypted scoring was given)."""
        return self._scoring is not None

    def _encrypted(self) -> EncryptedScoring:
        if self._scoring is None:  # a wiring bug: the servicer answers UNIMPLEMENTED then
            raise PersonCheckError("encrypted scores are not served by this zone")
        return self._scoring

    @answers
    def paillier_score(self, caller: Caller, query: PaillierScoreQuery) -> Answer[EncryptedScore]:
        """One consenting person's score under the caller's attested Paillier model, on the
        live dataset version today (UTC), under the policy in force (its feature set and
        low-bit noise). The model is checked before consent (it says nothing of the person);
        an unknown person and a person without consent are the same ``ConsentRequired``. One
        score per consent and model version: a second is ``ScoreAlreadyGiven``."""
        scoring = self._encrypted()
        request, token, now = self._begin(caller, receipts.COMPUTE_PAILLIER_SCORE, query)
        policy = scoring.policy()  # one policy for the model check and the computation
        model, bounds = self._model(scoring, policy, caller, request, query, "PAILLIER", now)
        consent = self._consent(caller, request, query, token, now)
        person_id = self._directory.person_id_by_token(token)  # validated in _begin
        if person_id is None:  # consented, but not in the live dataset version
            self._release.refuse(request, ConsentRequired())
        try:
            vector = scoring.features.vector(policy, model.card.feature_set, person_id, now.date())
            score = scoring.paillier.scorer(model, bounds, policy.paillier_noise).score(
                vector.values
            )
        except FeaturePersonUnknown:
            self._release.refuse(request, ConsentRequired())
        except ZoneError as exc:  # a fault of the zone's computation: logged, then raised
            self._release.refuse(request, exc)
        self._release.log_now(request)  # the claim is durable: its request leaf first
        claimed = scoring.models.claim_score(
            consent_ref=consent.consent_ref,
            organization=caller.organization,
            model_id=query.model_id,
            version=query.model_version,
            now=now,
        )
        if not claimed:
            self._release.refuse(request, ScoreAlreadyGiven())
        value = EncryptedScore(
            ciphertext=score.to_bytes(),
            exponent=score.exponent,
            output_bits=score.width,
            model_id=query.model_id,
            model_version=query.model_version,
            policy_version=policy.version,
        )
        fields = receipts.paillier_score_fields(
            ciphertext=value.ciphertext,
            exponent=value.exponent,
            output_bits=value.output_bits,
            model_id=value.model_id,
            model_version=value.model_version,
            policy_version=value.policy_version,
        )
        return self._answer(
            request,
            consent=consent,
            now=now,
            value=value,
            fields=fields,
            client_nonce=query.client_nonce,
        )

    @answers
    def ckks_batch_score(self, caller: Caller, query: CkksBatchQuery) -> Answer[BatchScores]:
        """Many persons' scores under the caller's attested CKKS model: slot i holds person
        i's score when they consented (by token first, then guardians, as for one person) and
        were not scored under this model version before; else 0. Each person is a request leaf
        of their own (their "who checked me" shows the call) and a decision leaf, in one
        commit each for the batch; a person's refusal is their slot's, not the batch's."""
        scoring = self._encrypted()
        method = receipts.COMPUTE_CKKS_BATCH
        request = self._release.begin(caller, method, purpose=query.purpose)
        if caller.purposes is not None and query.purpose not in caller.purposes:
            self._release.refuse(request, PurposeNotGranted())
        if not query.purpose:
            self._release.refuse(request, InvalidField("purpose", "required"))
        if (problem := field_problem(client_nonce=query.client_nonce)) is not None:
            self._release.refuse(request, problem)
        if not query.persons:
            self._release.refuse(request, InvalidField("persons", f"1..{CKKS_SLOTS} persons"))
        if len(query.persons) > CKKS_SLOTS:
            self._release.refuse(request, CkksBatchTooLarge(len(query.persons), CKKS_SLOTS))
        now = self._clock()
        policy = scoring.policy()
        model, bounds = self._model(scoring, policy, caller, request, query, "CKKS", now)

        checked: list[tuple[ZoneError | None, bytes | None]] = []
        for member in query.persons:
            member_problem: ZoneError | None = field_problem(
                id_number=member.id_number, consent_ref=member.consent_ref
            )
            token: bytes | None = None
            if member_problem is None:
                try:
                    validate_id_number(normalize("id_number", member.id_number))
                    token = self._tokenizer.token("id_number", member.id_number)
                except InvalidIdNumber as exc:
                    member_problem = exc
            checked.append((member_problem, token))
        self._release.log_now(request)  # the batch's leaf first, then its members' (claims)
        members = self._release.begin_members(
            caller,
            method,
            purpose=query.purpose,
            members=[
                (self._loggable_ref(m.consent_ref) if t is not None else "", t)
                for m, (_, t) in zip(query.persons, checked, strict=True)
            ],
        )

        outcomes: list[ZoneError | None] = []
        person_ids: list[int] = []
        rows: list[int] = []
        for slot, (member, (member_problem, token)) in enumerate(
            zip(query.persons, checked, strict=True)
        ):
            outcome = member_problem
            if outcome is None and token is not None:
                outcome = self._score_member(
                    scoring=scoring,
                    caller=caller,
                    query=query,
                    consent_ref=member.consent_ref,
                    token=token,
                    now=now,
                    person_ids=person_ids,
                )
                if outcome is None:
                    rows.append(slot)
            outcomes.append(outcome)

        features = np.zeros((len(query.persons), len(bounds)), dtype=np.int64)
        consented = np.zeros(len(query.persons), dtype=np.bool_)
        try:
            if person_ids:
                vectors = scoring.features.vectors(
                    policy, model.card.feature_set, person_ids, now.date()
                )
                for slot, vector in zip(rows, vectors, strict=True):
                    features[slot] = vector.values
                    consented[slot] = True
            ciphertext = scoring.ckks.score(
                model.digest,
                context=model.card.public_key,
                weights=model.card.weight_ciphertexts,
                bounds=bounds,
                features=features,
                consented=consented,
                timeout=scoring.ckks_timeout,
            )
        except ZoneError as exc:  # the zone's fault: every member and the batch denied
            self._release.decide_members([(m, exc) for m in members])
            self._release.refuse(request, exc)
        self._release.decide_members(list(zip(members, outcomes, strict=True)))
        value = BatchScores(
            ciphertext=ciphertext,
            scored=tuple(bool(c) for c in consented),
            model_id=query.model_id,
            model_version=query.model_version,
            policy_version=policy.version,
        )
        fields = receipts.ckks_batch_fields(
            ciphertext=value.ciphertext,
            scored=value.scored,
            model_id=value.model_id,
            model_version=value.model_version,
            policy_version=value.policy_version,
        )
        receipt = self._release.release(request, fields, client_nonce=query.client_nonce)
        return Answer(value, receipt, request.request_id)

    def _model(  # noqa: PLR0917 (the steps' own values, in their order)
        self,
        scoring: EncryptedScoring,
        policy: Policy,
        caller: Caller,
        request: Request,
        query: PaillierScoreQuery | CkksBatchQuery,
        scheme: str,
        now: dt.datetime,
    ) -> tuple[RegisteredModel, tuple[FeatureBound, ...]]:
        """The request's model fields in their form, then the attested model of the scheme
        (:meth:`EncryptedScoring.model`); each refusal logged, then raised."""
        if (problem := model_problem(query.model_id, query.model_version)) is not None:
            self._release.refuse(request, problem)
        try:
            return scoring.model(
                policy,
                caller.organization,
                query.model_id,
                query.model_version,
                scheme=scheme,
                purpose=query.purpose,
                now=now,
            )
        except ZoneError as exc:
            self._release.refuse(request, exc)

    def _score_member(
        self,
        *,
        scoring: EncryptedScoring,
        caller: Caller,
        query: CkksBatchQuery,
        consent_ref: str,
        token: bytes,
        now: dt.datetime,
        person_ids: list[int],
    ) -> ZoneError | None:
        """One batch member's consent, claim and consumption: None (and the person's id
        appended to ``person_ids``) when their slot is to be scored, else the refusal."""
        consent = self._find_consent(caller, query.purpose, consent_ref, token, now)
        person_id = self._directory.person_id_by_token(token)
        if consent is None or person_id is None:
            return ConsentRequired()
        claimed = scoring.models.claim_score(
            consent_ref=consent.consent_ref,
            organization=caller.organization,
            model_id=query.model_id,
            version=query.model_version,
            now=now,
        )
        if not claimed:
            return ScoreAlreadyGiven()
        if not self._consents.consume(consent, now):
            return ConsentRequired()
        person_ids.append(person_id)
        return None

    @property
    def serves_faces(self) -> bool:
        """Whether a selfie is verified (face checking was given); else it is
        ``SelfieNotSupported`` (UNIMPLEMENTED)."""
        return self._faces is not None

    @answers
    def verify_identity(self, caller: Caller, query: IdentityQuery) -> Answer[DocumentVerdict]:
        """The identity-document verdict; with ``query.selfie`` also the 1:1 face check
        against THIS person's ID-card template (issue 13). The steps, each refusal logged
        before it is raised:

        1. the fields, the request leaf and the purpose (:meth:`_begin`), the name;
        2. the selfie's bytes and header (:func:`enclave.biometrics.inspect_image`, in this
           process): a refused image is ``ImageInvalid`` and counts no attempt;
        3. the consent (an unknown person is the same ``ConsentRequired``);
        4. one face attempt, durably (:class:`enclave.persons.AttemptLimiter`:
           ``AttemptsExhausted`` counts nothing);
        5. the person's reference template on the live version (``FaceNotEnrolled``);
        6. the selfie analysed by the face workers (decoded, the quality gates, the
           template), and :func:`enclave.biometrics.decide` with the thresholds in force;
        7. the release with the face verdict in the receipt's fields -- never the distance.
        """
        method = receipts.IDENTITY_VERIFY
        request, token, now = self._begin(caller, method, query)
        if len(query.name) > MAX_NAME_CHARS:
            too_long = InvalidField("name", f"at most {MAX_NAME_CHARS} characters")
            self._release.refuse(request, too_long)
        if not query.name.strip():
            self._release.refuse(request, InvalidField("name", "required"))
        faces: FaceChecking | None = None
        if query.selfie:
            faces = self._selfie_taken(request, query.selfie)
        consent = self._consent(caller, request, query, token, now)
        person = self._directory.person_by_token(token)  # validated and tokenized in _begin
        verdict = verify_document(person, self._tokenizer.token("name", query.name))
        face_fields: receipts.FaceFields | None = None
        if faces is not None:
            person_id = None if person is None else person.person_id
            face = self._face_check(faces, caller, request, token, person_id, query.selfie, now)
            verdict = dataclasses.replace(verdict, face=face)
            face_fields = receipts.FaceFields(
                outcome=face.outcome.value,
                band=face.band.value,
                retake=face.retake.value,
                validated_on=face.validated_on,
            )
        fields = receipts.identity_fields(
            id_number_valid=verdict.id_number_valid,
            name_matches=verdict.name_matches,
            registry_status=verdict.registry_status,
            face=face_fields,
        )
        return self._answer(
            request,
            consent=consent,
            now=now,
            value=verdict,
            fields=fields,
            client_nonce=query.client_nonce,
        )

    def _selfie_taken(self, request: Request, selfie: bytes) -> FaceChecking:
        """The face checking of a zone that serves it, once the selfie's bytes and header
        are an image it takes (no decoding: a decompression bomb is refused here)."""
        if self._faces is None:
            self._release.refuse(request, SelfieNotSupported())
        try:
            inspect_image(selfie, self._faces.limits)
        except ImageInvalid as exc:
            self._release.refuse(request, exc)
        return self._faces

    def _face_check(  # noqa: PLR0917 (the steps' own values, in their order)
        self,
        faces: FaceChecking,
        caller: Caller,
        request: Request,
        token: bytes,
        person_id: int | None,
        selfie: bytes,
        now: dt.datetime,
    ) -> FaceVerdict:
        """One counted attempt, the reference template, the analysis and the decision."""
        self._release.log_now(request)  # the attempt is counted durably: its request first
        try:
            faces.attempts.take(person_token=token, organization=caller.organization, now=now)
        except AttemptsExhausted as exc:
            self._release.refuse(request, exc)
        try:
            reference = None if person_id is None else faces.templates.reference(person_id)
            if reference is None:  # consented, but no ID-card template (or no longer held)
                raise FaceNotEnrolled()
            probe = faces.analyzer.analyze(selfie)
        except ZoneError as exc:  # ImageInvalid (undecodable), FaceWorkerFailed, the zone's
            self._release.refuse(request, exc)
        return decide(probe, reference, faces.thresholds)

    @property
    def serves_face_match(self) -> bool:
        """Whether :meth:`encrypted_face_match` is served (face checks with a matcher)."""
        return self._faces is not None and self._faces.matcher is not None

    @answers
    def encrypted_face_match(
        self, caller: Caller, query: FaceMatchQuery
    ) -> Answer[EncryptedFaceAnswer]:
        """The encrypted face match (issue 13): the person's enrolled template against the
        partner's encrypted selfie embedding, answered as one blinded value under the
        partner's key (:func:`enclave.compute.face_match`). Order: the fields, the request
        leaf, the purpose, the bytes' envelopes (:func:`enclave.compute.screen_face_match`:
        a context without Galois keys or with a secret key, a query not of 4096 slots -- no
        attempt counted), consent (an unknown person and one without consent are the same
        ``ConsentRequired``), one face attempt of the SAME limits as a selfie in
        :meth:`verify_identity` (``AttemptsExhausted``; bytes the workers' full validation
        refuses count, as SEAL parses them only after the attempt), the reference
        template (``FaceNotEnrolled``), the match in the matcher (``ContextInvalid``,
        ``CiphertextInvalid``, worker failures), then the release with a receipt."""
        faces = self._faces
        if faces is None or faces.matcher is None:  # the servicer answers UNIMPLEMENTED
            raise PersonCheckError("the encrypted face match is not served by this zone")
        request, token, now = self._begin(caller, receipts.COMPUTE_FACE_MATCH, query)
        if query.upload_problem is not None:  # TOO_LARGE, met while the stream was read
            self._release.refuse(request, query.upload_problem)
        if not query.context:
            self._release.refuse(request, InvalidField("context", "required"))
        if not query.query:
            self._release.refuse(request, InvalidField("query_ciphertext", "required"))
        try:  # the envelopes only, before an attempt is counted; the workers check it all
            screen_face_match(query.context, query.query)
        except ZoneError as exc:
            self._release.refuse(request, exc)
        consent = self._consent(caller, request, query, token, now)
        self._release.log_now(request)  # the attempt is counted durably: its request first
        try:
            faces.attempts.take(person_token=token, organization=caller.organization, now=now)
        except ZoneError as exc:  # AttemptsExhausted, or the store's fault: logged, raised
            self._release.refuse(request, exc)
        person_id = self._directory.person_id_by_token(token)  # validated in _begin
        if person_id is None:  # consented, but not in the live dataset version
            self._release.refuse(request, ConsentRequired())
        try:
            reference = faces.templates.reference(person_id)
        except ZoneError as exc:
            self._release.refuse(request, exc)
        if reference is None:
            self._release.refuse(request, FaceNotEnrolled())
        try:
            ciphertext = faces.matcher.match(
                context=query.context,
                query=query.query,
                template=reference.normalized(),
                tau=faces.thresholds.encrypted_cosine,
                timeout=faces.timeout,
            )
        except ZoneError as exc:  # the partner's bytes refused, or the workers' fault
            self._release.refuse(request, exc)
        validated_on = faces.thresholds.validated_on
        fields = receipts.face_match_fields(
            query=query.query, ciphertext=ciphertext, validated_on=validated_on
        )
        return self._answer(
            request,
            consent=consent,
            now=now,
            value=EncryptedFaceAnswer(ciphertext, validated_on),
            fields=fields,
            client_nonce=query.client_nonce,
        )

    # -- steward calls -------------------------------------------------------------------
    @answers
    def grant_consent(
        self,
        caller: Caller,
        *,
        id_number: str,
        partner: str,
        purpose: str,
        valid_days: int = 365,
        single_use: bool = False,
        client_nonce: str = "",
    ) -> Answer[Consent]:
        request, token = self._validated_token(
            caller, receipts.GRANT_CONSENT, id_number, purpose, consent_ref=""
        )
        if not partner.strip():
            self._release.refuse(request, InvalidField("partner", "required"))
        if (problem := field_problem(partner=partner, client_nonce=client_nonce)) is not None:
            self._release.refuse(request, problem)
        if not 1 <= valid_days <= MAX_CONSENT_DAYS:
            self._release.refuse(request, InvalidField("valid_days", f"1..{MAX_CONSENT_DAYS}"))
        person = self._directory.find_person(id_number)
        if person is None:
            self._release.refuse(request, PersonNotFound())
        now = self._clock()
        self._release.log_now(request)  # the grant is stored durably: its request first
        consent = self._consents.grant(
            partner=partner,
            person_token=token,
            person_id=person.person_id,
            purpose=purpose,
            valid_from=now,
            valid_until=now + dt.timedelta(days=valid_days),
            single_use=single_use,
        )
        fields = receipts.consent_grant_fields(
            consent_ref=consent.consent_ref, valid_until=consent.valid_until.date()
        )
        receipt = self._release.release(request, fields, client_nonce=client_nonce)
        return Answer(consent, receipt, request.request_id)

    @answers
    def revoke_consent(self, caller: Caller, consent_ref: str) -> Answer[Consent]:
        problem = field_problem(consent_ref=consent_ref) or (
            None if consent_ref else InvalidField("consent_ref", "required")
        )
        request = self._release.begin(
            caller,
            receipts.REVOKE_CONSENT,
            consent_ref="" if problem else self._loggable_ref(consent_ref),
        )
        if problem is not None:
            self._release.refuse(request, problem)
        self._release.log_now(request)  # the revocation is stored durably: its request first
        try:
            consent = self._consents.revoke(consent_ref, self._clock())
        except ConsentNotFound as exc:  # a refusal; a storage fault is not, and propagates
            self._release.refuse(request, exc)
        fields = receipts.consent_revoke_fields(consent_ref=consent_ref)
        receipt = self._release.release(request, fields)
        return Answer(consent, receipt, request.request_id)

    # -- steps ---------------------------------------------------------------------------
    def _begin(
        self, caller: Caller, method: str, query: _Query
    ) -> tuple[Request, bytes, dt.datetime]:
        request, token = self._validated_token(
            caller, method, query.id_number, query.purpose, consent_ref=query.consent_ref
        )
        if (problem := field_problem(client_nonce=query.client_nonce)) is not None:
            self._release.refuse(request, problem)
        return request, token, self._clock()

    def _validated_token(
        self, caller: Caller, method: str, id_number: str, purpose: str, *, consent_ref: str
    ) -> tuple[Request, bytes]:
        token: bytes | None = None
        # Authorization first: a partner's app must hold the request's purpose, or the ID
        # number is not even tokenized (the request leaf then names no person).
        problem: PurposeNotGranted | InvalidField | InvalidIdNumber | None = None
        if caller.purposes is not None and purpose not in caller.purposes:
            problem = PurposeNotGranted()
        # Client text is logged only in its fixed format: a bad consent_ref is refused and
        # logged as none, an over-long ID number is never even tokenized.
        problem = problem or field_problem(id_number=id_number, consent_ref=consent_ref)
        if problem is None:
            try:
                validate_id_number(normalize("id_number", id_number))
                token = self._tokenizer.token("id_number", id_number)
            except InvalidIdNumber as exc:
                problem = exc
        request = self._release.begin(
            caller,
            method,
            purpose=purpose,
            consent_ref=self._loggable_ref(consent_ref),
            person_token=token,
        )
        if problem is not None or token is None:
            self._release.refuse(request, problem or InvalidField("id_number", "required"))
        if not purpose:
            self._release.refuse(request, InvalidField("purpose", "required"))
        return request, token

    def _loggable_ref(self, consent_ref: str) -> str:
        """``consent_ref`` if the zone issued it, else "" (issue 8 review: ``cns_`` and 24
        characters of the client's choice carried a clear ID number into the log)."""
        if (
            consent_ref
            and CONSENT_REF.fullmatch(consent_ref)
            and self._consents.exists(consent_ref)
        ):
            return consent_ref
        return ""

    def _consent(
        self,
        caller: Caller,
        request: Request,
        query: _Query,
        token: bytes,
        now: dt.datetime,
    ) -> Consent:
        consent = self._find_consent(caller, query.purpose, query.consent_ref, token, now)
        if consent is None:
            self._release.refuse(request, ConsentRequired())
        return consent

    def _find_consent(
        self, caller: Caller, purpose: str, consent_ref: str, token: bytes, now: dt.datetime
    ) -> Consent | None:
        common = {
            "partner": caller.organization,
            "purpose": purpose,
            "at": now,
            "consent_ref": consent_ref or None,
        }
        consent = self._consents.find_valid(person_token=token, **common)  # type: ignore[arg-type]
        if consent is not None:
            return consent
        # Only now may the registry be asked: for guardians bound to this person. The same
        # work is done for a number the registry does not hold -- the binding lookup runs
        # against a person id no one has, the guardians' consent query runs with it -- so
        # the refusal takes as long either way (issue 8, fault 8: a known person without
        # consent answered measurably slower than an unknown number).
        found = self._directory.person_id_by_token(token)
        person_id = _NOBODY if found is None else found
        holders = self._directory.guardians(person_id, now)
        consent = self._consents.find_valid(person_ids=holders or (_NOBODY,), **common)  # type: ignore[arg-type]
        if found is not None and holders and consent is not None:
            return consent
        return None

    def _answer(
        self,
        request: Request,
        *,
        consent: Consent,
        now: dt.datetime,
        value: _T,
        fields: receipts.ResultFields,
        client_nonce: str,
    ) -> Answer[_T]:
        if not self._consents.consume(consent, now):
            self._release.refuse(request, ConsentRequired())
        receipt = self._release.release(request, fields, client_nonce=client_nonce)
        return Answer(value, receipt, request.request_id)

    # -- a group of checks (issue 15: CheckBatch as the bulk path) -------------------------
    def check_eligibility_many(
        self, caller: Caller, queries: Sequence[EligibilityQuery]
    ) -> list[Answer[EligibilityDecision] | ZoneError]:
        """:meth:`check_eligibility` for each of ``queries`` -- the same steps, the same
        refusals -- with the group's leaves in ONE commit: each item its own request,
        decision and release leaves and its own receipt (all under one checkpoint). A refusal
        is the item's answer, in the queries' order, and so is a fault an item's steps raise
        (logged denied ``INTERNAL``; see :mod:`enclave.persons._batch`): every item released
        is an item answered.
        """
        return check_eligibility_many(self._batch_steps(), caller, queries)

    def verify_identity_many(
        self, caller: Caller, queries: Sequence[IdentityQuery]
    ) -> list[Answer[DocumentVerdict] | ZoneError]:
        """:meth:`verify_identity` for each of ``queries`` without a selfie, the group's
        leaves in ONE commit, as :meth:`check_eligibility_many` (a query with a selfie is not
        for a group: that item fails ``INTERNAL``)."""
        return verify_identity_many(self._batch_steps(), caller, queries)

    def _batch_steps(self) -> BatchSteps:
        return BatchSteps(
            directory=self._directory,
            tokenizer=self._tokenizer,
            consents=self._consents,
            release=self._release,
            clock=self._clock,
            find_consent=self._find_consent,
            loggable_ref=self._loggable_ref,
        )
