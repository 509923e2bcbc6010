"""partner apps' public keys for private_key_jwt, and the assertions' jti seen (issue 14)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 06:15:00

``clients.jwks``: the JWK Set (one public key) an app authenticates with (RFC 7523
``private_key_jwt``), or NULL for an app with a client secret. ``client_assertion_jtis``:
each accepted assertion's ``jti`` per client until it expires, so a replay is refused.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("jwks", sa.JSON(), nullable=True))
    op.create_table(
        "client_assertion_jtis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id", "jti", name="uq_client_assertion_jtis_client_jti"),
    )
    with op.batch_alter_table("client_assertion_jtis", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_assertion_jtis_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("client_assertion_jtis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_assertion_jtis_expires_at"))
    op.drop_table("client_assertion_jtis")
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("jwks")
