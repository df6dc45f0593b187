"""Fixtures: an app per test on its own clean, migrated database, clients and builders.

Every test that uses `app` runs on SQLite and on PostgreSQL; the rate-limit
tests also on PostgreSQL with Redis, where they are counted (see
tests/backends.py for when the servers are absent).
"""

import shutil
import uuid

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from app import create_app
from db import db
from tests.backends import REDIS_URL, PostgresServer, delete_keys, redis_server
from tests.helpers import (
    PASSWORD,
    auth_header,
    create_item,
    create_store,
    create_tag,
    login,
    register,
)
from tests.servers import gunicorn

SECRET = "test-secret-key-that-is-long-enough-to-sign-tokens"
BACKENDS = ["sqlite", "postgresql"]
# Redis plays a part only in rate limits: their tests run on this backend too
# (tests/test_rate_limits.py).
WITH_REDIS = [*BACKENDS, "postgresql+redis"]


def build_app(database_url: str, **overrides):
    return create_app(
        {
            "TESTING": True,
            "JWT_SECRET_KEY": SECRET,
            # Rate limits are tested on their own (test_rate_limits.py), and
            # hashing at production cost is measured there too (test_passwords.py).
            "RATELIMIT_ENABLED": False,
            "ARGON2_MEMORY_COST": 64,
            "ARGON2_TIME_COST": 1,
            **overrides,
            "SQLALCHEMY_DATABASE_URI": database_url,
        }
    )


def migrate(database_url: str) -> None:
    migrated = build_app(database_url)
    with migrated.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """One SQLite file built by the migrations, copied for every test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def migrated_postgres(postgres):
    """A PostgreSQL database of the suite's own, built by the migrations; emptied per test."""
    url = postgres.create_database()
    migrate(url)
    engine = create_engine(url)
    yield url, engine
    engine.dispose()
    postgres.drop_database(url)


@pytest.fixture(scope="session")
def redis():
    client = redis_server()
    yield client
    client.close()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def app_config(request, backend, tmp_path):
    """The overrides that point an app at this test's clean database (and Redis)."""
    if backend == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("migrated_sqlite"), path)
        yield {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}
        return
    url, engine = request.getfixturevalue("migrated_postgres")
    with engine.begin() as connection:
        tables = ", ".join(table.name for table in db.metadata.sorted_tables)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    if backend == "postgresql":
        yield {"SQLALCHEMY_DATABASE_URI": url}
        return
    client = request.getfixturevalue("redis")
    prefix = f"stores-test:{uuid.uuid4().hex}:"
    yield {
        "SQLALCHEMY_DATABASE_URI": url,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
    }
    delete_keys(client, prefix)


@pytest.fixture
def app_factory():
    """Builds apps from explicit settings, and closes their connections afterwards."""
    built = []

    def make(database_url: str, **overrides):
        app = build_app(database_url, **overrides)
        built.append(app)
        return app

    yield make
    for app in built:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def make_app(app_factory, app_config):
    """Builds apps on this test's backend; each extra app shares its database."""

    def make(**overrides):
        settings = {**app_config, **overrides}
        return app_factory(settings.pop("SQLALCHEMY_DATABASE_URI"), **settings)

    return make


@pytest.fixture
def fresh_postgres(postgres):
    """A migrated PostgreSQL database for this test alone."""
    url = postgres.create_database()
    migrate(url)
    yield url
    postgres.drop_database(url)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def empty_database(request, backend: str, folder) -> str:
    """The URL of an empty database of `backend` for the requesting test
    ("sqlite": a file in `folder`; "postgresql": one dropped afterwards)."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'empty.db'}"
    postgres = request.getfixturevalue("postgres")
    url = postgres.create_database()
    request.addfinalizer(lambda: postgres.drop_database(url))
    return url


def served_env(database_url: str, **settings: str) -> dict:
    """The environment of a gunicorn serving the app on `database_url`, hashing
    passwords at the suite's low cost (production cost: test_passwords.py)."""
    return {
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": SECRET,
        "RATELIMIT_ENABLED": "false",
        "ARGON2_MEMORY_COST": "64",
        "ARGON2_TIME_COST": "1",
        **settings,
    }


def sqlite_copy(migrated_sqlite, folder) -> str:
    """The URL of a copy of the migrated SQLite template in `folder`."""
    database = folder / "served.db"
    shutil.copy(migrated_sqlite, database)
    return f"sqlite:///{database}"


@pytest.fixture
def gunicorn_server(migrated_sqlite, tmp_path):
    """The app under real gunicorn (2 workers) on a fresh database: (base URL, log path)."""
    log = tmp_path / "gunicorn.log"
    env = served_env(sqlite_copy(migrated_sqlite, tmp_path))
    with gunicorn(env, log, workers=2) as base_url:
        yield base_url, log


@pytest.fixture
def spec(client):
    """The app's OpenAPI document."""
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def user_headers(client):
    """Headers with a fresh access token of a plain user, "alice"."""
    register(client, "alice")
    return auth_header(login(client, "alice")["access_token"])


@pytest.fixture
def admin_headers(client, runner):
    """Headers with a fresh access token of an admin made by the CLI."""
    result = runner.invoke(
        args=["users", "create-admin", "admin", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    return auth_header(login(client, "admin")["access_token"])


@pytest.fixture
def nonfresh_headers(client):
    """Headers with a non-fresh access token (from /refresh) of a user, "bob"."""
    register(client, "bob")
    tokens = client.post(
        "/refresh", headers=auth_header(login(client, "bob")["refresh_token"])
    ).get_json()
    return auth_header(tokens["access_token"])


@pytest.fixture
def store(client, user_headers):
    return create_store(client, user_headers, "Corner Shop")


@pytest.fixture
def item(client, user_headers, store):
    return create_item(client, user_headers, store["id"], "Chair", 17.99)


@pytest.fixture
def tag(client, user_headers, store):
    return create_tag(client, user_headers, store["id"], "furniture")


# How the rounds of each race came out (tests/test_concurrency.py), printed at
# the end of the run.
RACES: list[tuple[str, int, dict]] = []


@pytest.fixture
def race_report():
    def record(test: str, rounds: int, outcomes: dict) -> None:
        RACES.append((test, rounds, dict(outcomes)))

    return record


def pytest_terminal_summary(terminalreporter):
    if not RACES:
        return
    terminalreporter.section("races")
    for test, rounds, outcomes in RACES:
        counted = ", ".join(
            f"{key}: {count}" for key, count in sorted(outcomes.items())
        )
        terminalreporter.write_line(f"{test}: {rounds} rounds; {counted}")
