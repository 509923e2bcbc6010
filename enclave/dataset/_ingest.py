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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from enclave.dataset._index import NULL_INT32, NULL_INT64, write_group_index
from enclave.dataset._persons_table import IDENTIFIER_COLUMNS, fixed_bytes, ingest_persons
from enclave.dataset._templates import (
    SEALED_TEMPLATE_COLUMN,
    seal_templates,
    stored_schema,
    write_template_index,
)
from enclave.dataset._validation import (
    RowVerdicts,
    check_source,
    duplicate_mask,
    member_mask,
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
) -> IngestReport:
    """Validate ``source_dir`` and make it the zone's live dataset version.

    Raises :class:`RejectLimitExceeded`, publishing nothing, when some table's rejected rows are
    more than ``max_reject_share`` (0 to 1) of its rows; exactly at it is allowed. After a
    publish, versions beyond the newest ``keep_versions`` are deleted, never the new live one
    nor the one live before.

    ``dry_run``: the same validation, tokenizing and writing (so it finds what a real ingest
    would, disk space included), then the version is deleted instead of published; its rejects
    report is kept under ``data/dry-run/``; the live version and the kept ones are untouched.
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
        try:
            for sub in ("tables", "rejects", "index"):
                (tmp / sub).mkdir(parents=True)
            writer = _VersionWriter(source_dir, tmp, keyring, batch_rows, progress)
            reports = writer.run(source_rows)
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
            raise
        except (OSError, pa.ArrowException, ValueError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
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
    def __init__(
        self,
        source_dir: Path,
        out: Path,
        keyring: Keyring,
        batch_rows: int,
        progress: Progress | None,
    ) -> None:
        self.source_dir, self.out, self.keyring = source_dir, out, keyring
        self.batch_rows = max(1, batch_rows)
        self.progress: Progress = progress or (lambda _t, _d, _n: None)
        self.persons = np.zeros(0, dtype=np.int64)
        self.institutions = np.zeros(0, dtype=np.int64)

    def run(self, source_rows: Mapping[str, int]) -> dict[str, TableReport]:
        codes, verdicts, self.persons = ingest_persons(
            table_path(self.source_dir, "persons"),
            self.out / "tables",
            self.out / "index",
            self.keyring,
            batch_rows=self.batch_rows,
            progress=self.progress,
        )
        reports = {"persons": self._rejects("persons", 0, [(0, codes)], verdicts)}
        kept = self._stream("institutions", None, keep=True)
        reports["institutions"] = kept[0]
        self.institutions = np.sort(
            pa.concat_arrays(
                [b.column("institution_id") for b in kept[1]] or [pa.array([], pa.int64())]
            ).to_numpy()
        )
        report, enrolments = self._stream("enrolments", self._orphans("person_id"), keep=True)
        reports["enrolments"] = report
        self._index_enrolments(enrolments)
        reports["claims"] = self._stream("claims", self._claim_rules, keep=False)[0]
        both = self._orphans("holder_person_id", "member_person_id")
        report, bindings = self._stream("family_bindings", both, keep=True)
        reports["family_bindings"] = report
        self._index_bindings(bindings)
        faces = self._orphans("person_id")
        report, templates = self._stream(
            "face_templates", faces, keep=True, stored=lambda b: seal_templates(b, self.keyring)
        )
        reports["face_templates"] = report
        write_template_index(self.out / "index", templates)
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
        keep: bool,
        stored: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
    ) -> tuple[TableReport, list[pa.RecordBatch]]:
        """Validate table ``name`` batch by batch and write its good rows (``stored(batch)``
        when given: the form the zone keeps, e.g. sealed face templates); ``keep`` returns
        the written batches too."""
        spec, path = TABLES[name], table_path(self.source_dir, name)
        keys = pq.read_table(path, columns=list(spec.primary_key))
        duplicates = duplicate_mask(keys, spec.primary_key)
        del keys
        source = pq.ParquetFile(path)
        total = source.metadata.num_rows
        verdicts, chunks, kept = RowVerdicts(), [], []
        offset = 0
        schema = source.schema_arrow if stored is None else stored_schema(source.schema_arrow)
        with pq.ParquetWriter(
            self.out / "tables" / f"{name}.parquet", schema, compression="zstd"
        ) as writer:
            for batch in source.iter_batches(batch_size=self.batch_rows):
                codes = verdicts.base(spec, batch)
                if rules is not None:
                    rules(batch, codes, verdicts)
                verdicts.mark(codes, "duplicate_key", duplicates[offset : offset + batch.num_rows])
                good = batch.filter(pa.array(codes == 0))
                if stored is not None:
                    good = stored(good)
                writer.write_batch(good)
                if keep:
                    kept.append(good)
                chunks.append((offset, codes))
                offset += batch.num_rows
                self.progress(name, batch.num_rows, total)
        return self._rejects(name, total, chunks, verdicts), kept

    def _rejects(
        self, name: str, total: int, chunks: list[tuple[int, Codes]], verdicts: RowVerdicts
    ) -> TableReport:
        rows, reasons = [], []
        for offset, codes in chunks:
            bad = np.nonzero(codes)[0]
            rows.append(bad.astype(np.int64) + offset)
            reasons.append(codes[bad])
        row_array = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        code_array = np.concatenate(reasons) if reasons else np.zeros(0, np.int16)
        labels = pa.array(verdicts.rules or [""], type=pa.string())
        positions: Any = pa.array(code_array.astype(np.int32) - 1, type=pa.int32())
        reason_column = pc.take(labels, positions)
        table = pa.table({"row": pa.array(row_array), "reason": reason_column})
        pq.write_table(table, self.out / "rejects" / f"{name}.parquet", compression="zstd")
        counts = np.bincount(code_array, minlength=len(verdicts.rules) + 1)
        by_reason = {rule: int(counts[i + 1]) for i, rule in enumerate(verdicts.rules)}
        total = total or sum(len(codes) for _, codes in chunks)
        rejected = len(row_array)
        return TableReport(
            total, total - rejected, rejected, {k: v for k, v in by_reason.items() if v}
        )

    def _index_enrolments(self, batches: list[pa.RecordBatch]) -> None:
        schema = TABLES["enrolments"].schema
        t = pa.Table.from_batches(batches) if batches else schema.empty_table()
        records = _records(
            t,
            {
                "scheme": "S",
                "insured_region_code": "S",
                "start_date": "<i4",
                "end_date": "<i4",
                "status": "S",
                "arrears_months": "<i4",
            },
        )
        write_group_index(self.out / "index", "enrolments", _ints(t, "person_id"), records)

    def _index_bindings(self, batches: list[pa.RecordBatch]) -> None:
        schema = TABLES["family_bindings"].schema
        t = pa.Table.from_batches(batches) if batches else schema.empty_table()
        layout = {
            "holder_person_id": "<i8",
            "member_person_id": "<i8",
            "relation": "S",
            "method": "S",
            "bound_at": "<i8",
            "unbound_at": "<i8",
        }
        records = _records(t, layout)
        index = self.out / "index"
        write_group_index(index, "bindings_by_holder", _ints(t, "holder_person_id"), records)
        write_group_index(index, "bindings_by_member", _ints(t, "member_person_id"), records)


def _ints(table: pa.Table, column: str) -> npt.NDArray[np.int64]:
    result: npt.NDArray[np.int64] = table.column(column).to_numpy().astype(np.int64)
    return result


def _records(table: pa.Table, layout: Mapping[str, str]) -> npt.NDArray[np.void]:
    columns: dict[str, npt.NDArray[Any]] = {}
    for name, kind in layout.items():
        column: Any = table.column(name)
        if kind == "S":
            columns[name] = fixed_bytes(column)
        else:
            null = NULL_INT32 if kind == "<i4" else NULL_INT64
            if pa.types.is_timestamp(column.type):  # any unit -> whole seconds
                column = pc.cast(column, pa.timestamp("s", tz="UTC"), safe=False)
            as_int: Any = pc.cast(column, pa.int32() if kind == "<i4" else pa.int64())
            columns[name] = pc.fill_null(as_int, null).to_numpy(zero_copy_only=False)
    dtype = [(name, columns[name].dtype) for name in layout]
    records = np.empty(table.num_rows, dtype=dtype)
    for name, values in columns.items():
        records[name] = values
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
