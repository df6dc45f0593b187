"""Log every change of stores, items, tags and links for the changes feed: changes, change_clock

Revision ID: a4c7e9f1b2d5
Revises: f3a9d2b7c1e8
Create Date: 2026-12-03 10:00:00.000000

- `changes` holds the latest change of each store, item and tag: "upsert"
  or "delete", and its number `seq` in commit order. A link made or
  removed is an upsert of its item. Ids are never reused, so a delete is
  final: a later trigger (a cascade removing links) never turns it back.
- `change_clock` (one row) hands out the numbers, and remembers the highest
  number whose tombstone was pruned (older cursors are expired).
- Triggers write both, so nothing escapes them: the application's writes,
  the database's cascades (a store's items and tags, an item's links) and
  SET NULL (a deleted owner's stores).

Numbers follow commits. On SQLite one transaction writes at a time, so a
number taken in the trigger is already in commit order. On PostgreSQL the
triggers mark changes unnumbered, and a deferred constraint trigger numbers
them as the transaction commits, from the clock row, which it then holds
locked until the commit: the transaction after it waits, so it takes a
larger number and commits later.

Existing rows are logged as upserts, so that a first sync sees them.
"""

import sqlalchemy as sa
from alembic import op

revision = "a4c7e9f1b2d5"
down_revision = "f3a9d2b7c1e8"
branch_labels = None
depends_on = None

# The logged tables: (table, kind, the column of the changed row's id).
LOGGED = (
    ("stores", "store", "id"),
    ("items", "item", "id"),
    ("tags", "tag", "id"),
    ("items_tags", "item", "item_id"),
)

POSTGRESQL = """
CREATE FUNCTION changes_log() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed integer;
BEGIN
    IF TG_OP = 'DELETE' THEN
        EXECUTE format('SELECT ($1).%I', TG_ARGV[1]) INTO changed USING OLD;
    ELSE
        EXECUTE format('SELECT ($1).%I', TG_ARGV[1]) INTO changed USING NEW;
    END IF;
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME <> 'items_tags' THEN
        INSERT INTO changes (kind, row_id, op, seq, changed_at)
        VALUES (TG_ARGV[0], changed, 'delete', NULL, now())
        ON CONFLICT (kind, row_id)
        DO UPDATE SET op = 'delete', seq = NULL, changed_at = now();
    ELSE
        INSERT INTO changes (kind, row_id, op, seq, changed_at)
        VALUES (TG_ARGV[0], changed, 'upsert', NULL, now())
        ON CONFLICT (kind, row_id)
        DO UPDATE SET op = 'upsert', seq = NULL, changed_at = now()
        WHERE changes.op <> 'delete';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION changes_number() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next bigint;
BEGIN
    IF NEW.seq IS NOT NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO change_clock (id, seq, pruned_through) VALUES (1, 1, 0)
    ON CONFLICT (id) DO UPDATE SET seq = change_clock.seq + 1
    RETURNING seq INTO next;
    UPDATE changes SET seq = next
    WHERE kind = NEW.kind AND row_id = NEW.row_id AND seq IS NULL;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER changes_number AFTER INSERT OR UPDATE ON changes
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION changes_number();
"""


def sqlite_triggers(table: str, kind: str, column: str) -> list[str]:
    """SQLite's triggers for `table`: one per operation, each numbering its change."""
    number = (
        "INSERT INTO change_clock (id, seq, pruned_through) VALUES (1, 1, 0) "
        "ON CONFLICT (id) DO UPDATE SET seq = seq + 1;"
    )
    now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    seq = "(SELECT seq FROM change_clock WHERE id = 1)"
    statements = []
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        if event == "DELETE" and table != "items_tags":
            log = (
                f"INSERT INTO changes (kind, row_id, op, seq, changed_at) "
                f"VALUES ('{kind}', OLD.{column}, 'delete', {seq}, {now}) "
                "ON CONFLICT (kind, row_id) DO UPDATE SET op = 'delete', "
                "seq = excluded.seq, changed_at = excluded.changed_at;"
            )
        else:
            log = (
                f"INSERT INTO changes (kind, row_id, op, seq, changed_at) "
                f"VALUES ('{kind}', {row}.{column}, 'upsert', {seq}, {now}) "
                "ON CONFLICT (kind, row_id) DO UPDATE SET op = 'upsert', "
                "seq = excluded.seq, changed_at = excluded.changed_at "
                "WHERE changes.op <> 'delete';"
            )
        statements.append(
            f"CREATE TRIGGER changes_{table}_{event.lower()} AFTER {event} ON {table} "
            f"FOR EACH ROW BEGIN {number} {log} END"
        )
    return statements


def upgrade():
    op.create_table(
        "changes",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "row_id", name=op.f("pk_changes")),
    )
    op.create_index(op.f("ix_changes_seq"), "changes", ["seq"], unique=False)
    op.create_table(
        "change_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "pruned_through", sa.BigInteger(), server_default="0", nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_clock")),
    )
    # What exists already, as upserts numbered 1, 2, ...
    op.execute(
        "INSERT INTO changes (kind, row_id, op, seq, changed_at) "
        "SELECT kind, row_id, 'upsert', "
        "ROW_NUMBER() OVER (ORDER BY kind, row_id), CURRENT_TIMESTAMP FROM ("
        "SELECT 'store' AS kind, id AS row_id FROM stores "
        "UNION ALL SELECT 'item', id FROM items "
        "UNION ALL SELECT 'tag', id FROM tags) AS existing"
    )
    op.execute(
        "INSERT INTO change_clock (id, seq, pruned_through) "
        "SELECT 1, COUNT(*), 0 FROM changes"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL)
        for table, kind, column in LOGGED:
            op.execute(
                f"CREATE TRIGGER changes_log AFTER INSERT OR UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION changes_log('{kind}', '{column}')"
            )
        return
    for table, kind, column in LOGGED:
        for statement in sqlite_triggers(table, kind, column):
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, _, _ in LOGGED:
            op.execute(f"DROP TRIGGER changes_log ON {table}")
        op.execute("DROP TRIGGER changes_number ON changes")
        op.execute("DROP FUNCTION changes_number()")
        op.execute("DROP FUNCTION changes_log()")
    else:
        for table, _, _ in LOGGED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER changes_{table}_{event}")
    op.drop_table("change_clock")
    op.drop_index(op.f("ix_changes_seq"), table_name="changes")
    op.drop_table("changes")
