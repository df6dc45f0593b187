"""The SQLAlchemy object shared by models, resources and migrations, and how its
connections are used: reads outside transactions, live connections only, and the
locking rules of writes."""

import re
import select
import threading
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary

import flask_sqlalchemy.session
from flask import current_app, has_request_context, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError

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

# Requests that only read.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_read_engines: "WeakKeyDictionary[Engine, Engine]" = WeakKeyDictionary()
_read_engines_lock = threading.Lock()


class Session(flask_sqlalchemy.session.Session):
    """Flask-SQLAlchemy's session, which runs a read request's statements in
    autocommit on PostgreSQL, on connections of their own (`read_engine`).

    A read needs no transaction there: under READ COMMITTED every statement
    reads its own snapshot either way, so a transaction only adds a BEGIN and
    a ROLLBACK, two round trips to the server on each request. SQLite's
    driver already reads outside a transaction (it opens one before a write
    only). A read request must not write: in autocommit each statement would
    commit alone, and no lock would outlive its statement.
    """

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        bind = super().get_bind(*args, **kwargs)
        if (
            isinstance(bind, Engine)
            and bind.dialect.name == "postgresql"
            and has_request_context()
            and request.method in READ_METHODS
        ):
            return read_engine(bind)
        return bind


def engines() -> list[Engine]:
    """The current app's engines: its own, and on PostgreSQL that of reads."""
    if db.engine.dialect.name == "postgresql":
        return [db.engine, read_engine(db.engine)]
    return [db.engine]


def read_engine(engine: Engine) -> Engine:
    """The engine of read requests beside `engine` (PostgreSQL): the same
    database and settings, a pool of its own whose connections are in
    autocommit from their start; the same object each time, disposed with
    `engine`.

    Switching a pooled connection to autocommit for a read, and back before
    the pool hands it to a write, costs SQLAlchemy's isolation bookkeeping on
    every checkout and checkin, and a rollback on return: some 90 µs of a
    request's CPU here. These connections never leave autocommit and never
    hold a transaction, so they need neither. Each worker so holds up to two
    connections, one for reads and one for writes (README, Production).
    """
    reader = _read_engines.get(engine)
    if reader is not None:
        return reader
    with _read_engines_lock:  # threads of one worker make it once
        reader = _read_engines.get(engine)
        if reader is None:
            options = {
                **current_app.config["SQLALCHEMY_ENGINE_OPTIONS"],
                "echo": engine.echo,
                "isolation_level": "AUTOCOMMIT",
                "pool_reset_on_return": None,
            }
            reader = _read_engines[engine] = create_engine(engine.url, **options)
            event.listen(engine, "engine_disposed", lambda _engine: reader.dispose())
        return reader


db = SQLAlchemy(
    metadata=MetaData(naming_convention=NAMING_CONVENTION),
    # An answer shows what its own transaction wrote and read. Reloading the
    # objects after the commit would read what other requests did since, or
    # fail on a row another request deleted in the meantime; so views read
    # what they show before they commit (resources/common.py).
    session_options={"expire_on_commit": False, "class_": Session},
)

if TYPE_CHECKING:
    # Flask-SQLAlchemy builds db.Model at run time, where type checkers cannot
    # see it; to them models are plain declarative classes.
    from sqlalchemy.orm import DeclarativeBase

    class Model(DeclarativeBase):
        pass
else:
    Model = db.Model


@event.listens_for(Engine, "connect")
def _enable_sqlite_foreign_keys(dbapi_connection, _connection_record):
    """SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked, per connection."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


@event.listens_for(Engine, "checkout")
def _refuse_dead_connections(dbapi_connection, _record, _proxy):
    """A pooled PostgreSQL connection that its server has closed (a restart, a
    shutdown, a dropped link) is replaced before a request gets it.

    An idle connection has nothing to read unless the server hung up: its
    closing notice or end-of-file is waiting on the socket. Looking costs one
    non-blocking poll instead of the round trip of a pre-ping (`SELECT 1`).
    Raising DisconnectionError makes the pool discard it and connect anew.
    """
    if not type(dbapi_connection).__module__.startswith("psycopg"):
        return
    poll = select.poll()
    poll.register(dbapi_connection.fileno(), select.POLLIN)
    if poll.poll(0):
        raise DisconnectionError("the server closed the connection")


def error_code(error: DBAPIError) -> str | None:
    """The SQLSTATE (PostgreSQL) or extended result code (SQLite) of `error`."""
    original = error.orig
    code = getattr(original, "sqlstate", None) or getattr(
        original, "sqlite_errorname", None
    )
    return code if isinstance(code, str) else None


def constraint_of(error: DBAPIError) -> str | None:
    """The name of the constraint or unique index `error` broke, if told."""
    original = error.orig
    diag = getattr(original, "diag", None)
    if diag is not None:
        return diag.constraint_name
    # SQLite names a unique index in its message: "... failed: index 'name'".
    match = re.search(r"index '([^']+)'", str(original))
    return match.group(1) if match else None


M = TypeVar("M")


def get_for_update(model: type[M], ident: int, *, key_share: bool = False) -> M | None:
    """The row `ident` of `model`, read under a lock held until the transaction ends; or None.

    What a write checks (an If-Match ETag, a rule about the row) must still
    hold when it commits. PostgreSQL locks the row (SELECT ... FOR UPDATE): a
    concurrent write of it, or an insert of a row pointing at it, waits for
    this transaction, and statements after the lock read what was committed
    before it. SQLite has no row locks, so its one write lock is taken before
    the read (BEGIN IMMEDIATE): every other write waits instead.

    `key_share` is for a change that keeps the row (an update): PostgreSQL's
    FOR NO KEY UPDATE still serializes it with every other change of the row,
    but lets rows that point at it (an item of a store) be inserted meanwhile.
    A delete takes the full lock, so such inserts wait and then find it gone.
    """
    write_lock_on_sqlite()
    lock = {"key_share": True} if key_share else True
    return db.session.get(model, ident, with_for_update=lock, populate_existing=True)


def first_for_update(statement: Any, of: Any, *, key_share: bool = False) -> Any:
    """The first row of `statement`, its `of` entity locked as get_for_update
    locks a row (rows of other tables it joins are read, not locked); or None."""
    write_lock_on_sqlite()
    locked = statement.with_for_update(key_share=key_share, of=of)
    options = {"populate_existing": True}
    return db.session.execute(locked, execution_options=options).first()


def write_lock_on_sqlite() -> None:
    """Begin the session's transaction with SQLite's write lock (BEGIN
    IMMEDIATE), unless it is under way; on PostgreSQL, nothing."""
    connection = db.session.connection()
    # The sqlite3 module opens a transaction by itself only before a write
    # statement; reads before it run outside any transaction.
    if connection.dialect.name == "sqlite":
        raw = connection.connection.driver_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def insert_unless_present(table: Table, **values) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when this call inserted the row.

    Of several requests inserting the same key at once exactly one gets True,
    whatever the interleaving: the database's unique index decides.
    """
    dialect = (
        postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    )
    key = next(iter(table.primary_key.columns))
    statement = (
        dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    )
    return db.session.execute(statement).first() is not None
