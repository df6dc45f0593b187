"""Project-wide API behaviour: the error envelope, JSON in and out, and bearer-token guards.

Resources use this module's `Api` and `Blueprint` instead of flask-smorest's,
so every endpoint shares one error shape, one JSON parser and one way of
declaring (and documenting) who may call it.
"""

import json
from decimal import Decimal
from functools import wraps
from http import HTTPStatus

import flask_smorest
import marshmallow as ma
import orjson
from apispec import BasePlugin
from flask import request
from flask.json.provider import DefaultJSONProvider
from flask_jwt_extended import (
    current_user,
    get_jwt,
    get_jwt_header,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import FreshTokenRequired
from flask_smorest import abort
from flask_smorest.etag import ETAG_HEADER, IF_MATCH_HEADER, IF_NONE_MATCH_HEADER
from flask_smorest.exceptions import NotModified
from flask_smorest.pagination import PaginationMetadataSchema
from flask_smorest.spec.plugins import integerconverter2paramschema
from flask_smorest.utils import resolve_schema_instance
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.http import quote_etag
from werkzeug.routing import IntegerConverter

from db import MAX_ID

BEARER_SCHEME = "bearerAuth"

# The OpenAPI document's introduction, shown at the top of Swagger UI.
DESCRIPTION = (
    "Stores, their items, tags on items, and users.\n\n"
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
)

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


def error_payload(code: int, message: str | None = None, **extra) -> dict:
    status = HTTPStatus(code)
    return {
        "code": code,
        "status": status.phrase,
        "message": message or f"{status.description}.",
        **extra,
    }


def auth_headers(code: int) -> dict:
    # RFC 6750: a 401 tells the client which scheme to use.
    return {"WWW-Authenticate": "Bearer"} if code == 401 else {}


class IdConverter(IntegerConverter):
    """`<int:...>` path ids: 1 to MAX_ID. Anything else matches no route, so 404."""

    def __init__(self, map, min=1, max=MAX_ID, **kwargs):
        super().__init__(map, min=min, max=max, **kwargs)


class SchemaExtrasPlugin(BasePlugin):
    """Adds a schema class's `OPENAPI` dict to its component, for the rules
    marshmallow checks in code that fields cannot express (e.g. minProperties)."""

    def schema_helper(self, name, definition, **kwargs):
        schema = kwargs.get("schema")
        schema_class = schema if isinstance(schema, type) else type(schema)
        return {**definition, **getattr(schema_class, "OPENAPI", {})}


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def __init__(self, app=None, **kwargs):
        kwargs.setdefault("spec_kwargs", {"extra_plugins": [SchemaExtrasPlugin()]})
        super().__init__(app, **kwargs)

    def init_app(self, app, *, spec_kwargs=None):
        app.config.setdefault(
            "API_SPEC_OPTIONS", {"info": {"description": DESCRIPTION}}
        )
        app.url_map.converters["int"] = IdConverter
        super().init_app(app, spec_kwargs=spec_kwargs)
        self.register_converter(IdConverter, integerconverter2paramschema)
        self.spec.components.security_scheme(
            BEARER_SCHEME,
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "The `access_token` from `POST /login` "
                "(`POST /refresh` takes the `refresh_token`).",
            },
        )

    def _register_etag_headers(self):
        components = self.spec.components
        components.parameter(
            "IF_NONE_MATCH",
            "header",
            {
                **IF_NONE_MATCH_HEADER,
                "description": "An ETag from an earlier answer: 304 with no body "
                "while the resource still has it.",
            },
            lazy=True,
        )
        components.parameter(
            "IF_MATCH",
            "header",
            {
                **IF_MATCH_HEADER,
                "required": False,
                "description": "Optional. The ETag the change is based on: 412, "
                "and nothing changes, when the resource no longer has it.",
            },
            lazy=True,
        )
        components.header("ETAG", ETAG_HEADER, lazy=True)

    def _register_pagination_header(self):
        # The header's value is JSON, which OpenAPI says with `content`; a
        # plain `schema` would mean the comma-separated "simple" style.
        self.spec.components.header(
            "PAGINATION",
            {
                "description": "Where this page is: JSON with total, total_pages, "
                "first_page, last_page, page, previous_page, next_page (the last "
                "four only where they exist).",
                "content": {"application/json": {"schema": PaginationMetadataSchema}},
            },
            lazy=True,
        )

    def handle_http_exception(self, error):
        """Every HTTP error, raised or unexpected, in the one envelope.

        flask-smorest leaves `message` out when `abort` got none (unknown
        URLs, wrong methods); clients always get one here. Unexpected
        exceptions arrive as a bare 500 whose detail Flask has already logged.
        """
        data = getattr(error, "data", None) or {}
        payload = error_payload(
            error.code,
            data.get("message") or error.description,
        )
        errors = data.get("errors") or data.get("messages")
        if errors:
            payload["errors"] = errors
        if data.get("error"):
            payload["error"] = data["error"]
        # Keep what werkzeug adds, such as `Allow` on a 405.
        headers = {
            key: value
            for key, value in error.get_headers()
            if key.lower() != "content-type"
        }
        headers.update(auth_headers(error.code))
        headers.update(data.get("headers") or {})
        if error.code == 304:
            return "", 304, headers
        return payload, error.code, headers


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class Parser(FlaskParser):
    """Reads JSON bodies exactly (decimals stay decimals, NaN and Infinity are
    refused) and refuses unknown query parameters as it refuses unknown fields."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }

    def _raw_load_json(self, req):
        body = req.get_data(cache=True)
        if not is_json_request(req):
            if body:
                abort(
                    415,
                    message="Send the request body as JSON "
                    "with 'Content-Type: application/json'.",
                )
            return core.missing
        if not body:
            return core.missing
        try:
            return json.loads(
                body.decode("utf-8"),
                parse_float=Decimal,
                parse_constant=_reject_constant,
            )
        except (ValueError, RecursionError):
            abort(
                400,
                message="The request body is not valid JSON.",
                errors={"json": ["Invalid JSON body."]},
            )

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        abort(
            error_status_code or self.DEFAULT_VALIDATION_STATUS,
            exc=error,
            message="The request is invalid: see 'errors' for each field.",
            messages=error.messages,
            headers=error_headers,
        )


class JSONProvider(DefaultJSONProvider):
    """JSON out by orjson, several times faster than the standard library's on
    a long list; prices leave as JSON numbers, never strings."""

    @staticmethod
    def default(o):
        # A price has at most 10 significant digits, so the float's shortest
        # representation is exactly the stored decimal.
        if isinstance(o, Decimal):
            return float(o)
        return DefaultJSONProvider.default(o)

    def dumps(self, obj, **kwargs) -> str:
        # Keys are sorted as Flask sorts them, so equal data has equal bytes
        # (and ETags); non-string keys are marshmallow's list indexes in errors.
        option = orjson.OPT_NON_STR_KEYS
        if kwargs.get("sort_keys", self.sort_keys):
            option |= orjson.OPT_SORT_KEYS
        if kwargs.get("indent"):
            option |= orjson.OPT_INDENT_2
        try:
            return orjson.dumps(obj, default=self.default, option=option).decode()
        except orjson.JSONEncodeError:
            # orjson refuses what is not UTF-8, such as a lone surrogate a
            # client sent as a JSON escape (echoed in an error); the standard
            # library escapes it.
            return super().dumps(obj, **kwargs)


UNAVAILABLE = (
    "The database cannot be reached, or stayed busy (a deadlock or serialization "
    "conflict, retried once): try again after `Retry-After` seconds. A write "
    "answered 503 may or may not have been made."
)
RETRY_AFTER_UNAVAILABLE = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()
    # The pager reads only `page` and `page_size`; the view's own query schema
    # (a PagedQuerySchema) refuses anything else.
    PAGINATION_ARGUMENTS_PARSER = Parser(unknown=ma.EXCLUDE)
    # Without paging parameters a list is its first page. 50 keeps the usual
    # lists whole (a page of stores is a few hundred KB at most).
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": 100}

    # ETags: sent on every GET, honoured in If-None-Match (304) and in
    # If-Match on PUT and DELETE (412 when stale). flask-smorest would also
    # demand If-Match on every write (428); clients written without ETags
    # must keep working, so a write without If-Match simply proceeds.

    def _check_precondition(self):
        pass

    def _verify_check_etag(self):
        pass

    def check_etag(self, etag_data, etag_schema=None):
        """412 unless If-Match, when sent, names the resource's current ETag."""
        if not request.if_match:
            return
        if etag_schema is not None:
            etag_data = resolve_schema_instance(etag_schema).dump(etag_data)
        if self._generate_etag(etag_data) not in request.if_match:
            abort(
                412,
                message="The resource has changed since it was read: "
                "If-Match does not match its current ETag.",
            )

    def _check_not_modified(self, etag):
        if (
            request.method in self.METHODS_CHECKING_NOT_MODIFIED
            and etag in request.if_none_match
        ):
            not_modified = NotModified()
            not_modified.data = {"headers": {"ETag": quote_etag(etag)}}
            raise not_modified

    def _prepare_etag_doc(self, doc, doc_info, **kwargs):
        doc = super()._prepare_etag_doc(doc, doc_info, **kwargs)
        for code in (428, "428"):
            doc.get("responses", {}).pop(code, None)
        return doc

    def arguments(self, schema, *, location="json", **kwargs):
        decorator = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return decorator

        def document_body_errors(func):
            func = decorator(func)
            func = self.alt_response(
                400, schema=ErrorSchema, description="The body is not valid JSON."
            )(func)
            return self.alt_response(
                415,
                schema=ErrorSchema,
                description="The body was sent with a content type other than JSON.",
            )(func)

        return document_body_errors

    def response(self, status_code, schema=None, **kwargs):
        """flask-smorest's `response`, which also documents the 503 that every
        operation (each one reads the database) answers in an outage."""
        decorator = super().response(status_code, schema, **kwargs)

        def document_unavailable(func):
            return self.alt_response(
                503, description=UNAVAILABLE, headers=RETRY_AFTER_UNAVAILABLE
            )(decorator(func))

        return document_unavailable

    def alt_response(self, status_code, response=None, **kwargs):
        if response is None and int(status_code) >= 400:
            kwargs.setdefault("schema", ErrorSchema)
        return super().alt_response(status_code, response, **kwargs)

    def auth_required(self, *, fresh=False, refresh=False, admin=False):
        """Guard a view with a bearer token, and document that guard.

        It must be the outermost decorator: a missing or bad token is answered
        401 before the body or the path is looked at. The user is loaded from
        the database on every request (see app.py), so a deleted user's token
        fails with `user_not_found` even where a fresh token is required, and
        a demotion takes effect at once.
        """

        def decorator(func):
            @wraps(func)
            def guarded(*args, **kwargs):
                verify_jwt_in_request(refresh=refresh)
                if fresh and not get_jwt()["fresh"]:
                    raise FreshTokenRequired(
                        "Fresh token required.", get_jwt_header(), get_jwt()
                    )
                if admin and not current_user.is_admin:
                    abort(403, message="Admin rights required.", error="forbidden")
                return func(*args, **kwargs)

            token = "refresh" if refresh else ("fresh access" if fresh else "access")
            codes = ["authorization_required", "invalid_token", "token_expired"]
            codes += ["token_revoked", "user_not_found"]
            if fresh:
                codes.append("fresh_token_required")
            guarded = self.doc(security=[{BEARER_SCHEME: []}])(guarded)
            guarded = self.alt_response(
                401,
                description=f"No valid {token} token. `error` is one of: "
                + ", ".join(f"`{code}`" for code in codes)
                + ".",
            )(guarded)
            if admin:
                guarded = self.alt_response(
                    403,
                    description="The token is valid, but its user is not an "
                    "admin (`error`: `forbidden`).",
                )(guarded)
            return guarded

        return decorator
