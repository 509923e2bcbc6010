"""Every exported portal error has an exit code; the CLI's messages are the public ones."""

from __future__ import annotations

import pytest

import portal.errors
from launcher._exit_codes import EX_SOFTWARE, EXIT_CODES, exit_code_for


@pytest.mark.parametrize("name", [n for n in portal.errors.__all__ if n != "PortalError"])
def test_every_portal_error_has_a_specific_exit_code(name: str) -> None:
    kind = getattr(portal.errors, name)
    assert kind in {k for k, _ in EXIT_CODES}
    exc = kind.__new__(kind)
    portal.errors.PortalError.__init__(exc, "public message")
    code, message = exit_code_for(exc)
    assert code != EX_SOFTWARE and message == "public message"


def test_portal_codes() -> None:
    assert exit_code_for(portal.errors.InvalidInputError("too short")) == (65, "too short")
    assert exit_code_for(portal.errors.ConflictError("taken")) == (73, "taken")
    assert exit_code_for(portal.errors.LoginThrottledError("later", 30)) == (75, "later")
