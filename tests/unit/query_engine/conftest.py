"""A real synthetic export for the rewrite and engine tests (a few hundred persons)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from synthetic import generate

PERSONS = 300


@pytest.fixture(scope="session")
def export_files(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, tuple[str, ...]]:
    """Zone table name to its Parquet file of one synthetic export (generated once)."""
    out = tmp_path_factory.mktemp("export") / "registry"
    report = generate(out, PERSONS, seed=7)
    return {table: (str(path),) for table, path in report.files.items()}


def file_of(files: Mapping[str, tuple[str, ...]], table: str) -> Path:
    return Path(files[table][0])
