"""The error envelope: the one shape of every error answer, and how HTTP errors become it.

`{code, status, message}` always; `errors` on a 422 (messages keyed by
location, then field) and on a 400 for a body that is not JSON; `error` on an
authentication or authorization failure, a code a client can branch on.
Raised aborts, unknown URLs, wrong methods, token failures (auth.py) and
outages (faults.py) all answer through `payload` here.
"""

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, NoReturn

import flask_smorest
import marshmallow as ma
from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

# The values of `error`, for the answers a client must tell apart.
AUTH_ERROR_CODES = (
    "authorization_required",
    "invalid_token",
    "token_expired",
    "token_revoked",
    "user_not_found",
    "fresh_token_required",
    "invalid_credentials",
    "forbidden",
)

Headers = dict[str, str]

# flask-smorest's abort, which raises the HTTPException the envelope is made
# of, as the type checker is to see it (flask-smorest has no type hints).
abort: Callable[..., NoReturn] = flask_smorest.abort


class ErrorSchema(ma.Schema):
    """The envelope of every error response."""

    code = ma.fields.Integer(
        required=True, metadata={"description": "HTTP status code", "example": 404}
    )
    status = ma.fields.String(
        required=True,
        metadata={"description": "HTTP reason phrase", "example": "Not Found"},
    )
    message = ma.fields.String(
        required=True,
        metadata={"description": "What went wrong", "example": "Store not found."},
    )
    errors = ma.fields.Dict(
        metadata={
            "description": "On 422: messages keyed by location, then field.",
            "example": {"json": {"price": ["Must be greater than or equal to 0."]}},
        }
    )
    error = ma.fields.String(
        metadata={
            "description": "On auth failures: a code a client can branch on.",
            "enum": list(AUTH_ERROR_CODES),
        }
    )


def payload(code: int, message: str | None = None, **extra: Any) -> dict[str, Any]:
    """The envelope of an error; `message` defaults to the status's description."""
    status = HTTPStatus(code)
    return {
        "code": code,
        "status": status.phrase,
        "message": message or f"{status.description}.",
        **extra,
    }


def challenge(code: int) -> Headers:
    """RFC 6750: a 401 tells the client which scheme to use."""
    return {"WWW-Authenticate": "Bearer"} if code == 401 else {}


def answer(code: int, message: str, error: str) -> tuple[Response, int, Headers]:
    """An error answered outside a view's abort (token failures)."""
    return jsonify(payload(code, message, error=error)), code, challenge(code)


def from_http_exception(
    error: HTTPException,
) -> tuple[dict[str, Any] | str, int, Headers]:
    """Every HTTP error, raised or unexpected, in the one envelope.

    flask-smorest leaves `message` out when `abort` got none (unknown URLs,
    wrong methods); clients always get one here. Unexpected exceptions arrive
    as a bare 500 whose detail Flask has already logged.
    """
    code = error.code or 500
    data: dict[str, Any] = getattr(error, "data", None) or {}
    body = payload(code, data.get("message") or error.description)
    errors = data.get("errors") or data.get("messages")
    if errors:
        body["errors"] = errors
    if data.get("error"):
        body["error"] = data["error"]
    # Keep what werkzeug adds, such as `Allow` on a 405.
    headers = {
        key: value
        for key, value in error.get_headers()
        if key.lower() != "content-type"
    }
    headers.update(challenge(code))
    headers.update(data.get("headers") or {})
    if code == 304:
        return "", 304, headers
    return body, code, headers
