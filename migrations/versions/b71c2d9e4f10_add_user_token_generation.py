"""Add users.token_generation, to revoke every token of a user at once

Revision ID: b71c2d9e4f10
Revises: 608a3c87b747
Create Date: 2026-11-21 05:20:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "b71c2d9e4f10"
down_revision = "608a3c87b747"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: SQLite adds and (since 3.35) drops a
# column in place, and a batch copy of the table would lose the expression
# index on lower(username), which SQLite cannot reflect.


def upgrade():
    op.add_column(
        "users",
        sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False),
    )


def downgrade():
    op.drop_column("users", "token_generation")
