"""What a request sends to the database (db.py): a read sends its queries and nothing
else (no BEGIN, no ROLLBACK, no pre-ping), a write runs in one transaction, and a
pooled connection that its server closed is replaced before a request gets it.

Statements are read as the database is sent them (bench/wire.py: libpq's trace on
PostgreSQL, SQLite's trace callback), so transaction control and pings are seen."""

from collections import Counter

import pytest

from bench.wire import statements_sent
from db import db, engines, read_engine
from tests.backends import admin_session
from tests.helpers import link, signed_in


@pytest.fixture
def catalog(client, user_headers, store, item, tag) -> dict:
    link(client, user_headers, item["id"], tag["id"])
    return {"store": store["id"], "item": item["id"], "tag": tag["id"]}


def sent(app, client, method: str, path: str, headers: dict, **body) -> list[str]:
    """The statements one request sends; a read, after one like it warmed up
    the app and its connection (a write would conflict with its own warm-up,
    and its statements are not prepared: prebuilt.py)."""

    def send():
        response = client.open(path, method=method, headers=headers, **body)
        assert response.status_code < 300, response.get_json()

    with app.app_context():
        used = engines()
    return statements_sent(used, send, send if method == "GET" else None)


# A read's first statement carries the token's check (auth.with_token_check):
# one round trip for the token and the read, on PostgreSQL. By database where
# they differ.
@pytest.mark.parametrize(
    "path, queries",
    [
        ("/item/{item}", ["SELECT items + token check"]),
        (
            "/store/{store}",
            {
                "sqlite": ["SELECT items + token check"],
                "postgresql": ["SELECT stores + token check"],
            },
        ),
        ("/tag/{tag}", ["SELECT tags + token check", "SELECT items_tags"]),
        (
            "/item",
            [
                "SELECT items (in a subquery) + token check",
                "SELECT items",
                "SELECT items_tags",
            ],
        ),
        (
            "/store",
            {
                "sqlite": [
                    "SELECT stores (in a subquery) + token check",
                    "SELECT stores",
                    "SELECT items",
                    "SELECT tags",
                ],
                # PostgreSQL writes the page's JSON, items and tags within.
                "postgresql": [
                    "SELECT stores (in a subquery) + token check",
                    "SELECT stores",
                ],
            },
        ),
        (
            "/store/{store}/tag",
            [
                "SELECT stores",
                "SELECT tags (in a subquery) + token check",
                "SELECT tags",
                "SELECT items_tags",
            ],
        ),
        ("/me", ["SELECT users (token check)"]),
    ],
)
def test_a_read_sends_its_queries_and_nothing_else(
    app, client, user_headers, catalog, path, queries
):
    path = path.format(**catalog)

    statements = sent(app, client, "GET", path, user_headers)

    if isinstance(queries, dict):
        with app.app_context():
            queries = queries[db.engine.dialect.name]
    assert statements == queries


def test_a_write_runs_in_one_transaction(app, client, user_headers, catalog):
    body = {"name": "Stool", "price": 5.5, "store_id": catalog["store"]}

    statements = sent(app, client, "POST", "/item", user_headers, json=body)

    assert statements.count("BEGIN") == 1, statements
    # Once: the changes feed's triggers run inside the INSERT (bench/wire.py).
    assert statements.count("INSERT items") == 1, statements
    assert statements.index("BEGIN") < statements.index("INSERT items")
    assert statements[-1] == "COMMIT"
    assert "ROLLBACK" not in statements


def test_a_password_reset_request_sends_no_statement(make_app):
    """The address is looked up by the job, not the request: known or not,
    the request does the same work. (The jobs go to kombu's in-memory
    broker, where no worker takes them.)"""
    app = make_app(CELERY_BROKER_URL="memory://")
    client = app.test_client()

    def forgot(email: str) -> list[str]:
        with app.app_context():
            used = engines()
        body = {"email": email}

        def send():
            response = client.post("/password/forgot", json=body)
            assert response.status_code == 202

        return statements_sent(used, send)

    signed_in(client, "ann")

    assert forgot("nobody@example.com") == forgot("ann@example.com") == []


def test_reads_and_writes_have_pools_of_their_own(postgres_app):
    """Reads run in autocommit on connections that never leave it; the
    connections of writes never enter it."""
    client = postgres_app.test_client()
    headers = signed_in(client, "ann")
    assert client.get("/store", headers=headers).status_code == 200
    assert client.post("/store", json={"name": "S"}, headers=headers).status_code == 201

    with postgres_app.app_context():
        for engine, autocommit in ((db.engine, False), (read_engine(db.engine), True)):
            assert engine.pool.checkedin() == 1  # each request's connection came back
            pooled = engine.raw_connection()  # that connection
            try:
                assert pooled.driver_connection.autocommit is autocommit
            finally:
                pooled.close()


def test_a_read_engine_is_disposed_with_its_engine(postgres_app):
    client = postgres_app.test_client()
    assert client.get("/store", headers=signed_in(client, "ann")).status_code == 200
    with postgres_app.app_context():
        reads = read_engine(db.engine)
        assert reads.pool.checkedin() == 1

        db.engine.dispose()

        assert reads.pool.checkedin() == 0


TERMINATIONS = 10


def test_a_connection_its_server_closed_is_replaced_before_use(
    postgres_app, fresh_postgres, request, race_report
):
    """The server ends every session of the app (as a restart does) between
    requests: the next request is served, not a 503, without a pre-ping."""
    client = postgres_app.test_client()
    headers = signed_in(client, "ann")
    admin = admin_session(fresh_postgres)
    request.addfinalizer(admin.close)
    others = (
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    outcomes: Counter = Counter()
    for _ in range(TERMINATIONS):
        assert client.get("/store", headers=headers).status_code == 200
        pids = [pid for (pid,) in admin.execute(others)]
        assert pids, "the app holds no connection"
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s) pid", [pids])
        # A backend leaves pg_stat_activity after sending its closing notice.
        for _attempt in range(1000):
            if not admin.execute(others).fetchall():
                break
        else:
            pytest.fail("the terminated sessions did not end")

        answer = client.get("/store", headers=headers)

        outcomes[f"next request {answer.status_code}"] += 1
        assert answer.status_code == 200, answer.get_json()
    race_report("connections closed by the server", TERMINATIONS, outcomes)
