"""What a request sends to the database, as the database is sent it.

`statements_sent(engines, send, warm_up)` lists each statement, in short ("BEGIN",
"SELECT items"), that runs while `send()` does: on PostgreSQL from libpq's
trace of the wire (each one a round trip to the server, transaction control
and pings included), on SQLite from its own trace callback (the BEGIN and
COMMIT its driver adds included; the steps of triggers left out, as they are
on PostgreSQL, where they run in the server). The benchmark prints them per
request, and tests/test_round_trips.py holds the hot reads to them.
"""

import re
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Engine

# A message of libpq's trace: "F" (to the server) or "B" (back), its length,
# its type, then its fields, which may run over several lines.
_TRACED_MESSAGE = re.compile(
    r"^([FB])\t\d+\t(\w+)\t?(.*?)(?=^[FB]\t\d+\t|\Z)", re.M | re.S
)
_TRACED_PARSE = re.compile(r'"([^"]*)" "(.*)" \d+', re.S)
_TRACED_BIND = re.compile(r'"[^"]*" "([^"]*)"')


# The token's check (auth.py): the token's user and revocation, alone or
# joined to a read (auth.with_token_check) as the subquery `data`.
_TOKEN_CHECK = re.compile(r"\) AS token LEFT OUTER JOIN users ")
_WITH_TOKEN_CHECK = re.compile(
    _TOKEN_CHECK.pattern + r".*? LEFT OUTER JOIN \((.*)\) AS data ON ", re.S
)


def statement(sql: str) -> str:
    """`sql` in short: its verb and first table ("SELECT items", "BEGIN");
    the token's check is "SELECT users (token check)", or "+ token check"
    after the read that carries it."""
    checked = _WITH_TOKEN_CHECK.search(sql)
    if checked:
        return statement(checked.group(1)) + " + token check"
    if _TOKEN_CHECK.search(sql):
        return "SELECT users (token check)"
    words = sql.strip().rstrip(";").split()
    if not words:
        return "(empty query: a ping)"
    verb = words[0].upper()
    for table in re.finditer(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", sql, re.I):
        before = sql[: table.start()]
        if before.count("(") == before.count(")"):  # not in a subquery
            return f"{verb} {table.group(1)}"
    for table in re.finditer(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", sql, re.I):
        return f"{verb} {table.group(1)} (in a subquery)"
    return " ".join(words[:3]) if verb in {"SELECT", "PRAGMA"} else verb


def wire_statements(trace: str) -> list[str]:
    """The SQL of each statement a libpq trace shows the client sending, one
    per round trip (a simple Query, or an extended Parse/Bind/Execute ending
    in Sync)."""
    prepared: dict[str, str] = {}
    sent, pending = [], ""
    for direction, kind, fields in _TRACED_MESSAGE.findall(trace):
        if direction != "F":
            continue
        if kind == "Query":
            sent.append(fields.strip().strip('"'))
        elif kind == "Parse":
            name, sql = _TRACED_PARSE.search(fields).groups()
            prepared[name] = pending = sql
        elif kind == "Bind":
            pending = prepared.get(_TRACED_BIND.search(fields).group(1), pending)
        elif kind == "Sync":
            sent.append(pending)
            pending = ""
    return sent


def without_trigger_steps(trace: list[str]) -> list[str]:
    """SQLite's trace with each statement once. SQLite calls back again as
    each trigger program a statement runs starts (a write's changes feed,
    migrations/), and Python's sqlite3 hands the callback the statement's own
    SQL then, not SQLite's "-- TRIGGER" note: an INSERT with one trigger of
    two steps is traced four times. A statement traced again at once, its
    values included, is that statement's triggers."""
    return [sql for i, sql in enumerate(trace) if i == 0 or sql != trace[i - 1]]


MARK = "SELECT 'the request starts here'"


def _mark(raw: Any) -> None:
    if isinstance(raw, sqlite3.Connection):
        raw.execute(MARK)
    else:
        autocommit = raw.autocommit
        raw.autocommit = True
        raw.execute(MARK)
        raw.autocommit = autocommit


def statements_sent(
    engines: Sequence[Engine],
    send: Callable[[], object],
    warm_up: Callable[[], object] | None = None,
) -> list[str]:
    """Each statement the database is sent while `send()` runs, in short,
    as the server sees them, on the connections of `engines` (db.engines()).

    Each pool is emptied and one connection opened before, as a warm worker
    holds one, and `warm_up()` runs on it, as the worker's earlier requests
    did: on PostgreSQL the first run of a prebuilt read on a connection
    prepares it there, one round trip of its own (prebuilt.py). A mark sent
    on the last connection (in autocommit, so it opens no transaction) then
    divides what connecting and warming up sent from what the request does.
    """
    sqlite_trace: list[str] = []
    with tempfile.TemporaryFile() as trace_file:

        def trace(dbapi_connection, _record):
            if isinstance(dbapi_connection, sqlite3.Connection):
                dbapi_connection.set_trace_callback(sqlite_trace.append)
            else:
                pgconn = dbapi_connection.pgconn
                pgconn.trace(trace_file.fileno())
                pgconn.set_trace_flags(
                    psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
                )

        for engine in engines:
            engine.dispose()
            event.listen(engine, "connect", trace)
        try:
            for engine in engines:
                with engine.connect():
                    pass
            if warm_up is not None:
                warm_up()
            with engines[-1].connect() as connection:
                _mark(connection.connection.dbapi_connection)
            send()
        finally:
            for engine in engines:
                engine.dispose()  # closing the connections ends their traces
                event.remove(engine, "connect", trace)
        trace_file.seek(0)
        wire = wire_statements(trace_file.read().decode(errors="replace"))
    sent = wire + without_trigger_steps(sqlite_trace)
    return [statement(sql) for sql in sent[sent.index(MARK) + 1 :]]
