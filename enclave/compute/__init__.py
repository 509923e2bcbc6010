"""Compute under encryption on zone data (issue 12; DESIGN.md, "Homomorphic compute"): the
partner's keys always stay with the partner, the zone never holds a secret key.

CKKS (TenSEAL, N=8192, coefficient moduli [60, 40, 40, 60], scale 2^40): a partner's
uploaded public context and weight ciphertexts are validated (:func:`load_public_context`,
:func:`load_ciphertext`), and :class:`CkksBatchScorer` scores a batch of up to 4096 persons
column-packed, one slot per person, only consented persons' slots filled, by slot-wise
multiply-by-plaintext and add only. Its errors are in :mod:`enclave.compute.ckks_errors`.
"""

from enclave.compute._ckks import (
    CKKS_COEFF_MODULUS_BITS,
    CKKS_POLY_MODULUS_DEGREE,
    CKKS_SCALE,
    CKKS_SLOTS,
    CkksBatchScorer,
    CkksCiphertext,
    CkksContext,
    CkksLimits,
    FeatureBound,
    load_ciphertext,
    load_public_context,
)
from enclave.compute.ckks_errors import (
    CiphertextInvalid,
    CkksBatchTooLarge,
    CkksError,
    ContextInvalid,
    FeaturesInvalid,
)

__all__ = [
    "CKKS_COEFF_MODULUS_BITS",
    "CKKS_POLY_MODULUS_DEGREE",
    "CKKS_SCALE",
    "CKKS_SLOTS",
    "CiphertextInvalid",
    "CkksBatchScorer",
    "CkksBatchTooLarge",
    "CkksCiphertext",
    "CkksContext",
    "CkksError",
    "CkksLimits",
    "ContextInvalid",
    "FeatureBound",
    "FeaturesInvalid",
    "load_ciphertext",
    "load_public_context",
]
