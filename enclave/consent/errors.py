"""Errors of the consent store (part of the zone's one tree, :mod:`enclave.errors`)::

ZoneError
└── ConsentError
    └── ConsentNotFound        no consent with this reference (steward calls)
"""

from __future__ import annotations

from enclave.errors import ZoneError

__all__ = ["ConsentError", "ConsentNotFound"]


class ConsentError(ZoneError):
    default_message = "consent refused"


class ConsentNotFound(ConsentError):  # noqa: N818 (API names)
    reason = "NOT_FOUND"
    default_message = "no consent with this reference"
