"""Organization slugs: the stable short name a token's ``org`` claim and a consent carry.

A slug is 2 to 32 characters of ``[a-z0-9-]``, starting and ending with a letter or digit.
Given by the operator, or derived from the organization's name (``"Acme Insurance AG"`` ->
``acme-insurance-ag``); never changed afterwards: consents are recorded against it.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["SLUG_PATTERN", "derive_slug", "slug_problem"]

SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
_MAX = 32


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` is not a valid slug (a public message), or None."""
    if not 2 <= len(slug) <= _MAX or SLUG_PATTERN.fullmatch(slug) is None:
        return (
            "the slug must be 2 to 32 characters of a-z, 0-9 and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def derive_slug(name: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A slug from ``name`` (accents folded, other characters to '-'), made unique against
    ``taken`` with a ``-2``, ``-3`` ... suffix; ``org`` when nothing usable is left."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    base = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:_MAX].strip("-")
    if len(base) < 2:
        base = "org"
    slug, n = base, 1
    while slug in taken:
        n += 1
        suffix = f"-{n}"
        slug = base[: _MAX - len(suffix)].rstrip("-") + suffix
    return slug
