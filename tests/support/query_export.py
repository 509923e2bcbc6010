"""A synthetic registry export ingested into a real zone, as the query path reads it: each
table's Parquet files, the zone directory and the clear identifiers no output may contain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from enclave.dataset import TABLES, ingest
from enclave.dataset._versions import current_version, version_dir
from enclave.keys import init_zone, open_keyring
from synthetic import generate
from tests.support.zone_source import MASTER_KEY

__all__ = ["Export", "synthetic_export"]


@dataclass(frozen=True)
class Export:
    files: Mapping[str, tuple[str, ...]]
    clear_values: tuple[str, ...]
    zone: Path


def synthetic_export(root: Path, *, persons: int = 300, seed: int = 7) -> Export:
    """Generate ``persons`` with ``seed`` under ``root``, ingest them into ``root/zone``."""
    source = root / "src"
    generate(source, persons=persons, seed=seed)
    zone = root / "zone"
    init_zone(zone, MASTER_KEY)
    ingest(zone, source, open_keyring(zone, MASTER_KEY))
    tables = version_dir(zone, current_version(zone)) / "tables"
    files = {name: (str(tables / f"{name}.parquet"),) for name in TABLES}
    people = pq.read_table(source / "persons.parquet", columns=["id_number", "name", "phone"])
    clear = tuple(
        value
        for column in people.columns
        for value in column.to_pylist()
        if isinstance(value, str) and value
    )
    return Export(files, clear, zone)
