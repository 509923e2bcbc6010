"""``zone enroll-faces``: reference templates from ID-card photos, as a new dataset version.

The registry's photo office hands over a directory of ID-card photos and a map CSV (header
``image,id_number``: a file name in that directory, the person's GB 11643 number). Each photo
goes through the same analysis as a selfie (:class:`enclave.biometrics.FaceAnalyzer`: decode
within the limits, exactly one face, size and quality gates, the template); the person is
found in the live version's registry by their number's token. A photo that fails is a reject
by FILE NAME (a run of 15 or more digits and X's masked: offices name photos by the number)
and map line and reason -- never by person or number: ``MISSING_FILE``, ``UNREADABLE_FILE``
(not a regular file: a FIFO, a device), ``BAD_FILE_NAME`` (a
path, not a file name of the directory), ``INVALID_ID_NUMBER``, ``UNKNOWN_PERSON``,
``DUPLICATE_PERSON`` (a second photo for a person of this map), ``IMAGE_INVALID:<problem>``
or the gate's retake reason (``NO_FACE``, ``MULTIPLE_FACES``, ``FACE_TOO_SMALL``, ...).

The new version is the live one's files (hard links: versions are never changed in place)
with ``face_templates`` rewritten: the live version's templates of every other person, and
the enrolled ones, sealed (:func:`enclave.dataset.seal_template`), source ``ID_CARD``. The
live table is read a batch at a time and the enrolled records merged into the live lookup
index chunk by chunk (a version without one: each record written to its place in the new
index by its key, the keys sorted in memory): a registry's templates are about 0.6 kB a
person, 2.4 GB at 4.5 million, and are never whole in memory. It is
written and switched to exactly as an ingest's (under the ingest lock; a failure or a kill
leaves the previous version live), and its ``enrolment.json`` lists the counts and rejects.
A server keeps serving the version it opened until it is restarted.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from enclave.biometrics import (
    EnrolmentSourceInvalid,
    FaceAnalyzer,
    ImageInvalid,
    ImageLimits,
    Template,
)
from enclave.dataset._index import GroupIndex
from enclave.dataset._ingest import scattered_index
from enclave.dataset._templates import (
    SEALED_TEMPLATE_COLUMN,
    TEMPLATE_INDEX,
    TEMPLATE_RECORD,
    merge_template_index,
    seal_template,
    stored_schema,
    template_records,
)
from enclave.dataset._versions import (
    CATALOG_FILE,
    TMP_SUFFIX,
    current_version,
    ingest_lock,
    new_version_id,
    prune_versions,
    publish_version,
    read_catalog,
    remove_leftovers,
    version_dir,
    versions_root,
)
from enclave.dataset._zone import Zone
from enclave.dataset.schema import TABLES
from enclave.errors import IngestError, LookupRefused, ZoneError
from enclave.keys import Keyring
from enclave.persons import InvalidIdNumber

__all__ = [
    "ENROLMENT_FILE",
    "EnrolmentProgress",
    "EnrolmentReject",
    "EnrolmentReport",
    "enroll_faces",
]

ENROLMENT_FILE = "enrolment.json"
MAP_HEADER = ("image", "id_number")
# A map larger than this is refused before any photo is read (a typo'd file, not a batch).
MAX_MAP_ROWS = 1_000_000
#: Rows of the live templates table read (and of the index written) at a time: about 40 MB.
_BATCH_ROWS = 65_536
MAX_ID_NUMBER_CHARS = 32
_DUPLICATE = "DUPLICATE_PERSON"  # a second photo for a person of the same map

EnrolmentProgress = Callable[[int, int], None]
"""``progress(photos_just_done, total_photos)``."""


# ID-card photo offices name files by the card's number ("110105194912310021.jpg"): a run
# of 15 (first-generation cards) or more digits and X's is masked wherever a reject names a
# file, so the report, the CLI's output and its rejects file never hold a clear ID number.
_ID_LIKE = re.compile(r"[0-9Xx]{15,}")
MASKED_ID = "<id-number>"


def reported_name(name: str) -> str:
    """``name`` as a reject reports it: every ID-number-like run masked."""
    return _ID_LIKE.sub(MASKED_ID, name)


@dataclass(frozen=True)
class EnrolmentReject:
    image: str  # the file name as the map gives it, ID-number-like runs masked
    reason: str
    line: int = 0  # the map's line (its header is line 1)


@dataclass(frozen=True)
class EnrolmentReport:
    version: str
    photos: int
    enrolled: int
    replaced: int  # enrolled persons who had a template before
    rejects: tuple[EnrolmentReject, ...]
    seconds: float

    def by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for reject in self.rejects:
            counts[reject.reason] = counts.get(reject.reason, 0) + 1
        return dict(sorted(counts.items()))


def enroll_faces(
    zone_dir: Path,
    keyring: Keyring,
    *,
    images: Path,
    map_csv: Path,
    analyzer: FaceAnalyzer,
    progress: EnrolmentProgress | None = None,
    keep_versions: int = 2,
    now: datetime | None = None,
) -> EnrolmentReport:
    """Enroll the map's photos and publish the new version (see the module docstring).

    Raises :class:`EnrolmentSourceInvalid` (nothing read, nothing published) for a missing
    images directory or an unreadable or malformed map; :class:`enclave.NoDataset` when the
    zone has no version yet; :class:`IngestError` when another ingest runs or writing fails.
    """
    started = time.monotonic()
    if not images.is_dir():
        raise EnrolmentSourceInvalid("the images directory does not exist")
    rows = _read_map(map_csv)
    zone = Zone.open(zone_dir, keyring)
    templates: dict[int, Template] = {}
    rejects: list[EnrolmentReject] = []
    for line, name, id_number in rows:
        # an enrolment reject's cause, not an API error reason
        why, person_id, template = _enrol_one(zone, analyzer, images, name, id_number)
        if why is None and person_id in templates:
            why = _DUPLICATE
        if why is not None or person_id is None or template is None:
            rejects.append(EnrolmentReject(reported_name(name), why or "UNKNOWN_PERSON", line))
        else:
            templates[person_id] = template
        if progress is not None:
            progress(1, len(rows))
    moment = now or datetime.now(UTC)
    with ingest_lock(zone_dir):
        remove_leftovers(zone_dir)
        live = current_version(zone_dir)
        if live != zone.version:
            raise IngestError("the live dataset version changed during the enrolment: run it again")
        version = new_version_id(moment)
        tmp = versions_root(zone_dir) / (version + TMP_SUFFIX)
        try:
            replaced = _write_version(
                zone_dir, live, tmp, version, keyring=keyring, templates=templates, now=moment
            )
            report = EnrolmentReport(
                version=version,
                photos=len(rows),
                enrolled=len(templates),
                replaced=replaced,
                rejects=tuple(rejects),
                seconds=time.monotonic() - started,
            )
            _write_report(tmp / ENROLMENT_FILE, report)
            publish_version(zone_dir, tmp, version)
        except ZoneError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        except (OSError, pa.ArrowException, ValueError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise IngestError from exc
        prune_versions(zone_dir, keep_versions, previous=live)
    return report


def _read_map(path: Path) -> list[tuple[int, str, str]]:
    """The map's rows (line, image, id_number); its errors name the line, never a value."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != MAP_HEADER:
                raise EnrolmentSourceInvalid("the map's header must be exactly: image,id_number")
            rows: list[tuple[int, str, str]] = []
            for line, row in enumerate(reader, start=2):
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) != 2:
                    raise EnrolmentSourceInvalid(
                        f"line {line} of the map has {len(row)} fields, not 2"
                    )
                if len(rows) >= MAX_MAP_ROWS:
                    raise EnrolmentSourceInvalid(f"the map has more than {MAX_MAP_ROWS} rows")
                rows.append((line, row[0].strip(), row[1]))
    except FileNotFoundError:
        raise EnrolmentSourceInvalid("the map file does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EnrolmentSourceInvalid("the map file cannot be read as UTF-8 CSV") from exc
    if not rows:
        raise EnrolmentSourceInvalid("the map has no rows")
    return rows


def _enrol_one(
    zone: Zone, analyzer: FaceAnalyzer, images: Path, name: str, id_number: str
) -> tuple[str | None, int | None, Template | None]:
    """(reject reason, person id, template) of one map row."""
    if not name or Path(name).name != name or name in {".", ".."}:
        return "BAD_FILE_NAME", None, None
    if len(id_number) > MAX_ID_NUMBER_CHARS:
        return "INVALID_ID_NUMBER", None, None
    try:
        person = zone.find_person(id_number)
    except InvalidIdNumber:
        return "INVALID_ID_NUMBER", None, None
    if person is None:
        return "UNKNOWN_PERSON", None, None
    path = images / name
    try:
        data = _read_photo(path, _max_bytes(analyzer))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return "MISSING_FILE", None, None
    except OSError:
        return "UNREADABLE_FILE", None, None
    if data is None:
        return "IMAGE_INVALID:TOO_LARGE", None, None
    try:
        probe = analyzer.analyze(data)
    except ImageInvalid as exc:
        return f"IMAGE_INVALID:{exc.problem}", None, None
    if probe.template is None:
        return str(probe.retake), None, None
    return None, person.person_id, probe.template


def _max_bytes(analyzer: FaceAnalyzer) -> int:
    limits = getattr(analyzer, "limits", None)
    return limits.max_bytes if isinstance(limits, ImageLimits) else ImageLimits().max_bytes


def _read_photo(path: Path, max_bytes: int) -> bytes | None:
    """The photo's bytes, None when it is larger than ``max_bytes`` (never read whole). Only
    regular files are read: a FIFO or a device (a symlink to /dev/zero) is an OSError, not
    a read that blocks or never ends."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(path.name)
        if not stat.S_ISREG(info.st_mode):
            raise OSError("not a regular file")
        if info.st_size > max_bytes:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    return None if len(data) > max_bytes else data


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path.relative_to(root)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _write_version(
    zone_dir: Path,
    live: str,
    tmp: Path,
    version: str,
    *,
    keyring: Keyring,
    templates: dict[int, Template],
    now: datetime,
) -> int:
    """Write the new version into ``tmp``; the number of persons whose template was replaced."""
    source = version_dir(zone_dir, live)
    table_file = Path("tables") / "face_templates.parquet"
    skipped = {table_file, Path(CATALOG_FILE), Path(ENROLMENT_FILE)}
    for relative in _files(source):
        index_file = relative.parent == Path("index") and relative.name.startswith(
            f"{TEMPLATE_INDEX}."
        )
        if relative not in skipped and not index_file:
            _link_or_copy(source / relative, tmp / relative)
    schema = stored_schema(TABLES["face_templates"].schema)
    new_ids = sorted(templates)
    enrolled_at = now.replace(microsecond=0)
    new_rows = pa.table(
        {
            "person_id": pa.array(new_ids, pa.int64()),
            SEALED_TEMPLATE_COLUMN: pa.array(
                [seal_template(keyring, pid, templates[pid].values) for pid in new_ids],
                pa.binary(),
            ),
            "source": pa.array(["ID_CARD"] * len(new_ids), pa.string()),
            "enrolled_at": pa.array([enrolled_at] * len(new_ids), pa.timestamp("s", tz="UTC")),
        },
        schema=schema,
    )
    (tmp / "tables").mkdir(parents=True, exist_ok=True)
    (tmp / "index").mkdir(parents=True, exist_ok=True)
    # A batch of the live table at a time (a registry's templates are about 0.6 kB a
    # person: 2.4 GB at 4.5 million), then the enrolled rows.
    replacing = pa.array(new_ids, pa.int64())
    rows = replaced = 0
    # pre_buffer off: on, the reader buffers the whole file at once (734 MB at 1M persons)
    live_rows = pq.ParquetFile(source / table_file, pre_buffer=False)
    with pq.ParquetWriter(tmp / table_file, schema, compression="zstd") as writer:
        for batch in live_rows.iter_batches(batch_size=_BATCH_ROWS):
            stored = pa.Table.from_batches([batch]).cast(schema)
            kept = stored.filter(pc.invert(pc.is_in(stored.column("person_id"), replacing)))
            replaced += stored.num_rows - kept.num_rows
            rows += kept.num_rows
            writer.write_table(kept)
        writer.write_table(new_rows)
        rows += new_rows.num_rows
    live_index = source / "index"
    if (live_index / f"{TEMPLATE_INDEX}.keys.npy").exists():
        # the live index is sorted already: the new records are merged into it
        merge_template_index(
            tmp / "index",
            GroupIndex.open(live_index, TEMPLATE_INDEX),
            np.asarray(new_ids, dtype=np.int64),
            template_records(new_rows),
            chunk=_BATCH_ROWS,
        )
    else:  # a version without one: the new table's, its keys sorted in memory
        scattered_index(
            tmp / table_file,
            tmp / "index",
            TEMPLATE_INDEX,
            key="person_id",
            columns=[SEALED_TEMPLATE_COLUMN],
            records=template_records,
            dtype=TEMPLATE_RECORD,
            batch_rows=_BATCH_ROWS,
        )
    catalog: dict[str, Any] = read_catalog(zone_dir, live)
    if catalog.get("zone_id") != keyring.zone_id:
        raise LookupRefused("the keyring belongs to another zone")
    catalog["version"] = version
    catalog["created"] = now.isoformat()
    catalog["enrolled_from"] = live
    catalog["tables"]["face_templates"]["rows"] = rows
    (tmp / CATALOG_FILE).write_text(json.dumps(catalog, indent=2), encoding="utf-8")
    return replaced


def _write_report(path: Path, report: EnrolmentReport) -> None:
    body = {
        "version": report.version,
        "photos": report.photos,
        "enrolled": report.enrolled,
        "replaced": report.replaced,
        "by_reason": report.by_reason(),
        "rejects": [{"line": r.line, "image": r.image, "reason": r.reason} for r in report.rejects],
    }
    path.write_text(json.dumps(body, indent=2), encoding="utf-8")
