"""Configuration: the defaults, and the environment variables that change them, each
typed (parsed by environs) and documented once, here.

`load(app, overrides)` applies DEFAULTS, then `from_environment()`, then the
overrides, and completes what follows from them (the database URL's driver
and timeout; the signing secret, which must be long enough).
The README's Configuration table and `.env.example` list every variable of
VARIABLES (a test holds them to it). gunicorn's own settings (GUNICORN_*,
WEB_CONCURRENCY) are read by gunicorn.conf.py.
"""

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from environs import Env, EnvError
from flask import Flask

DEFAULTS: dict[str, Any] = {
    "API_TITLE": "Stores REST API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/swagger-ui",
    # Served by this app from the swagger-ui distribution that
    # flask-swagger-ui ships: no CDN, works offline.
    "OPENAPI_SWAGGER_UI_URL": "/swagger-ui/assets/",
    "OPENAPI_SWAGGER_UI_CONFIG": {"displayRequestDuration": True},
    # A connection that died while idle is replaced before use without a
    # pre-ping's round trip (db.py, _refuse_dead_connections).
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    "REDIS_URL": None,
    "REDIS_KEY_PREFIX": "stores:",
    # Seconds to wait on an unreachable database or Redis before answering 503.
    "BACKEND_TIMEOUT": 3,
    "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=15),
    "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=30),
    # Tokens travel only in the Authorization header, never in cookies, so
    # they carry no CSRF claim: shorter tokens, less to decode per request.
    "JWT_TOKEN_LOCATION": ["headers"],
    "JWT_COOKIE_CSRF_PROTECT": False,
    # Request bodies above this many bytes are refused with a 413.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_LOGIN": "20 per minute",
    "RATELIMIT_LOGIN_PER_USERNAME": "5 per minute;20 per hour",
    "RATELIMIT_REGISTER": "10 per minute",
    "RATELIMIT_REFRESH": "30 per minute",
    # argon2id at OWASP's recommended cost: 19 MiB, 2 passes, 1 lane.
    "ARGON2_MEMORY_COST": 19 * 1024,
    "ARGON2_TIME_COST": 2,
    "ARGON2_PARALLELISM": 1,
    # Origins allowed to call the API from a browser; none unless listed.
    "CORS_ORIGINS": [],
    # Proxies in front of the app whose X-Forwarded-For is to be believed.
    "TRUSTED_PROXIES": 0,
    # Account emails (mail.py): links in them start with APP_URL. Without
    # SMTP_URL they are written to the log.
    "APP_URL": "http://127.0.0.1:5000",
    "MAIL_FROM": "Stores API <no-reply@localhost>",
    "SMTP_URL": None,
    "SMTP_TIMEOUT": 10,
    # Background jobs (jobs.py): without a broker they run in the API process.
    "CELERY_BROKER_URL": None,
    "CELERY_QUEUE": "stores",
    # An email job tries this many times more, waiting 10 s, 20 s, 40 s, …
    # (at most 15 minutes) between tries: about an hour, then it gives up.
    "EMAIL_RETRIES": 10,
    "EMAIL_RETRY_DELAY": 10,
    # Deletes are kept this long in the changes feed (changes.py).
    "CHANGES_RETENTION_DAYS": 30,
    "RATELIMIT_FORGOT": "5 per minute",
    "RATELIMIT_FORGOT_PER_EMAIL": "3 per hour",
    "RATELIMIT_VERIFY": "10 per minute",
    "RATELIMIT_RESET": "10 per minute",
}


MIN_SECRET_LENGTH = 32


class ConfigError(RuntimeError):
    """The configuration cannot be served; the message says what to set."""


@dataclass(frozen=True)
class Variable:
    """An environment variable: the config key it sets, its type (an environs
    parser), what it means, and how a parsed value becomes the setting."""

    name: str
    key: str
    parser: str
    meaning: str
    convert: Callable[[Any], Any] = lambda value: value


def _origins(values: list[str]) -> list[str]:
    return [origin.strip() for origin in values if origin.strip()]


