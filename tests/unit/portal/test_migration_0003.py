"""Migration 0003 (issue 14): organizations gain a slug and a status, users ``disabled``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from portal._migrate import MIGRATIONS_DIR, upgrade_to_head
from portal._models import Base
from portal._slugs import derive_slug, slug_problem


def _run(engine: Engine, verb: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, verb)(config, revision)


def test_existing_organizations_get_a_slug_from_their_name_and_are_active(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'portal.db'}")
    _run(engine, "upgrade", "0002")
    with engine.begin() as c:
        names = ["Data stewards", "Acme Insurance AG", "ACME insurance, ag", "Ö"]
        for i, name in enumerate(names):
            c.execute(
                text(
                    "INSERT INTO organizations (id, name, kind, created_at)"
                    " VALUES (:i, :n, 'BANK', 0)"
                ),
                {"i": i + 1, "n": name},
            )
        c.execute(
            text(
                "INSERT INTO users (username, password_hash, role, organization_id, created_at)"
                " VALUES ('u', 'h', 'PARTNER', 2, 0)"
            )
        )
    upgrade_to_head(engine)
    with engine.connect() as c:
        rows = c.execute(text("SELECT slug, status FROM organizations ORDER BY id")).all()
        disabled = c.execute(text("SELECT disabled FROM users")).scalar_one()
    assert [tuple(r) for r in rows] == [
        ("data-stewards", "ACTIVE"),
        ("acme-insurance-ag", "ACTIVE"),
        ("acme-insurance-ag-2", "ACTIVE"),
        ("org", "ACTIVE"),
    ]
    assert disabled == 0
    uniques = inspect(engine).get_unique_constraints("organizations")
    assert ["slug"] in [u["column_names"] for u in uniques]


def test_the_migrated_schema_is_the_models_and_0003_goes_down_again(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'portal.db'}")
    upgrade_to_head(engine)
    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    assert diff == []
    _run(engine, "downgrade", "0002")
    columns = {col["name"] for col in inspect(engine).get_columns("organizations")}
    assert "slug" not in columns and "status" not in columns
    assert "disabled" not in {col["name"] for col in inspect(engine).get_columns("users")}


def test_slugs_are_derived_unique_and_checked() -> None:
    assert derive_slug("Zürich Versicherung") == "zurich-versicherung"
    assert derive_slug("x" * 40) == "x" * 32
    assert derive_slug("a" * 40, {"a" * 32}) == "a" * 30 + "-2"
    assert derive_slug("!!") == "org"
    assert derive_slug("Bank 110101199003070012") == "bank-1101"  # never an ID number
    assert slug_problem("bank-1234567") is not None
    assert slug_problem("acme-1") is None
    for bad in ["a", "-acme", "acme-", "Acme", "a_b", "x" * 33, "acme insurance"]:
        assert slug_problem(bad) is not None, bad
