"""`dataward demo` end to end: every step behaves, and no clear ID number or name is printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"


def test_demo_walks_through_every_capability(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "launcher", "demo", "--persons", "400"),
            *("--workdir", str(workdir), "--faces", str(FACES)),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    lines = out.splitlines()
    assert any("enrolled and paid up" in line and "ELIGIBLE" in line for line in lines)
    assert any("behind on contributions" in line and "SUSPENDED_ARREARS" in line for line in lines)
    assert any("deceased" in line and "reasons=DECEASED" in line for line in lines)
    refusals = [line for line in lines if "CONSENT_REQUIRED" in line]
    assert len(refusals) == 2
    assert refusals[0].split("refused:")[1] == refusals[1].split("refused:")[1]
    assert "INVALID_ARGUMENT ID_NUMBER_INVALID" in out
    assert "name matches=True" in out and "name matches=False" in out
    assert "PERMISSION_DENIED SCOPE_NOT_GRANTED" in out
    # faces: two ID photos enrolled, one refused by file name; the applicant's own selfie a
    # MATCH, an impostor's NO_MATCH, the ID photo itself a retake; the attempt limit; the
    # encrypted match decrypted by the bank alone
    assert "2 of 3 enrolled as sealed templates" in out
    assert "rejected two_people.jpg: MULTIPLE_FACES" in out
    assert any("the applicant's selfie" in line and "face MATCH" in line for line in lines)
    assert any("an impostor's selfie" in line and "face NO_MATCH" in line for line in lines)
    assert "(retake: PRESENTATION_SUSPECTED)" in out
    assert "a fourth selfie today: RESOURCE_EXHAUSTED ATTEMPTS_EXHAUSTED (PERSON_DAY)" in out
    assert "encrypted face match: MATCH" in out
    # Aggregates: explained, released with small cells suppressed and a verified receipt,
    # and a per-person query refused with its rule.
    assert "explain: allowed, view claims_analysis, aggregation rule, exact release" in out
    released = next(line for line in lines if "exact release under policy" in line)
    assert "suppressed" in released and released.endswith("verified")
    assert int(released.split(" suppressed")[0].split(", ")[-1]) > 0
    assert "refused: INVALID_ARGUMENT QUERY_REJECTED COLUMN_HIDDEN(person_key)" in out
    # DP: the research arm's noisy answer, its cost, the same answer again at no cost
    assert "explain: allowed, dp release" in out
    assert "differential privacy: epsilon 1 spent" in out
    assert "asked again: the very same numbers, epsilon 0 spent" in out
    # review: a proposed query approved by the steward in the portal, then run by id
    assert "PENDING_REVIEW (RULE_NOT_AD_HOC(visits_by_type))" in out
    assert "the steward's review list shows it: True" in out
    assert "approved in the portal: exact release through" in out
    assert "runs left under the approval: 2" in out
    # the bank under encryption: the zone's band, an attested Paillier model scored once and
    # decrypted by the bank, a second score refused, a CKKS batch filling consented slots only
    assert "the zone's own credit evaluation: band " in out
    assert "registered: PENDING_ATTESTATION" in out
    assert "Paillier score: 768 ciphertext bytes" in out
    assert "a second score for the same consent: FAILED_PRECONDITION SCORE_ALREADY_GIVEN" in out
    paillier = next(line for line in lines if "the bank alone decrypts" in line)
    batch = next(line for line in lines if "CKKS batch of 4 in one call" in line)
    slots = batch.split("[")[1].split("]")[0].split(", ")
    assert slots[2:] == ["-", "-"] and "-" not in slots[:2]
    # the same model on the same applicant: the two schemes agree
    assert abs(float(paillier.split("decrypts ")[1].split(" ")[0]) - float(slots[0])) < 1e-2
    assert out.count("is in the signed tree of size") == 12
    assert "zone log ok:" in out and "portal log ok:" in out
    # issue 14: partners named by slug in consents, by the portal's name in "who checked me"
    assert "consents to demo-insurer (the insurer) until" in out
    assert "also consent to demo-bank (the bank)" in out
    who = out.split("Who checked me?", 1)[1].split("[16]", 1)[0].splitlines()[1:]
    assert any("Demo Insurance Co." in line and "INSURANCE_UNDERWRITING" in line for line in who)
    assert any("Demo Bank" in line and "LOAN_ORIGINATION" in line for line in who)
    assert "Traceback" not in result.stderr
    persons = pq.read_table(workdir / "registry-export" / "persons.parquet")
    printed = out + result.stderr
    for column in ("id_number", "name", "phone"):
        values = {v for v in persons.column(column).to_pylist() if v}
        assert not [v for v in values if len(v) > 1 and v in printed], column
