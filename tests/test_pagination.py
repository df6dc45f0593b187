"""Pagination of GET /store, GET /item and GET /store/<id>/tag: pages, X-Pagination, docs."""

import json
import re
from contextlib import contextmanager
from typing import NamedTuple

import pytest
from sqlalchemy import Select, event

from db import engines
from models import ItemModel, StoreModel, TagModel
from tests.helpers import assert_error, create_item, create_store, create_tag, resolve

PAGINATION_KEYS = {
    "total",
    "total_pages",
    "first_page",
    "last_page",
    "page",
    "previous_page",
    "next_page",
}
LIST_PATHS = ["/store", "/item", "/store/{store_id}/tag"]


class Listing(NamedTuple):
    """A list endpoint with three rows in it, and the model its rows are."""

    url: str
    ids: list
    model: type


def three_stores(client, headers) -> Listing:
    ids = [create_store(client, headers, f"Store {n}")["id"] for n in range(3)]
    return Listing("/store", ids, StoreModel)


def three_items(client, headers) -> Listing:
    store = create_store(client, headers, "Corner Shop")
    ids = [
        create_item(client, headers, store["id"], f"Item {n}")["id"] for n in range(3)
    ]
    return Listing("/item", ids, ItemModel)


def three_tags(client, headers) -> Listing:
    store = create_store(client, headers, "Corner Shop")
    ids = [create_tag(client, headers, store["id"], f"tag {n}")["id"] for n in range(3)]
    return Listing(f"/store/{store['id']}/tag", ids, TagModel)


@pytest.fixture(
    params=[
        pytest.param(three_stores, id="stores"),
        pytest.param(three_items, id="items"),
        pytest.param(three_tags, id="tags"),
    ]
)
def listing(request, client, user_headers) -> Listing:
    return request.param(client, user_headers)


def pagination(response) -> dict:
    return json.loads(response.headers["X-Pagination"])


def ids_of(response) -> list:
    return [row["id"] for row in response.get_json()]


@contextmanager
def count_sql(app, model):
    """Counts the SQL statements sent and the ORM rows of `model` loaded, and
    lists the (limit, offset) of each SELECT of `model`'s table that has one."""
    counts = {"statements": 0, "rows": 0, "pages": []}

    def on_execute(_connection, statement, *_args):
        if (
            isinstance(statement, Select)
            and statement._limit is not None
            and any(
                from_.is_derived_from(model.__table__)
                for from_ in statement.get_final_froms()
            )
        ):
            counts["pages"].append((statement._limit, statement._offset))

    def on_statement(*args):
        counts["statements"] += 1

    def on_load(*args):
        counts["rows"] += 1

    with app.app_context():
        used = engines()  # reads have an engine of their own on PostgreSQL
    for engine in used:
        event.listen(engine, "before_execute", on_execute)
        event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(model, "load", on_load)
    try:
        yield counts
    finally:
        event.remove(model, "load", on_load)
        for engine in used:
            event.remove(engine, "before_cursor_execute", on_statement)
            event.remove(engine, "before_execute", on_execute)


def links(response) -> dict[str, str]:
    """The Link header's URLs by relation (RFC 8288: `<url>; rel="name"`, comma-separated)."""
    header = response.headers["Link"]
    found = re.findall(r'<([^>]*)>;\s*rel="([^"]+)"', header)
    assert ", ".join(f'<{url}>; rel="{rel}"' for url, rel in found) == header
    return {rel: url for url, rel in found}


# --- Pages and the X-Pagination header ------------------------------------------


def test_list_without_paging_parameters_is_a_json_array_of_its_first_page(
    client, user_headers, listing
):
    response = client.get(listing.url, headers=user_headers)

    assert response.status_code == 200
    assert isinstance(response.get_json(), list)
    assert ids_of(response) == listing.ids
    assert pagination(response) == {
        "total": 3,
        "total_pages": 1,
        "first_page": 1,
        "last_page": 1,
        "page": 1,
    }


# (page, page_size, indexes of the rows on that page, X-Pagination) over 3 rows
PAGES = [
    pytest.param(
        1,
        2,
        [0, 1],
        {
            "total": 3,
            "total_pages": 2,
            "first_page": 1,
            "last_page": 2,
            "page": 1,
            "next_page": 2,
        },
        id="first-of-two",
    ),
    pytest.param(
        2,
        2,
        [2],
        {
            "total": 3,
            "total_pages": 2,
            "first_page": 1,
            "last_page": 2,
            "page": 2,
            "previous_page": 1,
        },
        id="last-of-two",
    ),
    pytest.param(
        2,
        1,
        [1],
        {
            "total": 3,
            "total_pages": 3,
            "first_page": 1,
            "last_page": 3,
            "page": 2,
            "previous_page": 1,
            "next_page": 3,
        },
        id="middle-of-three",
    ),
    pytest.param(
        1,
        100,
        [0, 1, 2],
        {"total": 3, "total_pages": 1, "first_page": 1, "last_page": 1, "page": 1},
        id="largest-page-size",
    ),
]


