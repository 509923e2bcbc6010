"""organization slug and status, user disabled (issue 14)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 05:40:00

Existing organizations get a slug derived from their name (as ``portal._slugs.derive_slug``
does; repeated here so this migration never changes with the code) and status ACTIVE.
"""

from __future__ import annotations

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _slug(name: str, taken: set[str]) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    kept, digits = [], 0
    for c in folded:  # at most 4 digits kept: the zone refuses a partner name with over 6
        digits += c.isdigit()
        kept.append("" if c.isdigit() and digits > 4 else c)
    base = re.sub(r"[^a-z0-9]+", "-", "".join(kept)).strip("-")[:32].strip("-")
    if len(base) < 2:
        base = "org"
    slug, n = base, 1
    while slug in taken:
        n += 1
        suffix = f"-{n}"
        slug = base[: 32 - len(suffix)].rstrip("-") + suffix
    return slug


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slug", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="ACTIVE")
        )
    connection = op.get_bind()
    organizations = sa.table(
        "organizations", sa.column("id", sa.Integer), sa.column("name"), sa.column("slug")
    )
    taken: set[str] = set()
    rows = connection.execute(
        sa.select(organizations.c.id, organizations.c.name).order_by(organizations.c.id)
    ).all()
    for org_id, name in rows:
        slug = _slug(name, taken)
        taken.add(slug)
        connection.execute(
            organizations.update().where(organizations.c.id == org_id).values(slug=slug)
        )
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.alter_column("slug", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint("uq_organizations_slug", ["slug"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("disabled")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_constraint("uq_organizations_slug", type_="unique")
        batch_op.drop_column("status")
        batch_op.drop_column("slug")
