"""Give stores an owner: stores.owner_id, the user who created the store

Revision ID: d7a3b9c2e5f1
Revises: c4e8a1f0b2d3
Create Date: 2026-12-01 21:00:00.000000

- stores.owner_id references users.id, nullable, ON DELETE SET NULL: a
  deleted owner leaves their stores, ownerless. Indexed, for the
  `owner_id` filter and for the database's SET NULL on a user's delete.
- Stores that exist already stay ownerless (owner_id NULL): nothing tells
  who created them, so only admins may change them from now on.

On SQLite the foreign key needs a copy of the table (batch mode), and
dropping the old `stores` with foreign keys enforced would delete its items
and tags: migrations/env.py runs migrations with enforcement off, and this
one refuses to run with it on.
"""

import warnings
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "d7a3b9c2e5f1"
down_revision = "c4e8a1f0b2d3"
branch_labels = None
depends_on = None

FK = "fk_stores_owner_id_users"
INDEX = "ix_stores_owner_id"


# The copy keeps `stores` AUTOINCREMENT (ids never reused), which reflection
# does not see; and the table's place in sqlite_sequence, which dropping the
# old copy forgets, is put back after (ids_kept).
COPY = {"table_kwargs": {"sqlite_autoincrement": True}}


def refuse_to_delete_contents():
    """Stop unless SQLite's foreign keys are off (migrations/env.py turns them
    off): copying `stores` with them on would delete its items and tags."""
    bind = op.get_bind()
    if (
        bind.dialect.name == "sqlite"
        and bind.exec_driver_sql("PRAGMA foreign_keys").scalar()
    ):
        raise RuntimeError(
            "SQLite enforces foreign keys: copying `stores` would delete its "
            "items and tags. Run migrations through migrations/env.py."
        )


@contextmanager
def ids_kept():
    """Keep the highest id `stores` ever gave out across a copy on SQLite."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    seq = "SELECT seq FROM sqlite_sequence WHERE name = 'stores'"
    highest = bind.exec_driver_sql(seq).scalar()
    yield
    if highest is not None:
        bind.exec_driver_sql(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'stores'",
            (highest,),
        )
        if bind.exec_driver_sql(seq).scalar() is None:
            bind.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('stores', ?)",
                (highest,),
            )


def upgrade():
    refuse_to_delete_contents()
    with ids_kept(), op.batch_alter_table("stores", **COPY) as batch:
        batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(FK, "users", ["owner_id"], ["id"], ondelete="SET NULL")
        batch.create_index(INDEX, ["owner_id"])


def downgrade():
    refuse_to_delete_contents()
    with warnings.catch_warnings():
        # Reflecting `stores` reads `users`, which its foreign key names, and
        # SQLite cannot reflect users' expression index; `users` is not copied.
        warnings.filterwarnings(
            "ignore", "Skipped unsupported reflection of expression-based index"
        )
        with ids_kept(), op.batch_alter_table("stores", **COPY) as batch:
            batch.drop_index(INDEX)
            batch.drop_constraint(FK, type_="foreignkey")
            batch.drop_column("owner_id")
