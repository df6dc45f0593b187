"""The application factory: configuration, extensions, JWT callbacks, blueprints."""

import os
import secrets
from datetime import timedelta
from typing import Any

import flask_swagger_ui
from flask import Blueprint as StaticBlueprint
from flask import Flask, g, jsonify, request
from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix

import audit
import blocklist
import cli
import faults
import passwords
import ratelimit
from api import Api, JSONProvider, auth_headers, error_payload
from db import db
from resources.health import blp as health_blp
from resources.items import blp as items_blp
from resources.stores import blp as stores_blp
from resources.tags import blp as tags_blp
from resources.users import blp as users_blp

MIN_SECRET_LENGTH = 32
# Swagger UI's page may load its own scripts and styles, and call this API;
# nothing from any other origin, and it may not be framed.
SWAGGER_UI_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
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
            "when stale, but is never required. **Limits**: `/login`, `/register` "
            "and `/refresh` are rate limited (429 with `Retry-After`); bodies over "
            "64 KiB are a 413. `POST /logout/all` and `PUT /me/password` revoke "
            "every token of the user; a rotated refresh token sent again revokes "
            "every token of its login. **Concurrency**: racing requests get the "
            "answers they would get one after the other; of several writes with "
            "one `If-Match`, exactly one succeeds. **Outages**: a 503 with "
            "`Retry-After` when the database is unreachable or stays busy."
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
    config: dict[str, Any] = {}
    if os.environ.get("DATABASE_URL"):
        config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    if os.environ.get("REDIS_URL"):
        config["REDIS_URL"] = os.environ["REDIS_URL"]
    if os.environ.get("REDIS_KEY_PREFIX"):
        config["REDIS_KEY_PREFIX"] = os.environ["REDIS_KEY_PREFIX"]
    if os.environ.get("JWT_SECRET_KEY"):
        config["JWT_SECRET_KEY"] = os.environ["JWT_SECRET_KEY"]
    for name in (
        "RATELIMIT_LOGIN",
        "RATELIMIT_LOGIN_PER_USERNAME",
        "RATELIMIT_REGISTER",
        "RATELIMIT_REFRESH",
    ):
        if os.environ.get(name):
            config[name] = os.environ[name]
    if os.environ.get("RATELIMIT_ENABLED"):
        config["RATELIMIT_ENABLED"] = os.environ["RATELIMIT_ENABLED"].lower() != "false"
    if os.environ.get("MAX_BODY_BYTES"):
        config["MAX_CONTENT_LENGTH"] = _int_from_env("MAX_BODY_BYTES")
    if os.environ.get("TRUSTED_PROXIES"):
        config["TRUSTED_PROXIES"] = _int_from_env("TRUSTED_PROXIES")
    if os.environ.get("CORS_ORIGINS"):
        origins = os.environ["CORS_ORIGINS"].split(",")
        config["CORS_ORIGINS"] = [
            origin.strip() for origin in origins if origin.strip()
        ]
    if os.environ.get("JWT_ACCESS_TOKEN_EXPIRES_MINUTES"):
        minutes = _int_from_env("JWT_ACCESS_TOKEN_EXPIRES_MINUTES")
        config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(minutes=minutes)
    if os.environ.get("JWT_REFRESH_TOKEN_EXPIRES_DAYS"):
        days = _int_from_env("JWT_REFRESH_TOKEN_EXPIRES_DAYS")
        config["JWT_REFRESH_TOKEN_EXPIRES"] = timedelta(days=days)
    return config


def create_app(config: dict | None = None) -> Flask:
    """Build the app: defaults, then the environment, then `config` overrides."""
    # The only static file is Swagger UI's start-up script.
    app = Flask(__name__, static_url_path="/swagger-ui/static")
    app.json = JSONProvider(app)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config_from_env())
    app.config.from_mapping(config or {})
    _database_settings(app)
    _require_secret_key(app)

    db.init_app(app)
    Migrate(app, db, directory=MIGRATIONS_DIR, render_as_batch=True, compare_type=True)
    passwords.init_app(app)
    audit.init_app(app)
    _init_jwt(app)
    cli.init_app(app)
    _init_api(app)
    faults.init_app(app)
    ratelimit.init_app(app)
    _init_http(app)
    return app


def _init_http(app: Flask) -> None:
    """What every response carries, CORS when configured, and proxies to trust."""
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops
        )
    if app.config["CORS_ORIGINS"]:
        CORS(
            app,
            origins=app.config["CORS_ORIGINS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "If-None-Match",
            ],
            expose_headers=["ETag", "Location", "X-Pagination", "Retry-After"],
            max_age=600,
        )

    @app.after_request
    def security_headers(response):
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if request.path.startswith("/swagger-ui"):
            response.headers["Content-Security-Policy"] = SWAGGER_UI_CSP
        return response


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

    # The user is read on every request, with the token's revocation:
    # deleting or demoting a user, and logging out, take effect at once.

    @jwt.token_in_blocklist_loader
    def is_revoked(_header, claims):
        user, revoked = blocklist.user_and_revocation(claims)
        g.token_user = user  # for load_user, called next, in this request
        if user is not None and claims.get("gen", 0) != user.token_generation:
            return True  # logged out everywhere, or the password changed
        if (
            revoked
            and claims["type"] == "refresh"
            and blocklist.was_rotated(claims["jti"])
        ):
            blocklist.revoke_family(claims)  # a rotated refresh token came back
        return revoked

    @jwt.user_lookup_loader
    def load_user(_header, claims):
        if "token_user" in g:
            return g.pop("token_user")
        return blocklist.token_user(int(claims["sub"]))

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
