"""Person-level answers: the request pipeline (:class:`PersonChecks`), the eligibility and
identity-document rules, the GB 11643 ID-number rules, the documented field limits, and their
errors (all :class:`enclave.errors.ZoneError`, each with its reason code)."""

from enclave.persons.credit import MAX_SCORECARD_CHARS, CreditScoring, ScoredBand
from enclave.persons.eligibility import (
    SCHEME_BENEFITS,
    Benefit,
    CoverageClass,
    EligibilityDecision,
    EligibilityReason,
    EnrolmentLike,
    decide_eligibility,
    enrolment_state,
)
from enclave.persons.errors import (
    ConsentRequired,
    InvalidField,
    PersonCheckError,
    PersonNotFound,
    PurposeNotGranted,
    SelfieNotSupported,
)
from enclave.persons.fields import (
    MAX_ID_NUMBER_CHARS,
    MAX_NAME_CHARS,
    MAX_PARTNER_CHARS,
    field_problem,
)
from enclave.persons.identity import DocumentVerdict, PersonLike, RegistryStatus, verify_document
from enclave.persons.idnumber import (
    BIRTH_DATE_SPAN,
    GENDER_DIGIT,
    PROVINCE_CODES,
    IdNumberInfo,
    InvalidIdNumber,
    InvalidReason,
    check_character,
    is_valid,
    validate_id_number,
)
from enclave.persons.interface import (
    Answer,
    BatchMember,
    CkksBatchQuery,
    CreditBandQuery,
    EligibilityQuery,
    IdentityQuery,
    PaillierScoreQuery,
    PersonDirectory,
    Tokenizer,
)
from enclave.persons.pipeline import MAX_CONSENT_DAYS, POLICY_VERSION, PersonChecks
from enclave.persons.scores import (
    BatchScores,
    CkksBackend,
    EncryptedScore,
    EncryptedScoring,
    PaillierScorers,
)

__all__ = [
    "BIRTH_DATE_SPAN",
    "GENDER_DIGIT",
    "MAX_CONSENT_DAYS",
    "MAX_ID_NUMBER_CHARS",
    "MAX_NAME_CHARS",
    "MAX_PARTNER_CHARS",
    "MAX_SCORECARD_CHARS",
    "POLICY_VERSION",
    "PROVINCE_CODES",
    "SCHEME_BENEFITS",
    "Answer",
    "BatchMember",
    "BatchScores",
    "Benefit",
    "CkksBackend",
    "CkksBatchQuery",
    "ConsentRequired",
    "CoverageClass",
    "CreditBandQuery",
    "CreditScoring",
    "DocumentVerdict",
    "EligibilityDecision",
    "EligibilityQuery",
    "EligibilityReason",
    "EncryptedScore",
    "EncryptedScoring",
    "EnrolmentLike",
    "IdNumberInfo",
    "IdentityQuery",
    "InvalidField",
    "InvalidIdNumber",
    "InvalidReason",
    "PaillierScoreQuery",
    "PaillierScorers",
    "PersonCheckError",
    "PersonChecks",
    "PersonDirectory",
    "PersonLike",
    "PersonNotFound",
    "PurposeNotGranted",
    "RegistryStatus",
    "ScoredBand",
    "SelfieNotSupported",
    "Tokenizer",
    "check_character",
    "decide_eligibility",
    "enrolment_state",
    "field_problem",
    "is_valid",
    "validate_id_number",
    "verify_document",
]