VARIABLES = (
    Variable("DATABASE_URL", "SQLALCHEMY_DATABASE_URI", "str", "SQLAlchemy URL"),
    Variable("JWT_SECRET_KEY", "JWT_SECRET_KEY", "str", "token signing secret"),
    Variable(
        "JWT_ACCESS_TOKEN_EXPIRES_MINUTES",
        "JWT_ACCESS_TOKEN_EXPIRES",
        "int",
        "access token lifetime, in minutes",
        lambda minutes: timedelta(minutes=minutes),
    ),
    Variable(
        "JWT_REFRESH_TOKEN_EXPIRES_DAYS",
        "JWT_REFRESH_TOKEN_EXPIRES",
        "int",
        "refresh token lifetime, in days",
        lambda days: timedelta(days=days),
    ),
    Variable("REDIS_URL", "REDIS_URL", "str", "Redis for rate limits"),
    Variable("REDIS_KEY_PREFIX", "REDIS_KEY_PREFIX", "str", "prefix of Redis keys"),
    Variable(
        "RATELIMIT_ENABLED", "RATELIMIT_ENABLED", "bool", "false turns limits off"
    ),
    Variable("RATELIMIT_LOGIN", "RATELIMIT_LOGIN", "str", "login limit per address"),
    Variable(
        "RATELIMIT_LOGIN_PER_USERNAME",
        "RATELIMIT_LOGIN_PER_USERNAME",
        "str",
        "failed-login limit per username",
    ),
    Variable("RATELIMIT_REGISTER", "RATELIMIT_REGISTER", "str", "register limit"),
    Variable("RATELIMIT_REFRESH", "RATELIMIT_REFRESH", "str", "refresh limit"),
    Variable(
        "RATELIMIT_FORGOT",
        "RATELIMIT_FORGOT",
        "str",
        "password-forgot limit per address",
    ),
    Variable(
        "RATELIMIT_FORGOT_PER_EMAIL",
        "RATELIMIT_FORGOT_PER_EMAIL",
        "str",
        "password-forgot limit per email address",
    ),
    Variable("RATELIMIT_VERIFY", "RATELIMIT_VERIFY", "str", "email-verify limit"),
    Variable("RATELIMIT_RESET", "RATELIMIT_RESET", "str", "password-reset limit"),
    Variable("MAX_BODY_BYTES", "MAX_CONTENT_LENGTH", "int", "largest request body"),
    Variable(
        "CORS_ORIGINS", "CORS_ORIGINS", "list", "browser origins allowed", _origins
    ),
    Variable("TRUSTED_PROXIES", "TRUSTED_PROXIES", "int", "proxies to believe"),
    Variable(
        "CHANGES_RETENTION_DAYS",
        "CHANGES_RETENTION_DAYS",
        "int",
        "days deletes stay in the changes feed",
    ),
    Variable("APP_URL", "APP_URL", "str", "public base URL of links in emails"),
    Variable("MAIL_FROM", "MAIL_FROM", "str", "sender of emails"),
    Variable("SMTP_URL", "SMTP_URL", "str", "SMTP server for emails"),
    Variable("SMTP_TIMEOUT", "SMTP_TIMEOUT", "int", "SMTP timeout, in seconds"),
    Variable("CELERY_BROKER_URL", "CELERY_BROKER_URL", "str", "job queue broker"),
    Variable("CELERY_QUEUE", "CELERY_QUEUE", "str", "job queue name"),
    Variable("EMAIL_RETRIES", "EMAIL_RETRIES", "int", "retries of an email job"),
    Variable(
        "EMAIL_RETRY_DELAY",
        "EMAIL_RETRY_DELAY",
        "int",
        "first wait between email retries, in seconds",
    ),
    Variable(
        "ARGON2_MEMORY_COST", "ARGON2_MEMORY_COST", "int", "argon2 memory, in KiB"
    ),
    Variable("ARGON2_TIME_COST", "ARGON2_TIME_COST", "int", "argon2 passes"),
)


def from_environment() -> dict[str, Any]:
    """The settings the environment gives: only the variables that are set
    (an empty one counts as unset), parsed by type."""
    env = Env()
    settings: dict[str, Any] = {}
    for variable in VARIABLES:
        if not os.environ.get(variable.name):
            continue
        parse = getattr(env, variable.parser)
        try:
            value = parse(variable.name)
        except EnvError as error:
            raise ConfigError(str(error)) from None
        settings[variable.key] = variable.convert(value)
    return settings


def load(app: Flask, overrides: dict[str, Any] | None = None) -> None:
    """Configure `app`: defaults, then the environment, then `overrides`."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(from_environment())
    app.config.from_mapping(overrides or {})
    _database(app)
    _signing_secret(app)


def _database(app: Flask) -> None:
    url = app.config.get("SQLALCHEMY_DATABASE_URI")
    if not url:
        os.makedirs(app.instance_path, exist_ok=True)
        url = "sqlite:///" + os.path.join(app.instance_path, "stores.db")
    # Plain PostgreSQL URLs (as hosting providers hand them out) get the
    # installed driver, psycopg 3.
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            url = "postgresql+psycopg://" + url.removeprefix(scheme)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    if url.startswith("postgresql"):
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        }
        options.setdefault(
            "connect_args", {"connect_timeout": app.config["BACKEND_TIMEOUT"]}
        )


def _signing_secret(app: Flask) -> None:
    secret = app.config.get("JWT_SECRET_KEY")
    if not secret and (app.testing or app.debug):
        # Tokens then die with the process, which is fine for tests and debugging.
        secret = app.config["JWT_SECRET_KEY"] = secrets.token_urlsafe(48)
    if not secret or len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"JWT_SECRET_KEY must be set to a random string of at least "
            f"{MIN_SECRET_LENGTH} characters (in the environment or in .env), e.g. "
            "the output of: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
