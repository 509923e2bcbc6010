"""Errors of the person-level checks (eligibility, identity documents, consent).

They extend the zone's tree (:mod:`enclave.errors`); like every zone error their
``public_message`` names the rule, never a value::

    ZoneError
    └── PersonCheckError
        ├── InvalidField           a request field is missing or out of range (names the field)
        ├── InvalidIdNumber        a malformed identity number (``rule`` says which rule)
        ├── PurposeNotGranted      the caller's app is not granted the request's purpose
        ├── ConsentRequired        no valid consent for this partner, purpose and person
        │                          (also the answer for a person the registry does not hold)
        ├── PersonNotFound         (steward) the registry does not hold this person
        └── SelfieNotSupported     a selfie was sent to a zone that does not serve face checks

Each carries its ``reason`` code (see :mod:`enclave.errors`).
"""

from __future__ import annotations

from typing import ClassVar

from enclave.errors import ZoneError

__all__ = [
    "ConsentRequired",
    "InvalidField",
    "PersonCheckError",
    "PersonNotFound",
    "PurposeNotGranted",
    "SelfieNotSupported",
]


class PersonCheckError(ZoneError):
    default_message = "person check refused"


class InvalidField(PersonCheckError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "FIELD_INVALID"

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"field {field!r}: {rule}")


class PurposeNotGranted(PersonCheckError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "PURPOSE_NOT_GRANTED"
    default_message = "the app is not granted this purpose"


class ConsentRequired(PersonCheckError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "CONSENT_REQUIRED"
    default_message = (
        "no valid consent of this person (or of a bound guardian) for this partner and purpose"
    )


class PersonNotFound(PersonCheckError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "NOT_FOUND"
    default_message = "the registry holds no person with this identity number"


class SelfieNotSupported(PersonCheckError):  # noqa: N818 (API names)
    reason: ClassVar[str] = "NOT_IMPLEMENTED"
    default_message = (
        "this zone does not serve face checks: send the identity check without a selfie"
    )
