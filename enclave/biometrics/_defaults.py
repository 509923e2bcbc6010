"""The default face thresholds and what they were validated on (``dataward faces calibrate``
computes thresholds for other data; the settings ``faces.*`` override these).

Where they come from (LFW View 2 fold 1 only, 807 images of 435 people, through the product's
path: decode, the default gates, dlib 5-point landmarks, ResNet v1 descriptor;
``python -m bench.faces`` prints every number below; the other LFW folds are kept for an
independent evaluation):

* LFW's own pairs: 283 genuine and 289 impostor pairs scored (28 have an image the gates send
  back: 23 MULTIPLE_FACES, 5 NO_FACE). No impostor pair is closer than 0.604, so the
  threshold at 0.1% false accepts is 0.603 (GAR 97.2%), at 1% 0.637 (GAR 98.6%), EER 1.4%.
  Three hundred impostor pairs cannot resolve 0.1%: none accepted says only "below 1%".
* Every cross-person pair of the fold's 786 templates (307,633): 1% false accepts at 0.615,
  0.1% at 0.548, 0.01% at 0.488; at dlib's usual 0.6, 0.6%.
* The same among the 26 people of the fold whose names read as Chinese, Japanese or Korean
  (581 cross-person pairs; a name is a crude proxy for a face): 1% at 0.446, none closer than
  0.396; at 0.6, 47% are accepted. The model puts East-Asian impostors about 0.17 closer, and
  the zone's persons (GB 11643 numbers) are mostly East-Asian.

So the match thresholds sit that margin below LFW's: ``match_medium`` 0.42 accepts 2 of the
581 East-Asian impostor pairs (0.34%) and 2 in 307,633 cross-person pairs overall, and 37% of
the same-person pairs; ``match_high`` 0.38 accepts none of either (19% of same-person pairs).
The price is the genuine-accept rate: on LFW's pairs at these defaults 109 of the 300 genuine
pairs are MATCH, 164 BORDERLINE (a retake, then documents), 10 NO_MATCH, 17 a retake for the
gates; none of the 300 impostor pairs is a MATCH. ``no_match`` 0.60 is dlib's own decision
threshold, ``no_match_high`` 0.70 (about 1% of LFW's genuine pairs lie above it).
``presentation_floor`` 0.20: below all same-person pairs of the fold (the closest 0.226), above
98% of 190 fold images compared with themselves upscaled, rotated 4 degrees, darkened and
re-encoded at JPEG quality 40 (median 0.13). ``encrypted_cosine`` 0.955 accepts as many
East-Asian impostor pairs as ``match_medium`` (2 of 581, the closest cosine 0.958; 2 in 307,633
overall) and 42% of the same-person pairs.
"""

from __future__ import annotations

from enclave.biometrics.interface import Thresholds

__all__ = ["DEFAULT_THRESHOLDS", "VALIDATED_ON"]

VALIDATED_ON = (
    "dlib ResNet v1 face embeddings; thresholds calibrated on LFW View 2 fold 1 (600 pairs of "
    "2000s news photos, mostly white and male) and set 0.18 lower than LFW's 0.1% false-accept "
    "threshold because the model is much weaker on East-Asian faces (there, 0.3% false accepts "
    "among 581 pairs at these thresholds); not validated on ID-card photos against phone selfies"
)

DEFAULT_THRESHOLDS = Thresholds(
    presentation_floor=0.20,
    match_high=0.38,
    match_medium=0.42,
    no_match=0.60,
    no_match_high=0.70,
    encrypted_cosine=0.955,
    validated_on=VALIDATED_ON,
)
