"""Errors of the person-level checks (eligibility, identity documents, consent).

They extend the zone's tree (:mod:`enclave.errors`); like every zone error their
``public_message`` names the rule, never a value::

    ZoneError
    └── PersonCheckError
        ├── InvalidField           a request field is missing or out of range (names the field)
        ├── ConsentRequired        no valid consent for this partner, purpose and person
        │                          (also the answer for a person the registry does not hold)
        ├── ConsentNotFound        (steward) no consent with this reference
        ├── PersonNotFound         (steward) the registry does not hold this person
        └── SelfieNotSupported     a selfie was sent; face matching is not available yet

Malformed identity numbers raise :class:`enclave.idnumber.InvalidIdNumber`.
"""

from __future__ import annotations

from enclave.errors import ZoneError

__all__ = [
    "ConsentNotFound",
    "ConsentRequired",
    "InvalidField",
    "PersonCheckError",
    "PersonNotFound",
    "SelfieNotSupported",
]


class PersonCheckError(ZoneError):
    default_message = "person check refused"


class InvalidField(PersonCheckError):  # noqa: N818 (API names)
    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"field {field!r}: {rule}")


class ConsentRequired(PersonCheckError):  # noqa: N818 (API names)
    default_message = (
        "no valid consent of this person (or of a bound guardian) for this partner and purpose"
    )


class ConsentNotFound(PersonCheckError):  # noqa: N818 (API names)
    default_message = "no consent with this reference"


class PersonNotFound(PersonCheckError):  # noqa: N818 (API names)
    default_message = "the registry holds no person with this identity number"


class SelfieNotSupported(PersonCheckError):  # noqa: N818 (API names)
    default_message = "face matching is not available yet: send the identity check without a selfie"
