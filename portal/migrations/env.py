"""Alembic environment: the portal's metadata, run programmatically by ``portal._migrate``.

The caller passes an open SQLAlchemy connection in ``config.attributes["connection"]``; there
is no alembic.ini and no URL read from the environment.
"""

from __future__ import annotations

from alembic import context

from portal._models import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
)
with context.begin_transaction():
    context.run_migrations()
