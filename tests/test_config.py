"""Configuration: defaults, then the environment, then overrides; no default secret."""

from datetime import timedelta
from pathlib import Path

import pytest

from app import create_app
from config import VARIABLES, ConfigError
from passwords import passwords

GOOD_SECRET = "x" * 32
ROOT = Path(__file__).resolve().parent.parent


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
        "RATELIMIT_ENABLED",
        "ARGON2_MEMORY_COST",
        "ARGON2_TIME_COST",
        "CORS_ORIGINS",
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


@pytest.mark.parametrize("value", ["false", "False", "0", "no", "off"])
def test_rate_limits_are_off_for_every_spelling_of_false(monkeypatch, value):
    monkeypatch.setenv("RATELIMIT_ENABLED", value)

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    assert app.config["RATELIMIT_ENABLED"] is False


def test_a_malformed_boolean_refuses_to_start(monkeypatch):
    monkeypatch.setenv("RATELIMIT_ENABLED", "perhaps")

    with pytest.raises(ConfigError, match="RATELIMIT_ENABLED"):
        create_app({"TESTING": True})


def test_argon2_cost_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("ARGON2_MEMORY_COST", "256")
    monkeypatch.setenv("ARGON2_TIME_COST", "1")

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    with app.app_context():
        assert "m=256,t=1" in passwords().hash("correct horse battery")


def test_cors_origins_are_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example,")

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})

    assert app.config["CORS_ORIGINS"] == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize("variable", [v.name for v in VARIABLES])
def test_every_variable_is_documented_in_the_readme_and_env_example(variable):
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()

    assert f"`{variable}`" in readme
    assert f"{variable}=" in example
