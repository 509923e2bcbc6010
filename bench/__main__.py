"""Run every benchmark with its default size: ``python -m bench``."""

from __future__ import annotations

import runpy
import sys

BENCHES = [
    "bench.datagen",
    "bench.audit",
    "bench.budget",
    "bench.zone",
    "bench.portal",
    "bench.grpc",
    "bench.grpc_aio",
    "bench.hotpath",
    "bench.existence",
    "bench.query",
    "bench.spark",
    "bench.paillier",
    "bench.ckks",
    "bench.compute_e2e",
    "bench.face_match",
    "bench.faces",
]

for name in BENCHES:
    print(f"== {name}")
    sys.argv = [name]
    runpy.run_module(name, run_name="__main__")
