"""Build the ``dataward-sdk`` wheel, install it into a clean venv and report what it costs
(``make sdk``): the wheel's size, the installed size and every distribution it brought.

The wheel is built from ``sdk/`` with ``uv build`` (sdist, then the wheel from it), installed
with the venv's own pip, as a partner would, its versions held to the repository's ``uv.lock``
(the ones the tests ran) by a constraints file. Installed sizes are the byte counts each
distribution's ``RECORD`` lists, so they do not depend on the file system's block size.
``tests/e2e/test_sdk_wheel.py`` uses the same functions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDK_DIR = ROOT / "sdk"
UV = ROOT / ".tools" / "bin" / "uv"
# What the venv brings before anything is installed: not the SDK's cost.
VENV_OWN = frozenset({"pip", "setuptools"})

# Run by the venv's interpreter: one JSON line per installed distribution.
_INVENTORY = """
import json, importlib.metadata as m
for d in m.distributions():
    size = sum(f.size or 0 for f in (d.files or ()))
    print(json.dumps({"name": d.metadata["Name"], "version": d.version, "size": size,
                      "requires": d.requires or []}))
"""


@dataclass(frozen=True)
class Distribution:
    """One installed distribution: its name (as its metadata spells it), version and the bytes
    its files take."""

    name: str
    version: str
    size: int
    requires: tuple[str, ...]

    @property
    def key(self) -> str:
        """The name normalized (PEP 503): ``typing_extensions`` -> ``typing-extensions``."""
        return normalize(self.name)


@dataclass(frozen=True)
class Installed:
    """A clean venv holding the SDK: its interpreter and what was installed into it."""

    wheel: Path
    python: Path
    distributions: tuple[Distribution, ...]

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(d.key for d in self.distributions)

    @property
    def size(self) -> int:
        """Bytes the SDK and its dependencies take, the venv's own pip excluded."""
        return sum(d.size for d in self.distributions)


def normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _run(args: list[str], cwd: Path | None = None) -> str:
    # Our own commands (uv, this interpreter, the new venv's), never a caller's string.
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def build_wheel(out_dir: Path) -> Path:
    """``uv build`` in ``sdk/`` into ``out_dir``; the wheel's path."""
    _run([str(UV), "build", "--quiet", "--out-dir", str(out_dir)], cwd=SDK_DIR)
    (wheel,) = out_dir.glob("dataward_sdk-*.whl")
    return wheel


def lock_constraints(path: Path) -> Path:
    """The runtime versions of ``uv.lock`` as a pip constraints file at ``path``."""
    _run(
        [
            str(UV),
            "export",
            "--frozen",
            "--no-dev",
            "--no-hashes",
            "--no-emit-project",
            "--all-extras",
            "--output-file",
            str(path),
            "--quiet",
        ],
        cwd=ROOT,
    )
    return path


def install(
    wheel: Path, venv: Path, *, extras: str = "", constraints: Path | None = None
) -> Installed:
    """A new venv at ``venv`` (``python -m venv``) with ``wheel`` (and ``extras``, e.g.
    ``"query"``) installed by its own pip; what it then holds besides pip itself."""
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    requirement = f"{wheel}[{extras}]" if extras else str(wheel)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, *(["--constraint", str(constraints)] if constraints else []), requirement])
    lines = _run([str(python), "-I", "-c", _INVENTORY]).splitlines()
    found = (json.loads(line) for line in lines)
    distributions = tuple(
        sorted(
            (
                Distribution(d["name"], d["version"], d["size"], tuple(d["requires"]))
                for d in found
                if normalize(d["name"]) not in VENV_OWN
            ),
            key=lambda d: d.key,
        )
    )
    return Installed(wheel, python, distributions)


def report(installed: Installed) -> str:
    """The wheel's size, the installed size and the distributions, largest first."""
    sdk = next(d for d in installed.distributions if d.key == "dataward-sdk")
    width = max(len(d.name) for d in installed.distributions)
    lines = [
        f"wheel: {installed.wheel.name} ({installed.wheel.stat().st_size / 1e3:.0f} kB)",
        f"requires: {', '.join(r for r in sdk.requires if 'extra ==' not in r)}",
        f"installed into a clean venv: {installed.size / 1e6:.1f} MB in "
        f"{len(installed.distributions)} distributions (pip itself excluded)",
    ]
    for d in sorted(installed.distributions, key=lambda d: -d.size):
        lines.append(f"  {d.name:<{width}}  {d.version:<10} {d.size / 1e6:6.2f} MB")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="", help="extras to install too, e.g. query")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wheel = build_wheel(work / "dist")
        constraints = lock_constraints(work / "constraints.txt")
        print(report(install(wheel, work / "venv", extras=options.extras, constraints=constraints)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
