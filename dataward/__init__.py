"""What a partner installs and imports: the SDK, the generated stubs and receipt verification.

Imports nothing server-side: a partner installs this package alone.
"""

__all__: list[str] = []
