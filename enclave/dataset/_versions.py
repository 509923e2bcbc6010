"""Dataset versions on disk and the atomic switch between them.

::

    ZONE/data/
      CURRENT                    the id of the live version (replaced atomically)
      ingest.lock                held (flock) by the one ingest running
      refused/<version-id>/      the rejects report of an ingest refused for its rejected share
                                 (rejects.json, rejects/*.parquet; the newest --keep-versions)
      dry-run/<version-id>/      the rejects report of an ``ingest --dry-run`` (likewise)
      versions/
        <version-id>.tmp/        an ingest in progress (removed by the next ingest)
        <version-id>/            a complete version: catalog.json, rejects.json,
                                 tables/*.parquet, rejects/*.parquet, index/*.npy

A version directory is complete before it gets its final name (written, fsynced, renamed,
parent fsynced); only then is ``CURRENT`` replaced (write ``CURRENT.tmp``, fsync, rename,
fsync the directory). A crash at any point leaves ``CURRENT`` naming a complete version. A
rollback is the same ``CURRENT`` replacement, naming a kept older version.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from enclave._fsio import fsync_dir, fsync_tree, write_atomic
from enclave.audit import ZONE_LOG_FILE, read_holder
from enclave.errors import CorruptDataset, IngestError, NoDataset, UnknownVersion

__all__ = [
    "CATALOG_FILE",
    "REJECTS_FILE",
    "TMP_SUFFIX",
    "VersionInfo",
    "current_version",
    "ingest_lock",
    "keep_refused_report",
    "list_versions",
    "live_version_or_none",
    "new_version_id",
    "prune_versions",
    "publish_version",
    "read_catalog",
    "remove_leftovers",
    "rollback",
    "version_dir",
    "versions_root",
]

CATALOG_FILE = "catalog.json"
REJECTS_FILE = "rejects.json"
TMP_SUFFIX = ".tmp"


def versions_root(zone_dir: Path) -> Path:
    return zone_dir / "data" / "versions"


def version_dir(zone_dir: Path, version: str) -> Path:
    return versions_root(zone_dir) / version


def new_version_id(now: datetime) -> str:
    """Sortable by creation time, unique: ``v20250101T120000123456Z-1a2b3c``."""
    return "v" + now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


def current_version(zone_dir: Path) -> str:
    """The id of the live version; :class:`NoDataset` if nothing was ingested yet."""
    try:
        version = (zone_dir / "data" / "CURRENT").read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise NoDataset from None
    if not version or "/" in version or not version_dir(zone_dir, version).is_dir():
        raise CorruptDataset
    return version


def read_catalog(zone_dir: Path, version: str) -> dict[str, Any]:
    try:
        text = (version_dir(zone_dir, version) / CATALOG_FILE).read_text(encoding="utf-8")
        catalog: dict[str, Any] = json.loads(text)
    except (OSError, ValueError) as exc:
        raise CorruptDataset from exc
    return catalog


@contextlib.contextmanager
def ingest_lock(zone_dir: Path) -> Iterator[None]:
    """Exclusive: one ingest per zone at a time (released by the kernel if the process dies)."""
    data = zone_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    with (data / "ingest.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IngestError("another ingest is running on this zone") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_leftovers(zone_dir: Path) -> int:
    """Delete ``*.tmp`` version directories left by an interrupted ingest; how many."""
    root = versions_root(zone_dir)
    if not root.is_dir():
        return 0
    stale = [p for p in root.iterdir() if p.name.endswith(TMP_SUFFIX)]
    for path in stale:
        shutil.rmtree(path)
    return len(stale)


def publish_version(zone_dir: Path, tmp_dir: Path, version: str) -> None:
    """Make a fully written ``tmp_dir`` the live version, durably and atomically."""
    fsync_tree(tmp_dir)
    final = version_dir(zone_dir, version)
    os.rename(tmp_dir, final)
    fsync_dir(final.parent)
    write_atomic(zone_dir / "data" / "CURRENT", (version + "\n").encode("ascii"))


def live_version_or_none(zone_dir: Path) -> str | None:
    """The live version, or ``None`` when there is none yet or ``CURRENT`` is unusable (an
    ingest then repairs the zone by publishing a new one)."""
    try:
        return current_version(zone_dir)
    except (NoDataset, CorruptDataset):
        return None


def keep_refused_report(
    zone_dir: Path, tmp_dir: Path, version: str, keep: int, *, kind: str = "refused"
) -> Path:
    """Move a refused (or dry-run, ``kind="dry-run"``) version's rejects report from
    ``tmp_dir`` to ``<kind>/<version>/``, delete the rest of ``tmp_dir`` (its tables never
    become a version), keep the newest ``keep`` reports; return the report's directory."""
    root = zone_dir / "data" / kind
    report = root / version
    report.mkdir(parents=True)
    for name in (REJECTS_FILE, "rejects"):
        os.rename(tmp_dir / name, report / name)
    shutil.rmtree(tmp_dir)
    fsync_tree(report)
    fsync_dir(root)
    for old in sorted(p.name for p in root.iterdir())[:-keep]:
        shutil.rmtree(root / old)
    return report


