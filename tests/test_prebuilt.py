"""Prebuilt statements (prebuilt.py) return what SQLAlchemy's execution returns,
refuse statements they cannot run as compiled once, and fail as SQLAlchemy fails."""

import psycopg
import pytest
from sqlalchemy import DateTime, Float, bindparam, column, func, select, table
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

import auth
import queries
from db import db, error_code, read_engine
from models import ItemModel, StoreModel, UserModel
from prebuilt import Prebuilt, PrebuiltColumn
from tests.backends import admin_session
from tests.helpers import create_item, create_store, link, signed_in


@pytest.fixture
def shop(client, admin_headers, store, item, tag) -> dict:
    link(client, admin_headers, item["id"], tag["id"])
    return {"store_id": store["id"], "item_id": item["id"], "tag_id": tag["id"]}


def admin_id() -> int:
    admin = select(UserModel.id).where(UserModel.username == "admin")
    return db.session.execute(admin).scalar_one()


def as_run_by_sqlalchemy(statement, params) -> list[tuple]:
    return [tuple(row) for row in db.session.connection().execute(statement, params)]


@pytest.mark.parametrize(
    "name",
    [
        "ITEM_BY_ID_CHECKED",
        "TAG_BY_ID_CHECKED",
        "STORE_WITH_CONTENTS_CHECKED",
        "STORE_JSON_BY_ID_CHECKED",
    ],
)
def test_a_read_returns_the_rows_and_types_sqlalchemy_returns(app, shop, name):
    prebuilt = getattr(queries, name)
    with app.test_request_context(method="GET"), app.app_context():
        if (
            name == "STORE_JSON_BY_ID_CHECKED"
            and db.engine.dialect.name != "postgresql"
        ):
            pytest.skip("PostgreSQL writes a store's JSON; SQLite reads its rows")
        params = {**shop, "user_id": admin_id(), "jti": "j", "family": "f"}
        expected = as_run_by_sqlalchemy(prebuilt.statement, params)

        found = prebuilt.rows(db.session.connection(), params)

    assert found == expected
    assert found[0][-1] is not None  # the shop's rows, not the token's alone
    assert [[type(value) for value in row] for row in found] == [
        [type(value) for value in row] for row in expected
    ]


def test_the_token_check_reads_booleans_as_booleans(app, shop):
    """SQLite stores a boolean as 0 or 1; the token's user has True or False,
    as SQLAlchemy converts them."""
    with app.app_context():
        params = {"user_id": admin_id(), "jti": "j", "family": "f"}

        (row,) = auth._USER_AND_REVOCATION.rows(db.session.connection(), params)

    user = auth.TokenUser(*row[:-1])
    assert user.is_admin is True
    assert user.email_verified is False
    assert row[-1] is False  # not revoked


@pytest.mark.parametrize(
    "statement",
    [
        select(ItemModel.id).where(ItemModel.id.in_(bindparam("ids", expanding=True))),
        select(ItemModel.id).where(
            ItemModel.id == select(bindparam("when", type_=DateTime)).scalar_subquery()
        ),
    ],
    ids=["expanding IN", "converted value"],
)
def test_a_statement_not_runnable_as_compiled_once_is_refused(app, statement):
    with app.app_context():
        connection = db.session.connection()
        if db.engine.dialect.name == "postgresql" and "when" in str(statement):
            pytest.skip("psycopg takes a datetime as it is: nothing to convert")

        with pytest.raises(TypeError):
            Prebuilt(statement).rows(connection, {"ids": [1], "when": None})


@pytest.mark.parametrize("method", ["GET", "POST"], ids=["a read's", "a write's"])
def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(app, method):
    """On a read's connection (PostgreSQL: libpq's) and a write's (the
    driver's cursor) alike: the driver's class for the error, wrapped."""
    missing = Prebuilt(select(table("no_such_table", column("x")).c.x))
    with app.test_request_context(method=method), app.app_context():
        connection = db.session.connection()
        postgresql = connection.dialect.name == "postgresql"

        with pytest.raises(ProgrammingError if postgresql else DBAPIError) as raised:
            missing.rows(connection, {})

    assert not raised.value.connection_invalidated
    if postgresql:
        assert isinstance(raised.value.orig, psycopg.errors.UndefinedTable)
        assert error_code(raised.value) == "42P01"


def test_a_read_cut_short_by_the_server_is_an_operational_error(postgres_app):
    """A statement the server cancels (its statement_timeout) raises
    psycopg's QueryCanceled, an OperationalError (faults.py: a 503), and
    leaves the connection usable."""
    slow = Prebuilt(select(func.pg_sleep(bindparam("seconds", type_=Float))))
    with postgres_app.app_context(), read_engine(db.engine).connect() as connection:
        connection.exec_driver_sql("SET statement_timeout = '20ms'")

        with pytest.raises(OperationalError) as raised:
            slow.rows(connection, {"seconds": 5.0})

        assert isinstance(raised.value.orig, psycopg.errors.QueryCanceled)
        assert not connection.invalidated
        assert len(slow.rows(connection, {"seconds": 0.0})) == 1  # one (void) row


