"""Fixtures: one app per backend for the whole run, a clean database per test, clients and builders.

Every test that uses `app` runs on SQLite and on PostgreSQL; the rate-limit
tests also on PostgreSQL with Redis, where they are counted (see
tests/backends.py for when the servers are absent). A module whose tests
cannot depend on the database overrides `backend` to run them once.

Each backend's database is built by the migrations once per run (per xdist
worker), and emptied before each test: every table's rows deleted and its
ids restarted. Not a rolled-back transaction or savepoint: the app's writes
take real row locks and commit (faults.py counts the commits), which a
wrapping transaction would change; deleting a few rows costs under a
millisecond. Apps with other settings (`make_app`) share the test's database.
"""

import os
import shutil
import uuid

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

import jobs
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
# `make test-fast` sets TEST_BACKENDS=sqlite; `make test` runs every backend.
BACKENDS = os.environ.get("TEST_BACKENDS", "sqlite,postgresql").split(",")
# Redis plays a part only in rate limits: their tests run on this backend too
# (tests/test_rate_limits.py).
WITH_REDIS = [*BACKENDS, *(["postgresql+redis"] if "postgresql" in BACKENDS else [])]


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
    """One SQLite file built by the migrations: a template for servers' copies."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def shared_sqlite(migrated_sqlite, tmp_path_factory):
    """The SQLite database the suite's apps use, emptied before each test."""
    path = tmp_path_factory.mktemp("shared") / "test.db"
    shutil.copy(migrated_sqlite, path)
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    yield url, engine
    engine.dispose()


def needs(backend: str) -> None:
    """Skip a test of this server when TEST_BACKENDS leaves it out (make test-fast)."""
    if backend not in BACKENDS:
        pytest.skip(f"TEST_BACKENDS={','.join(BACKENDS)} leaves {backend} out")


@pytest.fixture(scope="session")
def postgres():
    needs("postgresql")
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
    needs("postgresql")  # Redis comes with the PostgreSQL backend only
    client = redis_server()
    yield client
    client.close()


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def empty(engine) -> None:
    """Delete every row, children first, and restart the ids (as a new database has them)."""
    # The changes feed's log last: the deletes before it are logged there.
    log = {"changes", "change_clock"}
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in log]
    tables += [db.metadata.tables[name] for name in sorted(log)]
    with engine.begin() as connection:
        for table in tables:
            connection.execute(table.delete())
        if engine.dialect.name == "sqlite":
            connection.execute(text("DELETE FROM sqlite_sequence"))
            return
        sequences = connection.scalars(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        )
        for sequence in sequences.all():
            connection.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))


@pytest.fixture
def app_config(request, backend):
    """The overrides that point an app at this test's database (and Redis),
    emptied for it."""
    database = "shared_sqlite" if backend == "sqlite" else "migrated_postgres"
    url, engine = request.getfixturevalue(database)
    empty(engine)
    if backend != "postgresql+redis":
        yield {"SQLALCHEMY_DATABASE_URI": url}
        jobs.drain(timeout=60)  # the test's in-process jobs end with it
        return
    client = request.getfixturevalue("redis")
    prefix = f"stores-test:{uuid.uuid4().hex}:"
    yield {
        "SQLALCHEMY_DATABASE_URI": url,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
    }
    jobs.drain(timeout=60)
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
    jobs.drain(timeout=60)  # before their connections are closed
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


@pytest.fixture(scope="session")
def postgres_template(postgres):
    """A PostgreSQL database built by the migrations once, copied by
    `fresh_postgres` (nothing connects to it, as a template requires)."""
    url = postgres.create_database()
    migrate(url)
    yield url
    postgres.drop_database(url)


@pytest.fixture
def fresh_postgres(postgres, postgres_template):
    """A migrated PostgreSQL database for this test alone, copied from the template."""
    url = postgres.create_database(template=postgres_template)
    yield url
    postgres.drop_database(url)


@pytest.fixture
def postgres_app(app_factory, fresh_postgres):
    """An app of its own on a PostgreSQL database of its own."""
    return app_factory(fresh_postgres)


@pytest.fixture(scope="session")
def shared_apps():
    """The app of each backend, built once: {database URL: app}."""
    apps: dict = {}
    yield apps
    for app in apps.values():
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(app_config, shared_apps, make_app):
    """The app with the suite's settings, on this test's emptied database.

    Built once per backend; a test that changes an app's settings or state
    builds its own with `make_app`. Redis-backed apps get a key prefix per
    test, so they are built per test.
    """
    if set(app_config) != {"SQLALCHEMY_DATABASE_URI"}:
        yield make_app()
        return
    url = app_config["SQLALCHEMY_DATABASE_URI"]
    if url not in shared_apps:
        shared_apps[url] = build_app(url)
    app = shared_apps[url]
    settings = dict(app.config)
    yield app
    # Flask refuses new hooks and routes on an app that has served; settings
    # it cannot guard, so a test that changed the shared app's fails here.
    assert dict(app.config) == settings, "a test changed the shared app's config"


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


@pytest.fixture(scope="module")
def gunicorn_server(migrated_sqlite, tmp_path_factory):
    """The app under real gunicorn (2 workers) on a fresh database, shared by
    the tests of a module (each uses usernames of its own): (base URL, log path)."""
    folder = tmp_path_factory.mktemp("gunicorn")
    log = folder / "gunicorn.log"
    env = served_env(sqlite_copy(migrated_sqlite, folder))
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
def stranger_headers(client):
    """Headers with a fresh access token of "mallory", a plain user who owns
    none of the fixtures' stores."""
    register(client, "mallory")
    return auth_header(login(client, "mallory")["access_token"])


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
# the end of the run. Kept in each test's report, which reaches the summary
# from every xdist worker.
RACE = "race"


@pytest.fixture
def race_report(request):
    def record(test: str, rounds: int, outcomes: dict) -> None:
        request.node.user_properties.append((RACE, (test, rounds, dict(outcomes))))

    return record


def pytest_terminal_summary(terminalreporter):
    # Recorded as the test's fixtures end, so in its teardown's report.
    races = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "teardown"
        for key, value in report.user_properties
        if key == RACE
    ]
    if not races:
        return
    terminalreporter.section("races")
    for test, rounds, outcomes in sorted(races):
        counted = ", ".join(
            f"{key}: {count}" for key, count in sorted(outcomes.items())
        )
        terminalreporter.write_line(f"{test}: {rounds} rounds; {counted}")
