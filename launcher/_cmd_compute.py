"""The ``dataward compute`` commands: the auditor's side of encrypted scoring (issue 12).

``auditor-key`` makes a new Ed25519 key for an auditor: the private key to a NEW file (PEM,
PKCS#8, mode 0600 from its creation; never overwritten), the public key printed as the line
to paste under the auditor's name in the policy's ``compute.auditors``. ``sign-model`` reads
a partner's model card file (:func:`dataward.client.compute.save_card`'s JSON), recomputes
its digest, prints the digest and every declared field for the auditor to read, and writes
the attestation (:func:`dataward.client.compute.save_attestation`'s JSON) the partner sends
with ``RegisterModel`` or a steward attaches with ``StewardService.AttestModel``.

Neither needs a zone, a server or a secret in the environment; the key is read from its
file, never from the command line, and never printed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.client import compute as sdk
from dataward.compute import MODEL_ID, ModelCard

__all__ = [
    "AuditorKeyInvalid",
    "ComputeFileExists",
    "ComputeFileMissing",
    "compute",
]

MAX_VALID_DAYS = 730


class ComputeFileMissing(Exception):  # noqa: N818 (reads as what happened)
    """A card or key file named on the command line does not exist (exit 66)."""


class ComputeFileExists(Exception):  # noqa: N818
    """The output file exists: a key or an attestation is never overwritten (exit 73)."""


class AuditorKeyInvalid(Exception):  # noqa: N818
    """The key file is not an unencrypted PEM Ed25519 private key (exit 65)."""


@click.group(name="compute")
def compute() -> None:
    """Encrypted scoring: the auditor's key and the attestation of partners' model cards."""


@compute.command("auditor-key")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="New file.")
def auditor_key(out: Path) -> None:
    """Make a new auditor key: the private key to OUT (0600), the public key printed."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ComputeFileExists(f"{out} exists; an auditor key is never overwritten") from None
    except FileNotFoundError:
        raise ComputeFileMissing(f"{out.parent}: no such directory") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    click.echo(f"private key written to {out} (mode 0600): keep it offline")
    click.echo("paste under the auditor's name in the policy's compute.auditors:")
    click.echo(f"public_key: {base64.b64encode(public).decode('ascii')}")


def _auditor(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not MODEL_ID.fullmatch(value):
        raise click.BadParameter("1..64 characters of a-z 0-9 _ . -, as the policy names it")
    return value


@compute.command("sign-model")
@click.option("--card", "card_file", required=True, type=click.Path(path_type=Path))
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path))
@click.option("--auditor", required=True, callback=_auditor, help="Your name in the policy.")
@click.option(
    "--valid-days",
    default=90,
    show_default=True,
    type=click.IntRange(1, MAX_VALID_DAYS),
    help="Days until the attestation lapses.",
)
@click.option("--out", type=click.Path(path_type=Path), help="[default: CARD.attestation.json]")
def sign_model(
    card_file: Path, key_file: Path, auditor: str, valid_days: int, out: Path | None
) -> None:
    """Attest the model card CARD with the auditor key KEY: print what is signed, write it.

    Read the printed digest and fields before you trust the signature: the digest is
    recomputed from the card's contents (a card file edited after the partner saved it is
    refused), and the fields are what the zone will hold the model to.
    """
    card = _load_card(card_file)
    key = _load_key(key_file)
    target = out if out is not None else card_file.with_name(f"{card_file.stem}.attestation.json")
    if target.exists():
        raise ComputeFileExists(f"{target} exists; an attestation is never overwritten")
    expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=valid_days)
    attestation = sdk.sign_card(card, key, auditor, expires)
    for line in describe(card):
        click.echo(line)
    click.echo(f"auditor       {auditor}")
    click.echo(f"expires       {expires.isoformat().replace('+00:00', 'Z')} ({valid_days} days)")
    sdk.save_attestation(attestation, target)
    click.echo(f"attestation written to {target}")


def describe(card: ModelCard) -> list[str]:
    """What an auditor reads before signing: the digest and every declared field."""
    key_sha = hashlib.sha256(card.public_key).hexdigest()
    lines = [
        f"card digest   {card.digest().hex()}",
        f"model         {card.model_id} version {card.version}",
        f"scheme        {card.scheme}",
        f"feature set   {card.feature_set} ({card.weight_count} weights)",
        f"output        {card.output_bits} bits",
    ]
    if card.scheme == "PAILLIER":
        lines.append(f"exponent      {card.exponent} (weight = mantissa * 16^{card.exponent})")
    lines += [
        f"purpose       {card.purpose}",
        f"public key    sha256 {key_sha} ({len(card.public_key)} bytes)",
    ]
    return lines


def _load_card(path: Path) -> ModelCard:
    if not path.is_file():
        raise ComputeFileMissing(f"{path}: no such model card file")
    try:
        return sdk.load_card(path)
    except sdk.CardFileInvalid as exc:
        raise sdk.CardFileInvalid(f"{path}: {exc}") from None


def _load_key(path: Path) -> Ed25519PrivateKey:
    if not path.is_file():
        raise ComputeFileMissing(f"{path}: no such key file")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):  # never the library's message: it could quote the file
        raise AuditorKeyInvalid(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditorKeyInvalid(f"{path}: not an Ed25519 key (make one with auditor-key)")
    return key
