"""The migrations are the schema: they build exactly the models, and undo cleanly."""

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from db import db
from tests.conftest import build_app, empty_database


def schema_differences() -> list:
    with warnings.catch_warnings():
        # SQLite cannot reflect expression indexes, so neither SQLAlchemy nor
        # Alembic can compare the case-insensitive username index there and
        # both say so; the test of case-insensitive usernames checks it there.
        warnings.filterwarnings(
            "ignore", "Skipped unsupported reflection of expression"
        )
        warnings.filterwarnings(
            "ignore", "autogenerate skipping metadata-specified expr"
        )
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True}
            )
            return compare_metadata(context, db.metadata)


def table_names() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_app(request, tmp_path):
    """An app on an empty database, with its app context pushed."""
    app = build_app(empty_database(request, request.param, tmp_path))
    with app.app_context():
        yield app
        db.engine.dispose()


def test_upgrade_builds_exactly_the_models_schema(empty_app):
    upgrade()

    assert table_names() == set(db.metadata.tables)
    assert schema_differences() == []


def test_downgrade_to_base_removes_every_table(empty_app):
    upgrade()

    downgrade(revision="base")

    assert table_names() == set()


def test_upgrade_after_downgrade_rebuilds_the_same_schema(empty_app):
    upgrade()
    downgrade(revision="base")

    upgrade()

    assert schema_differences() == []


def test_usernames_are_unique_without_regard_to_case_in_the_database(empty_app):
    upgrade()
    insert = text("INSERT INTO users (username, password_hash) VALUES (:name, 'x')")

    with db.engine.connect() as connection:
        connection.execute(insert, {"name": "Jane"})
        with pytest.raises(IntegrityError):
            connection.execute(insert, {"name": "jANE"})


def test_foreign_keys_are_enforced_on_sqlite(tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'fk.db'}")

    with app.app_context(), db.engine.connect() as connection:
        assert connection.scalar(text("PRAGMA foreign_keys")) == 1
    with app.app_context():
        db.engine.dispose()


BEFORE_OWNERS = "c4e8a1f0b2d3"
CATALOGUE = (
    "INSERT INTO users (id, username, password_hash) VALUES (1, 'jane', 'x')",
    "INSERT INTO stores (id, name) VALUES (1, 'Corner Shop')",
    "INSERT INTO items (id, name, price, store_id) VALUES (1, 'Chair', 17.99, 1)",
    "INSERT INTO tags (id, name, store_id) VALUES (1, 'furniture', 1)",
    "INSERT INTO items_tags (item_id, tag_id) VALUES (1, 1)",
)


def counts() -> dict:
    with db.engine.connect() as connection:
        return {
            table: connection.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("users", "stores", "items", "tags", "items_tags")
        }


def test_store_owners_leave_existing_stores_ownerless_and_keep_their_contents(
    empty_app,
):
    """The owners' migration copies `stores` on SQLite: nothing that points at
    a store is lost on the way up or down, and existing stores have no owner."""
    upgrade(revision=BEFORE_OWNERS)
    with db.engine.begin() as connection:
        for statement in CATALOGUE:
            connection.execute(text(statement))
        # A store made and deleted: its id is never given out again.
        connection.execute(text("INSERT INTO stores (id, name) VALUES (9, 'Gone')"))
        connection.execute(text("DELETE FROM stores WHERE id = 9"))
    before = counts()

    upgrade()

    assert counts() == before
    if db.engine.dialect.name == "sqlite":  # PostgreSQL's sequences never go back
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO stores (name) VALUES ('Next')"))
            assert connection.scalar(text("SELECT max(id) FROM stores")) == 10
            connection.execute(text("DELETE FROM stores WHERE id = 10"))
    with db.engine.connect() as connection:
        assert connection.scalar(text("SELECT owner_id FROM stores")) is None
        connection.execute(text("UPDATE stores SET owner_id = 1"))
        connection.commit()
        # A deleted owner leaves the store, ownerless.
        connection.execute(text("DELETE FROM users WHERE id = 1"))
        connection.commit()
        assert connection.scalar(text("SELECT owner_id FROM stores")) is None
    after_upgrade = counts()

    downgrade(revision=BEFORE_OWNERS)

    assert counts() == after_upgrade == {**before, "users": 0}
    assert "owner_id" not in {
        c["name"] for c in inspect(db.engine).get_columns("stores")
    }
