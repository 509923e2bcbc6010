"""`dataward serve --engine spark` where Spark cannot run: an operator error, exit 69 with
what is missing and how to install it, never a traceback -- before anything listens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.query_export import synthetic_export
from tests.support.zone_source import MASTER_KEY

DATAWARD = [sys.executable, "-c", "from launcher.cli import main; main()"]


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_export(tmp_path_factory.mktemp("engine-cli"), persons=40).zone


def _serve(zone: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    base = {"LC_ALL": "C.UTF-8", "DATAWARD_MASTER_KEY": MASTER_KEY.decode()}
    binds = ["--grpc-bind", "127.0.0.1:0", "--portal-bind", "127.0.0.1:0"]
    return subprocess.run(
        [*DATAWARD, "serve", "--zone", str(zone), *binds, *extra],
        env={**base, **env},
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_pyspark_serve_says_to_install_the_extra(zone: Path, tmp_path: Path) -> None:
    # What an installation without the `spark` extra sees: `import pyspark` fails.
    shim = tmp_path / "no-pyspark" / "pyspark"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'pyspark'\", name='pyspark')\n"
    )
    env = {"PATH": os.defpath, "PYTHONPATH": str(shim.parent)}
    done = _serve(zone, env, "--engine", "spark")
    assert done.returncode == 69, done.stderr
    assert "the Spark engine needs pyspark" in done.stderr
    assert "spark` extra" in done.stderr
    assert "Traceback" not in done.stderr
    assert "listening" not in done.stdout


def test_when_spark_cannot_start_its_jvm_serve_names_java(zone: Path) -> None:
    # No PATH at all: pyspark's launcher finds neither its shell nor java (the setting, not
    # the option, asks for Spark here).
    done = _serve(zone, {"PATH": "", "DATAWARD_QUERY_ENGINE": "spark"})
    assert done.returncode == 69, done.stderr
    assert "Spark could not start" in done.stderr and "Java 17" in done.stderr
    assert "Traceback" not in done.stderr
    assert "listening" not in done.stdout


def test_an_unknown_engine_is_a_usage_error(zone: Path) -> None:
    done = _serve(zone, {"PATH": os.defpath}, "--engine", "sqlite")
    assert done.returncode == 2
    assert "'duckdb', 'spark'" in done.stderr or "duckdb" in done.stderr
