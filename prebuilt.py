"""SELECTs built once, at import, and run on every request straight on the
driver.

SQLAlchemy's execution of a statement whose compiled form it has cached
still costs some 30 µs on SQLite and 90 µs on PostgreSQL: parameters
processed, an execution context, and a result whose metadata is read from
the cursor's description each time, which psycopg builds anew, a Column
object per column. A `Prebuilt` statement is compiled once per database and
then run with only its values changing, its rows fetched as the driver
returns them (tuples) and converted as SQLAlchemy would convert them (a
boolean from SQLite's 0 or 1) where a column needs it:

- on SQLite, on a cursor kept with the driver's connection;
- on PostgreSQL, in a read's connection (autocommit: `_on_libpq` says why
  only there), on the libpq connection under psycopg's (`psycopg.pq`):
  prepared there under a name of its own the first time it runs on that
  connection, then executed by that name in one blocking libpq call, its
  values written and its rows read by psycopg's own adapters. A cursor's
  execution, even of a statement psycopg has prepared, drives the same
  round trip through psycopg's Python generators: under the benchmark's load
  that cost a read of one item about 20 µs of the worker's CPU more (7 to
  46 µs in four comparisons, run alternately). The call releases the GIL
  while it waits, as psycopg's own wait does;
- in a write's transaction on PostgreSQL, on a psycopg RawCursor kept with
  the connection.

Driver errors are raised as the driver raises them (psycopg's class for the
SQLSTATE, its OperationalError for a lost connection) and wrapped as
SQLAlchemy wraps them (OperationalError and the rest, which faults.py answers
with a 503); a connection found dead is invalidated as SQLAlchemy does, so
the pool connects anew. The statements run this way do not pass through
SQLAlchemy's events (`before_cursor_execute`, echo): tests that count them
read the wire (bench/wire.py).

A statement whose SQL depends on its values (an expanding IN list, a value
written into the SQL) or whose values need converting is refused the first
time it is compiled: those stay with SQLAlchemy's execution.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from sqlalchemy import ColumnElement, FromClause, literal_column, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select

Converter = Callable[[Any], Any] | None

# Numbers the names statements are prepared under on PostgreSQL.
_serial = count(1)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # The parameters' names in the order of their placeholders (qmark on
    # SQLite, $1, $2 … on PostgreSQL; a name used twice is one placeholder).
    order: tuple[str, ...]
    defaults: dict[str, Any]  # values bound in the statement itself


class Prebuilt:
    """A SELECT to be run many times with different parameters (see above)."""

    def __init__(self, statement: Select[Any]):
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        # Per database: None where no column needs converting, else one
        # converter (or None) per column. Known after the first run, from
        # the types the driver describes the columns with.
        self._converters: dict[str, list[Converter] | None] = {}
        # What it is prepared as on each PostgreSQL connection.
        self._name = f"prebuilt_{next(_serial)}".encode()

    def rows(self, connection: Connection, params: dict[str, Any]) -> list[Any]:
        """The rows of the statement with `params`, on `connection` (in its
        transaction, if it has one)."""
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        values = {**compiled.defaults, **params}
        arguments = tuple(values[name] for name in compiled.order)
        # The columns' types are read once, to find their converters.
        described = dialect.name in self._converters
        types: list[Any] = []
        cursor = None
        try:
            if _on_libpq(connection):
                found, types = _run_on_libpq(
                    connection, self._name, compiled.sql, arguments, not described
                )
            else:
                cursor = _cursor(connection)  # fails too on a connection known closed
                cursor.execute(compiled.sql, arguments)
                found = cursor.fetchall()  # a list on both drivers
                if not described:
                    types = [column[1] for column in cursor.description]
        except dialect.loaded_dbapi.Error as error:
            raise _wrapped(
                connection, cursor, compiled.sql, arguments, error
            ) from error
        if not described:
            self._converters[dialect.name] = self._converters_for(dialect, types)
        converters = self._converters[dialect.name]
        if converters is None:
            return found
        return [
            tuple(
                value if c is None else c(value)
                for c, value in zip(converters, row, strict=True)
            )
            for row in found
        ]

    def _compile(self, dialect: Dialect) -> _Compiled:
        if dialect.name == "postgresql":
            # libpq's own placeholders ($1), which libpq's prepare and
            # psycopg's RawCursor take.
            assert isinstance(dialect, DefaultDialect)  # as every dialect is
            dialect = type(dialect)(
                paramstyle="numeric_dollar", dbapi=dialect.loaded_dbapi
            )
        compiled = self.statement.compile(dialect=dialect)
        if compiled.post_compile_params or compiled.escaped_bind_names:
            raise TypeError(
                "a prebuilt statement's SQL must not depend on its values: "
                f"{sorted(p.key for p in compiled.post_compile_params)}"
            )
        converting = [
            name
            for name, bind in compiled.binds.items()
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None
        ]
        if converting:
            raise TypeError(f"prebuilt statement values need converting: {converting}")
        order = compiled.positiontup
        assert order is not None  # a positional paramstyle on both databases
        made = self._compiled[dialect.name] = _Compiled(
            str(compiled), tuple(order), dict(compiled.params)
        )
        return made

    def _converters_for(
        self, dialect: Dialect, types: Sequence[Any]
    ) -> list[Converter] | None:
        """A converter per column, from the driver's type of each (its
        description's type code)."""
        converters: list[Converter] = [
            column.type.dialect_impl(dialect).result_processor(dialect, type_code)
            for column, type_code in zip(
                self.statement.selected_columns, types, strict=True
            )
        ]
        return converters if any(converters) else None


