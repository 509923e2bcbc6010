"""Private implementation of :mod:`dataward.transparency`; import from there, not from here."""
