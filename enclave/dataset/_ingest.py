"""``zone ingest``: validate a registry export and publish it as a new dataset version.

All or nothing per version: the export's schemas are checked before anything is written; rows
are validated (bad rows rejected, counted and reported by row number and reason, never by
value); the new version is written into ``versions/<id>.tmp/`` and switched to atomically
(see :mod:`enclave._versions`). Any failure, or a kill, leaves the previous version live.

A version whose rejected share of any table is above ``max_reject_share`` (the setting
``zone.max_reject_share``) is not published: an export where every ID number is bad would
otherwise go live with no persons (issue 8). Its rejects report is kept under
``data/refused/`` so the operator can see why.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from enclave.dataset._index import (
    NULL_INT32,
    NULL_INT64,
    GroupIndexWriter,
    write_scattered_group_index,
)
from enclave.dataset._outofcore import OutOfCore
from enclave.dataset._parquet import TableWriter, prefetched
from enclave.dataset._persons_table import IDENTIFIER_COLUMNS, fixed_bytes, ingest_persons
from enclave.dataset._templates import (
    SEALED_TEMPLATE_COLUMN,
    TEMPLATE_INDEX,
    TEMPLATE_RECORD,
    seal_templates,
    stored_schema,
    template_records,
)
from enclave.dataset._validation import (
    RowVerdicts,
    check_source,
    member_mask,
    open_export_table,
    rows_mask,
    table_path,
)
from enclave.dataset._versions import (
    CATALOG_FILE,
    REJECTS_FILE,
    TMP_SUFFIX,
    ingest_lock,
    keep_refused_report,
    live_version_or_none,
    new_version_id,
    prune_versions,
    publish_version,
    remove_leftovers,
    versions_root,
)
from enclave.dataset.schema import TABLES, ColumnClass
from enclave.errors import IngestError, RejectLimitExceeded, ZoneError, ZoneNotInitialized
from enclave.keys import KEYRING_FILE, Keyring

__all__ = ["IngestReport", "Progress", "TableReport", "ingest"]

DEFAULT_MEMORY_MB = 2048
SPILL_DIR = "spill"
#: Index records at least this wide are sorted by their keys in memory, not out of core.
WIDE_RECORD_BYTES = 256

Progress = Callable[[str, int, int], None]
"""``progress(table, rows_just_done, table_total_rows)``."""

Codes = npt.NDArray[np.int16]


@dataclass(frozen=True)
class TableReport:
    source_rows: int
    accepted: int
    rejected: int
    by_reason: Mapping[str, int]


@dataclass(frozen=True)
class IngestReport:
    version: str
    created: str
    tables: Mapping[str, TableReport]
    seconds: float
    leftovers_removed: int
    pruned: tuple[str, ...]
    published: bool = True
    """``False`` for a dry run: validated and reported, nothing published."""
    rejects_dir: Path | None = None
    """A dry run's kept rejects report (row numbers and reasons)."""


