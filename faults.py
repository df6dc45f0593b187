"""Faults of the servers behind the API, answered in the error envelope.

- A transaction that lost a deadlock or a serialization conflict (or, on
  SQLite, waited too long for the write lock) is run again once; if it fails
  again the client gets a 503 with `Retry-After`, and the log an error line
  with the SQLSTATE.
- An unreachable database is a 503 with `Retry-After`: the one answer that
  tells a client the outcome of its write may be unknown.
  Protected requests fail closed: if revocation cannot be checked the token
  is not accepted. Connections are re-established on the next request once
  the server is back.
- Nothing escapes as a bare HTML page: a failure while cleaning up after an
  answer (a connection that died with the server) leaves the answer as it
  was, and anything else that escapes Flask is a 500 in the envelope.
"""

import sys
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

import orjson
from flask import Flask, current_app, g, has_request_context, jsonify
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm import Session

import errors
from db import db, error_code

RETRY_AFTER_SECONDS = "5"

# PostgreSQL's serialization_failure and deadlock_detected; SQLite's "database
# is locked" (the busy timeout ran out) and its snapshot conflict.
TRANSIENT = {"40001", "40P01", "SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_LOCKED"}


def is_transient(error: Exception) -> bool:
    """Whether running the same transaction again may well succeed."""
    return isinstance(error, DBAPIError) and error_code(error) in TRANSIENT


View = Callable[..., Any]


def retried_once(view: View) -> View:
    """`view`, run a second time when its transaction failed transiently.

    The database rolled the failed transaction back, and so does the session
    here before the second run. A run that had already committed something
    is not repeated (its answer would no longer be the first run's): the
    failure stands, a 503 whose outcome the client must check.
    """

    @wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        g.commits = 0
        try:
            return view(*args, **kwargs)
        except DBAPIError as error:
            if not is_transient(error) or g.commits:
                raise
            current_app.logger.warning(
                "transaction retried after %s", error_code(error)
            )
            db.session.rollback()
            return view(*args, **kwargs)

    return run


def _count_commit(_session: Session) -> None:
    if has_request_context():
        g.commits = g.get("commits", 0) + 1


def _unavailable(error: Exception) -> Any:
    """The 503 of a database that is unreachable, or stayed busy."""
    if isinstance(error, DBAPIError) and is_transient(error):
        current_app.logger.error(
            "transaction failed twice (SQLSTATE %s): %s",
            error_code(error),
            str(error.orig).splitlines()[0],
        )
        message = "The database is busy; try again shortly."
    else:
        current_app.logger.warning("Database unavailable: %s", error)
        message = "Database unavailable; try again shortly."
    payload = errors.payload(503, message)
    return jsonify(payload), 503, {"Retry-After": RETRY_AFTER_SECONDS}


class EnvelopeForEscapes:
    """WSGI middleware: whatever escapes the app is a 500 in the envelope, not
    the server's own HTML page. The detail goes to the log."""

    BODY = orjson.dumps(errors.payload(500))

    def __init__(self, app: Flask):
        self.app = app
        self.wsgi_app = app.wsgi_app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        try:
            return self.wsgi_app(environ, start_response)
        except Exception:
            self.app.logger.exception("unhandled error outside the request")
            headers = [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(self.BODY))),
            ]
            # exc_info: the app may have started an answer already.
            start_response("500 INTERNAL SERVER ERROR", headers, sys.exc_info())
            return [self.BODY]


def init_app(app: Flask) -> None:
    """Retry every view once on a transient failure, and answer every fault.

    Call after the blueprints are registered and before anything else wraps
    the views (rate limits count a request once, whatever its retries).
    """
    for endpoint, view in app.view_functions.items():
        app.view_functions[endpoint] = retried_once(view)
    if not event.contains(db.session, "after_commit", _count_commit):
        event.listen(db.session, "after_commit", _count_commit)
    # Redis needs no handler: rate limits fall back to memory without it
    # (see ratelimit.py), and nothing else uses it.
    for error in (OperationalError, InterfaceError, SQLAlchemyTimeoutError):
        app.register_error_handler(error, _unavailable)

    # Registered after Flask-SQLAlchemy's own teardown, so it runs first: the
    # session is gone by the time that one runs. Ending the session rolls
    # back on a connection that may have died with its server; that must not
    # turn an answer already made (a 201 whose row is committed) into a 500.
    @app.teardown_appcontext
    def end_session(_error: BaseException | None) -> None:
        try:
            db.session.remove()
        except Exception as error:
            app.logger.warning("could not end the session cleanly: %s", error)

    app.wsgi_app = EnvelopeForEscapes(app)  # type: ignore[method-assign]
