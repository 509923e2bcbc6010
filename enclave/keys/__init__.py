"""The zone's keyring: Ed25519 signing, HMAC tokenization and the AES data key, sealed under
the operator's master key (scrypt + AES-GCM); :func:`init_zone` creates a zone with it (and its
audit log), :func:`open_keyring` unseals it, :func:`normalize` is the canonical form a value
is tokenized in."""

from enclave.keys._keyring import (
    KEYRING_FILE,
    PUBLIC_KEY_FILE,
    Keyring,
    init_zone,
    normalize,
    open_keyring,
)

__all__ = ["KEYRING_FILE", "PUBLIC_KEY_FILE", "Keyring", "init_zone", "normalize", "open_keyring"]
