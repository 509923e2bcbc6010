"""Published key files carry the name their key signs under (issue 14), and both forms load."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.transparency import (
    Checkpoint,
    PublicKeyError,
    load_named_public_key,
    load_public_key,
    open_checkpoint,
    public_key_file,
    read_verifier_key,
    sign_checkpoint,
    verifier_key,
)

# golang.org/x/mod/sumdb/note's documented example key pair: our verifier keys are theirs.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SEED = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
NAME = "dataward-zone-zone-0123456789abcdef"


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def test_the_verifier_key_is_the_signed_note_one() -> None:
    seed = base64.b64decode(GO_SEED)[1:]
    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    assert verifier_key("PeterNeumann", key) == GO_VKEY
    name, read = read_verifier_key(GO_VKEY)
    assert name == "PeterNeumann" and read.public_bytes_raw() == key.public_bytes_raw()


def test_the_named_file_pins_name_and_key_and_verifies_a_checkpoint() -> None:
    private = Ed25519PrivateKey.generate()
    data = public_key_file(NAME, private.public_key())
    assert data.splitlines()[0].decode().startswith(f"{NAME}+")
    name, key = load_named_public_key(data)
    assert name == NAME
    note = sign_checkpoint(Checkpoint(NAME, 3, b"\x00" * 32), NAME, private)
    assert open_checkpoint(note, name, key).size == 3
    assert load_public_key(data).public_bytes_raw() == key.public_bytes_raw()
    assert load_named_public_key(data, NAME)[0] == NAME  # the same name given agrees


def test_a_pem_only_file_of_an_older_zone_loads_with_its_name_given() -> None:
    private = Ed25519PrivateKey.generate()
    pem = _pem(private)
    assert load_public_key(pem).public_bytes_raw() == private.public_key().public_bytes_raw()
    name, _ = load_named_public_key(pem, NAME)
    assert name == NAME
    with pytest.raises(PublicKeyError, match="names no key"):
        load_named_public_key(pem)


def test_the_verifier_key_line_alone_is_a_key_file() -> None:
    private = Ed25519PrivateKey.generate()
    line = verifier_key(NAME, private.public_key()).encode() + b"\n"
    assert load_named_public_key(line)[0] == NAME
    assert load_public_key(line).public_bytes_raw() == private.public_key().public_bytes_raw()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")
def test_pem_readers_still_read_the_named_file(tmp_path: Path) -> None:
    path = tmp_path / "zone-signing-key.pub"
    path.write_bytes(public_key_file(NAME, Ed25519PrivateKey.generate().public_key()))
    done = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(path), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ED25519" in done.stdout


def _named(private: Ed25519PrivateKey) -> bytes:
    return public_key_file(NAME, private.public_key())


def test_a_file_that_says_two_things_is_refused() -> None:
    one, two = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    mixed = verifier_key(NAME, one.public_key()).encode() + b"\n" + _pem(two)
    with pytest.raises(PublicKeyError, match="different keys"):
        load_public_key(mixed)
    with pytest.raises(PublicKeyError, match="at most one line"):
        load_public_key(b"a comment\n" + _named(one))
    with pytest.raises(PublicKeyError, match="another name"):
        load_named_public_key(_named(one), "dataward-zone-other")


def test_a_verifier_key_line_that_does_not_add_up_is_refused() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    good = verifier_key(NAME, key)
    name, key_hash, blob = good.split("+", 2)
    wrong_id = f"{name}+{'0' * 8 if key_hash != '0' * 8 else '1' * 8}+{blob}"
    with pytest.raises(PublicKeyError, match="key id does not match"):
        read_verifier_key(wrong_id)
    with pytest.raises(PublicKeyError, match="key id does not match"):  # renamed
        read_verifier_key(f"other-name+{key_hash}+{blob}")
    not_ed25519 = base64.b64encode(b"\x02" + key.public_bytes_raw()).decode()
    with pytest.raises(PublicKeyError, match="not an Ed25519 key"):
        read_verifier_key(f"{name}+{key_hash}+{not_ed25519}")
    with pytest.raises(PublicKeyError, match="not an Ed25519 key"):
        read_verifier_key(f"{name}+{key_hash}+{blob[:-8]}")
    with pytest.raises(PublicKeyError, match="not base64"):
        read_verifier_key(f"{name}+{key_hash}+A")
    with pytest.raises(PublicKeyError, match="not a signed-note verifier key"):
        read_verifier_key("no plus signs here")


def test_what_is_not_a_key_file_is_refused() -> None:
    ec_pem = (
        generate_private_key(SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(PublicKeyError, match="not an Ed25519 public key"):
        load_public_key(ec_pem)
    with pytest.raises(PublicKeyError, match="not a PEM public key"):
        load_public_key(b"")
    with pytest.raises(PublicKeyError, match="not a PEM public key"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(PublicKeyError, match="not a PEM public key"):
        load_public_key("clé".encode())
    with pytest.raises(PublicKeyError, match="too large"):
        load_public_key(b"\n" * 10_000)
    with pytest.raises(PublicKeyError, match="key name"):
        verifier_key("has space", Ed25519PrivateKey.generate().public_key())
    pem = _pem(Ed25519PrivateKey.generate())
    with pytest.raises(PublicKeyError, match="key name"):
        load_named_public_key(pem, "a+b")


def test_a_line_before_the_pem_block_must_be_a_verifier_key() -> None:
    pem = _pem(Ed25519PrivateKey.generate())
    with pytest.raises(PublicKeyError, match="not a signed-note verifier key"):
        load_public_key(b"Key-Name: dataward-zone-x\n" + pem)
