"""`dataward compute auditor-key` and `sign-model` as an auditor runs them: real processes, a
real partner's model card (3072-bit Paillier, dataward.client.compute), their output, files
and exit codes."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dataward.client import compute
from dataward.compute import ModelCard, attestation_message
from launcher._cmd_compute import AuditorKeyInvalid, ComputeFileExists, ComputeFileMissing
from launcher._exit_codes import EX_SOFTWARE, exit_code_for

DATAWARD = [sys.executable, "-c", "from launcher.cli import main; main()"]
DAY = 86_400


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DATAWARD, "compute", *map(str, args)],
        env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"},  # nothing inherited: no zone, no secret
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def card() -> ModelCard:
    keys = compute.PaillierKeys.generate()
    return compute.paillier_model_card(
        keys,
        model_id="loan-risk",
        version=3,
        feature_set="credit_v1",
        weights=[0.5, -1.25, 2.0],
        exponent=-4,
        output_bits=32,
        purpose="LOAN_ORIGINATION",
    )


@pytest.fixture
def card_file(card: ModelCard, tmp_path: Path) -> Path:
    path = tmp_path / "loan-risk-v3.json"
    compute.save_card(card, path)
    return path


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "auditor.pem"
    done = run("auditor-key", "--out", path)
    assert done.returncode == 0, done.stderr
    return path


def _public_line(stdout: str) -> bytes:
    (line,) = [x for x in stdout.splitlines() if x.startswith("public_key: ")]
    return base64.b64decode(line.removeprefix("public_key: "), validate=True)


def test_auditor_key_writes_a_0600_pem_and_prints_its_public_key(tmp_path: Path) -> None:
    path = tmp_path / "auditor.pem"
    done = run("auditor-key", "--out", path)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert _public_line(done.stdout) == raw and len(raw) == 32
    assert "PRIVATE" not in done.stdout + done.stderr  # the key itself is never printed


def test_auditor_key_never_overwrites(key_file: Path) -> None:
    before = key_file.read_bytes()
    done = run("auditor-key", "--out", key_file)
    assert done.returncode == 73 and "never overwritten" in done.stderr
    assert key_file.read_bytes() == before


def test_auditor_key_into_a_missing_directory_exits_66(tmp_path: Path) -> None:
    done = run("auditor-key", "--out", tmp_path / "nowhere" / "k.pem")
    assert done.returncode == 66 and "no such directory" in done.stderr


def test_sign_model_prints_the_digest_and_fields_and_writes_an_attestation_that_verifies(
    card: ModelCard, card_file: Path, key_file: Path
) -> None:
    started = int(time.time())
    done = run("sign-model", "--card", card_file, "--key", key_file, "--auditor", "auditor-1")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"card digest   {card.digest().hex()}" in out
    for text in (
        "loan-risk version 3",
        "PAILLIER",
        "credit_v1 (3 weights)",
        "32 bits",
        "exponent      -4",
        "LOAN_ORIGINATION",
        f"({len(card.public_key)} bytes)",
        "auditor       auditor-1",
        "(90 days)",
    ):
        assert text in out, text
    target = card_file.with_name("loan-risk-v3.attestation.json")
    assert f"attestation written to {target}" in out
    attestation = compute.load_attestation(target)
    assert attestation.auditor == "auditor-1"
    assert started + 90 * DAY - 5 <= attestation.expires_at <= int(time.time()) + 90 * DAY + 5
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    message = attestation_message(card.digest(), "auditor-1", attestation.expires_at)
    key.public_key().verify(attestation.signature, message)  # raises if it does not verify
    assert compute.verify_attestation(card, attestation, key.public_key())


def test_valid_days_and_out_are_honoured(card_file: Path, key_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "signed.json"
    done = run(
        "sign-model", "--card", card_file, "--key", key_file, "--auditor", "a1",
        "--valid-days", "730", "--out", target,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert compute.load_attestation(target).expires_at >= int(time.time()) + 729 * DAY
    again = run(
        "sign-model", "--card", card_file, "--key", key_file, "--auditor", "a1", "--out", target
    )
    assert again.returncode == 73 and "never overwritten" in again.stderr


@pytest.mark.parametrize(
    "extra", [("--valid-days", "0"), ("--valid-days", "731"), ("--auditor", "Auditor One")]
)
def test_out_of_range_options_are_usage_errors(
    card_file: Path, key_file: Path, extra: tuple[str, str]
) -> None:
    args = {"--auditor": "auditor-1", **dict([extra])}
    flat = [x for pair in args.items() for x in pair]
    done = run("sign-model", "--card", card_file, "--key", key_file, *flat)
    assert done.returncode == 2, done.stderr
    assert not list(card_file.parent.glob("*.attestation.json"))


def test_a_missing_card_or_key_exits_66(card_file: Path, key_file: Path, tmp_path: Path) -> None:
    done = run("sign-model", "--card", tmp_path / "no.json", "--key", key_file, "--auditor", "a")
    assert done.returncode == 66 and "no such model card file" in done.stderr
    done = run("sign-model", "--card", card_file, "--key", tmp_path / "no.pem", "--auditor", "a")
    assert done.returncode == 66 and "no such key file" in done.stderr


def test_an_altered_or_malformed_card_exits_65(card_file: Path, key_file: Path) -> None:
    document = json.loads(card_file.read_text())
    document["output_bits"] = 64  # the partner's card said 32
    card_file.write_text(json.dumps(document))
    done = run("sign-model", "--card", card_file, "--key", key_file, "--auditor", "a")
    assert done.returncode == 65 and "digest: not the digest" in done.stderr
    assert "card digest" not in done.stdout
    card_file.write_text("{not json")
    done = run("sign-model", "--card", card_file, "--key", key_file, "--auditor", "a")
    assert done.returncode == 65 and "not a JSON model card file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_key_that_is_not_an_ed25519_pem_exits_65(card_file: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nsecret-looking\n-----END PRIVATE KEY-----\n")
    done = run("sign-model", "--card", card_file, "--key", garbage, "--auditor", "a")
    assert done.returncode == 65 and "not an unencrypted PEM private key" in done.stderr
    assert "secret-looking" not in done.stderr + done.stdout
    other = tmp_path / "ec.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    done = run("sign-model", "--card", card_file, "--key", other, "--auditor", "a")
    assert done.returncode == 65 and "not an Ed25519 key" in done.stderr


@pytest.mark.parametrize(
    "error",
    [
        ComputeFileMissing("x"),
        ComputeFileExists("x"),
        AuditorKeyInvalid("x"),
        compute.CardFileInvalid("x"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_compute_cli_error_has_an_exit_code(error: Exception) -> None:
    assert exit_code_for(error)[0] != EX_SOFTWARE
