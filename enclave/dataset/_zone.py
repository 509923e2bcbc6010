"""The hot path: look a person up by ID number, and their enrolments and family bindings.

A :class:`Zone` is opened on the version ``CURRENT`` names at that moment and keeps serving
that version (its index files are memory-mapped at open) even when a later ingest switches
``CURRENT`` or prunes it. Lookups are binary searches over sorted fixed-width arrays written
at ingest (:mod:`enclave._index`): O(log n), no scan, no Parquet decoding.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from enclave.dataset._index import NULL_INT32, NULL_INT64, GroupIndex, TokenIndex
from enclave.dataset._templates import TEMPLATE_INDEX
from enclave.dataset._versions import current_version, read_catalog, version_dir
from enclave.errors import CorruptDataset, LookupRefused
from enclave.keys import Keyring, normalize
from enclave.persons import validate_id_number

__all__ = [
    "BindingRecord",
    "EnrolmentRecord",
    "PersonRecord",
    "TableSummary",
    "Zone",
    "ZoneSummary",
    "inspect_zone",
]

_EPOCH = dt.date(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()


@dataclass(frozen=True)
class PersonRecord:
    """A registry person as the zone sees them: tokens, never clear identifiers."""

    person_id: int
    person_token: bytes  # the id_number token
    name_token: bytes
    status: str
    gender: str
    birth_date: dt.date
    region_code: str


@dataclass(frozen=True)
class EnrolmentRecord:
    scheme: str
    insured_region_code: str
    start_date: dt.date
    end_date: dt.date | None
    status: str
    arrears_months: int


@dataclass(frozen=True)
class BindingRecord:
    holder_person_id: int
    member_person_id: int
    relation: str
    method: str
    bound_at: dt.datetime
    unbound_at: dt.datetime | None


@dataclass(frozen=True)
class TableSummary:
    name: str
    rows: int
    rejected: int
    columns: tuple[tuple[str, str, tuple[str, ...]], ...]  # (name, class, stored columns)


@dataclass(frozen=True)
class ZoneSummary:
    """What ``zone inspect`` shows: no key needed, no data values."""

    zone_id: str
    version: str
    created: str
    tables: tuple[TableSummary, ...]


class Zone:
    """One dataset version, opened for lookups."""

    def __init__(self, root: Path, version: str, catalog: Mapping[str, Any], keyring: Keyring):
        self._keyring = keyring
        self.version = version
        self.catalog = catalog
        self._dir = version_dir(root, version)
        index = self._dir / "index"
        try:
            self._persons = TokenIndex.open(index, "persons")
            self._enrolments = GroupIndex.open(index, "enrolments")
            # the record's fields by position: rows are read with one tolist() per lookup
            # (issue 15: a field read off a numpy record costs a microsecond or more each)
            self._enrolment_fields = operator.itemgetter(
                *map(self._enrolments.records.dtype.names.index, _ENROLMENT_FIELDS)  # type: ignore[union-attr]
            )
            self._by_holder = GroupIndex.open(index, "bindings_by_holder")
            self._by_member = GroupIndex.open(index, "bindings_by_member")
            # versions ingested before templates were sealed and indexed (issue 13) have none
            self._templates = (
                GroupIndex.open(index, TEMPLATE_INDEX)
                if (index / f"{TEMPLATE_INDEX}.keys.npy").exists()
                else None
            )
        except (OSError, ValueError) as exc:
            raise CorruptDataset from exc

    @classmethod
    def open(cls, zone_dir: Path, keyring: Keyring) -> Zone:
        """Open the live version; refuses a keyring of another zone."""
        version = current_version(zone_dir)
        catalog = read_catalog(zone_dir, version)
        if catalog.get("zone_id") != keyring.zone_id:
            raise LookupRefused("the keyring belongs to another zone")
        return cls(zone_dir, version, catalog, keyring)

    def table_files(self) -> dict[str, tuple[str, ...]]:
        """Each table of this version and its Parquet files (for the query engine, which
        reads them read-only; the version's files stay while a server serves it)."""
        return {
            name: (str(self._dir / str(entry["file"])),)
            for name, entry in self.catalog["tables"].items()
        }

    def find_person(self, id_number: str) -> PersonRecord | None:
        """The person with this ID number, or ``None``.

        Raises :class:`enclave.persons.InvalidIdNumber` before anything is tokenized if the
        number is malformed (after stripping and upper-casing).
        """
        canonical = normalize("id_number", id_number)
        validate_id_number(canonical)
        return self.person_by_token(self._keyring.token("id_number", canonical))

    def person_id_by_token(self, token: bytes) -> int | None:
        """The internal id of the person whose ID-number token is ``token``, or None.

        Takes as long for a token the registry does not hold as for one it does: the
        consent-refusal path calls it for every refused request (issue 8, fault 8).
        """
        if len(token) != 32:
            return None
        value = self._persons.find_field(token, "person_id")
        return None if value is None else int(value)

    def person_by_token(self, token: bytes) -> PersonRecord | None:
        if len(token) != 32:
            return None
        record = self._persons.find(token)
        if record is None:
            return None
        person_id, name_token, status, gender, birth_days, region_code = record
        return PersonRecord(
            person_id=int(person_id),
            person_token=bytes(token),
            name_token=bytes(name_token),
            status=status.decode(),
            gender=gender.decode(),
            birth_date=_date(int(birth_days)),
            region_code=region_code.decode(),
        )

    def enrolments(self, person_id: int) -> tuple[EnrolmentRecord, ...]:
        records: list[EnrolmentRecord] = []
        for row in self._enrolments.get(person_id).tolist():
            scheme, region, start, end, status, arrears = self._enrolment_fields(row)
            records.append(
                EnrolmentRecord(
                    scheme=scheme.decode(),
                    insured_region_code=region.decode(),
                    start_date=_date(start),
                    end_date=None if end == NULL_INT32 else _date(end),
                    status=status.decode(),
                    arrears_months=int(arrears),
                )
            )
        return tuple(records)

    def guardians(self, member_person_id: int, at: dt.datetime) -> tuple[int, ...]:
        """The holders the member is bound to at ``at``: the rule of
        :func:`enclave.consent.guardians_of`, on the index rows without building records, so
        that it costs about the same for no binding, an unknown person or a bound member
        (the consent-refusal path runs it for every refused request; issue 8, fault 8)."""
        # A window of the same width whether the member has 0, 1 or a few bindings: the same
        # numpy work runs on it and a mask keeps the member's own rows.
        start, count = self._by_member.span(member_person_id)
        rows = self._by_member.records[start : start + max(_GUARDIAN_WINDOW, count)]
        t = at.timestamp()
        unbound = rows["unbound_at"]
        live = (
            (np.arange(len(rows)) < count)
            & (rows["bound_at"] <= t)
            & ((unbound == NULL_INT64) | (unbound > t))
        )
        return tuple(sorted(set(rows["holder_person_id"][live].tolist())))

    def family_bindings(self, person_id: int) -> tuple[BindingRecord, ...]:
        """Bindings where the person is the holder, then those where they are the member."""
        rows = np.concatenate([self._by_holder.get(person_id), self._by_member.get(person_id)])
        return tuple(
            BindingRecord(
                holder_person_id=int(r["holder_person_id"]),
                member_person_id=int(r["member_person_id"]),
                relation=bytes(r["relation"]).decode(),
                method=bytes(r["method"]).decode(),
                bound_at=_time(int(r["bound_at"])),
                unbound_at=None
                if int(r["unbound_at"]) == NULL_INT64
                else _time(int(r["unbound_at"])),
            )
            for r in rows
        )

    def face_template_sealed(self, person_id: int) -> bytes | None:
        """The person's sealed reference face template on this version (open it with
        :func:`open_template`), or None when none is enrolled."""
        if self._templates is None:
            return None
        rows = self._templates.get(person_id)
        return bytes(rows["sealed"][0].tobytes()) if len(rows) else None

    def __repr__(self) -> str:
        return f"Zone(version={self.version!r})"


def inspect_zone(zone_dir: Path) -> ZoneSummary:
    """Describe the live version from its catalog (no key needed)."""
    version = current_version(zone_dir)
    catalog = read_catalog(zone_dir, version)
    try:
        tables = tuple(
            TableSummary(
                name=name,
                rows=int(t["rows"]),
                rejected=int(t["rejected"]),
                columns=tuple((c["name"], c["class"], tuple(c["stored_as"])) for c in t["columns"]),
            )
            for name, t in catalog["tables"].items()
        )
        return ZoneSummary(
            zone_id=str(catalog["zone_id"]),
            version=version,
            created=str(catalog["created"]),
            tables=tables,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptDataset from exc


_ENROLMENT_FIELDS = (
    "scheme",
    "insured_region_code",
    "start_date",
    "end_date",
    "status",
    "arrears_months",
)

# Bindings per member read at once by :meth:`Zone.guardians` (more only for members with more).
_GUARDIAN_WINDOW = 16


def _date(days: int) -> dt.date:
    return dt.date.fromordinal(_EPOCH_ORDINAL + days)  # _EPOCH + days, without a timedelta


def _time(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
