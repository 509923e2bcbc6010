"""Benchmark ``dataward datagen``: rows per second per table and total seconds.

    .venv/bin/python -m bench.datagen --persons 1000000 [--out /tmp/dw-1m-source]

The baseline, measured in the same process, is the time to write an already-built table of
the same number of random int64 rows (pure Parquet writing, no generation) per claim row.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from synthetic import generate


def _baseline(rows: int, out: Path) -> float:
    rng = np.random.default_rng(0)
    table = pa.table({f"c{i}": rng.integers(0, 1 << 40, rows) for i in range(9)})
    t = time.perf_counter()
    pq.write_table(table, out / "baseline.parquet", compression="zstd")
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="keep the output here")
    args = parser.parse_args()
    keep = args.out is not None
    out = args.out if keep else Path(tempfile.mkdtemp(prefix="dw-datagen-")) / "out"
    with tqdm(total=args.persons, unit="person", unit_scale=True) as bar:
        report = generate(out, args.persons, args.seed, progress=bar.update)
    for table, rows in report.rows.items():
        s = report.seconds[table]
        print(f"{table:<16} {rows:>12,} rows {s:7.2f} s {rows / max(s, 1e-9):>14,.0f} rows/s")
    print(f"total {report.total_seconds:.1f} s for {args.persons:,} persons")
    size = subprocess.run(["du", "-sh", str(out)], capture_output=True, text=True, check=False)
    print(f"output {size.stdout.strip()}")
    with tempfile.TemporaryDirectory() as tmp:
        claims = report.rows["claims"]
        base = (
            _baseline(min(claims, 5_000_000), Path(tmp)) * claims / max(min(claims, 5_000_000), 1)
        )
    ratio = report.seconds["claims"] / max(base, 1e-9)
    print(f"baseline: writing {claims:,} bare int64 rows ~{base:.1f} s")
    print(f"claims generate+write / baseline: {ratio:.2f}x")
    if not keep:
        shutil.rmtree(out.parent)


if __name__ == "__main__":
    main()
