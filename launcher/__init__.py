"""The composition root: settings, the ``dataward`` command, and the wiring of all the parts."""

__all__: list[str] = []
