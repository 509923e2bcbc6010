"""Migration 0004 (issue 14): apps' public keys and the private_key_jwt jti store."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from portal._migrate import MIGRATIONS_DIR, upgrade_to_head
from portal._models import Base


def _run(engine: Engine, verb: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)


def test_0004_adds_the_key_column_and_jti_table_and_goes_down_again(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'portal.db'}")
    _run(engine, "upgrade", "0003")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO clients (client_id, kind, name, status, requested_scopes,"
                " requested_purposes, granted_scopes, granted_purposes, justification,"
                " redirect_uris, created_at, updated_at) VALUES ('app-1', 'APP', 'a',"
                " 'APPROVED', '[]', '[]', '[]', '[]', '', '[]', 0, 0)"
            )
        )
    upgrade_to_head(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT jwks FROM clients")).scalar_one() is None  # a secret app
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    assert diff == []
    uniques = inspect(engine).get_unique_constraints("client_assertion_jtis")
    assert ["client_id", "jti"] in [u["column_names"] for u in uniques]
    _run(engine, "downgrade", "0003")
    assert "jwks" not in {col["name"] for col in inspect(engine).get_columns("clients")}
    assert "client_assertion_jtis" not in inspect(engine).get_table_names()
