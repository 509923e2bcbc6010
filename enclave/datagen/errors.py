"""Errors of the synthetic-export generator.

::

    DatagenError                 the base; ``str()`` is a public message (never a data value)
    ├── InvalidParameters        persons or seed out of range
    ├── OutputNotEmpty           the output directory already holds files
    └── OutputNotWritable        the output directory cannot be created or written
"""

from __future__ import annotations

__all__ = ["DatagenError", "InvalidParameters", "OutputNotEmpty", "OutputNotWritable"]


class DatagenError(Exception):
    """Base of the generator's errors."""


class InvalidParameters(DatagenError):
    """A generation parameter is out of range; the message names it."""


class OutputNotEmpty(DatagenError):
    """The output directory is not empty: nothing is overwritten."""


class OutputNotWritable(DatagenError):
    """The output directory cannot be created or written."""
