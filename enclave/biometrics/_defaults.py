"""The default face thresholds and what they were validated on (``dataward faces calibrate``
computes them; the settings ``faces.*`` override them)."""

from __future__ import annotations

from enclave.biometrics.interface import Thresholds

__all__ = ["DEFAULT_THRESHOLDS", "VALIDATED_ON"]

# Provisional (a first run on LFW fold 1); replaced by the calibrated values.
VALIDATED_ON = (
    "dlib ResNet v1 face embeddings; thresholds calibrated on LFW View 2 fold 1 (600 pairs of "
    "mostly white, mostly male news photos), not on ID-card photos against phone selfies; the "
    "model is weaker on East-Asian faces, so the thresholds are set conservatively below "
    "LFW's"
)

DEFAULT_THRESHOLDS = Thresholds(
    presentation_floor=0.15,
    match_high=0.50,
    match_medium=0.55,
    no_match=0.60,
    no_match_high=0.70,
    encrypted_cosine=0.85,
    validated_on=VALIDATED_ON,
)
