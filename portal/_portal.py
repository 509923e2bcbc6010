"""One portal's state, composed: database, log, keys and the admin service."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from portal._admin import PortalAdmin
from portal._keys import KeyRing
from portal._log import PortalLog
from portal._store import Store
from portal.config import PortalConfig

__all__ = ["Portal"]


@dataclass
class Portal:
    """Open with :meth:`open`; ``admin`` is the programmatic API (no HTTP needed)."""

    config: PortalConfig
    store: Store
    log: PortalLog
    keys: KeyRing
    admin: PortalAdmin
    clock: Callable[[], float]
    # The address actually bound (port 0 resolved); the default issuer uses it.
    bound: str | None = field(default=None)

    @classmethod
    def open(cls, config: PortalConfig, clock: Callable[[], float] = time.time) -> Portal:
        """Create ``state_dir`` and the keys on first use; migrate the database to head."""
        config.state_dir.mkdir(parents=True, exist_ok=True)
        (config.state_dir / "public").mkdir(exist_ok=True)
        store = Store(config.resolved_database_url)
        store.migrate()
        log = PortalLog(clock)
        keys = KeyRing(config.state_dir, config.access_token_ttl_seconds)
        admin = PortalAdmin(store, log, config, clock)
        return cls(config, store, log, keys, admin, clock)

    def issuer(self) -> str:
        return self.config.resolved_issuer(self.bound)

    def close(self) -> None:
        self.store.dispose()
