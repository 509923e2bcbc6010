"""`dataward query`'s --audit-key (issue 14): a key file that names its key needs no
--audit-key-name; an older PEM-only file still works with it; a name that contradicts the
file is refused (PublicKeyError, exit 65)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.transparency import PublicKeyError, public_key_file
from launcher._cmd_query import _Connection
from launcher._exit_codes import EX_DATAERR, exit_code_for

NAME = "dataward-zone-zone-0123456789abcdef"
KEY = Ed25519PrivateKey.generate().public_key()


def _connection(tmp_path: Path, key_file: Path, key_name: str | None) -> _Connection:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    return _Connection(
        zone_dir=None,
        target="127.0.0.1:1",
        token_url="http://127.0.0.1:1/oauth/token",
        audit_key=key_file,
        audit_key_name=key_name,
        client_id="app-1",
        client_secret_file=secret,
    )


def test_a_named_key_file_pins_name_and_key_alone(tmp_path: Path) -> None:
    key_file = tmp_path / "zone-signing-key.pub"
    key_file.write_bytes(public_key_file(NAME, KEY))
    with _connection(tmp_path, key_file, None).client("query:run") as client:
        name, key = client.audit_public_key()  # pinned: no call made
    assert name == NAME and key.public_bytes_raw() == KEY.public_bytes_raw()


def test_a_pem_only_file_takes_the_name_given(tmp_path: Path) -> None:
    key_file = tmp_path / "old.pub"
    key_file.write_bytes(KEY.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    with _connection(tmp_path, key_file, NAME).client("query:run") as client:
        assert client.audit_public_key()[0] == NAME


def test_a_name_the_file_contradicts_is_exit_65(tmp_path: Path) -> None:
    key_file = tmp_path / "zone-signing-key.pub"
    key_file.write_bytes(public_key_file(NAME, KEY))
    with pytest.raises(PublicKeyError, match="another name") as caught:
        _connection(tmp_path, key_file, "dataward-zone-other").client("query:run")
    assert exit_code_for(caught.value)[0] == EX_DATAERR
