"""The default thresholds keep the margin _defaults.py documents for East-Asian faces."""

from __future__ import annotations

from enclave.biometrics import DEFAULT_THRESHOLDS, VALIDATED_ON


def test_defaults_carry_their_sentence_and_the_margin() -> None:
    t = DEFAULT_THRESHOLDS
    assert t.validated_on == VALIDATED_ON
    assert "LFW View 2 fold 1" in VALIDATED_ON and "East-Asian" in VALIDATED_ON
    # LFW fold 1's own 0.1% threshold is 0.603; an accept must stay well below it
    assert t.match_medium <= 0.603 - 0.15 and t.match_high < t.match_medium
    # the closest same-person pair of fold 1 is 0.227: the floor must not reach it
    assert t.presentation_floor < 0.227
    assert 0.9 < t.encrypted_cosine < 1.0
