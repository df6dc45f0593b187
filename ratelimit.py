"""Rate limits on the endpoints that guess at credentials or send email: login,
register, refresh, and the email tokens' endpoints (forgot, verify, reset).

Counted in Redis when `REDIS_URL` is set, so a limit holds across every worker
and host; otherwise in each worker's memory (so with N workers a client may get
up to N times the limit). `RATELIMIT_ENABLED=false` turns them all off.

Redis is not on the critical path: while it cannot be reached, limits are
counted in each worker's memory, as without Redis, and counted in Redis again
once it answers (Flask-Limiter's in-memory fallback, which logs both). An
answer already made is never lost to Redis going away before its rate-limit
headers are written.

Each app gets its own Flask-Limiter (which keeps its storage and settings on
the Limiter object), and the limits wrap the registered views by endpoint.
"""

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request
from flask.logging import default_handler
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the limit resets.",
        "schema": {"type": "integer"},
    }
}


def configured(name: str):
    """The limit named `name` in the config, read per request (tests change it)."""
    return lambda: current_app.config[name]


def body_field(field: str) -> Callable[[], str]:
    """A key function: the body's `field` (trimmed, in lower case), as the
    key of a per-username or per-address limit.

    Hashed: the key must be storable whatever the body holds.
    """

    def key() -> str:
        try:
            body = request.get_json(silent=True)
        except RecursionError:
            body = None  # absurdly nested; the view itself answers 400
        value = body.get(field) if isinstance(body, dict) else None
        text = value.strip().lower() if isinstance(value, str) else ""
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{field}:{digest}"

    return key


def failed_login(response) -> bool:
    # Only failed logins count against a username, so its owner is not locked
    # out by their own successful logins; the address limit bounds the rest.
    return response.status_code == 401


# endpoint -> (limit setting, options), outermost first.
LIMITS: dict[str, list[tuple[str, dict]]] = {
    "users.Login": [
        ("RATELIMIT_LOGIN", {}),
        (
            "RATELIMIT_LOGIN_PER_USERNAME",
            {"key_func": body_field("username"), "deduct_when": failed_login},
        ),
    ],
    "users.Register": [("RATELIMIT_REGISTER", {})],
    "users.Refresh": [("RATELIMIT_REFRESH", {})],
    "accounts.PasswordForgot": [
        ("RATELIMIT_FORGOT", {}),
        ("RATELIMIT_FORGOT_PER_EMAIL", {"key_func": body_field("email")}),
    ],
    "accounts.EmailVerify": [("RATELIMIT_VERIFY", {})],
    "accounts.PasswordReset": [("RATELIMIT_RESET", {})],
}


def init_app(app: Flask) -> None:
    """Give `app` its limiter and wrap the limited views; call after blueprints."""
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    if app.config.get("REDIS_URL"):
        timeout = app.config["BACKEND_TIMEOUT"]
        app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS",
            {
                # Every key of the deployment starts with its prefix.
                "key_prefix": app.config["REDIS_KEY_PREFIX"] + "ratelimit",
                "socket_connect_timeout": timeout,
                "socket_timeout": timeout,
            },
        )
        app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
        # A failure to count a failed login, or to write the headers, once
        # the answer is made: logged, and the answer stands.
        app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    else:
        app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter = Limiter(key_func=get_remote_address, app=app)
    # Only the views in LIMITS have limits. Every other request is filtered
    # out before Flask-Limiter resolves the limits of its view, a lookup it
    # would otherwise make on each request to find none.
    limiter.request_filter(lambda: request.endpoint not in LIMITS)
    # Flask-Limiter logs to a logger of its own with only a NullHandler:
    # losing and finding Redis again go where the app's errors go.
    limiter_log = logging.getLogger("flask-limiter")
    if default_handler not in limiter_log.handlers:
        limiter_log.addHandler(default_handler)
    # The limits hold only a weak reference to their limiter: the app keeps it.
    app.extensions["ratelimit"] = limiter
    for endpoint, limits in LIMITS.items():
        view: Callable[..., Any] = app.view_functions[endpoint]
        for setting, options in reversed(limits):
            view = limiter.limit(configured(setting), **options)(view)
        app.view_functions[endpoint] = view