def test_reads_are_prepared_on_their_connections_by_name(postgres_app):
    """A read's prebuilt statements run on libpq, prepared once on the
    connection under their own names; the same statement run again is not
    prepared again."""
    client = postgres_app.test_client()
    headers = signed_in(client, "ann")
    store = create_store(client, headers, "S")
    for _ in range(3):
        assert client.get(f"/store/{store['id']}", headers=headers).status_code == 200
    with postgres_app.app_context(), read_engine(db.engine).connect() as connection:
        prepared = connection.exec_driver_sql(
            "SELECT name, from_sql FROM pg_prepared_statements"
        ).all()

    ours = [name for name, from_sql in prepared if name.startswith("prebuilt_")]
    assert ours == [queries.STORE_JSON_BY_ID_CHECKED._name.decode()]
    assert not any(from_sql for _, from_sql in prepared)


def test_a_write_transaction_rolled_back_leaves_its_reads_working(postgres_app):
    """psycopg deallocates every statement prepared on a connection when it
    rolls a transaction back: a prebuilt read in a write's transaction runs
    on the cursor, so the next transaction's read still answers."""
    statement = auth._USER_AND_REVOCATION
    client = postgres_app.test_client()
    create_store(client, signed_in(client, "ann"), "S")
    with postgres_app.app_context():
        params = {"user_id": 1, "jti": "j", "family": "f"}
        with db.engine.connect() as connection:
            for _ in range(6):  # psycopg prepares a statement it has seen 5 times
                connection.exec_driver_sql("SELECT 1")
            first = statement.rows(connection, params)
            connection.rollback()  # psycopg: ROLLBACK, then DEALLOCATE ALL

            assert statement.rows(connection, params) == first
            assert first[0][1] == "ann"


@pytest.mark.parametrize(
    "ran_before, known_lost",
    [(False, False), (True, False), (True, True)],
    ids=["new", "prepared", "known lost"],
)
def test_a_connection_that_died_in_use_is_invalidated(
    postgres_app, fresh_postgres, ran_before, known_lost
):
    """The server ends the session while the connection is checked out (the
    pool's look at it on checkout is past), before the read is prepared on
    it or after, and libpq has noticed or not: the read fails as an
    OperationalError (faults.py: a 503), and the pool connects anew."""
    admin = admin_session(fresh_postgres)
    check = Prebuilt(select(UserModel.id))
    with postgres_app.app_context():
        engine = read_engine(db.engine)
        with engine.connect() as connection:
            if ran_before:
                assert check.rows(connection, {}) == []
            driver = connection.connection.driver_connection
            admin.execute("SELECT pg_terminate_backend(%s)", [driver.info.backend_pid])
            if known_lost:  # something else on the connection found it gone
                driver.pgconn.exec_(b"SELECT 1")
                assert driver.pgconn.status == psycopg.pq.ConnStatus.BAD

            with pytest.raises(OperationalError) as raised:
                check.rows(connection, {})

            assert raised.value.connection_invalidated
            assert connection.invalidated
        with engine.connect() as connection:
            assert check.rows(connection, {}) == []
    admin.close()


def test_a_read_prepared_before_its_columns_changed_still_answers(
    postgres_app, fresh_postgres
):
    """A migration gives a column another type (the server then refuses the
    statement prepared before: "cached plan must not change result type"),
    or something deallocates the session's statements: the read is
    prepared again, and answers."""
    admin = admin_session(fresh_postgres)
    admin.execute("CREATE TABLE labels (text varchar(5))")
    admin.execute("INSERT INTO labels VALUES ('a')")
    read = Prebuilt(select(table("labels", column("text")).c.text))
    with postgres_app.app_context(), read_engine(db.engine).connect() as connection:
        assert read.rows(connection, {}) == [("a",)]

        admin.execute("ALTER TABLE labels ALTER COLUMN text TYPE text")
        assert read.rows(connection, {}) == [("a",)]

        connection.exec_driver_sql("DEALLOCATE ALL")
        assert read.rows(connection, {}) == [("a",)]
    admin.close()


def test_a_prebuilt_column_reads_what_its_expression_reads(postgres_app):
    """A page of stores selects their JSON as text compiled once: the same
    JSON, store by store, as the expression it was compiled from."""
    client = postgres_app.test_client()
    headers = signed_in(client, "ann")
    for name in ("B", "A"):
        store = create_store(client, headers, name)
        create_item(client, headers, store["id"], "Chair", 17.99)
    with postgres_app.app_context():
        text = queries.STORE_JSON_TEXT.column(db.engine.dialect)
        ordered = select(StoreModel.id).order_by(StoreModel.name)

        expected = db.session.execute(ordered.with_only_columns(queries.STORE_JSON))
        found = db.session.execute(
            ordered.with_only_columns(text, maintain_column_froms=True)
        )

        assert found.all() == expected.all()


def test_a_column_with_parameters_is_refused(app):
    with_value = ItemModel.id + bindparam("step", 1)
    with app.app_context():
        dialect = db.engine.dialect

        with pytest.raises(TypeError):
            PrebuiltColumn(with_value, ItemModel.__table__).column(dialect)
