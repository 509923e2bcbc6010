"""The zone's one exception tree: every error the zone raises is a :class:`ZoneError`.

Every error carries a ``public_message``: safe to print, log or send across the zone boundary.
It names the rule, the table, the column or the type — never a data value. ``str(exc)`` is the
public message too, so nothing else leaks by accident. And every class carries ONE ``reason``
code (a name of ``ErrorReason`` in ``common.proto``): the same code goes into the audit log's
decision leaf and into the wire's ``ErrorInfo``, so renaming a class changes neither.

This module holds the root and the errors of keys and datasets; the sub-packages extend the
tree in their own ``errors`` modules: :mod:`enclave.audit.errors` (``AuditError``),
:mod:`enclave.persons.errors` (``PersonCheckError``, ``InvalidIdNumber``),
:mod:`enclave.consent.errors` (``ConsentError``), :mod:`enclave.compute.errors`
(``PaillierError``, ``FeatureError``), :mod:`enclave.compute.ckks_errors` (``CkksError``).

::

    ZoneError
    ├── KeyringError
    │   ├── ZoneNotInitialized        no keyring.json in the zone directory
    │   ├── ZoneAlreadyInitialized    init on a zone that already has a keyring
    │   ├── WrongMasterKey            the master key does not open the keyring
    │   └── CorruptKeyring            the keyring file is malformed or was altered
    ├── SourceError                   the export to ingest is wrong (nothing is written)
    │   ├── SourceNotFound            the source directory does not exist
    │   ├── MissingTable              a table's Parquet file is missing
    │   ├── SchemaMismatch            missing/extra column or wrong type (table, column, types)
    │   ├── UnreadableSource          a Parquet file cannot be decoded
    │   └── RejectLimitExceeded       a table's rejected share passed the limit: not published
    ├── IngestError                   writing the new version failed (previous one kept)
    ├── DatasetError
    │   ├── NoDataset                 the zone has no ingested version yet
    │   └── CorruptDataset            a version's files are missing or inconsistent
    ├── LookupRefused                 a lookup the zone will not run (e.g. keyring of another zone)
    ├── PolicyInvalid                 a policy document to apply has an error (path, problem):
    │                                 nothing changed, the policy in force stays
    └── PolicyStoreCorrupt            the store of applied policies cannot record a version

Malformed ID numbers raise :class:`enclave.persons.InvalidIdNumber` from the validator.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from enclave.dataset import TableReport

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
    "UnreadableSource",
    "WrongMasterKey",
    "ZoneAlreadyInitialized",
    "ZoneError",
    "ZoneNotInitialized",
]


class ZoneError(Exception):
    """Base of every zone error. ``public_message`` never carries a data value; ``reason`` is
    the one code the audit log and the wire both use."""

    reason: ClassVar[str] = "INTERNAL"
    default_message = "zone error"

    def __init__(self, public_message: str | None = None) -> None:
        self.public_message = public_message or self.default_message
        super().__init__(self.public_message)


class KeyringError(ZoneError):
    reason: ClassVar[str] = "UNAVAILABLE"
    default_message = "keyring error"


class ZoneNotInitialized(KeyringError):  # noqa: N818 (names of the zone API)
    default_message = "the zone is not initialized (run `dataward zone init`)"


class ZoneAlreadyInitialized(KeyringError):  # noqa: N818 (names of the zone API)
    default_message = "the zone is already initialized; refusing to overwrite its keyring"


class WrongMasterKey(KeyringError):  # noqa: N818 (names of the zone API)
    default_message = "wrong master key or corrupt keyring"


class CorruptKeyring(KeyringError):  # noqa: N818 (names of the zone API)
    default_message = "corrupt keyring (the file is malformed or was altered)"


class SourceError(ZoneError):
    reason: ClassVar[str] = "FIELD_INVALID"
    default_message = "the source export is invalid"


class SourceNotFound(SourceError):  # noqa: N818 (names of the zone API)
    default_message = "the source directory does not exist"


class MissingTable(SourceError):  # noqa: N818 (names of the zone API)
    def __init__(self, table: str) -> None:
        self.table = table
        super().__init__(f"source is missing table {table!r} (expected {table}.parquet)")


class SchemaMismatch(SourceError):  # noqa: N818 (names of the zone API)
    """A column is missing, unexpected or of the wrong type."""

    def __init__(self, table: str, column: str, expected: str, actual: str) -> None:
        self.table = table
        self.column = column
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"schema mismatch in table {table!r}, column {column!r}: "
            f"expected {expected}, found {actual}"
        )


class UnreadableSource(SourceError):  # noqa: N818 (names of the zone API)
    def __init__(self, table: str) -> None:
        self.table = table
        super().__init__(f"table {table!r} cannot be read as Parquet")


class RejectLimitExceeded(SourceError):  # noqa: N818 (names of the zone API)
    """Some table's rejected rows passed ``zone.max_reject_share``: the version is not published.

    ``over`` maps each table past the limit, in ingest order, to ``(rejected, source_rows)``;
    ``table``, ``rejected``, ``source_rows`` and ``share`` are the first of them. ``tables`` is
    the whole ingest's per-table report and ``report_dir`` holds its rejects report (row
    numbers and reasons, never values). Counts and shares only: no data value.
    """

    def __init__(
        self,
        over: Mapping[str, tuple[int, int]],
        limit: float,
        report_dir: Path,
        tables: Mapping[str, TableReport],
    ) -> None:
        self.over, self.limit, self.report_dir, self.tables = dict(over), limit, report_dir, tables
        self.table, (self.rejected, self.source_rows) = next(iter(self.over.items()))
        self.share = self.rejected / self.source_rows
        named = ", ".join(
            f"table {name!r} ({bad:,} of {rows:,} rows, {_percent(bad / rows, limit)})"
            for name, (bad, rows) in self.over.items()
        )
        super().__init__(
            f"refused to publish the new dataset version: rejected rows passed the limit of "
            f"{limit * 100:g}% (zone.max_reject_share) in {named}; the live version is "
            f"unchanged; rejected rows (row number and reason) are listed in {report_dir}"
        )


def _percent(share: float, limit: float) -> str:
    """``share`` as a percentage with the digits it takes to differ from ``limit``'s
    (a share of 1.001% over a limit of 1% must not read "1%")."""
    for digits in range(3, 18):
        text = f"{share * 100:.{digits}g}"
        if text != f"{limit * 100:.{digits}g}":
            return text + "%"
    return f"{share * 100!r}%"


class IngestError(ZoneError):
    reason: ClassVar[str] = "UNAVAILABLE"
    default_message = "ingest failed; the previous dataset version is unchanged"


class DatasetError(ZoneError):
    reason: ClassVar[str] = "UNAVAILABLE"
    default_message = "dataset error"


class NoDataset(DatasetError):  # noqa: N818 (names of the zone API)
    default_message = "the zone has no dataset yet (run `dataward zone ingest`)"


class CorruptDataset(DatasetError):  # noqa: N818 (names of the zone API)
    default_message = "the dataset version is missing files or is inconsistent"


class UnknownVersion(DatasetError):  # noqa: N818 (names of the zone API)
    """``zone rollback`` to a version that is not kept on disk (see ``zone versions``)."""

    reason: ClassVar[str] = "NOT_FOUND"

    def __init__(self, version: str) -> None:
        printable = version.isascii() and version.isprintable() and len(version) < 80
        shown = version if printable else "?"
        super().__init__(
            f"no complete dataset version {shown!r} is kept in this zone "
            "(`dataward zone versions` lists them)"
        )


class LookupRefused(ZoneError):  # noqa: N818 (names of the zone API)
    default_message = "lookup refused"


class PolicyInvalid(ZoneError):  # noqa: N818 (names of the zone API)
    """A policy document given to apply is not a valid policy (:class:`policies.PolicyError`).

    ``file``, ``path`` and ``problem`` are the document's error as the loader names it (names
    from the steward's document, never registry data). Nothing was stored: the policy in
    force is unchanged.
    """

    reason: ClassVar[str] = "POLICY_INVALID"

    def __init__(self, file: str, path: str, problem: str) -> None:
        self.file, self.path, self.problem = file, path, problem
        where = f"{file}: {path}" if path else file
        super().__init__(
            f"the policy document is invalid: {where}: {problem}; "
            "nothing changed, the policy in force stays"
        )


class PolicyStoreCorrupt(ZoneError):  # noqa: N818 (names of the zone API)
    """The store of applied policies cannot record a version (a storage fault, never the
    steward's input). A stored version that no longer loads is not this: it is simply not put
    in force (``enclave.policy.InForce.unusable``), fail closed."""

    reason: ClassVar[str] = "UNAVAILABLE"
    default_message = "the store of applied policies is inconsistent"
