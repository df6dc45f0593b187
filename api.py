"""The API's declaration policy: this module's `Api` and `Blueprint` replace flask-smorest's.

Every endpoint so shares one error envelope (errors.py), one JSON parser
(jsonio.py), one ETag policy (smorest_adapter.py), one way of declaring and
documenting who may call it (auth.py), paging defaults, the 503 of an outage
on every operation, and path ids from 1 to MAX_ID. The OpenAPI document's
introduction is DESCRIPTION.
"""

from collections.abc import Callable
from typing import Any

import flask_smorest
import marshmallow as ma
from apispec import BasePlugin
from flask_smorest.spec.plugins import integerconverter2paramschema
from werkzeug.routing import IntegerConverter

import auth
import errors
import idempotency
import ownership
from db import MAX_ID
from errors import ErrorSchema
from jsonio import Parser
from smorest_adapter import DocumentedHeaders, OptionalIfMatch, PagingLinks

# The OpenAPI document's introduction, shown at the top of Swagger UI.
DESCRIPTION = (
    "Stores, their items, tags on items, and users.\n\n"
    "**Auth**: log in with `POST /login`, then use **Authorize** with the "
    "`access_token`. **Errors** all have the envelope `{code, status, "
    "message}`, plus `errors` on a 422 and `error` on an auth failure. "
    "**Lists** come a page at a time (`page`, `page_size`; the "
    "`X-Pagination` header is JSON, and `Link` has the other pages' URLs); "
    "unknown query parameters of a list "
    "are a 422, like unknown body fields. **ETags**: every GET has one; "
    "`If-None-Match` gives a 304, and `If-Match` on PUT and DELETE a 412 "
    'when stale, but is never required; both take `W/"…"` of a current '
    "tag too (a compressing proxy, such as the shipped nginx file, marks "
    "ETags weak). **Limits**: `/login`, `/register` "
    "and `/refresh` are rate limited (429 with `Retry-After`); bodies over "
    "64 KiB are a 413. `POST /logout/all` and `PUT /me/password` revoke "
    "every token of the user; a rotated refresh token sent again revokes "
    "every token of its login. **Ownership**: a store is its creator's "
    "(`owner_id`); only its owner or an admin may change it, its items, its "
    "tags and their links (others get 403 `forbidden`); reads are open to "
    "every token. **Concurrency**: racing requests get the "
    "answers they would get one after the other; of several writes with "
    "one `If-Match`, exactly one succeeds. **Outages**: a 503 with "
    "`Retry-After` when the database is unreachable or stays busy. "
    "**Retries**: the creates take an `Idempotency-Key` header; sent again "
    "with the same key and body, a create answers its first answer again "
    "(`Idempotent-Replayed: true`) and creates nothing. "
    "**Sync**: `GET /changes` lists what changed since a cursor, in commit "
    "order, deletes included. "
    "**Email**: an account may have an address (verified through a link "
    "sent to it); `POST /password/forgot` always answers 202 and emails a "
    "reset link to a verified address; emails are sent in the background."
)


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


class Api(DocumentedHeaders, flask_smorest.Api):
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
            auth.BEARER_SCHEME, auth.BEARER_SECURITY_SCHEME
        )

    def handle_http_exception(self, error):
        return errors.from_http_exception(error)


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


class Blueprint(OptionalIfMatch, PagingLinks, flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()
    # The pager reads only `page` and `page_size`; the view's own query schema
    # (a PagedQuerySchema) refuses anything else.
    PAGINATION_ARGUMENTS_PARSER = Parser(unknown=ma.EXCLUDE)
    # Without paging parameters a list is its first page. 50 keeps the usual
    # lists whole (a page of stores is a few hundred KB at most).
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": 50, "max_page_size": 100}

    # ETags: If-Match is optional on writes (see smorest_adapter.py).

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

    def alt_response(
        self, status_code: int | str, response: Any = None, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        if response is None and int(status_code) >= 400:
            kwargs.setdefault("schema", ErrorSchema)
        return super().alt_response(status_code, response, **kwargs)

    def auth_required(
        self, *, fresh: bool = False, refresh: bool = False, admin: bool = False
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Guard a view with a bearer token (auth.guard), as its outermost decorator."""
        return auth.guard(self, fresh=fresh, refresh=refresh, admin=admin)

    def idempotent(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Honour `Idempotency-Key` on this create (idempotency.py), and
        document it; below `arguments`, above `owner_required`."""
        func = idempotency.idempotent(func)
        func = self.doc(parameters=[idempotency.HEADER_DOC])(func)
        return self.alt_response(
            409,
            description="A request with this `Idempotency-Key` is still being "
            "processed; try again after `Retry-After` seconds.",
            headers=idempotency.RETRY_AFTER_DOC,
        )(func)

    def owner_required(
        self,
        owned: ownership.Owned,
        *,
        lock: str | None = None,
        from_body: str | None = None,
        audited_as: str = "admin_changed_store",
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Only the owner of the changed row's store, or an admin, may call
        the view, which gets the row (ownership.guard); below `arguments`."""
        return ownership.guard(
            self, owned, lock=lock, from_body=from_body, audited_as=audited_as
        )
