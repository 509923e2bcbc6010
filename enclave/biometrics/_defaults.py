"""The default face thresholds and what they were validated on (``dataward faces calibrate``
computes thresholds for other data; the settings ``faces.*`` override these).

Where they come from (LFW View 2 fold 1 only, 807 images of 435 people, through the product's
path: decode, gates, dlib 5-point landmarks, ResNet v1 descriptor; ``python -m bench.faces``
prints every number below; the other LFW folds are kept for an independent evaluation):

* LFW's own pairs (300 genuine, 300 impostor): the threshold at 0.1% false accepts is 0.603
  (no impostor pair closer than 0.604), at 1% 0.637; the genuine-accept rate there is about
  96% and 98%. Three hundred impostor pairs cannot resolve 0.1%: none accepted says only
  "below 1%".
* Every cross-person pair of fold 1's images (about 322,000): 1% false accepts at 0.615, 0.1%
  at 0.548, 0.01% at 0.488. At 0.6, 0.6% are accepted.
* The same among the 26 people of fold 1 whose names read as Chinese, Japanese or Korean (36
  images, 616 cross-person pairs; a name is a crude proxy for a face): 1% at 0.448, none
  closer than 0.396; at 0.6, 44% are accepted. The model places East-Asian impostors about
  0.17 closer, and the zone's persons (GB 11643 numbers) are mostly East-Asian.

So the match thresholds sit that margin below LFW's: ``match_medium`` 0.42 (2 of those 616
East-Asian impostor pairs accepted, 0.3%; 1 in 160,000 cross-person pairs overall; about 38%
of LFW's genuine pairs and 11 of the 14 East-Asian genuine pairs accepted), ``match_high``
0.38 (below every East-Asian impostor pair of the set). The price is the genuine-accept rate:
most genuine LFW pairs land BORDERLINE (a retake, then documents), none of its impostors is a
MATCH. ``no_match`` 0.60 is dlib's own decision threshold (4% of LFW's genuine pairs lie
above it), ``no_match_high`` 0.70 (1%). ``presentation_floor`` 0.20: below all 928
same-person pairs of fold 1 (the closest 0.227), above 99% of fold 1 images compared with
themselves upscaled, rotated 4 degrees, darkened and re-encoded at JPEG quality 40 (median
0.13, max 0.21). ``encrypted_cosine`` 0.955 accepts as many of the East-Asian impostor pairs
as ``match_medium`` (2 of 616; none of LFW's 300 impostor pairs).
"""

from __future__ import annotations

from enclave.biometrics.interface import Thresholds

__all__ = ["DEFAULT_THRESHOLDS", "VALIDATED_ON"]

VALIDATED_ON = (
    "dlib ResNet v1 face embeddings; thresholds calibrated on LFW View 2 fold 1 (600 pairs of "
    "2000s news photos, mostly white and male) and set 0.18 lower than LFW's 0.1% false-accept "
    "threshold because the model is much weaker on East-Asian faces (there, 0.3% false accepts "
    "among 616 pairs at these thresholds); not validated on ID-card photos against phone selfies"
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
