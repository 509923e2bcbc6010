"""Errors of the synthetic-export generator.

::

    DatagenError                 the base; ``str()`` is a public message (never a data value)
    ├── InvalidParametersError        persons or seed out of range
    ├── OutputNotEmptyError           the output directory already holds files
    └── OutputNotWritableError        the output directory cannot be created or written
"""

from __future__ import annotations

__all__ = [
    "DatagenError",
    "InvalidParametersError",
    "OutputNotEmptyError",
    "OutputNotWritableError",
]


class DatagenError(Exception):
    """Base of the generator's errors."""


class InvalidParametersError(DatagenError):
    """A generation parameter is out of range; the message names it."""


class OutputNotEmptyError(DatagenError):
    """The output directory is not empty: nothing is overwritten."""


class OutputNotWritableError(DatagenError):
    """The output directory cannot be created or written."""
