"""Generate a whole export: draw the population, then write every table chunk by chunk."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from enclave.dataset import TABLES
from synthetic import _calendar as cal
from synthetic._bindings import bindings_table
from synthetic._claims import claims_table
from synthetic._institutions import build_institutions, prefecture_of_division
from synthetic._names import names, phones
from synthetic._population import draw_population, id_numbers
from synthetic._tables import enrolments_table, faces_table, persons_table
from synthetic.errors import (
    InvalidParametersError,
    OutputNotEmptyError,
    OutputNotWritableError,
)

__all__ = ["CHUNK_PERSONS", "MAX_PERSONS", "GenerationReport", "generate"]

# Fixed so the same seed and N give the same bytes whatever the machine.
CHUNK_PERSONS = 100_000
MAX_PERSONS = 20_000_000
_PARTIAL = ".partial"


@dataclass(frozen=True)
class GenerationReport:
    """What was written: rows and seconds (generation plus writing) per table."""

    out_dir: Path
    persons: int
    seed: int
    rows: Mapping[str, int]
    seconds: Mapping[str, float]
    total_seconds: float
    files: Mapping[str, Path] = field(default_factory=dict)


def _prepare(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if any(out_dir.iterdir()):
            raise OutputNotEmptyError(
                "output directory is not empty; choose a new or empty directory"
            )
        probe = out_dir / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OutputNotEmptyError:
        raise
    except OSError as exc:
        raise OutputNotWritableError("cannot create or write the output directory") from exc


def generate(
    out_dir: Path, persons: int, seed: int = 0, progress: Callable[[int], None] | None = None
) -> GenerationReport:
    """Write the six registry tables as ``out_dir/<table>.parquet``.

    Deterministic: the same ``persons`` and ``seed`` give identical table contents.
    ``progress`` is called with the number of persons finished since the last call.
    Files are written under temporary names and renamed only when all are complete.
    """
    if not 1 <= persons <= MAX_PERSONS:
        raise InvalidParametersError(f"persons must be between 1 and {MAX_PERSONS}")
    if not 0 <= seed < 2**63:
        raise InvalidParametersError("seed must be a non-negative 64-bit integer")
    _prepare(out_dir)
    began = time.perf_counter()
    seconds = dict.fromkeys(TABLES, 0.0)
    rows = dict.fromkeys(TABLES, 0)

    t = time.perf_counter()
    rng = cal.stream(seed, cal.STAGE_POPULATION)
    pop = draw_population(rng, persons)
    ids = id_numbers(pop)
    full_names = names(rng, pop.male)
    phone = phones(rng, persons)
    young = (cal.REF_DAY - pop.birth) < 12 * cal.YEAR
    has_phone = rng.random(persons) >= np.where(young, 0.85, 0.03)
    inst = build_institutions(cal.stream(seed, cal.STAGE_INSTITUTIONS))
    pref_of, _ = prefecture_of_division()
    seconds["persons"] += time.perf_counter() - t

    paths = {name: out_dir / f"{name}.parquet" for name in TABLES}
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for name, spec in TABLES.items():
            writers[name] = pq.ParquetWriter(
                str(paths[name]) + _PARTIAL, spec.schema, compression="zstd"
            )

        def emit(name: str, table: pa.Table, since: float) -> None:
            table = table.cast(TABLES[name].schema)
            writers[name].write_table(table)
            rows[name] += table.num_rows
            seconds[name] += time.perf_counter() - since

        emit("institutions", inst.table, time.perf_counter())
        next_claim = 1
        for chunk, lo in enumerate(range(0, persons, CHUNK_PERSONS)):
            hi = min(lo + CHUNK_PERSONS, persons)
            t = time.perf_counter()
            emit(
                "persons",
                persons_table(
                    pop, lo, hi, ids=ids, names=full_names, phones=phone, has_phone=has_phone
                ),
                t,
            )
            t = time.perf_counter()
            emit("enrolments", enrolments_table(pop, lo, hi), t)
            t = time.perf_counter()
            claims = claims_table(
                cal.stream(seed, cal.STAGE_CLAIMS, chunk),
                pop,
                lo,
                hi,
                inst=inst,
                pref_of_division=pref_of,
                first_claim_id=next_claim,
            )
            next_claim += claims.num_rows
            emit("claims", claims, t)
            t = time.perf_counter()
            emit(
                "family_bindings",
                bindings_table(cal.stream(seed, cal.STAGE_BINDINGS, chunk), pop, lo, hi),
                t,
            )
            t = time.perf_counter()
            emit(
                "face_templates",
                faces_table(cal.stream(seed, cal.STAGE_FACES, chunk), pop, lo, hi),
                t,
            )
            if progress is not None:
                progress(hi - lo)
        for writer in writers.values():
            writer.close()
        for path in paths.values():
            Path(str(path) + _PARTIAL).replace(path)
    except OSError as exc:
        _discard(writers, paths)
        raise OutputNotWritableError(
            "writing the output failed (disk full or not writable?)"
        ) from exc
    except BaseException:
        _discard(writers, paths)
        raise
    return GenerationReport(
        out_dir=out_dir,
        persons=persons,
        seed=seed,
        rows=rows,
        seconds=seconds,
        total_seconds=time.perf_counter() - began,
        files=paths,
    )


def _discard(writers: Mapping[str, pq.ParquetWriter], paths: Mapping[str, Path]) -> None:
    """Leave nothing half-written behind."""
    for writer in writers.values():
        try:
            writer.close()
        except Exception:  # noqa: S112 - best effort while already failing
            continue
    for path in paths.values():
        Path(str(path) + _PARTIAL).unlink(missing_ok=True)
