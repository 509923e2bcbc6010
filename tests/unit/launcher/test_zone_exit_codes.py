import inspect

import pytest

import enclave.errors
from enclave import MissingTable, SchemaMismatch, WrongMasterKey
from enclave.persons import InvalidIdNumber, InvalidReason
from launcher._exit_codes import EX_SOFTWARE, exit_code_for


def _zone_errors() -> list[type[Exception]]:
    return [
        cls
        for _, cls in inspect.getmembers(enclave.errors, inspect.isclass)
        if issubclass(cls, enclave.errors.ZoneError)
    ]


@pytest.mark.parametrize("cls", _zone_errors(), ids=lambda c: c.__name__)
def test_every_zone_error_has_an_exit_code(cls: type[Exception]) -> None:
    exc = cls.__new__(cls)  # constructor arguments differ; the mapping only needs the type
    Exception.__init__(exc, "public message")
    code, _ = exit_code_for(exc)
    assert code != EX_SOFTWARE


def test_codes_and_public_messages() -> None:
    assert exit_code_for(WrongMasterKey()) == (77, "wrong master key or corrupt keyring")
    assert exit_code_for(MissingTable("claims"))[0] == 65
    code, message = exit_code_for(SchemaMismatch("claims", "total_cents", "int64", "double"))
    assert code == 65 and "claims" in message and "total_cents" in message
    code, message = exit_code_for(InvalidIdNumber(InvalidReason.CHECK_CHARACTER))
    assert code == 65 and "check character" in message
