"""Configuration: defaults, then the environment, then overrides; no default secret."""

from datetime import timedelta
from pathlib import Path

import pytest

from app import ConfigError, create_app

GOOD_SECRET = "x" * 32


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (
        "DATABASE_URL",
        "JWT_SECRET_KEY",
        "JWT_ACCESS_TOKEN_EXPIRES_MINUTES",
        "JWT_REFRESH_TOKEN_EXPIRES_DAYS",
        "FLASK_DEBUG",
        "REDIS_URL",
        "REDIS_KEY_PREFIX",
    ):
        monkeypatch.delenv(name, raising=False)


def test_missing_secret_refuses_to_start_and_says_what_to_set():
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY must be set"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_short_secret_refuses_to_start():
    with pytest.raises(ConfigError, match="at least 32 characters"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "JWT_SECRET_KEY": "short"})


def test_secret_from_environment_is_used(monkeypatch):
    monkeypatch.setenv("JWT_SECRET_KEY", GOOD_SECRET)

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})

    assert app.config["JWT_SECRET_KEY"] == GOOD_SECRET


@pytest.mark.parametrize("mode", [{"TESTING": True}, {"DEBUG": True}])
def test_tests_and_debug_mode_generate_a_throwaway_secret(mode):
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", **mode})

    assert len(app.config["JWT_SECRET_KEY"]) >= 32


def test_token_lifetimes_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("JWT_ACCESS_TOKEN_EXPIRES_MINUTES", "5")
    monkeypatch.setenv("JWT_REFRESH_TOKEN_EXPIRES_DAYS", "2")

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(minutes=5)
    assert app.config["JWT_REFRESH_TOKEN_EXPIRES"] == timedelta(days=2)


def test_token_lifetimes_default_to_15_minutes_and_30_days():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(minutes=15)
    assert app.config["JWT_REFRESH_TOKEN_EXPIRES"] == timedelta(days=30)


def test_malformed_lifetime_refuses_to_start(monkeypatch):
    monkeypatch.setenv("JWT_ACCESS_TOKEN_EXPIRES_MINUTES", "soon")

    with pytest.raises(ConfigError, match="JWT_ACCESS_TOKEN_EXPIRES_MINUTES"):
        create_app({"TESTING": True})


def test_database_url_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")

    app = create_app({"TESTING": True})

    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'env.db'}"


def test_overrides_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:///from-env.db")

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite://"


def test_default_database_is_a_sqlite_file_in_the_instance_folder():
    app = create_app({"TESTING": True})

    expected = Path(app.instance_path) / "stores.db"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{expected}"


def test_flaskenv_points_the_flask_command_at_the_app():
    flaskenv = Path(__file__).resolve().parent.parent / ".flaskenv"

    assert "FLASK_APP=app" in flaskenv.read_text().splitlines()


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_plain_postgresql_urls_get_the_psycopg_driver(monkeypatch, scheme):
    monkeypatch.setenv("DATABASE_URL", f"{scheme}://user:pw@db.internal:5432/stores")

    app = create_app({"TESTING": True})

    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        "postgresql+psycopg://user:pw@db.internal:5432/stores"
    )


def test_redis_url_from_the_environment_holds_the_rate_limits(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    monkeypatch.setenv("REDIS_KEY_PREFIX", "shop:")

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/0"
    assert app.config["RATELIMIT_STORAGE_OPTIONS"]["key_prefix"] == "shop:ratelimit"
