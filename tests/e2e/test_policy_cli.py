"""`dataward policy check FILE` as a steward runs it: a real process, its output and exit code."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import policies
from launcher._exit_codes import EX_SOFTWARE, exit_code_for
from policies import PolicyError, default_policy, default_policy_text

DATAWARD = [sys.executable, "-c", "from launcher.cli import main; main()"]


def _check(file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DATAWARD, "policy", "check", str(file)],
        env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"},  # nothing inherited, no zone, no secret
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_valid_policy_prints_its_version_and_views(tmp_path: Path) -> None:
    file = tmp_path / "policy.yaml"
    file.write_text(default_policy_text(), encoding="utf-8")
    done = _check(file)
    assert done.returncode == 0, done.stderr
    assert f"version {default_policy().version}" in done.stdout
    for view in ("claims_analysis", "enrolment_analysis"):
        assert f"  {view} " in done.stdout
    assert "release exact" in done.stdout


def test_a_typo_prints_the_file_and_path_and_exits_65(tmp_path: Path) -> None:
    file = tmp_path / "policy.yaml"
    file.write_text(
        default_policy_text().replace(
            "      gender: {role: dimension,", "      gender: {role: dimenson,", 1
        ),
        encoding="utf-8",
    )
    done = _check(file)
    assert done.returncode == 65, done.stderr
    assert done.stdout == ""
    assert f"{file}: views.claims_analysis.columns.gender.role: must be one of" in done.stderr
    assert "Traceback" not in done.stderr


def test_not_yaml_exits_65(tmp_path: Path) -> None:
    file = tmp_path / "policy.yaml"
    file.write_text("views: [\n", encoding="utf-8")
    done = _check(file)
    assert done.returncode == 65 and "not valid YAML" in done.stderr


def test_a_missing_file_exits_66(tmp_path: Path) -> None:
    done = _check(tmp_path / "nowhere.yaml")
    assert done.returncode == 66 and "nowhere.yaml" in done.stderr


def _policy_errors() -> list[type[PolicyError]]:
    return [
        cls
        for _, cls in inspect.getmembers(policies, inspect.isclass)
        if issubclass(cls, PolicyError)
    ]


@pytest.mark.parametrize("cls", _policy_errors(), ids=lambda c: c.__name__)
def test_every_policy_error_has_an_exit_code(cls: type[PolicyError]) -> None:
    code, message = exit_code_for(cls("p.yaml", "views.v", "what is wrong"))
    assert code != EX_SOFTWARE
    assert message == "p.yaml: views.v: what is wrong"


def test_a_template_the_query_engine_refuses_is_an_error_before_it_is_in_force(
    tmp_path: Path,
) -> None:
    # The loader cannot see the grammar (policies imports nothing of the engine): check and
    # apply ask the engine, so a template that could never run is refused up front.
    file = tmp_path / "policy.yaml"
    text = default_policy_text()
    assert "COUNT(*) AS claims" in text
    file.write_text(text.replace("COUNT(*) AS claims", "MAX(total_cents) AS claims", 1), "utf-8")
    done = _check(file)
    assert done.returncode == 65, done.stderr
    assert (
        f"{file}: views.visits_by_type.rule.templates.monthly_visits_by_type.sql: "
        "the query engine refuses it: " in done.stderr
    )
    assert "nothing changed" in done.stderr and "Traceback" not in done.stderr
