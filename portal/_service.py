"""What each part of the portal's admin API works with: the database, the log, the config, a clock.

:class:`~portal.PortalAdmin` is :class:`~portal._accounts.Accounts`,
:class:`~portal._apps.Apps` and :class:`~portal._internal_clients.InternalClients` together;
each is a :class:`Service` over the same four collaborators (and the catalogue of what a
partner app can be granted, :data:`portal._catalog.CATALOG` unless given), and each public
method runs one transaction (every change in it is a portal-log entry in that transaction).
"""

from __future__ import annotations

from collections.abc import Callable

from portal._catalog import CATALOG, Catalog
from portal._log import PortalLog
from portal._store import Store
from portal.config import PortalConfig

__all__ = ["Service"]


class Service:
    """Holds the collaborators; the parts of the admin API add the methods."""

    def __init__(
        self,
        store: Store,
        log: PortalLog,
        config: PortalConfig,
        clock: Callable[[], float],
        *,
        catalog: Catalog = CATALOG,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._log = log
        self._config = config
        self._clock = clock
