"""throttling per client address and per client_id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_login_failures_address"), ["address"], unique=False)
    op.create_table(
        "client_auth_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("client_auth_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_auth_failures_client_id"), ["client_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("client_auth_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_auth_failures_client_id"))
    op.drop_table("client_auth_failures")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_address"))
        batch_op.drop_column("address")
