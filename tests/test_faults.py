"""Server faults in the envelope: a transaction that lost a deadlock or a serialization
conflict is retried once, then a 503 with Retry-After; a connection that dies after the
answer was made leaves it as it was; nothing escapes as an HTML page."""

import json
import logging
import sqlite3

import pytest
from flask import request
from sqlalchemy import create_engine, text
from werkzeug.test import EnvironBuilder

from db import db
from faults import retried_once
from tests.helpers import (
    PASSWORD,
    assert_error,
    auth_header,
    create_store,
    login,
    register,
    signed_in,
)
from tests.test_ownership import catalogue, everything, send

# A trigger that fails `statement` on `table` with a real PostgreSQL error
# when `condition` holds of the attempt's number, counted by a sequence (which
# no rollback resets).
FAILING_TRIGGER = """
CREATE SEQUENCE attempts;
CREATE FUNCTION fail_attempt() RETURNS trigger AS $$
BEGIN
    IF nextval('attempts') {condition} THEN
        RAISE EXCEPTION 'provoked by the test' USING ERRCODE = '{errcode}';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER fail_attempt BEFORE {statement} ON {table}
    FOR EACH ROW EXECUTE FUNCTION fail_attempt();
"""


def fail_statements(url: str, **trigger: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(FAILING_TRIGGER.format(**trigger)))
    engine.dispose()


# PostgreSQL's condition names for the errors retried once, and their SQLSTATEs.
TRANSIENT_ERRORS = pytest.mark.parametrize(
    ("errcode", "sqlstate"),
    [("serialization_failure", "40001"), ("deadlock_detected", "40P01")],
)


def rename_a_store_failing(app, url: str, errcode: str, fails: int):
    """Rename a store whose UPDATE fails the first `fails` times with `errcode`;
    the client, its headers, the store before and the answer."""
    client = app.test_client()
    headers = signed_in(client)
    store = create_store(client, headers, "Corner Shop")
    fail_statements(
        url,
        condition=f"<= {fails}",
        errcode=errcode,
        statement="UPDATE",
        table="stores",
    )
    response = client.put(
        f"/store/{store['id']}", json={"name": "Deli"}, headers=headers
    )
    return client, headers, store, response


@TRANSIENT_ERRORS
def test_a_transaction_failing_once_is_retried_and_succeeds(
    postgres_app, fresh_postgres, caplog, errcode, sqlstate
):
    *_, response = rename_a_store_failing(postgres_app, fresh_postgres, errcode, 1)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "Deli"
    assert f"transaction retried after {sqlstate}" in caplog.text


