"""Generate the Python stubs of ``protos/dataward/v1`` into ``dataward/v1`` (``make protos``).

``--check`` regenerates into a temporary directory and fails (exit 1) if the committed files
differ, so ``make lint`` catches a proto edited without regenerating. Uses ``grpc_tools.protoc``
(the protoc bundled with grpcio-tools) and the mypy-protobuf plugins for the ``.pyi`` stubs;
no ``buf generate`` and no network.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE_DIR = Path("dataward") / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out_dir: Path) -> list[Path]:
    """Run protoc over every .proto of the package; return the generated files (relative)."""
    protos = sorted((PROTO_ROOT / PACKAGE_DIR).glob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_ROOT / PACKAGE_DIR}")
    bin_dir = Path(sys.executable).parent
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--proto_path={well_known}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    return sorted(
        p.relative_to(out_dir)
        for p in (out_dir / PACKAGE_DIR).iterdir()
        if p.name.endswith(GENERATED_SUFFIXES)
    )


def committed() -> list[Path]:
    return sorted(
        p.relative_to(ROOT)
        for p in (ROOT / PACKAGE_DIR).iterdir()
        if p.name.endswith(GENERATED_SUFFIXES)
    )


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        existing = committed()
        problems = [f"missing: {p}" for p in fresh if p not in existing]
        problems += [f"stale (no .proto generates it): {p}" for p in existing if p not in fresh]
        problems += [
            f"differs: {p}"
            for p in fresh
            if p in existing and not filecmp.cmp(Path(tmp) / p, ROOT / p, shallow=False)
        ]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("generated stubs drifted from protos/: run `make protos`", file=sys.stderr)
        return 1
    print(f"{len(fresh)} generated files match protos/")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs drift")
    options = parser.parse_args()
    if options.check:
        return check()
    for path in committed():
        (ROOT / path).unlink()
    for path in generate(ROOT):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
