"""Rate limits on the endpoints that guess at credentials: login, register, refresh.

Counted in Redis when `REDIS_URL` is set, so a limit holds across every worker
and host; otherwise in each worker's memory (so with N workers a client may get
up to N times the limit). `RATELIMIT_ENABLED=false` turns them all off.
"""

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# One limiter per process (Flask-Limiter keeps its storage on this object),
# initialised by the app factory.
limiter = Limiter(key_func=get_remote_address)

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the limit resets.",
        "schema": {"type": "integer"},
    }
}


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    if not app.config.get("REDIS_URL"):
        app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    else:
        app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
        app.config.setdefault(
            "RATELIMIT_KEY_PREFIX", app.config["REDIS_KEY_PREFIX"] + "ratelimit"
        )
        timeout = app.config["BACKEND_TIMEOUT"]
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS",
            {"socket_connect_timeout": timeout, "socket_timeout": timeout},
        )
    limiter.init_app(app)


def configured(name: str):
    """The limit named `name` in the config, read per request (tests change it)."""
    return lambda: current_app.config[name]


def login_username() -> str:
    """The username a login is for, as the key of the per-username limit."""
    body = request.get_json(silent=True)
    username = body.get("username") if isinstance(body, dict) else None
    name = username.strip().lower() if isinstance(username, str) else ""
    return f"login-username:{name}"


def failed_login(response) -> bool:
    # Only failed logins count against a username, so its owner is not locked
    # out by their own successful logins; the address limit bounds the rest.
    return response.status_code == 401
