"""The portal's own clients: the zone's client and the sign-in clients people use.

Neither is a partner app: both are registered APPROVED by the portal itself, with no
organization. The zone's client (scope ``zone:revocations``) reads the revocation feed and
introspects tokens; ``dataward serve`` replaces it at every start, so at most one zone secret
works at any time. A sign-in client is public (authorization code + PKCE S256).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataward.access import Scope
from portal._accounts import ROLE_SCOPES
from portal._client_rows import add_client, new_secret
from portal._events import AppDecided
from portal._models import AppKind, AppStatus, Client, Role
from portal._revoke import revoke_client_tokens
from portal._service import Service
from portal._views import ClientCredentials
from portal.errors import InvalidInputError

__all__ = ["STEWARD_PAGES", "InternalClients"]

#: The name of the internal client of the steward pages' calls to the zone.
STEWARD_PAGES = "portal steward pages"


class InternalClients(Service):
    """The zone's client and the sign-in clients."""

    def create_zone_client(self, name: str = "zone") -> ClientCredentials:
        """The zone's internal client (scope ``zone:revocations``): reads the revocation
        feed and introspects tokens. Returns its id and secret, shown once."""
        with self._store.transaction() as s:
            return self._add_zone_client(s, name)

    def _add_zone_client(self, s: Session, name: str) -> ClientCredentials:
        app = self._add_internal(s, AppKind.ZONE, name, [Scope.ZONE_REVOCATIONS.value], [])
        return new_secret(app, self._clock())

    def replace_zone_client(self, name: str = "zone") -> ClientCredentials:
        """A new zone client, and every earlier one revoked, in one transaction.

        ``dataward serve`` calls this at each start instead of storing the secret: earlier
        zone clients become REVOKED (an ``app_decided`` portal event each, their secret
        erased) and their tokens are revoked (``token_revoked``, reason
        ``zone_client_replaced``), so at most one zone secret works at any time.
        """
        now = self._clock()
        with self._store.transaction() as s:
            earlier = s.scalars(
                select(Client).where(
                    Client.kind == AppKind.ZONE, Client.status != AppStatus.REVOKED
                )
            ).all()
            for old in earlier:
                old.status, old.updated_at, old.secret_hash = AppStatus.REVOKED, now, None
                self._log.append(
                    s,
                    AppDecided(
                        client_id=old.client_id,
                        status=AppStatus.REVOKED,
                        by_user_id=None,
                        scopes=tuple(old.granted_scopes),
                        purposes=(),
                    ),
                )
                revoke_client_tokens(s, self._log, old.client_id, "zone_client_replaced", now)
            return self._add_zone_client(s, name)

    def create_sign_in_client(self, name: str, redirect_uris: Sequence[str]) -> str:
        """A public client people sign in through (authorization code + PKCE S256)."""
        if not redirect_uris:
            raise InvalidInputError("a sign-in client needs at least one redirect URI")
        scopes = sorted(ROLE_SCOPES[Role.STEWARD] | ROLE_SCOPES[Role.PARTNER])
        with self._store.transaction() as s:
            app = self._add_internal(s, AppKind.SIGN_IN, name, scopes, list(redirect_uris))
            return app.client_id

    def steward_pages_client(self) -> str:
        """The internal client the steward pages call the zone through (scope
        ``steward:admin``), created on first use. It has no secret and no redirect URI: no
        OAuth flow can use it; only the portal mints its tokens, each for the signed-in
        steward (see :mod:`portal._zone_calls`)."""
        with self._store.transaction() as s:
            row = s.scalar(
                select(Client).where(
                    Client.kind == AppKind.SIGN_IN,
                    Client.name == STEWARD_PAGES,
                    Client.status == AppStatus.APPROVED,
                )
            )
            if row is None:
                row = self._add_internal(
                    s, AppKind.SIGN_IN, STEWARD_PAGES, [Scope.STEWARD_ADMIN.value], []
                )
            return row.client_id

    def _add_internal(
        self, s: Session, kind: str, name: str, scopes: list[str], redirect_uris: list[str]
    ) -> Client:
        """An internal client: APPROVED at once with every scope it asks for, no purposes."""
        return add_client(
            s,
            self._log,
            self._clock(),
            kind=kind,
            name=name,
            status=AppStatus.APPROVED,
            scopes=scopes,
            purposes=[],
            granted_scopes=scopes,
            redirect_uris=redirect_uris,
        )