@TRANSIENT_ERRORS
def test_a_transaction_failing_twice_is_a_503_logged_with_its_sqlstate(
    postgres_app, fresh_postgres, caplog, errcode, sqlstate
):
    client, headers, store, response = rename_a_store_failing(
        postgres_app, fresh_postgres, errcode, 2
    )

    body = assert_error(response, 503)
    assert "busy" in body["message"]
    assert response.headers["Retry-After"]
    assert "provoked" not in body["message"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any(sqlstate in record.getMessage() for record in errors), caplog.text
    after = client.get(f"/store/{store['id']}", headers=headers)
    assert after.get_json()["name"] == "Corner Shop"


def test_a_logout_failing_midway_is_retried_whole(postgres_app, fresh_postgres, caplog):
    client = postgres_app.test_client()
    register(client, "alice")
    tokens = login(client, "alice")
    # The second revocation of the first run fails; the retry revokes both.
    fail_statements(
        fresh_postgres,
        condition="= 2",
        errcode="deadlock_detected",
        statement="INSERT",
        table="revoked_tokens",
    )

    response = client.post("/logout", headers=auth_header(tokens["access_token"]))

    assert response.status_code == 200, response.get_json()
    assert "transaction retried after 40P01" in caplog.text
    refused = client.post("/refresh", headers=auth_header(tokens["refresh_token"]))
    assert_error(refused, 401, error="token_revoked")


def test_a_run_that_committed_is_not_repeated(postgres_app, fresh_postgres):
    runs = []

    def commit_then_fail():
        runs.append(1)
        db.session.execute(text("CREATE TABLE IF NOT EXISTS marks (n int)"))
        db.session.commit()
        db.session.execute(
            text("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$")
        )
        return {}

    postgres_app.add_url_rule(
        "/commit-then-fail", view_func=retried_once(commit_then_fail)
    )

    response = postgres_app.test_client().get("/commit-then-fail")

    assert runs == [1]
    assert_error(response, 503)
    assert response.headers["Retry-After"]


@pytest.fixture
def sqlite_app(app_factory, migrated_sqlite, tmp_path):
    path = tmp_path / "locked.db"
    path.write_bytes(migrated_sqlite.read_bytes())
    # Waits for SQLite's write lock a tenth of a second, not five.
    options = {"pool_pre_ping": True, "connect_args": {"timeout": 0.1}}
    return path, app_factory(f"sqlite:///{path}", SQLALCHEMY_ENGINE_OPTIONS=options)


def test_sqlite_locked_by_another_writer_is_a_503_then_serves(sqlite_app, caplog):
    path, app = sqlite_app
    client = app.test_client()
    headers = signed_in(client)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock

    during = client.post("/store", json={"name": "Deli"}, headers=headers)
    other.execute("ROLLBACK")
    other.close()
    after = client.post("/store", json={"name": "Deli"}, headers=headers)

    assert_error(during, 503)
    assert during.headers["Retry-After"]
    assert "transaction retried after SQLITE_BUSY" in caplog.text
    assert after.status_code == 201


def test_a_connection_lost_after_the_answer_leaves_the_answer(postgres_app):
    admin = create_engine(postgres_app.config["SQLALCHEMY_DATABASE_URI"])

    @postgres_app.after_request
    def lose_the_connection(response):
        if request.path == "/me":
            # The request's transaction is still open; its server ends it.
            pid = db.session.connection().exec_driver_sql("SELECT pg_backend_pid()")
            with admin.connect() as connection:
                connection.execute(
                    text("SELECT pg_terminate_backend(:pid)"), {"pid": pid.scalar()}
                )
        return response

    client = postgres_app.test_client()
    headers = signed_in(client)
    response = client.get("/me", headers=headers)
    admin.dispose()

    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"


def serve(app, path: str) -> tuple[str, dict, bytes]:
    """One request through the app's WSGI callable, with a start_response that
    follows PEP 3333 as gunicorn's does (werkzeug's test client re-raises any
    exc_info, even before headers are sent)."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        # Headers go out with the first byte of the body, after this returns.
        answer.update(status=status, headers=dict(headers))

    body = b"".join(app(EnvironBuilder(path=path).get_environ(), start_response))
    return answer["status"], answer["headers"], body


def test_an_error_outside_the_request_is_a_500_envelope(make_app):
    app = make_app()

    @app.teardown_request
    def fail(_error):
        raise RuntimeError("secret detail")

    app.testing = False  # as served: nothing propagates to the caller
    status, headers, body = serve(app, "/health")

    assert status.startswith("500 ")
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    assert set(payload) == {"code", "status", "message"}
    assert (payload["code"], payload["status"]) == (500, "Internal Server Error")
    assert payload["message"] and "secret detail" not in payload["message"]


# Each ownership-guarded write, and the statement it makes (tests/test_ownership.py).
GUARDED_WRITES = pytest.mark.parametrize(
    ("write", "statement", "table"),
    [
        ("rename the store", "UPDATE", "stores"),
        ("delete the store", "DELETE", "stores"),
        ("create an item", "INSERT", "items"),
        ("update the item", "UPDATE", "items"),
        ("delete the item", "DELETE", "items"),
        ("create a tag", "INSERT", "tags"),
        ("delete the free tag", "DELETE", "tags"),
        ("link the free tag", "INSERT", "items_tags"),
        ("unlink the tag", "DELETE", "items_tags"),
        ("hand the store over", "UPDATE", "stores"),
    ],
)


@GUARDED_WRITES
def test_a_database_gone_in_the_middle_of_a_write_is_503_and_changes_nothing(
    postgres_app, fresh_postgres, write, statement, table
):
    """The owner's (or, handing over, an admin's) write passes the ownership
    check, then the server shuts down under its statement (SQLSTATE 57P01,
    raised by a trigger): a 503 with Retry-After, and nothing half-written."""
    client = postgres_app.test_client()
    headers = signed_in(client)
    result = postgres_app.test_cli_runner().invoke(
        args=["users", "create-admin", "root", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    admin = auth_header(login(client, "root")["access_token"])
    shop = catalogue(client, headers)
    before = everything(client, headers)
    fail_statements(
        fresh_postgres,
        condition=">= 1",
        errcode="admin_shutdown",
        statement=statement,
        table=table,
    )

    if write == "hand the store over":
        root = client.get("/me", headers=admin).get_json()["id"]
        response = client.put(
            f"/store/{shop['store']}/owner", json={"user_id": root}, headers=admin
        )
    else:
        response = send(client, headers, shop, write)

    assert_error(response, 503)
    assert response.headers["Retry-After"]
    assert everything(client, headers) == before
