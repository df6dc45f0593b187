"""Fixtures: an app on its own migrated database per test, clients, and builders."""

import shutil

import pytest
from flask_migrate import upgrade

from app import create_app
from db import db
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


def build_app(database_url: str, **overrides):
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "JWT_SECRET_KEY": SECRET,
            **overrides,
        }
    )


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """One SQLite file built by the migrations, copied for every test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    template_app = build_app(f"sqlite:///{path}")
    with template_app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture
def database_url(migrated_sqlite, tmp_path):
    path = tmp_path / "test.db"
    shutil.copy(migrated_sqlite, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url):
    app = build_app(database_url)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def gunicorn_server(migrated_sqlite, tmp_path):
    """The app under real gunicorn (2 workers) on a fresh database: (base URL, log path)."""
    database = tmp_path / "served.db"
    shutil.copy(migrated_sqlite, database)
    log = tmp_path / "gunicorn.log"
    env = {"DATABASE_URL": f"sqlite:///{database}", "JWT_SECRET_KEY": SECRET}
    with gunicorn(env, log, workers=2) as base_url:
        yield base_url, log


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
