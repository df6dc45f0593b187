"""Give users an email address: users.email and users.email_verified

Revision ID: e2f8c1a9d4b6
Revises: d7a3b9c2e5f1
Create Date: 2026-12-03 08:00:00.000000

- users.email, up to 254 characters (the longest address SMTP carries),
  nullable: existing users have none until they set one.
- users.email_verified, false until the owner of the address follows the
  link sent to it.
- A unique index on lower(email), as on lower(username): an address is
  taken whatever its letter case. Users without an address (NULL) do not
  collide.
"""

import sqlalchemy as sa
from alembic import op

revision = "e2f8c1a9d4b6"
down_revision = "d7a3b9c2e5f1"
branch_labels = None
depends_on = None

INDEX = "uq_users_email_lower"


# Plain ALTER TABLE, not batch mode: a batch copy of `users` would lose the
# expression index on lower(username), which SQLite cannot reflect.


def upgrade():
    op.add_column("users", sa.Column("email", sa.String(length=254), nullable=True))
    op.add_column(
        "users",
        sa.Column(
            "email_verified", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
    )
    op.create_index(INDEX, "users", [sa.text("lower(email)")], unique=True)


def downgrade():
    op.drop_index(INDEX, table_name="users")
    op.drop_column("users", "email_verified")
    op.drop_column("users", "email")
