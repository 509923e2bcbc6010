"""Secrets at rest: argon2id for passwords, SHA-256 digests for random secrets."""

from __future__ import annotations

import functools
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "check_secret",
    "hash_password",
    "password_problem",
    "secret_digest",
    "verify_password",
]

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
_MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < _MIN_PASSWORD_LENGTH:
        return f"the password must be at least {_MIN_PASSWORD_LENGTH} characters long"
    return None


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown: both paths cost one argon2 check."""
    return _HASHER.hash("dataward-no-such-user")


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        ok = _HASHER.verify(stored_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return bool(ok) and stored_hash is not None


def secret_digest(value: str) -> str:
    """SHA-256 of a high-entropy random secret (client secret, refresh token, code)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def check_secret(stored_digest: str | None, presented: str) -> bool:
    if stored_digest is None:
        return False
    return hmac.compare_digest(stored_digest, secret_digest(presented))
