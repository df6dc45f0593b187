"""Keep the answers of creates under their idempotency keys: idempotency_keys

Revision ID: f3a9d2b7c1e8
Revises: e2f8c1a9d4b6
Create Date: 2026-12-03 09:00:00.000000

One row per (user, key): the fingerprint of the request the key was first
sent with, the request holding it while it runs, and the answer it got
(status, Location, ETag, body), until it expires 24 hours later. A deleted user's
keys go with them (ON DELETE CASCADE). Indexed by expiry, for pruning.
"""

import sqlalchemy as sa
from alembic import op

revision = "f3a9d2b7c1e8"
down_revision = "e2f8c1a9d4b6"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("location", sa.String(length=2048), nullable=True),
        sa.Column("etag", sa.String(length=128), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_expires_at"),
        "idempotency_keys",
        ["expires_at"],
        unique=False,
    )


def downgrade():
    op.drop_index(op.f("ix_idempotency_keys_expires_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
