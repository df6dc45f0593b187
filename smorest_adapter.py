"""What this API changes in flask-smorest where it offers no public way: one place.

Seven methods here override private ones of flask-smorest 0.47, each named
in its comment (the two of paging are the ones its docstrings invite
overriding); `check_etag` overrides the public one: it makes the tag with
flask-smorest's private `_generate_etag` and marks a write checked in the
request's ETag bookkeeping (the private `_get_etag_ctx` and its
"etag_checked" key) as flask-smorest's own does.
tests/test_smorest_adapter.py fails loudly when any of these is renamed,
moved or called differently by a new release, and tests each change's
effect. Everything else uses flask-smorest's public API.

The ETag policy: ETags are sent on every GET and honoured in If-None-Match
(304) and in If-Match on PUT and DELETE (412 when stale), but If-Match is
never required: clients written without ETags keep working. Both compare
weakly: W/"x", the tag a compressing proxy gives an answer tagged "x",
names it too. flask-smorest would answer a write without If-Match 428.
"""

import json
import warnings
from collections.abc import Callable
from urllib.parse import urlencode

from apispec import APISpec
from flask import request
from flask_smorest import abort
from flask_smorest.etag import ETAG_HEADER, IF_MATCH_HEADER, IF_NONE_MATCH_HEADER
from flask_smorest.etag import _get_etag_ctx as etag_context
from flask_smorest.exceptions import NotModified
from flask_smorest.pagination import PaginationMetadataSchema
from flask_smorest.utils import resolve_schema_instance
from werkzeug.http import quote_etag

# Overridden below, and held to their names and signatures by the test.
BLUEPRINT_OVERRIDES = (
    "_check_precondition",
    "_check_not_modified",
    "_prepare_etag_doc",
)
PAGING_OVERRIDES = ("_set_pagination_metadata", "_document_pagination_metadata")
API_OVERRIDES = ("_register_etag_headers", "_register_pagination_header")
# Called as flask-smorest calls it: how it makes an ETag of data.
BLUEPRINT_USES = ("_generate_etag",)
# Used as flask-smorest uses it: the request's ETag bookkeeping.
ETAG_CHECKED = "etag_checked"


class OptionalIfMatch:
    """Blueprint mixin: If-Match optional on writes, checked when sent."""

    METHODS_NEEDING_CHECK_ETAG: list[str]
    METHODS_CHECKING_NOT_MODIFIED: list[str]

    # EtagMixin._check_precondition answers 428 to a write without If-Match.
    def _check_precondition(self):
        pass

    def check_etag(self, etag_data, etag_schema=None):
        """412 unless If-Match, when sent, names the resource's current ETag.

        flask-smorest's own compares strongly, as RFC 9110 (13.1.1) has
        If-Match do. Here W/"x" names "x" too: an ETag names the JSON an
        answer carries, before any content coding, and a proxy that
        compresses the answer marks its ETag weak (nginx does, as RFC 9110
        8.8.3 asks), so a client behind it can only send W/"x" back.
        The tag is made as flask-smorest makes it (its private
        `_generate_etag`). A write without If-Match is marked checked as one
        with it is, so flask-smorest's guard still warns (an error in the
        tests) about a write that never calls check_etag.
        """
        if request.method not in self.METHODS_NEEDING_CHECK_ETAG:
            warnings.warn(
                f"ETag cannot be checked on {request.method} request.", stacklevel=2
            )
        etag_context()[ETAG_CHECKED] = True
        if not request.if_match:
            return
        if etag_schema is not None:
            etag_data = resolve_schema_instance(etag_schema).dump(etag_data)
        if not request.if_match.contains_weak(self._generate_etag(etag_data)):
            abort(
                412,
                message="The resource has changed since it was read: "
                "If-Match does not match its current ETag.",
            )

    # EtagMixin._check_not_modified raises a 304 without the ETag, which
    # RFC 9110 (15.4.5) says it carries, and compares strongly where
    # If-None-Match compares weakly (13.1.2): W/"x" (a compressed answer's
    # tag, see check_etag) is "x" here.
    def _check_not_modified(self, etag):
        if (
            request.method in self.METHODS_CHECKING_NOT_MODIFIED
            and request.if_none_match.contains_weak(etag)
        ):
            not_modified = NotModified()
            not_modified.data = {"headers": {"ETag": quote_etag(etag)}}
            raise not_modified

    # EtagMixin._prepare_etag_doc documents that 428.
    def _prepare_etag_doc(self, doc, doc_info, *, api, spec, method, **kwargs):
        doc = super()._prepare_etag_doc(
            doc, doc_info, api=api, spec=spec, method=method, **kwargs
        )
        for code in (428, "428"):
            doc.get("responses", {}).pop(code, None)
        return doc


# The pages a Link header names, by relation, and where X-Pagination has them.
LINK_RELATIONS = (
    ("first", "first_page"),
    ("prev", "previous_page"),
    ("next", "next_page"),
    ("last", "last_page"),
)


class PagingLinks:
    """Blueprint mixin: a list's page answers `X-Pagination` (as flask-smorest
    has it) and an RFC 8288 `Link` header to its first, previous, next and
    last pages, where they exist, whose URLs keep every other query parameter
    (filters, sort) of the request."""

    # flask-smorest's, from the Blueprint this is mixed into.
    PAGINATION_HEADER_NAME: str
    _make_pagination_metadata: Callable[[int, int, int], dict]

    # PaginationMixin._set_pagination_metadata ("Override this to set
    # pagination data another way").
    def _set_pagination_metadata(self, page_params, result, headers):
        if headers is None:
            headers = {}
        metadata = self._make_pagination_metadata(
            page_params.page, page_params.page_size, page_params.item_count
        )
        headers[self.PAGINATION_HEADER_NAME] = json.dumps(metadata)
        links = [
            f'<{page_url(metadata[key], page_params.page_size)}>; rel="{relation}"'
            for relation, key in LINK_RELATIONS
            if key in metadata
        ]
        if links:
            headers["Link"] = ", ".join(links)
        return result, headers

    # PaginationMixin._document_pagination_metadata ("Override this to
    # document custom pagination metadata").
    def _document_pagination_metadata(self, spec, resp_doc):
        resp_doc.setdefault("headers", {}).update(
            {self.PAGINATION_HEADER_NAME: "PAGINATION", "Link": "PAGING_LINKS"}
        )


def page_url(page: int, page_size: int) -> str:
    """This request's URL on another page: its other parameters as sent."""
    query = [
        (name, value)
        for name, value in request.args.items(multi=True)
        if name not in ("page", "page_size")
    ]
    query += [("page", str(page)), ("page_size", str(page_size))]
    return f"{request.base_url}?{urlencode(query)}"


class DocumentedHeaders:
    """Api mixin: the ETag and paging headers as this API uses them."""

    spec: APISpec

    # APISpecMixin._register_etag_headers: If-Match is optional here.
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

    # APISpecMixin._register_pagination_header: the header's value is JSON,
    # which OpenAPI says with `content`; flask-smorest's plain `schema` would
    # mean the comma-separated "simple" style.
    def _register_pagination_header(self):
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
        self.spec.components.header(
            "PAGING_LINKS",
            {
                "description": "RFC 8288 links to the first, previous (`prev`), "
                "next and last pages, where they exist, keeping the request's "
                'filters and sort: `<https://…/item?store_id=3&page=2&page_size=10>; rel="next"`.',
                "schema": {"type": "string"},
            },
            lazy=True,
        )
