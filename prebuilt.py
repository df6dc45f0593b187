"""SELECTs built once, at import, and run on every request straight on the
driver's cursor.

SQLAlchemy's execution of a statement whose compiled form it has cached
still costs some 30 µs on SQLite and 90 µs on PostgreSQL: parameters
processed, an execution context, and a result whose metadata is read from
the cursor's description each time, which psycopg builds anew, a Column
object per column. A `Prebuilt` statement is compiled once per database;
each run then hands its SQL and parameters to a cursor kept with the
driver's connection and fetches the rows as the driver returns them (tuples), converted as SQLAlchemy would
convert them (a boolean from SQLite's 0 or 1) where a column needs it.
psycopg prepares it on the server as it does any statement it sees often.

Driver errors are raised as SQLAlchemy raises them (OperationalError and the
rest, which faults.py answers with a 503), and a connection found dead is
invalidated as SQLAlchemy does, so the pool connects anew. The statements run
this way do not pass through SQLAlchemy's events (`before_cursor_execute`,
echo): tests that count them read the wire (bench/wire.py).

A statement whose SQL depends on its values (an expanding IN list, a value
written into the SQL) or whose values need converting is refused the first
time it is compiled: those stay with SQLAlchemy's execution.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, literal_column, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select

Converter = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # The parameters' names in the order of their placeholders (qmark, as on
    # SQLite), or None for named placeholders (PostgreSQL's pyformat).
    order: tuple[str, ...] | None
    defaults: dict[str, Any]  # values bound in the statement itself


class Prebuilt:
    """A SELECT to be run many times with different parameters (see above)."""

    def __init__(self, statement: Select[Any]):
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        # Per database: None where no column needs converting, else one
        # converter (or None) per column. Known after the first run, from
        # the cursor's description, which tells the driver's column types.
        self._converters: dict[str, list[Converter] | None] = {}

    def rows(self, connection: Connection, params: dict[str, Any]) -> list[Any]:
        """The rows of the statement with `params`, on `connection` (in its
        transaction, if it has one)."""
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name) or self._compile(dialect)
        values = {**compiled.defaults, **params}
        arguments: Any = values
        if compiled.order is not None:
            arguments = tuple(values[name] for name in compiled.order)
        cursor = None
        try:
            cursor = _cursor(connection)  # fails too on a connection known closed
            cursor.execute(compiled.sql, arguments)
            found: list[Any] = cursor.fetchall()  # a list on both drivers
            if dialect.name not in self._converters:
                self._converters[dialect.name] = self._converters_for(
                    dialect, cursor.description
                )
        except dialect.loaded_dbapi.Error as error:
            raise _wrapped(
                connection, cursor, compiled.sql, arguments, error
            ) from error
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
        made = self._compiled[dialect.name] = _Compiled(
            str(compiled),
            None if order is None else tuple(order),
            dict(compiled.params),
        )
        return made

    def _converters_for(
        self, dialect: Dialect, description: Sequence[Sequence[Any]]
    ) -> list[Converter] | None:
        converters: list[Converter] = [
            column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            for column, described in zip(
                self.statement.selected_columns, description, strict=True
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


# The key of a pooled connection's cursor in its `info`, which the pool
# empties when it replaces the driver's connection.
_CURSOR = "prebuilt.cursor"


def _cursor(connection: Connection) -> Any:
    """The cursor prebuilt statements run on, one per driver connection, kept
    from run to run: psycopg's cost about 20 µs to make and close (its own
    adapters and loaders), as much as the rest of its execution in Python."""
    pooled = connection.connection
    cursor = pooled.info.get(_CURSOR)
    if cursor is None:
        dbapi_connection = pooled.dbapi_connection
        assert dbapi_connection is not None  # a live connection from the pool
        cursor = pooled.info[_CURSOR] = dbapi_connection.cursor()
    return cursor


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
