"""Errors of the CKKS batch scoring core (part of the zone's one tree, :mod:`enclave.errors`)::

    ZoneError
    └── CkksError
        ├── ContextInvalid        an uploaded TenSEAL context is refused (CONTEXT_INVALID):
        │                         too large, malformed, not CKKS, other parameters, a secret
        │                         key, Galois keys, no public key
        ├── CiphertextInvalid     an uploaded weight ciphertext is refused (CIPHERTEXT_INVALID):
        │                         too large, malformed, not of this context, wrong slots,
        │                         level or scale, or the wrong number of them
        ├── CkksBatchTooLarge     more persons than slots (BATCH_TOO_LARGE)
        ├── CkksWorkerFailed      a CKKS worker process could not answer (UNAVAILABLE): it did
        │   │                     not start, died during the call (crash, SIGKILL, out of
        │   │                     memory: replaced), or the pool is closed
        │   └── CkksWorkerTimeout the call did not finish in time (DEADLINE_EXCEEDED): the
        │                         worker was recycled, or every worker stayed busy
        └── FeaturesInvalid       the zone's own feature matrix is not integers within the
                                  feature set's declared bounds (INTERNAL: a bug of the zone's
                                  feature computation, never the partner's doing)

Each error's ``problem`` is a stable code naming the rule (``TOO_LARGE``, ``MALFORMED``,
``SECRET_KEY`` ...), for tests and the audit log. Public messages name the rule and the
expected parameters (the partner's own, never zone data); a :class:`FeaturesInvalid` names
the feature, never its value.
"""

from __future__ import annotations

from typing import ClassVar

from enclave.errors import ZoneError

__all__ = [
    "CiphertextInvalid",
    "CkksBatchTooLarge",
    "CkksError",
    "CkksWorkerFailed",
    "CkksWorkerTimeout",
    "ContextInvalid",
    "FeaturesInvalid",
]


class CkksError(ZoneError):
    reason: ClassVar[str] = "INTERNAL"
    default_message = "CKKS compute error"


class ContextInvalid(CkksError):  # noqa: N818 (API names)
    """The uploaded context breaks rule ``problem``; nothing of it was kept."""

    reason: ClassVar[str] = "CONTEXT_INVALID"

    def __init__(self, problem: str, detail: str) -> None:
        self.problem = problem
        super().__init__(f"the CKKS context is refused ({problem}): {detail}")


class CiphertextInvalid(CkksError):  # noqa: N818 (API names)
    """The uploaded ciphertext (or set of them) breaks rule ``problem``."""

    reason: ClassVar[str] = "CIPHERTEXT_INVALID"

    def __init__(self, problem: str, detail: str) -> None:
        self.problem = problem
        super().__init__(f"the CKKS ciphertext is refused ({problem}): {detail}")


class CkksBatchTooLarge(CkksError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "BATCH_TOO_LARGE"

    def __init__(self, persons: int, slots: int) -> None:
        self.persons, self.slots = persons, slots
        super().__init__(
            f"a CKKS batch holds at most {slots} persons (one per slot); {persons} were given"
        )


class FeaturesInvalid(CkksError):  # noqa: N818 (API names)
    """The feature matrix breaks rule ``problem`` (``feature`` names the column, if one)."""

    reason: ClassVar[str] = "INTERNAL"

    def __init__(self, problem: str, detail: str, feature: str | None = None) -> None:
        self.problem, self.feature = problem, feature
        super().__init__(f"the feature matrix is invalid ({problem}): {detail}")


class CkksWorkerFailed(CkksError):  # noqa: N818 (API names)
    """A worker process of :class:`enclave.compute.CkksWorkers` could not answer; ``problem``
    is ``START``, ``CRASHED`` or ``CLOSED``. The zone's state, never the caller's doing: retry."""

    reason: ClassVar[str] = "UNAVAILABLE"
    retry_after: float = 1.0

    def __init__(self, problem: str, detail: str) -> None:
        self.problem = problem
        super().__init__(f"the CKKS workers cannot answer ({problem}): {detail}")


class CkksWorkerTimeout(CkksWorkerFailed):
    """The call passed its timeout (``problem`` ``TIMEOUT``: the worker was killed and
    replaced; ``BUSY``: no worker became free in time)."""

    reason: ClassVar[str] = "DEADLINE_EXCEEDED"