def ingest(
    zone_dir: Path,
    source_dir: Path,
    keyring: Keyring,
    *,
    batch_rows: int = 250_000,
    keep_versions: int = 2,
    max_reject_share: float = 0.01,
    progress: Progress | None = None,
    dry_run: bool = False,
    memory_mb: int = DEFAULT_MEMORY_MB,
) -> IngestReport:
    """Validate ``source_dir`` and make it the zone's live dataset version.

    Raises :class:`RejectLimitExceeded`, publishing nothing, when some table's rejected rows are
    more than ``max_reject_share`` (0 to 1) of its rows; exactly at it is allowed. After a
    publish, versions beyond the newest ``keep_versions`` are deleted, never the new live one
    nor the one live before.

    ``dry_run``: the same validation, tokenizing and writing (so it finds what a real ingest
    would, disk space included), then the version is deleted instead of published; its rejects
    report is kept under ``data/dry-run/``; the live version and the kept ones are untouched.

    ``memory_mb`` bounds what the whole-table steps (duplicate keys, the indexes' sorts) hold
    in memory; past it they spill into the new version's temporary directory. Beyond it the
    ingest holds three batches of ``batch_rows`` rows (the one being worked on, the next one
    read ahead, the last one being written: :mod:`enclave.dataset._parquet`) and 10 bytes per
    person (the setting ``zone.ingest_memory_mb``; the README gives the measured peaks).
    """
    if not 0.0 <= max_reject_share <= 1.0:
        raise ValueError("max_reject_share must be between 0 and 1")
    started = time.monotonic()
    if not (zone_dir / KEYRING_FILE).is_file():
        raise ZoneNotInitialized
    source_rows = check_source(source_dir)
    with ingest_lock(zone_dir):
        leftovers = remove_leftovers(zone_dir)
        previous = live_version_or_none(zone_dir)
        now = datetime.now(UTC)
        version = new_version_id(now)
        tmp = versions_root(zone_dir) / (version + TMP_SUFFIX)
        # inside the version's own .tmp directory: an ingest killed mid-way leaves one
        # leftover, which the next ingest removes whole; removed before the publish
        spill = tmp / SPILL_DIR
        try:
            for sub in ("tables", "rejects", "index"):
                (tmp / sub).mkdir(parents=True)
            with OutOfCore(spill / "duckdb", memory_mb=_duckdb_share(memory_mb)) as ooc:
                writer = _VersionWriter(
                    source_dir,
                    tmp,
                    keyring,
                    batch_rows=batch_rows,
                    progress=progress,
                    out_of_core=ooc,
                    spill_dir=spill,
                )
                reports = writer.run(source_rows)
            shutil.rmtree(spill, ignore_errors=True)
            _write_catalog(tmp, keyring.zone_id, version, now, reports)
            over = _over_limit(reports, max_reject_share)
            kind = "dry-run" if dry_run else "refused"
            if over or dry_run:
                report_dir = keep_refused_report(zone_dir, tmp, version, keep_versions, kind=kind)
                if over:
                    raise RejectLimitExceeded(over, max_reject_share, report_dir, reports)
                return IngestReport(
                    version=version,
                    created=now.isoformat(),
                    tables=reports,
                    seconds=time.monotonic() - started,
                    leftovers_removed=leftovers,
                    pruned=(),
                    published=False,
                    rejects_dir=report_dir,
                )
            publish_version(zone_dir, tmp, version)
        except ZoneError:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(spill, ignore_errors=True)
            raise
        except duckdb.OutOfMemoryException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(spill, ignore_errors=True)
            raise IngestError(
                f"the ingest's whole-table steps ran out of their memory (zone.ingest_memory_mb "
                f"= {memory_mb}): raise it; the previous dataset version is unchanged"
            ) from exc
        except (OSError, pa.ArrowException, ValueError, duckdb.Error) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(spill, ignore_errors=True)
            raise IngestError from exc
        pruned = prune_versions(zone_dir, keep_versions, previous=previous)
    return IngestReport(
        version=version,
        created=now.isoformat(),
        tables=reports,
        seconds=time.monotonic() - started,
        leftovers_removed=leftovers,
        pruned=tuple(pruned),
    )


