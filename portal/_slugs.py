"""Organization slugs: the stable short name a token's ``org`` claim and a consent carry.

A slug is 2 to 32 characters of ``[a-z0-9-]``, starting and ending with a letter or digit,
with at most 6 digits: the zone refuses a partner name with more (it could be an ID number,
``enclave.persons`` rule for partners).
Given by the operator, or derived from the organization's name (``"Acme Insurance AG"`` ->
``acme-insurance-ag``); never changed afterwards: consents are recorded against it.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["SLUG_PATTERN", "derive_slug", "slug_problem"]

SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
_MAX = 32
_MAX_DIGITS = 6


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` is not a valid slug (a public message), or None."""
    if not 2 <= len(slug) <= _MAX or SLUG_PATTERN.fullmatch(slug) is None:
        return (
            "the slug must be 2 to 32 characters of a-z, 0-9 and '-', "
            "starting and ending with a letter or digit"
        )
    if sum(c.isdigit() for c in slug) > _MAX_DIGITS:
        return "the slug may hold at most 6 digits (more could be an ID number)"
    return None


def derive_slug(name: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A slug from ``name`` (accents folded, other characters to '-', digits past the fourth
    dropped), made unique against ``taken`` with a ``-2``, ``-3`` ... suffix (so at most 6
    digits); ``org`` when nothing usable is left."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    kept, digits = [], 0
    for c in folded:
        digits += c.isdigit()
        kept.append("" if c.isdigit() and digits > _MAX_DIGITS - 2 else c)
    base = re.sub(r"[^a-z0-9]+", "-", "".join(kept)).strip("-")[:_MAX].strip("-")
    if len(base) < 2:
        base = "org"
    slug, n = base, 1
    while slug in taken or slug_problem(slug) is not None:
        n += 1
        suffix = f"-{n}"
        slug = base[: _MAX - len(suffix)].rstrip("-") + suffix
    return slug
