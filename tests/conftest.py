"""Options of the whole suite: ``--artifacts DIR``, where tests that produce something a
person looks at afterwards (the browser tests' screenshots) save it. The Makefile passes
``$PYTEST_ARTIFACTS`` (default ``.artifacts``); tests never read the environment."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--artifacts",
        default=".artifacts",
        help="Directory for artifacts such as screenshots (relative: to the repository).",
    )


@pytest.fixture(scope="session")
def artifacts_dir(pytestconfig: pytest.Config) -> Path:
    """The artifacts directory (created), e.g. ``artifacts_dir / "screenshots"``."""
    path = Path(str(pytestconfig.getoption("artifacts")))
    if not path.is_absolute():
        path = Path(pytestconfig.rootpath) / path
    path.mkdir(parents=True, exist_ok=True)
    return path
