"""Read the portal log for verification, and its organizations, with no secret and without
writing.

An auditor (``dataward audit verify``) needs the stored leaves and checkpoints plus the
published public key (``STATE_DIR/public/portal-log-key.pub``), nothing else: no private key,
no migrations, no checkpoint signed first. A SQLite database is opened with ``mode=ro`` (the
file cannot be written through this connection); any other database is read in one
transaction that is rolled back (and marked read-only on PostgreSQL).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, create_engine, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dataward.transparency import PublicKeyError, load_public_key
from portal._keys import LOG_PUBLIC_KEY_FILE
from portal._log import PortalLogExport, export_log
from portal._models import LogCheckpoint, LogEntry, Organization
from portal._views import OrganizationView
from portal.config import PortalConfig
from portal.errors import LogUnavailableError

__all__ = ["read_organizations", "read_portal_log"]


def read_portal_log(state_dir: Path, database_url: str | None = None) -> PortalLogExport:
    """The portal log's leaves and checkpoints and the published key, read-only.

    ``state_dir`` is ``ZONE/portal``; ``database_url`` as in :class:`PortalConfig` (None: the
    SQLite file ``STATE_DIR/portal.db``). Raises :class:`LogUnavailableError` when the key,
    the database or its log tables are missing.
    """
    public_key = _published_key(state_dir / LOG_PUBLIC_KEY_FILE)
    url = PortalConfig(state_dir=state_dir, database_url=database_url).resolved_database_url
    engine = _read_only_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(postgresql_readonly=True)
            tables = set(inspect(connection).get_table_names())
            missing = {LogEntry.__tablename__, LogCheckpoint.__tablename__} - tables
            if missing:
                raise LogUnavailableError(
                    "the portal database has no log tables (not a portal database?)"
                )
            with Session(bind=connection) as session:
                exported = export_log(session, public_key)
            connection.rollback()
            return exported
    except SQLAlchemyError as exc:
        raise LogUnavailableError(
            f"cannot read the portal database ({type(exc).__name__})"
        ) from exc
    finally:
        engine.dispose()


def read_organizations(
    state_dir: Path, database_url: str | None = None
) -> tuple[OrganizationView, ...]:
    """Every organization in the portal's database (the stewards' too), read-only, no key.

    For the launcher: ``consent grant --partner SLUG`` checks the slug names an ACTIVE partner
    organization, and "who checked me" lines show names for slugs. A zone without a portal
    database (no SQLite file yet) has none: ``()``. :class:`LogUnavailableError` when the
    database cannot be read or is older than migration 0003 (start the portal once).
    """
    url = PortalConfig(state_dir=state_dir, database_url=database_url).resolved_database_url
    parsed = make_url(url)
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in {
        None,
        "",
        ":memory:",
    }
    if sqlite_file and not Path(str(parsed.database)).is_file():
        return ()
    engine = _read_only_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(postgresql_readonly=True)
            with Session(bind=connection) as session:
                rows = session.scalars(select(Organization).order_by(Organization.slug)).all()
                found = tuple(OrganizationView.of(row) for row in rows)
            connection.rollback()
            return found
    except SQLAlchemyError as exc:
        raise LogUnavailableError(
            f"cannot read the portal's organizations ({type(exc).__name__}); if the portal "
            "predates organization slugs, start it once to migrate its database"
        ) from exc
    finally:
        engine.dispose()


def _published_key(path: Path) -> Ed25519PublicKey:
    try:
        return load_public_key(path.read_bytes())
    except FileNotFoundError as exc:
        raise LogUnavailableError(f"no portal-log public key at {path}") from exc
    except PublicKeyError as exc:
        raise LogUnavailableError(f"{path}: {exc}") from exc


def _read_only_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url)
    if not parsed.database or parsed.database == ":memory:":
        raise LogUnavailableError("the portal database URL names no SQLite file")
    path = Path(parsed.database)
    if not path.is_file():
        raise LogUnavailableError(f"no portal database at {path}")
    uri = f"{path.resolve().as_uri()}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    return create_engine("sqlite://", creator=connect)
