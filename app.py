"""The application factory: configuration, extensions, JWT callbacks, errors, blueprints."""

import os
import secrets
from datetime import timedelta

import flask_swagger_ui
from flask import Blueprint as StaticBlueprint
from flask import Flask, jsonify
from flask_jwt_extended import JWTManager
from flask_migrate import Migrate
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

import blocklist
import cli
from api import Api, JSONProvider, auth_headers, error_payload
from db import db
from models import UserModel
from resources.health import blp as health_blp
from resources.items import blp as items_blp
from resources.stores import blp as stores_blp
from resources.tags import blp as tags_blp
from resources.users import blp as users_blp

MIN_SECRET_LENGTH = 32
MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
SWAGGER_UI_ASSETS = os.path.join(os.path.dirname(flask_swagger_ui.__file__), "dist")

DEFAULTS = {
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
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "Stores, their items, tags on items, and users.\n\n"
            "**Auth**: log in with `POST /login`, then use **Authorize** with the "
            "`access_token`. **Errors** all have the envelope `{code, status, "
            "message}`, plus `errors` on a 422 and `error` on an auth failure. "
            "**Lists** come a page at a time (`page`, `page_size`; the "
            "`X-Pagination` header is JSON); unknown query parameters of a list "
            "are a 422, like unknown body fields. **ETags**: every GET has one; "
            "`If-None-Match` gives a 304, and `If-Match` on PUT and DELETE a 412 "
            "when stale, but is never required."
        }
    },
    # A connection that died while idle (a restarted server, a dropped link)
    # is noticed and replaced before use, not handed to a request.
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "REDIS_URL": None,
    "REDIS_KEY_PREFIX": "stores:",
    # Seconds to wait on an unreachable database or Redis before answering 503.
    "BACKEND_TIMEOUT": 3,
    "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=15),
    "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=30),
}


class ConfigError(RuntimeError):
    """The configuration cannot be served; the message says what to set."""


def _int_from_env(name: str) -> int:
    value = os.environ[name]
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None


def config_from_env() -> dict:
    """Settings the environment gives (see README: Configuration)."""
    config = {}
    if os.environ.get("DATABASE_URL"):
        config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    if os.environ.get("REDIS_URL"):
        config["REDIS_URL"] = os.environ["REDIS_URL"]
    if os.environ.get("REDIS_KEY_PREFIX"):
        config["REDIS_KEY_PREFIX"] = os.environ["REDIS_KEY_PREFIX"]
    if os.environ.get("JWT_SECRET_KEY"):
        config["JWT_SECRET_KEY"] = os.environ["JWT_SECRET_KEY"]
    if os.environ.get("JWT_ACCESS_TOKEN_EXPIRES_MINUTES"):
        minutes = _int_from_env("JWT_ACCESS_TOKEN_EXPIRES_MINUTES")
        config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(minutes=minutes)
    if os.environ.get("JWT_REFRESH_TOKEN_EXPIRES_DAYS"):
        days = _int_from_env("JWT_REFRESH_TOKEN_EXPIRES_DAYS")
        config["JWT_REFRESH_TOKEN_EXPIRES"] = timedelta(days=days)
    return config


def create_app(config: dict | None = None) -> Flask:
    """Build the app: defaults, then the environment, then `config` overrides."""
    app = Flask(__name__, static_folder=None)
    app.json = JSONProvider(app)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config_from_env())
    app.config.from_mapping(config or {})
    _database_settings(app)
    _require_secret_key(app)

    db.init_app(app)
    _init_redis(app)
    Migrate(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    _init_jwt(app)
    blocklist.init_app(app)
    cli.init_app(app)
    _init_api(app)
    _register_outage_handlers(app)
    return app


def _database_settings(app: Flask) -> None:
    url = app.config.get("SQLALCHEMY_DATABASE_URI")
    if not url:
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "stores.db")
        url = f"sqlite:///{path}"
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


def _init_redis(app: Flask) -> None:
    if app.config["REDIS_URL"]:
        timeout = app.config["BACKEND_TIMEOUT"]
        app.extensions["redis"] = Redis.from_url(
            app.config["REDIS_URL"],
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            # Idle connections are checked before reuse, as the database's are.
            health_check_interval=30,
        )


def _require_secret_key(app: Flask) -> None:
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


def _jwt_error(code: int, message: str, error: str):
    return jsonify(error_payload(code, message, error=error)), code, auth_headers(code)


def _init_jwt(app: Flask) -> None:
    jwt = JWTManager(app)

    @jwt.user_lookup_loader
    def load_user(_header, claims):
        # Read on every request: deleting or demoting a user takes effect at once.
        return db.session.get(UserModel, int(claims["sub"]))

    @jwt.token_in_blocklist_loader
    def is_revoked(_header, claims):
        return blocklist.get_blocklist().is_revoked(claims["jti"])

    @jwt.unauthorized_loader
    def missing_token(reason):
        return _jwt_error(
            401,
            "Request does not contain a bearer token "
            "('Authorization: Bearer <token>').",
            "authorization_required",
        )

    @jwt.invalid_token_loader
    def invalid_token(reason):
        return _jwt_error(401, f"Invalid token: {reason}.", "invalid_token")

    @jwt.expired_token_loader
    def expired_token(_header, _claims):
        return _jwt_error(401, "The token has expired.", "token_expired")

    @jwt.revoked_token_loader
    def revoked_token(_header, _claims):
        return _jwt_error(401, "The token has been revoked.", "token_revoked")

    @jwt.needs_fresh_token_loader
    def stale_token(_header, _claims):
        return _jwt_error(
            401,
            "A fresh token is required: log in again.",
            "fresh_token_required",
        )

    @jwt.user_lookup_error_loader
    def user_gone(_header, _claims):
        return _jwt_error(
            401, "The user of this token no longer exists.", "user_not_found"
        )

    @jwt.token_verification_failed_loader
    def claims_rejected(_header, _claims):
        return _jwt_error(401, "Invalid token: claims rejected.", "invalid_token")


def _register_outage_handlers(app: Flask) -> None:
    """An unreachable database or Redis is a 503 for the client, not a 500.

    Protected requests fail closed: if revocation cannot be checked the token
    is not accepted. Connections are re-established on the next request once
    the server is back.
    """

    def unavailable(what: str):
        def handler(error):
            app.logger.warning("%s unavailable: %s", what, error)
            payload = error_payload(503, f"{what} unavailable; try again shortly.")
            return jsonify(payload), 503, {"Retry-After": "5"}

        return handler

    for error in (OperationalError, InterfaceError, SQLAlchemyTimeoutError):
        app.register_error_handler(error, unavailable("Database"))
    for error in (RedisConnectionError, RedisTimeoutError):
        app.register_error_handler(error, unavailable("Redis"))


def _init_api(app: Flask) -> None:
    app.register_blueprint(
        StaticBlueprint(
            "swagger_ui_assets",
            __name__,
            static_folder=SWAGGER_UI_ASSETS,
            static_url_path="/swagger-ui/assets",
        )
    )
    api = Api(app)
    for blueprint in (stores_blp, items_blp, tags_blp, users_blp, health_blp):
        api.register_blueprint(blueprint)