def prune_versions(zone_dir: Path, keep: int, *, previous: str | None = None) -> list[str]:
    """Delete all but the newest ``keep`` complete versions, never the current one nor
    ``previous`` (the version live before this ingest: the operator's way back, issue 8), nor
    the one a running server serves (it names it in the log's writer record; it answers from
    that version until restarted -- issue 8 review: an ingest while serving pruned it)."""
    current = current_version(zone_dir)
    complete = sorted(
        p.name for p in versions_root(zone_dir).iterdir() if not p.name.endswith(TMP_SUFFIX)
    )
    served = read_holder(zone_dir / ZONE_LOG_FILE).get("dataset_version")
    keep_set = set(complete[-keep:]) | {current, previous}
    if isinstance(served, str):
        keep_set.add(served)
    removed = [name for name in complete if name not in keep_set]
    for name in removed:
        shutil.rmtree(version_dir(zone_dir, name))
    if removed:
        fsync_dir(versions_root(zone_dir))
    return removed


@dataclass(frozen=True)
class VersionInfo:
    """One complete dataset version on disk: its id, when it was created, its tables' row
    counts, whether it is live (``CURRENT``) and whether a running server serves it."""

    version: str
    created: str
    rows: dict[str, int]
    live: bool
    served: bool


def list_versions(zone_dir: Path) -> list[VersionInfo]:
    """The complete versions kept on disk, oldest first (none before the first ingest)."""
    root = versions_root(zone_dir)
    if not root.is_dir():
        return []
    live = live_version_or_none(zone_dir)
    served = read_holder(zone_dir / ZONE_LOG_FILE).get("dataset_version")
    infos = []
    for name in sorted(p.name for p in root.iterdir() if not p.name.endswith(TMP_SUFFIX)):
        catalog = read_catalog(zone_dir, name)
        tables = catalog.get("tables", {})
        infos.append(
            VersionInfo(
                version=name,
                created=str(catalog.get("created", "")),
                rows={t: int(v.get("rows", 0)) for t, v in tables.items()},
                live=name == live,
                served=name == served,
            )
        )
    return infos


def rollback(zone_dir: Path, version: str) -> str | None:
    """Make the kept ``version`` the live one again, atomically (``CURRENT`` replaced as a
    publish does); return the version live before. :class:`UnknownVersion` when ``version``
    is not a complete version on disk (an interrupted ``.tmp`` one never is); under the ingest
    lock, so it never races an ingest. A running server keeps answering from the version it
    started with until it is restarted."""
    if version.endswith(TMP_SUFFIX) or version != Path(version).name or version in {"", ".", ".."}:
        raise UnknownVersion(version)
    with ingest_lock(zone_dir):
        if not version_dir(zone_dir, version).is_dir():
            raise UnknownVersion(version)
        read_catalog(zone_dir, version)  # a version without a readable catalog is no way back
        previous = live_version_or_none(zone_dir)
        if previous != version:
            write_atomic(zone_dir / "data" / "CURRENT", (version + "\n").encode("ascii"))
    return previous