class PrebuiltColumn:
    """A column expression without parameters, over `table`, compiled once
    per database into SQL text, for statements built on each request around
    it (a page of stores with their JSON, sqljson.py).

    SQLAlchemy finds a statement's compiled form by a cache key it makes by
    walking the statement's whole tree on every execution: 150 µs for a
    store's JSON, on every page of stores. As text, the column's key is its
    string. It stands in a SELECT whose FROM names `table` as it is (not an
    alias), which its correlated subqueries refer to.
    """

    _LABEL = "prebuilt_column"

    def __init__(self, expression: ColumnElement[Any], table: FromClause):
        self.expression = expression
        self.table = table
        self._columns: dict[str, ColumnElement[Any]] = {}

    def column(self, dialect: Dialect) -> ColumnElement[Any]:
        made = self._columns.get(dialect.name)
        if made is None:
            made = self._columns[dialect.name] = self._compile(dialect)
        return made

    def _compile(self, dialect: Dialect) -> ColumnElement[Any]:
        alone = select(self.expression.label(self._LABEL)).select_from(self.table)
        compiled = alone.compile(dialect=dialect)
        sql = str(compiled)
        head = "SELECT "
        tail = f" AS {self._LABEL} \nFROM {self.table.name}"  # type: ignore[attr-defined]
        if compiled.binds or not (sql.startswith(head) and sql.endswith(tail)):
            raise TypeError(f"not a column without parameters over one table: {sql}")
        return literal_column(sql[len(head) : -len(tail)], self.expression.type)


# The keys, in a pooled connection's `info`, of its cursor (SQLite's, and a
# PostgreSQL write's) and of the names of the statements prepared on it (a
# PostgreSQL read's). The pool empties
# `info` when it replaces the driver's connection.
_CURSOR = "prebuilt.cursor"
_PREPARED = "prebuilt.prepared"


def _cursor(connection: Connection) -> Any:
    """The cursor prebuilt statements run on where they do not run on libpq,
    one per driver connection, kept from run to run: psycopg's cost about
    20 µs to make and close (its own adapters and loaders), as much as the
    rest of its execution in Python. psycopg's is a RawCursor, which takes
    libpq's $1, $2 … placeholders as they are compiled for PostgreSQL."""
    pooled = connection.connection
    cursor = pooled.info.get(_CURSOR)
    if cursor is None:
        dbapi_connection = pooled.dbapi_connection
        assert dbapi_connection is not None  # a live connection from the pool
        if isinstance(dbapi_connection, psycopg.Connection):
            cursor = psycopg.RawCursor(dbapi_connection)
        else:
            cursor = dbapi_connection.cursor()
        pooled.info[_CURSOR] = cursor
    return cursor


