"""The errors of loading a policy document. Every one names the file, the path and the problem.

Loading never raises anything but these on bad input::

    PolicyError                 the base: file, path, problem (and a stable code)
    ├── PolicyUnreadableError   the file cannot be read (missing, a directory, not UTF-8)
    ├── PolicySyntaxError       not YAML, several documents, anchors/aliases, a tag
    └── PolicyInvalidError      YAML, but not a valid policy
        ├── WrongTypeError          a value of the wrong type (a string where a list belongs)
        ├── UnknownKeyError         a key the format does not have (a typo)
        ├── MissingKeyError         a required key is absent
        ├── DuplicateNameError      a name given twice (a view, a column, a grant)
        ├── InvalidValueError       a value out of range or not one of the allowed ones
        ├── UnknownReferenceError   a rule or grant names a column or view that is not there
        ├── MissingBoundsError      a measure without both clip bounds
        ├── MissingDomainError      a dimension the rule uses has no public domain
        └── PersonKeyExposedError   the person key where it could leave (dimensions, WHERE)

Paths are dotted with list indices in brackets: ``views.claims_analysis.columns.age_band.role``,
``grants[0].views[1]``; the empty path is the whole document. Messages carry names from the
document, never registry data: a policy is the steward's input, not zone data.
"""

from __future__ import annotations

__all__ = [
    "DuplicateNameError",
    "InvalidValueError",
    "MissingBoundsError",
    "MissingDomainError",
    "MissingKeyError",
    "PersonKeyExposedError",
    "PolicyError",
    "PolicyInvalidError",
    "PolicySyntaxError",
    "PolicyUnreadableError",
    "UnknownKeyError",
    "UnknownReferenceError",
    "WrongTypeError",
]


class PolicyError(Exception):
    """A policy document that cannot become a policy: where (file, path) and what is wrong."""

    code = "POLICY_ERROR"

    def __init__(self, file: str, path: str, problem: str) -> None:
        self.file = file
        self.path = path
        self.problem = problem
        where = f"{file}: {path}" if path else file
        super().__init__(f"{where}: {problem}")


class PolicyUnreadableError(PolicyError):
    code = "POLICY_UNREADABLE"


class PolicySyntaxError(PolicyError):
    code = "POLICY_SYNTAX"


class PolicyInvalidError(PolicyError):
    code = "POLICY_INVALID"


class WrongTypeError(PolicyInvalidError):
    code = "WRONG_TYPE"


class UnknownKeyError(PolicyInvalidError):
    code = "UNKNOWN_KEY"


class MissingKeyError(PolicyInvalidError):
    code = "MISSING_KEY"


class DuplicateNameError(PolicyInvalidError):
    code = "DUPLICATE_NAME"


class InvalidValueError(PolicyInvalidError):
    code = "INVALID_VALUE"


class UnknownReferenceError(PolicyInvalidError):
    code = "UNKNOWN_REFERENCE"


class MissingBoundsError(PolicyInvalidError):
    code = "MISSING_BOUNDS"


class MissingDomainError(PolicyInvalidError):
    code = "MISSING_DOMAIN"


class PersonKeyExposedError(PolicyInvalidError):
    code = "PERSON_KEY_EXPOSED"
