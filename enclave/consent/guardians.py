"""The guardian rule: which holders' consents cover a family member at an instant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from enclave.consent.interface import FamilyBindingLike

__all__ = ["guardians_of"]


def guardians_of(
    member_person_id: int, bindings: Iterable[FamilyBindingLike], at: dt.datetime
) -> tuple[int, ...]:
    """The holders ``member_person_id`` is bound to at instant ``at`` (see the docstring)."""
    return tuple(
        sorted(
            {
                b.holder_person_id
                for b in bindings
                if b.member_person_id == member_person_id
                and b.bound_at <= at
                and (b.unbound_at is None or b.unbound_at > at)
            }
        )
    )
