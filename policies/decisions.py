"""Policy decisions as values: `Allow` or `Deny(reasons)`, and combinators that fail closed.

A decision is never an exception and never a bool: callers match on the type. `all_of([])` and
`any_of([])` deny (`NO_RULES`): an empty rule set proves nothing, so it allows nothing.
(sigstore `verify/policy.py`, warehouse `macaroons/caveats/_core.py`.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["NO_RULES", "Allow", "Decision", "Deny", "all_of", "any_of"]

NO_RULES = "NO_RULES"


@dataclass(frozen=True, slots=True)
class Allow:
    """The request may proceed."""

    def __bool__(self) -> bool:  # a decision is matched on, never tested for truth
        raise TypeError("match on Allow/Deny; a decision has no truth value")


@dataclass(frozen=True, slots=True)
class Deny:
    """The request may not proceed, for these reason codes (at least one, no data values)."""

    reasons: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.reasons:
            raise ValueError("a Deny needs at least one reason")
        if not all(isinstance(r, str) and r for r in self.reasons):
            raise ValueError("a Deny's reasons are non-empty reason codes")

    def __bool__(self) -> bool:
        raise TypeError("match on Allow/Deny; a decision has no truth value")


Decision = Allow | Deny


def _merged(denials: Iterable[Deny]) -> Deny:
    reasons: dict[str, None] = {}
    for deny in denials:
        reasons.update(dict.fromkeys(deny.reasons))
    return Deny(tuple(reasons))


def all_of(decisions: Iterable[Decision]) -> Decision:
    """Allow only if there is at least one decision and every one allows; else every reason."""
    given = list(decisions)
    if not given:
        return Deny((NO_RULES,))
    denials = [d for d in given if isinstance(d, Deny)]
    if denials:
        return _merged(denials)
    if not all(isinstance(d, Allow) for d in given):
        raise TypeError("all_of takes Allow or Deny values only")
    return Allow()


def any_of(decisions: Iterable[Decision]) -> Decision:
    """Allow if at least one decision allows; else deny with every reason (NO_RULES if none)."""
    given = list(decisions)
    if not all(isinstance(d, Allow | Deny) for d in given):
        raise TypeError("any_of takes Allow or Deny values only")
    if any(isinstance(d, Allow) for d in given):
        return Allow()
    if not given:
        return Deny((NO_RULES,))
    return _merged(d for d in given if isinstance(d, Deny))
