"""The transparency exception tree.

::

    TransparencyError          anything this package refuses
    ├── ProofError             an inclusion or consistency proof does not verify
    ├── CheckpointError        a signed checkpoint is malformed or its signature does not verify
    ├── ReceiptError           a receipt is malformed or names a leaf it does not prove
    ├── PublicKeyError         a published verification key is not an Ed25519 PEM key
    └── LogVerificationError   a stored log (leaves + checkpoints) is not what it claims;
                               ``.entry`` names the first bad entry when one can be named

Messages are public: they name positions and sizes, never the content of a leaf.
"""

from __future__ import annotations


class TransparencyError(Exception):
    """Base of every error raised by :mod:`dataward.transparency`."""


class ProofError(TransparencyError):
    """An inclusion or consistency proof does not verify."""


class CheckpointError(TransparencyError):
    """A signed checkpoint note is malformed, unsigned by the expected key, or forged."""


class ReceiptError(TransparencyError):
    """A receipt is malformed, or does not prove the leaf it is presented with."""


class PublicKeyError(TransparencyError):
    """A published verification key is not a PEM-encoded Ed25519 public key."""


class LogVerificationError(TransparencyError):
    """A stored log fails verification.

    ``entry`` is the index of the first bad entry when it can be named exactly; ``first`` and
    ``last`` bound the range it must lie in otherwise (an entry rewritten together with its
    stored hash is only caught by the signed root covering it). ``checkpoint`` is the position
    of the checkpoint involved, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        entry: int | None = None,
        first: int | None = None,
        last: int | None = None,
        checkpoint: int | None = None,
    ) -> None:
        super().__init__(message)
        self.entry = entry
        self.first = entry if first is None else first
        self.last = entry if last is None else last
        self.checkpoint = checkpoint
