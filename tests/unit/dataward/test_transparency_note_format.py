"""Edge cases of the signed-note checkpoint format, each refusal with its exact message.

Exact messages, because a parser that lost a check often still refuses the input, only later
and for another reason; and the inputs that a lax parser would *accept* are named as such.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from dataward.transparency import (
    EMPTY_ROOT,
    Checkpoint,
    CheckpointError,
    PublicKeyError,
    key_id,
    load_public_key,
    open_checkpoint,
    sign_checkpoint,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
WITNESS = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
NAME = "dataward.zone/test"
PUB = KEY.public_key()
ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()
NOTE = sign_checkpoint(Checkpoint(NAME, 7, ROOT), NAME, KEY)
_MAX_NOTE_CHARS = 16_384


@contextmanager
def refused(message: str, error: type[Exception] = CheckpointError) -> Iterator[None]:
    with pytest.raises(error) as info:
        yield
    assert str(info.value) == message


def _sign_body(body: str, name: str = NAME, key: Ed25519PrivateKey = KEY) -> str:
    """A signed note over any text, well formed or not: what a forger with the key can send."""
    blob = base64.b64encode(key_id(name, key.public_key()) + key.sign(body.encode()))
    return f"{body}\n\u2014 {name} {blob.decode()}\n"


def _signature_line(name: str, key: Ed25519PrivateKey, cp: Checkpoint) -> str:
    return sign_checkpoint(cp, name, key).split("\n\n")[1]


# --- Checkpoint values ----------------------------------------------------------------------


def test_the_empty_tree_checkpoint_round_trips() -> None:
    cp = Checkpoint(NAME, 0, EMPTY_ROOT)
    assert open_checkpoint(sign_checkpoint(cp, NAME, KEY), NAME, PUB) == cp


def test_an_origin_with_spaces_round_trips() -> None:
    cp = Checkpoint("example.com/log two", 3, ROOT)
    assert open_checkpoint(sign_checkpoint(cp, NAME, KEY), NAME, PUB) == cp


@pytest.mark.parametrize(
    ("origin", "size", "root", "message"),
    [
        ("", 1, ROOT, "a checkpoint origin must be one non-empty line"),
        ("a\nb", 1, ROOT, "a checkpoint origin must be one non-empty line"),
        ("log\n", 1, ROOT, "a checkpoint origin must be one non-empty line"),
        (NAME, -1, ROOT, "a checkpoint size cannot be negative"),
        (NAME, 1, ROOT[:31], "a checkpoint root hash must be 32 bytes"),
        (NAME, 1, ROOT + b"x", "a checkpoint root hash must be 32 bytes"),
    ],
)
def test_malformed_checkpoints_are_refused(
    origin: str, size: int, root: bytes, message: str
) -> None:
    with refused(message):
        Checkpoint(origin, size, root)


@pytest.mark.parametrize("key_name", ["", "two words", "a+b", "tab\there", "dash\u2014name"])
def test_key_names_outside_the_grammar_are_refused(key_name: str) -> None:
    message = "a key name must be non-empty, without spaces or '+'"
    with refused(message):
        sign_checkpoint(Checkpoint(NAME, 1, ROOT), key_name, KEY)
    with refused(message):
        open_checkpoint(NOTE, key_name, PUB)


# --- the note's framing ---------------------------------------------------------------------


def test_a_note_of_the_maximum_length_is_read_and_one_more_character_is_not() -> None:
    padding = _MAX_NOTE_CHARS - len(NOTE) - len("\u2014  AAAA\n")
    note = NOTE + f"\u2014 {'w' * padding} AAAA\n"
    assert len(note) == _MAX_NOTE_CHARS
    assert open_checkpoint(note, NAME, PUB).size == 7
    longer = NOTE + f"\u2014 {'w' * (padding + 1)} AAAA\n"
    with refused("the signed note is too long"):
        open_checkpoint(longer, NAME, PUB)


@pytest.mark.parametrize(
    "note",
    [
        NOTE[:-1],  # no final newline
        NOTE.replace("\n\n", "\n"),  # no blank line
        "",
    ],
)
def test_a_note_without_its_framing_is_refused(note: str) -> None:
    with refused("not a signed note: no blank line before the signatures"):
        open_checkpoint(note, NAME, PUB)


def test_a_signed_empty_body_is_refused_as_a_body() -> None:
    # The blank line is at position 0: the note is framed, its body "\n" is not a checkpoint.
    note = _sign_body("\n")
    assert note.startswith("\n\n")
    with refused("a checkpoint body must be exactly origin, size and root lines"):
        open_checkpoint(note, NAME, PUB)


@pytest.mark.parametrize(
    "extra",
    [
        "not a signature\n",  # no em dash
        "\n",  # an empty line among the signatures
        "- witness AAAA\n",  # a hyphen, not an em dash
    ],
)
def test_malformed_signature_lines_are_refused(extra: str) -> None:
    with refused("not a signed note: a signature line is malformed"):
        open_checkpoint(NOTE + extra, NAME, PUB)


@pytest.mark.parametrize(
    "line",
    [
        # A lax parser would skip each of these as someone else's cosignature.
        "\u2014 witness QUJD!",  # a character outside base64 (non-validating decode drops it)
        "\u2014 witness x QUJD",  # three fields: the blob is "x QUJD", not "QUJD"
    ],
)
def test_cosignature_lines_that_are_not_base64_are_refused(line: str) -> None:
    with refused("a signature line is not valid base64"):
        open_checkpoint(f"{NOTE}{line}\n", NAME, PUB)


def test_a_cosignature_before_the_signature_is_skipped() -> None:
    cp = Checkpoint(NAME, 7, ROOT)
    body, own = NOTE.split("\n\n")
    witness = _signature_line("witness", WITNESS, cp)
    assert open_checkpoint(f"{body}\n\n{witness}{own}", NAME, PUB) == cp
    # Same name, another key: its key id differs, so it is someone else's and skipped too.
    impostor = _signature_line(NAME, WITNESS, cp)
    assert open_checkpoint(f"{body}\n\n{impostor}{own}", NAME, PUB) == cp


def test_a_bad_signature_by_the_key_is_refused() -> None:
    forged = NOTE.replace(f"\n7\n{ROOT_B64}", f"\n8\n{ROOT_B64}")
    with refused(f"the signature by {NAME} does not verify"):
        open_checkpoint(forged, NAME, PUB)


def test_a_note_without_the_keys_signature_is_refused() -> None:
    only_witness = sign_checkpoint(Checkpoint(NAME, 7, ROOT), "witness", WITNESS)
    with refused(f"the note carries no signature by the key {NAME}"):
        open_checkpoint(only_witness, NAME, PUB)
    with refused("the note carries no signature by the key another.log"):
        open_checkpoint(NOTE, "another.log", PUB)


# --- the checkpoint body, signed by the key -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{NAME}\n7\n", "a checkpoint body must be exactly origin, size and root lines"),
        (
            f"{NAME}\n7\n{ROOT_B64}\nextension\n",
            "a checkpoint body must be exactly origin, size and root lines",
        ),
        (f"{NAME}\n07\n{ROOT_B64}\n", "the checkpoint size is not a decimal number"),
        (f"{NAME}\n-1\n{ROOT_B64}\n", "the checkpoint size is not a decimal number"),
        (f"{NAME}\n 7\n{ROOT_B64}\n", "the checkpoint size is not a decimal number"),
        (f"{NAME}\n\n{ROOT_B64}\n", "the checkpoint size is not a decimal number"),
        # A non-validating decode would drop the "!" and accept the root.
        (f"{NAME}\n7\n{ROOT_B64}!\n", "the checkpoint root hash is not valid base64"),
        (f"{NAME}\n7\n{ROOT_B64[:-1]}\n", "the checkpoint root hash is not valid base64"),
        (
            f"{NAME}\n7\n{base64.b64encode(ROOT[:31]).decode()}\n",
            "a checkpoint root hash must be 32 bytes",
        ),
        (f"\n7\n{ROOT_B64}\n", "a checkpoint origin must be one non-empty line"),
    ],
)
def test_malformed_bodies_are_refused_even_when_signed(body: str, message: str) -> None:
    with refused(message):
        open_checkpoint(_sign_body(body), NAME, PUB)


def test_the_body_must_end_in_a_newline() -> None:
    # Signed over "origin\n7\nroot" (no newline): the note then has no blank line at all.
    with refused("not a signed note: no blank line before the signatures"):
        open_checkpoint(_sign_body(f"{NAME}\n7\n{ROOT_B64}"), NAME, PUB)


# --- published keys -------------------------------------------------------------------------


def test_published_key_errors_are_exact() -> None:
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    ec_pem = (
        generate_private_key(SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    with refused("not an Ed25519 public key", PublicKeyError):
        load_public_key(ec_pem)
    with refused("not a PEM public key", PublicKeyError):
        load_public_key(b"not pem at all")
