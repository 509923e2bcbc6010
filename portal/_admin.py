"""``PortalAdmin``: the portal's programmatic API, used by the web pages and the launcher.

It is four parts over the same database, log, config and clock (:class:`~portal._service.
Service`), each in the module named for what it holds; every method runs one transaction and
every change is a portal-log entry:

- :class:`~portal._orgs.Organizations` (through :class:`~portal._accounts.Accounts`):
  organizations -- create with a slug, list, suspend, resume,
- :class:`~portal._accounts.Accounts`: users -- create, list, disable -- and signing in
  (throttled),
- :class:`~portal._apps.Apps`: partner apps, the stewards' decisions on them, their secrets,
- :class:`~portal._grants.Grants`: an app as a steward reviews it (who asked, when, the
  organization's kind and other apps) and its grants narrowed or widened after approval,
- :class:`~portal._internal_clients.InternalClients`: the zone's client, sign-in clients.

Each part checks who may do what (a steward decides, a partner user registers for their own
organization; organizations and users are managed by a steward, or by the operator's CLI,
which passes no acting user).
"""

from __future__ import annotations

from portal._accounts import Accounts
from portal._apps import Apps
from portal._grants import Grants
from portal._internal_clients import InternalClients

__all__ = ["PortalAdmin"]


class PortalAdmin(Accounts, Apps, Grants, InternalClients):
    """Accounts, organizations and apps. Methods run one transaction each.

    ``PortalAdmin(store, log, config, clock)``; :meth:`portal.Portal.open` builds it.
    """