@pytest.mark.parametrize(("page", "page_size", "indexes", "metadata"), PAGES)
def test_page_holds_its_rows_and_x_pagination_says_where_it_is(
    client, user_headers, listing, page, page_size, indexes, metadata
):
    response = client.get(
        listing.url,
        query_string={"page": page, "page_size": page_size},
        headers=user_headers,
    )

    assert response.status_code == 200
    assert ids_of(response) == [listing.ids[index] for index in indexes]
    assert pagination(response) == metadata


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(3, id="just-past-the-end"),
        pytest.param(10**30, id="absurdly-far"),
    ],
)
def test_page_past_the_end_is_an_empty_array(client, user_headers, listing, page):
    response = client.get(
        listing.url, query_string={"page": page, "page_size": 2}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.get_json() == []
    metadata = pagination(response)
    assert (metadata["total"], metadata["total_pages"]) == (3, 2)
    assert "next_page" not in metadata


def test_following_next_page_visits_every_row_once_in_order(
    client, user_headers, listing
):
    seen, page = [], 1
    while page is not None:
        response = client.get(
            listing.url,
            query_string={"page": page, "page_size": 1},
            headers=user_headers,
        )
        assert response.status_code == 200
        seen += ids_of(response)
        page = pagination(response).get("next_page")

    assert seen == listing.ids


def empty_stores(client, headers) -> str:
    return "/store"


def empty_items(client, headers) -> str:
    return "/item"


def empty_tags(client, headers) -> str:
    return f"/store/{create_store(client, headers, 'Corner Shop')['id']}/tag"


@pytest.mark.parametrize(
    "empty_list",
    [
        pytest.param(empty_stores, id="stores"),
        pytest.param(empty_items, id="items"),
        pytest.param(empty_tags, id="tags"),
    ],
)
def test_empty_list_says_only_total_0_and_total_pages_0(
    client, user_headers, empty_list
):
    url = empty_list(client, user_headers)

    response = client.get(url, headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == []
    assert pagination(response) == {"total": 0, "total_pages": 0}


def test_default_page_size_is_50(client, user_headers):
    ids = [create_store(client, user_headers, f"Store {n}")["id"] for n in range(51)]

    response = client.get("/store", headers=user_headers)

    assert ids_of(response) == ids[:50]
    assert pagination(response) == {
        "total": 51,
        "total_pages": 2,
        "first_page": 1,
        "last_page": 2,
        "page": 1,
        "next_page": 2,
    }


# --- Invalid paging parameters ---------------------------------------------------

INVALID_PAGING = [
    pytest.param("page=0", "page", id="page-0"),
    pytest.param("page=-1", "page", id="negative-page"),
    pytest.param("page=abc", "page", id="page-not-a-number"),
    pytest.param("page=1.5", "page", id="page-not-an-integer"),
    pytest.param("page_size=0", "page_size", id="page-size-0"),
    pytest.param("page_size=101", "page_size", id="page-size-101"),
    pytest.param("page_size=abc", "page_size", id="page-size-not-a-number"),
]


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize(("query", "field"), INVALID_PAGING)
def test_invalid_paging_parameter_is_422_naming_it(
    client, user_headers, store, path, query, field
):
    url = path.format(store_id=store["id"]) + "?" + query

    response = client.get(url, headers=user_headers)

    body = assert_error(response, 422)
    assert field in body["errors"]["query"]


# --- The database does the paging ------------------------------------------------


def test_a_page_loads_only_its_own_rows(app, client, user_headers, listing):
    with count_sql(app, listing.model) as counts:
        response = client.get(
            listing.url, query_string={"page": 3, "page_size": 1}, headers=user_headers
        )

    assert ids_of(response) == [listing.ids[2]]
    # The database pages: one SELECT of the listed rows, for 1 row after 2,
    # read as plain rows (queries.py), no ORM object built.
    assert counts["pages"] == [(1, 2)]
    assert counts["rows"] == 0


def test_a_late_page_costs_the_same_queries_and_rows_as_the_first(
    app, client, user_headers
):
    store = create_store(client, user_headers, "Warehouse")
    for n in range(120):
        create_item(client, user_headers, store["id"], f"Item {n}")

    with count_sql(app, ItemModel) as first:
        first_page = client.get("/item?page=1&page_size=1", headers=user_headers)
    with count_sql(app, ItemModel) as last:
        last_page = client.get("/item?page=120&page_size=1", headers=user_headers)

    assert [row["name"] for row in first_page.get_json()] == ["Item 0"]
    assert [row["name"] for row in last_page.get_json()] == ["Item 119"]
    assert pagination(last_page)["total"] == 120
    assert last["statements"] == first["statements"]
    assert first["pages"] == [(1, 0)]
    assert last["pages"] == [(1, 119)]


# --- The OpenAPI document ----------------------------------------------------------


def query_parameters(spec, path: str) -> dict:
    parameters = [resolve(spec, p) for p in spec["paths"][path]["get"]["parameters"]]
    return {p["name"]: p for p in parameters if p["in"] == "query"}


@pytest.mark.parametrize("path", LIST_PATHS)
def test_list_documents_page_parameter(spec, path):
    page = query_parameters(spec, path)["page"]

    assert page.get("required", False) is False
    assert page["schema"] == {**page["schema"], "type": "integer", "minimum": 1}


@pytest.mark.parametrize("path", LIST_PATHS)
def test_list_documents_page_size_parameter(spec, path):
    page_size = query_parameters(spec, path)["page_size"]

    assert page_size.get("required", False) is False
    assert page_size["schema"] == {
        **page_size["schema"],
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 50,
    }


@pytest.mark.parametrize("path", LIST_PATHS)
def test_list_documents_x_pagination_header_on_200(spec, path):
    ok = resolve(spec, spec["paths"][path]["get"]["responses"]["200"])

    header = resolve(spec, ok["headers"]["X-Pagination"])
    schema = header.get("schema") or header["content"]["application/json"]["schema"]
    assert set(resolve(spec, schema)["properties"]) == PAGINATION_KEYS


@pytest.mark.parametrize("path", LIST_PATHS)
def test_list_documents_its_link_header_on_200(spec, path):
    ok = resolve(spec, spec["paths"][path]["get"]["responses"]["200"])

    header = resolve(spec, ok["headers"]["Link"])
    assert "RFC 8288" in header["description"]


@pytest.mark.parametrize("path", LIST_PATHS)
def test_list_documents_invalid_paging_as_422_with_the_error_envelope(spec, path):
    unprocessable = resolve(spec, spec["paths"][path]["get"]["responses"]["422"])

    schema = unprocessable["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Error"}


# --- The Link header -------------------------------------------------------------


def test_a_middle_page_links_to_the_first_previous_next_and_last(client, user_headers):
    store = create_store(client, user_headers, "Corner Shop")
    for n in range(7):
        create_item(client, user_headers, store["id"], f"Item {n}")

    response = client.get("/item?page=2&page_size=2", headers=user_headers)

    base = "http://localhost/item"
    assert links(response) == {
        "first": f"{base}?page=1&page_size=2",
        "prev": f"{base}?page=1&page_size=2",
        "next": f"{base}?page=3&page_size=2",
        "last": f"{base}?page=4&page_size=2",
    }


def test_links_keep_the_filters_and_sort_and_lead_to_the_pages_they_name(
    client, user_headers
):
    store = create_store(client, user_headers, "Corner Shop")
    other = create_store(client, user_headers, "Other Shop")
    for n in range(5):
        create_item(client, user_headers, store["id"], f"Chair {n}", price=n)
        create_item(client, user_headers, other["id"], f"Chair {n}", price=n)
    query = f"store_id={store['id']}&sort=-price&q=chair"
    first = client.get(f"/item?{query}&page_size=2", headers=user_headers)

    pages = [ids_of(first)]
    url = links(first).get("next")
    while url:
        assert f"store_id={store['id']}&sort=-price&q=chair" in url
        response = client.get(url, headers=user_headers)
        pages.append(ids_of(response))
        url = links(response).get("next")

    everything = client.get(f"/item?{query}", headers=user_headers)
    assert [row for page in pages for row in page] == ids_of(everything)
    assert [len(page) for page in pages] == [2, 2, 1]


def test_the_first_page_has_no_prev_and_the_last_no_next(client, user_headers, listing):
    first = client.get(f"{listing.url}?page_size=2", headers=user_headers)
    last = client.get(f"{listing.url}?page=2&page_size=2", headers=user_headers)

    assert set(links(first)) == {"first", "next", "last"}
    assert set(links(last)) == {"first", "prev", "last"}


def test_an_empty_list_has_no_link_header(client, user_headers):
    response = client.get("/item", headers=user_headers)

    assert pagination(response) == {"total": 0, "total_pages": 0}
    assert "Link" not in response.headers