def _duckdb_share(memory_mb: int) -> int:
    """DuckDB's part of the ingest's memory: what the batches, the per-person arrays and the
    Python process itself leave of it."""
    return max(128, memory_mb // 2 - 256)


def _over_limit(reports: Mapping[str, TableReport], limit: float) -> dict[str, tuple[int, int]]:
    """``(rejected, source_rows)`` of each table whose rejected share is above ``limit``.

    Exact: the limit is read as the decimal it was written as (``Fraction("0.3")``, whereas the
    float 0.3 is a little below 3/10), so a share exactly at the limit always passes. A table
    with no rows rejects nothing.
    """
    allowed = Fraction(str(limit))
    return {
        name: (report.rejected, report.source_rows)
        for name, report in reports.items()
        if report.rejected and Fraction(report.rejected, report.source_rows) > allowed
    }


class _VersionWriter:
    """Writes one version's tables, rejects and indexes, a batch at a time: what is held
    across batches is compact (the accepted person and institution ids for the orphan rules,
    8 bytes each; the rejected rows' numbers and reasons), and the whole-table steps run out of
    core (:class:`OutOfCore`)."""

    def __init__(
        self,
        source_dir: Path,
        out: Path,
        keyring: Keyring,
        *,
        batch_rows: int,
        progress: Progress | None,
        out_of_core: OutOfCore,
        spill_dir: Path,
    ) -> None:
        self.source_dir, self.out, self.keyring = source_dir, out, keyring
        self.batch_rows = max(1, batch_rows)
        self.progress: Progress = progress or (lambda _t, _d, _n: None)
        self.ooc, self.spill_dir = out_of_core, spill_dir
        self.persons = np.zeros(0, dtype=np.int64)
        self.institutions = np.zeros(0, dtype=np.int64)

    def run(self, source_rows: Mapping[str, int]) -> dict[str, TableReport]:
        codes, verdicts, self.persons = ingest_persons(
            table_path(self.source_dir, "persons"),
            self.out,
            self.keyring,
            batch_rows=self.batch_rows,
            progress=self.progress,
            out_of_core=self.ooc,
            spill_dir=self.spill_dir,
        )
        bad = np.nonzero(codes)[0]
        reports = {"persons": self._rejects("persons", len(codes), [bad], [codes[bad]], verdicts)}
        del codes
        institution_ids: list[npt.NDArray[np.int64]] = []
        reports["institutions"] = self._stream(
            "institutions", None, kept=lambda b: institution_ids.append(_ints(b, "institution_id"))
        )
        self.institutions = np.sort(
            np.concatenate(institution_ids) if institution_ids else np.zeros(0, np.int64)
        )
        reports["enrolments"] = self._stream(
            "enrolments", self._orphans("person_id"), indexes=[_ENROLMENTS_BY_PERSON]
        )
        reports["claims"] = self._stream("claims", self._claim_rules)
        both = self._orphans("holder_person_id", "member_person_id")
        reports["family_bindings"] = self._stream(
            "family_bindings", both, indexes=[_BINDINGS_BY_HOLDER, _BINDINGS_BY_MEMBER]
        )
        reports["face_templates"] = self._stream(
            "face_templates",
            self._orphans("person_id"),
            stored=lambda b: seal_templates(b, self.keyring),
            indexes=[_TEMPLATES_BY_PERSON],
        )
        for name, report in reports.items():
            if report.source_rows != source_rows[name]:
                raise IngestError(f"table {name!r} changed while it was being ingested")
        return reports

    def _orphans(self, *columns: str) -> Callable[[pa.RecordBatch, Codes, RowVerdicts], None]:
        def rule(batch: pa.RecordBatch, codes: Codes, verdicts: RowVerdicts) -> None:
            for column in columns:
                known = member_mask(batch.column(column), self.persons)
                verdicts.mark(codes, f"orphan:{column}", ~known)

        return rule

    def _claim_rules(self, batch: pa.RecordBatch, codes: Codes, verdicts: RowVerdicts) -> None:
        paid = pc.add(batch.column("fund_paid_cents"), batch.column("self_paid_cents"))
        unequal: Any = pc.not_equal(paid, batch.column("total_cents"))
        mismatch: Any = pc.fill_null(unequal, False)
        verdicts.mark(codes, "amounts", mismatch.to_numpy(zero_copy_only=False))
        self._orphans("person_id")(batch, codes, verdicts)
        known = member_mask(batch.column("institution_id"), self.institutions)
        verdicts.mark(codes, "orphan:institution_id", ~known)

    def _stream(
        self,
        name: str,
        rules: Callable[[pa.RecordBatch, Codes, RowVerdicts], None] | None,
        *,
        kept: Callable[[pa.RecordBatch], None] | None = None,
        stored: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
        indexes: Sequence[_Index] = (),
    ) -> TableReport:
        """Validate table ``name`` batch by batch and write its good rows (``stored(batch)``
        when given: the form the zone keeps, e.g. sealed face templates); ``kept`` sees each
        written batch. Each of ``indexes`` is written from the same batches while their keys
        come in order (an export sorted by person, the usual case); past the first batch out
        of order it is built afterwards from the written table, sorted out of core."""
        spec, path = TABLES[name], table_path(self.source_dir, name)
        repeated = self.ooc.later_duplicates(path, spec.primary_key)
        source = open_export_table(path)
        total = source.metadata.num_rows
        verdicts = RowVerdicts()
        bad_rows: list[npt.NDArray[np.int64]] = []
        bad_codes: list[Codes] = []
        offset = 0
        schema = source.schema_arrow if stored is None else stored_schema(source.schema_arrow)
        dtypes = {index.name: index.dtype(self.ooc, path) for index in indexes}
        live = {
            i.name: GroupIndexWriter(self.out / "index", i.name, dtypes[i.name]) for i in indexes
        }
        try:
            with TableWriter(self.out / "tables" / f"{name}.parquet", schema) as writer:
                batches = source.iter_batches(batch_size=_batch_rows(source, self.batch_rows))
                for batch in prefetched(batches):
                    codes = verdicts.base(spec, batch)
                    if rules is not None:
                        rules(batch, codes, verdicts)
                    lo, hi = np.searchsorted(repeated, [offset, offset + batch.num_rows])
                    same = rows_mask(repeated[lo:hi] - offset, len(codes))
                    verdicts.mark(codes, "duplicate_key", same)
                    good = batch.filter(pa.array(codes == 0))
                    if stored is not None:
                        good = stored(good)
                    writer.write_batch(good)
                    if kept is not None:
                        kept(good)
                    self._feed(indexes, live, good, dtypes)
                    bad = np.nonzero(codes)[0]
                    bad_rows.append(bad.astype(np.int64) + offset)
                    bad_codes.append(codes[bad])
                    offset += batch.num_rows
                    self.progress(name, batch.num_rows, total)
        except BaseException:
            for index_writer in live.values():
                index_writer.discard()
            raise
        for index in indexes:
            if index.name in live:
                live.pop(index.name).close()
            else:
                self._sorted_index(name, index, dtypes[index.name])
        return self._rejects(name, total, bad_rows, bad_codes, verdicts)

    @staticmethod
    def _feed(
        indexes: Sequence[_Index],
        live: dict[str, GroupIndexWriter],
        good: pa.RecordBatch,
        dtypes: Mapping[str, np.dtype[Any]],
    ) -> None:
        for index in indexes:
            index_writer = live.get(index.name)
            if index_writer is None:
                continue
            keys = _ints(good, index.key)
            if index_writer.in_order(keys):
                index_writer.add(keys, index.records(good, dtypes[index.name]))
            else:
                live.pop(index.name).discard()

    def _sorted_index(self, table: str, index: _Index, dtype: np.dtype[Any]) -> None:
        """``index`` of the written ``table``, its rows sorted by key out of core; wide
        records (face templates: one row per person) by their keys in memory instead, each
        record written to its place (DuckDB did not spill 540-byte rows: a 1M-person export
        out of person order failed at ``memory_mb`` 512)."""
        path = self.out / "tables" / f"{table}.parquet"
        columns = list(dict.fromkeys([index.key, *index.columns]))
        if dtype.itemsize >= WIDE_RECORD_BYTES:
            scattered_index(
                path,
                self.out / "index",
                index.name,
                key=index.key,
                columns=columns,
                records=lambda batch: index.records(batch, dtype),
                dtype=dtype,
                batch_rows=self.batch_rows,
            )
            return
        with GroupIndexWriter(self.out / "index", index.name, dtype) as index_writer:
            for batch in self.ooc.sorted_batches(path, columns, index.key, self.batch_rows):
                index_writer.add(_ints(batch, index.key), index.records(batch, dtype))

    def _rejects(
        self,
        name: str,
        total: int,
        rows: list[npt.NDArray[np.int64]],
        reasons: list[Codes],
        verdicts: RowVerdicts,
    ) -> TableReport:
        row_array = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        code_array = np.concatenate(reasons) if reasons else np.zeros(0, np.int16)
        labels = pa.array(verdicts.rules or [""], type=pa.string())
        positions: Any = pa.array(code_array.astype(np.int32) - 1, type=pa.int32())
        reason_column = pc.take(labels, positions)
        table = pa.table({"row": pa.array(row_array), "reason": reason_column})
        pq.write_table(table, self.out / "rejects" / f"{name}.parquet", compression="zstd")
        counts = np.bincount(code_array, minlength=len(verdicts.rules) + 1)
        by_reason = {rule: int(counts[i + 1]) for i, rule in enumerate(verdicts.rules)}
        rejected = len(row_array)
        return TableReport(
            total, total - rejected, rejected, {k: v for k, v in by_reason.items() if v}
        )


_ENROLMENT_RECORD = {
    "scheme": "S",
    "insured_region_code": "S",
    "start_date": "<i4",
    "end_date": "<i4",
    "status": "S",
    "arrears_months": "<i4",
}
_BINDING_RECORD = {
    "holder_person_id": "<i8",
    "member_person_id": "<i8",
    "relation": "S",
    "method": "S",
    "bound_at": "<i8",
    "unbound_at": "<i8",
}


@dataclass(frozen=True)
class _Index:
    """A group index of one table by ``key``: its records are ``layout`` (column -> numpy
    kind, ``"S"`` a fixed-width string as wide as the export's longest value) or, for the
    face templates, the sealed bytes."""

    name: str
    key: str
    layout: Mapping[str, str] | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.layout) if self.layout is not None else [SEALED_TEMPLATE_COLUMN]

    def dtype(self, out_of_core: OutOfCore, source: Path) -> np.dtype[Any]:
        if self.layout is None:
            return TEMPLATE_RECORD
        strings = [column for column, kind in self.layout.items() if kind == "S"]
        widths = out_of_core.longest(source, strings)
        return np.dtype(
            [(c, f"S{widths[c]}" if kind == "S" else kind) for c, kind in self.layout.items()]
        )

    def records(self, batch: pa.RecordBatch, dtype: np.dtype[Any]) -> npt.NDArray[np.void]:
        if self.layout is None:
            return template_records(batch)
        return _records(batch, self.layout, dtype)


