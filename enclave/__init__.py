"""The zone: datasets, keys, consent, eligibility and identity checks, audit log.

Never imports a web or RPC framework. What leaves it today are person-level answers (yes/no,
reason codes, enums) from :mod:`enclave.person_checks`, each behind a durable audit leaf and
with a receipt; aggregates will leave only through the output gate (not built yet).

Keys and datasets: :func:`init_zone` / :func:`open_keyring` (the keyring sealed under the
operator's master key), :func:`ingest` (a registry export becomes an atomic dataset version),
:func:`inspect_zone`, and :class:`Zone` (person, enrolment and family-binding lookups).
"""

from enclave._ingest import IngestReport, Progress, TableReport, ingest
from enclave._keys import PUBLIC_KEY_FILE, Keyring, init_zone, normalize, open_keyring
from enclave.errors import (
    CorruptDataset,
    CorruptKeyring,
    DatasetError,
    IngestError,
    KeyringError,
    LookupRefused,
    MissingTable,
    NoDataset,
    RejectLimitExceeded,
    SchemaMismatch,
    SourceError,
    SourceNotFound,
    UnreadableSource,
    WrongMasterKey,
    ZoneAlreadyInitialized,
    ZoneError,
    ZoneNotInitialized,
)
from enclave.idnumber import IdNumberInfo, InvalidIdNumber, is_valid, validate_id_number
from enclave.zone import (
    BindingRecord,
    EnrolmentRecord,
    PersonRecord,
    TableSummary,
    Zone,
    ZoneSummary,
    inspect_zone,
)

__all__ = [
    "PUBLIC_KEY_FILE",
    "BindingRecord",
    "CorruptDataset",
    "CorruptKeyring",
    "DatasetError",
    "EnrolmentRecord",
    "IdNumberInfo",
    "IngestError",
    "IngestReport",
    "InvalidIdNumber",
    "Keyring",
    "KeyringError",
    "LookupRefused",
    "MissingTable",
    "NoDataset",
    "PersonRecord",
    "Progress",
    "RejectLimitExceeded",
    "SchemaMismatch",
    "SourceError",
    "SourceNotFound",
    "TableReport",
    "TableSummary",
    "UnreadableSource",
    "WrongMasterKey",
    "Zone",
    "ZoneAlreadyInitialized",
    "ZoneError",
    "ZoneNotInitialized",
    "ZoneSummary",
    "ingest",
    "init_zone",
    "inspect_zone",
    "is_valid",
    "normalize",
    "open_keyring",
    "validate_id_number",
]