def _on_libpq(connection: Connection) -> bool:
    """Whether a statement runs on `connection`'s libpq connection: on
    PostgreSQL, in autocommit (the reads' connections, db.read_engine).

    When psycopg rolls a transaction back it deallocates every statement
    prepared on the connection (DEALLOCATE ALL), ours too, without a word
    to us; in autocommit it never sends a ROLLBACK. And a statement run on
    libpq would not begin the transaction psycopg's cursor begins before
    the first statement on a connection that is not in autocommit. (A
    statement the server no longer has all the same, or whose columns a
    migration has given other types, is prepared again: _PREPARE_AGAIN.)
    """
    driver = connection.connection.dbapi_connection
    return isinstance(driver, psycopg.Connection) and driver.autocommit


# What the server answers a run of a prepared statement that must be
# prepared again: one it does not have (26000: deallocated, as psycopg's
# DEALLOCATE ALL does), or one whose columns' types a migration has changed
# since (0A000, "cached plan must not change result type").
_PREPARE_AGAIN = {b"26000", b"0A000"}


def _run_on_libpq(
    connection: Connection,
    name: bytes,
    sql: str,
    arguments: Sequence[Any],
    describe: bool,
) -> tuple[list[Any], list[int]]:
    """The rows of the statement `sql`, prepared as `name`, with `arguments`,
    run on the libpq connection of `connection` (see above); and, if asked
    to `describe` them, the type (OID) of each column."""
    pooled = connection.connection
    driver = pooled.dbapi_connection
    assert isinstance(driver, psycopg.Connection)  # _on_libpq
    pgconn = driver.pgconn
    # psycopg's adapters, as its cursors use them: values as text, which the
    # server reads as the types it gave the placeholders when preparing.
    adapters = Transformer.from_context(driver)
    encoding = adapters.encoding
    values = adapters.dump_sequence(arguments, [PyFormat.TEXT] * len(arguments))
    prepared: set[bytes] | None = pooled.info.get(_PREPARED)
    if prepared is None:
        prepared = pooled.info[_PREPARED] = set()
    if name not in prepared:
        _prepare(pgconn, name, sql, encoding)
        prepared.add(name)
    result = pgconn.exec_prepared(name, values)
    if result.error_field(pq.DiagnosticField.SQLSTATE) in _PREPARE_AGAIN:
        # In autocommit the failed run left no transaction behind.
        pgconn.exec_(b"DEALLOCATE " + name)  # if it is there at all
        _prepare(pgconn, name, sql, encoding)
        result = pgconn.exec_prepared(name, values)
    _raise_unless(pq.ExecStatus.TUPLES_OK, result, pgconn, encoding)
    adapters.set_pgresult(result)
    rows = adapters.load_rows(0, result.ntuples, tuple)
    if not describe:
        return rows, []
    return rows, [result.ftype(column) for column in range(result.nfields)]


def _prepare(pgconn: pq.abc.PGconn, name: bytes, sql: str, encoding: str) -> None:
    done = pgconn.prepare(name, sql.encode(), None)
    _raise_unless(pq.ExecStatus.COMMAND_OK, done, pgconn, encoding)


def _raise_unless(
    status: pq.ExecStatus, result: pq.abc.PGresult, pgconn: pq.abc.PGconn, encoding: str
) -> None:
    """Raise what psycopg raises for `result`, unless its status is `status`:
    the error class of the SQLSTATE the server sent, and when the connection
    is lost an OperationalError (the server's own, such as AdminShutdown,
    where it said why)."""
    if result.status == status:
        return
    error = psycopg.errors.error_from_result(result, encoding=encoding)
    if pgconn.status == pq.ConnStatus.BAD and not isinstance(
        error, psycopg.OperationalError
    ):
        message = pgconn.get_error_message(encoding)
        raise psycopg.OperationalError(f"the connection is lost: {message}")
    raise error


def _wrapped(
    connection: Connection, cursor: Any, sql: str, arguments: Any, error: Any
) -> BaseException:
    """`error` as SQLAlchemy raises a driver's error; the connection is
    invalidated when it is dead, as SQLAlchemy would invalidate it."""
    dialect = connection.dialect
    dbapi_connection = connection.connection.dbapi_connection
    disconnected = dialect.is_disconnect(error, dbapi_connection, cursor)
    if disconnected:
        connection.invalidate(error)
    wrapped = DBAPIError.instance(
        sql,
        arguments,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=disconnected,
        dialect=dialect,
    )
    assert isinstance(wrapped, BaseException)  # DontWrapMixin is for others' errors
    return wrapped