_ENROLMENTS_BY_PERSON = _Index("enrolments", "person_id", _ENROLMENT_RECORD)
_BINDINGS_BY_HOLDER = _Index("bindings_by_holder", "holder_person_id", _BINDING_RECORD)
_BINDINGS_BY_MEMBER = _Index("bindings_by_member", "member_person_id", _BINDING_RECORD)
_TEMPLATES_BY_PERSON = _Index(TEMPLATE_INDEX, "person_id")

_BATCH_BYTES = 64 << 20


def _batch_rows(source: pq.ParquetFile, batch_rows: int) -> int:
    """``batch_rows``, fewer for wide rows: a batch holds about 64 MiB of uncompressed data
    (a face template row is ~600 bytes, a claim's ~80)."""
    meta = source.metadata
    if meta.num_rows == 0:
        return batch_rows
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    width = max(1, size // meta.num_rows)
    return max(1, min(batch_rows, _BATCH_BYTES // width))


def scattered_index(
    path: Path,
    directory: Path,
    name: str,
    *,
    key: str,
    columns: Sequence[str],
    records: Callable[[pa.RecordBatch], npt.NDArray[np.void]],
    dtype: np.dtype[Any],
    batch_rows: int,
) -> None:
    """Index ``name`` of the table at ``path`` by ``key``, for records too wide to sort out
    of core: its keys read and sorted in memory, ``records`` of each batch of ``columns``
    written to their places (:func:`write_scattered_group_index`)."""
    table = pq.ParquetFile(path, pre_buffer=False)
    keys = [_ints(b, key) for b in table.iter_batches(batch_size=batch_rows, columns=[key])]
    write_scattered_group_index(
        directory,
        name,
        np.concatenate(keys) if keys else np.zeros(0, np.int64),
        (records(b) for b in table.iter_batches(batch_size=batch_rows, columns=list(columns))),
        dtype,
    )


def _ints(table: pa.Table | pa.RecordBatch, column: str) -> npt.NDArray[np.int64]:
    result: npt.NDArray[np.int64] = np.asarray(
        table.column(column).to_numpy(zero_copy_only=False), dtype=np.int64
    )
    return result


def _records(
    table: pa.Table | pa.RecordBatch, layout: Mapping[str, str], dtype: np.dtype[Any]
) -> npt.NDArray[np.void]:
    records = np.empty(table.num_rows, dtype=dtype)
    for name, kind in layout.items():
        column: Any = table.column(name)
        if kind == "S":
            records[name] = fixed_bytes(column, dtype[name].itemsize)
        else:
            null = NULL_INT32 if kind == "<i4" else NULL_INT64
            if pa.types.is_timestamp(column.type):  # any unit -> whole seconds
                column = pc.cast(column, pa.timestamp("s", tz="UTC"), safe=False)
            as_int: Any = pc.cast(column, pa.int32() if kind == "<i4" else pa.int64())
            records[name] = pc.fill_null(as_int, null).to_numpy(zero_copy_only=False)
    return records


def _write_catalog(
    out: Path, zone_id: str, version: str, now: datetime, reports: Mapping[str, TableReport]
) -> None:
    tables: dict[str, Any] = {}
    for name, spec in TABLES.items():
        columns = []
        for f in spec.schema:
            cls = spec.classes[f.name]
            direct = cls is ColumnClass.DIRECT_IDENTIFIER and f.name in IDENTIFIER_COLUMNS
            stored = [f"{f.name}_token", f"{f.name}_enc"] if direct else [f.name]
            if (name, f.name) == ("face_templates", "template"):
                stored = [SEALED_TEMPLATE_COLUMN]
            columns.append(
                {"name": f.name, "class": str(cls), "type": str(f.type), "stored_as": stored}
            )
        report = reports[name]
        tables[name] = {
            "rows": report.accepted,
            "source_rows": report.source_rows,
            "rejected": report.rejected,
            "file": f"tables/{name}.parquet",
            "columns": columns,
        }
    catalog = {
        "format": "dataward-catalog",
        "format_version": 1,
        "zone_id": zone_id,
        "version": version,
        "created": now.isoformat(),
        "tables": tables,
    }
    rejects = {
        name: {
            "source_rows": r.source_rows,
            "rejected": r.rejected,
            "by_reason": dict(r.by_reason),
            "rows_file": f"rejects/{name}.parquet",
        }
        for name, r in reports.items()
    }
    (out / CATALOG_FILE).write_text(json.dumps(catalog, indent=2), encoding="utf-8")
    (out / REJECTS_FILE).write_text(json.dumps(rejects, indent=2), encoding="utf-8")
