"""The zone: everything that holds or touches registry data, as sub-packages with narrow faces.

Never imports a web or RPC framework. What leaves it are person-level answers (yes/no, reason
codes, enums), each behind durable audit leaves and with a receipt (:mod:`enclave.release`);
aggregates leave only through the output gate (``gate/``), behind the same leaves.

::

    keys/       the keyring sealed under the master key; ``init_zone``, ``open_keyring``
    dataset/    registry schema, ingest and its validation, versions, indexes, ``Zone`` lookups
    persons/    the person-level pipeline (``PersonChecks``), eligibility, identity documents,
                ID-number rules, field limits
    consent/    the consent store Protocol, the guardian rule, the SQLite store
    audit/      typed events, the Merkle log and its one writer, reader, trails, who-checked-me
    release/    the skeleton every answer follows: request leaf, decision, release, receipt
    gate/       the output gate: suppression (primary, secondary), rounding, row cap
    analytics/  aggregate queries end to end: explain, submit (stored, sealed), run: parse,
                grant, validate, rewrite, engine, gate, release
    policy/     the policy in force: applied versions, their history, the ``policy_changed`` leaf
    budget/     the durable privacy-budget ledger: integer micro-epsilon, hash-chained charges,
                limits, the noisy result stored with its charge
    compute/    compute under encryption (issue 12): CKKS uploads validated, batch scores
                column-packed, only consented persons' slots filled; feature sets (per-person
                integer vectors, bounded and coarsened, never released in clear) and the
                zone's credit band (a scorecard; only the band leaves)

Other packages import only these faces (``enclave.<sub>``) and this one, which holds the
root of the zone's one error tree (:mod:`enclave.errors`): every zone error is a
:class:`ZoneError` with one ``reason`` code, the same in the audit log and on the wire.
"""

from enclave.errors import (
    CorruptDataset,
    CorruptKeyring,
    DatasetError,
    IngestError,
    KeyringError,
    LookupRefused,
    MissingTable,
    NoDataset,
    PolicyInvalid,
    PolicyStoreCorrupt,
    RejectLimitExceeded,
    SchemaMismatch,
    SourceError,
    SourceNotFound,
    UnknownVersion,
    UnreadableSource,
    WrongMasterKey,
    ZoneAlreadyInitialized,
    ZoneError,
    ZoneNotInitialized,
)

__all__ = [
    "CorruptDataset",
    "CorruptKeyring",
    "DatasetError",
    "IngestError",
    "KeyringError",
    "LookupRefused",
    "MissingTable",
    "NoDataset",
    "PolicyInvalid",
    "PolicyStoreCorrupt",
    "RejectLimitExceeded",
    "SchemaMismatch",
    "SourceError",
    "SourceNotFound",
    "UnknownVersion",
    "UnreadableSource",
    "WrongMasterKey",
    "ZoneAlreadyInitialized",
    "ZoneError",
    "ZoneNotInitialized",
]
