"""The portal: OAuth 2.0 authorization server, steward and partner pages.

Internet-facing: holds no zone data and no zone keys, never imports the zone.
"""

__all__: list[str] = []
