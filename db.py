"""The SQLAlchemy object shared by models, resources and migrations, and its locking rules."""

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

# Deterministic constraint names let migrations alter constraints on SQLite
# (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Primary keys are 32-bit integers on PostgreSQL; no larger id can exist, so
# larger ones are refused before they reach a query.
MAX_ID = 2**31 - 1

db = SQLAlchemy(
    metadata=MetaData(naming_convention=NAMING_CONVENTION),
    # An answer shows what its own transaction wrote and read. Reloading the
    # objects after the commit would read what other requests did since, or
    # fail on a row another request deleted in the meantime; so views read
    # what they show before they commit (resources/common.py).
    session_options={"expire_on_commit": False},
)

_INSERT_BY_DIALECT = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}


@event.listens_for(Engine, "connect")
def _enable_sqlite_foreign_keys(dbapi_connection, _connection_record):
    """SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked, per connection."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def get_for_update(model, ident: int):
    """The row `ident` of `model`, read under a lock held until the transaction ends; or None.

    What a write checks (an If-Match ETag, a rule about the row) must still
    hold when it commits. PostgreSQL locks the row (SELECT ... FOR UPDATE): a
    concurrent write of it, or an insert of a row pointing at it, waits for
    this transaction, and statements after the lock read what was committed
    before it. SQLite has no row locks, so its one write lock is taken before
    the read (BEGIN IMMEDIATE): every other write waits instead.
    """
    connection = db.session.connection()
    # The sqlite3 module opens a transaction by itself only before a write
    # statement; reads before it run outside any transaction.
    sqlite = connection.dialect.name == "sqlite"
    if sqlite and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    return db.session.get(model, ident, with_for_update=True, populate_existing=True)


def insert_unless_present(table, **values) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when this call inserted the row.

    Of several requests inserting the same key at once exactly one gets True,
    whatever the interleaving: the database's unique index decides.
    """
    insert = _INSERT_BY_DIALECT[db.session.get_bind().dialect.name]
    key = next(iter(table.primary_key.columns))
    statement = insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return db.session.execute(statement).first() is not None
