"""The application factory: wires configuration (config.py), extensions, JWT callbacks and blueprints."""

import os
import secrets

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
from config import DEFAULTS, ConfigError, from_environment
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


def create_app(config: dict | None = None) -> Flask:
    """Build the app: defaults, then the environment, then `config` overrides."""
    # The only static file is Swagger UI's start-up script.
    app = Flask(__name__, static_url_path="/swagger-ui/static")
    app.json = JSONProvider(app)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(from_environment())
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
