"""Filtering and sorting of GET /item and GET /store, alone, combined and paged."""

import json

import pytest

from tests.helpers import assert_error, create_item, create_store, create_tag, link

# Every name that is sorted starts with its own capital letter, so that the
# order is the same under SQLite's binary collation and PostgreSQL's locale.
# (label, store, name, price), created in this order, so ids ascend down the list.
ITEMS = [
    ("armchair", "corner", "Armchair", 17.99),
    ("bench", "corner", "Bench", 120),
    ("cushion", "corner", "Cushion for chair", 5.5),
    ("desk_chair", "market", "Desk Chair", 89),
    ("ewer", "market", "Ewer 100% tin", 30),
    ("fan", "market", "Fan_heater", 17.99),
    ("market_bench", "market", "Bench", 45),
]
STORES = [
    ("corner", "Corner Shop"),
    ("market", "Market Hall"),
    ("discount", "Discount_Depot 100%"),
]


@pytest.fixture
def catalogue(client, user_headers) -> dict:
    """Label -> id of the stores and ITEMS, and of the tag `furniture` (in `corner`,
    linked to `armchair` and `bench`)."""
    ids = {
        label: create_store(client, user_headers, name)["id"] for label, name in STORES
    }
    for label, store, name, price in ITEMS:
        ids[label] = create_item(client, user_headers, ids[store], name, price)["id"]
    ids["furniture"] = create_tag(client, user_headers, ids["corner"], "furniture")[
        "id"
    ]
    for label in ("armchair", "bench"):
        assert (
            link(client, user_headers, ids[label], ids["furniture"]).status_code == 201
        )
    return ids


def get_ids(client, headers, url: str) -> list:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert isinstance(response.get_json(), list)
    return [row["id"] for row in response.get_json()]


def expand(template: str, ids: dict) -> str:
    return template.format(**ids)


# --- GET /item filters ----------------------------------------------------------

# (query, labels of the items it keeps, in id order)
ITEM_FILTERS = [
    pytest.param("store_id={corner}", ["armchair", "bench", "cushion"], id="store"),
    pytest.param(
        "store_id={market}",
        ["desk_chair", "ewer", "fan", "market_bench"],
        id="other-store",
    ),
    pytest.param("store_id={discount}", [], id="store-without-items"),
    pytest.param("tag_id={furniture}", ["armchair", "bench"], id="tag"),
    pytest.param("q=chair", ["armchair", "cushion", "desk_chair"], id="q-substring"),
    pytest.param("q=CHAIR", ["armchair", "cushion", "desk_chair"], id="q-any-case"),
    pytest.param("q=Bench", ["bench", "market_bench"], id="q-whole-name"),
    pytest.param("q=nothing-like-this", [], id="q-matching-nothing"),
    pytest.param("q=%25", ["ewer"], id="q-percent-is-literal"),
    pytest.param("q=_", ["fan"], id="q-underscore-is-literal"),
    pytest.param("q=n_h", ["fan"], id="q-underscore-inside-text"),
    pytest.param(
        "min_price=30", ["bench", "desk_chair", "ewer", "market_bench"], id="min-price"
    ),
    pytest.param(
        "max_price=17.99", ["armchair", "cushion", "fan"], id="max-price-inclusive"
    ),
    pytest.param("min_price=17.99&max_price=17.99", ["armchair", "fan"], id="price-eq"),
    pytest.param(
        "min_price=17.99&max_price=45",
        ["armchair", "ewer", "fan", "market_bench"],
        id="price-range",
    ),
    pytest.param("store_id={market}&q=chair", ["desk_chair"], id="store-and-q"),
    pytest.param("tag_id={furniture}&max_price=100", ["armchair"], id="tag-and-price"),
    pytest.param(
        "store_id={corner}&q=e&min_price=10&max_price=200",
        ["bench"],
        id="store-q-and-price",
    ),
]


@pytest.mark.parametrize(("query", "labels"), ITEM_FILTERS)
def test_item_filters_keep_only_matching_items(
    client, user_headers, catalogue, query, labels
):
    url = "/item?" + expand(query, catalogue)

    ids = get_ids(client, user_headers, url)

    assert ids == [catalogue[label] for label in labels]


# --- GET /store filters -----------------------------------------------------------

STORE_FILTERS = [
    pytest.param("q=shop", ["corner"], id="q-substring"),
    pytest.param("q=HALL", ["market"], id="q-any-case"),
    pytest.param("q=r", ["corner", "market"], id="q-in-several"),
    pytest.param("q=%25", ["discount"], id="q-percent-is-literal"),
    pytest.param("q=_", ["discount"], id="q-underscore-is-literal"),
    pytest.param("q=nothing-like-this", [], id="q-matching-nothing"),
]


@pytest.mark.parametrize(("query", "labels"), STORE_FILTERS)
def test_store_filters_keep_only_matching_stores(
    client, user_headers, catalogue, query, labels
):
    ids = get_ids(client, user_headers, "/store?" + query)

    assert ids == [catalogue[label] for label in labels]


# --- Sorting ------------------------------------------------------------------------

# (url, labels in the order expected); ties (equal price, equal name) by id.
SORTS = [
    pytest.param(
        "/item?sort=id",
        ["armchair", "bench", "cushion", "desk_chair", "ewer", "fan", "market_bench"],
        id="item-id",
    ),
    pytest.param(
        "/item?sort=-id",
        ["market_bench", "fan", "ewer", "desk_chair", "cushion", "bench", "armchair"],
        id="item-id-descending",
    ),
    pytest.param(
        "/item?sort=name",
        ["armchair", "bench", "market_bench", "cushion", "desk_chair", "ewer", "fan"],
        id="item-name-ties-by-id",
    ),
    pytest.param(
        "/item?sort=-name",
        ["fan", "ewer", "desk_chair", "cushion", "bench", "market_bench", "armchair"],
        id="item-name-descending-ties-by-id",
    ),
    pytest.param(
        "/item?sort=price",
        ["cushion", "armchair", "fan", "ewer", "market_bench", "desk_chair", "bench"],
        id="item-price-numeric-ties-by-id",
    ),
    pytest.param(
        "/item?sort=-price",
        ["bench", "desk_chair", "market_bench", "ewer", "armchair", "fan", "cushion"],
        id="item-price-descending-ties-by-id",
    ),
    pytest.param("/store?sort=id", ["corner", "market", "discount"], id="store-id"),
    pytest.param(
        "/store?sort=-id", ["discount", "market", "corner"], id="store-id-descending"
    ),
    pytest.param("/store?sort=name", ["corner", "discount", "market"], id="store-name"),
    pytest.param(
        "/store?sort=-name",
        ["market", "discount", "corner"],
        id="store-name-descending",
    ),
]


@pytest.mark.parametrize(("url", "labels"), SORTS)
def test_sort_orders_the_list(client, user_headers, catalogue, url, labels):
    ids = get_ids(client, user_headers, url)

    assert ids == [catalogue[label] for label in labels]


@pytest.mark.parametrize(
    ("url", "labels"),
    [
        pytest.param(
            "/item?q=chair&sort=-price",
            ["desk_chair", "armchair", "cushion"],
            id="item-filter-sorted",
        ),
        pytest.param(
            "/item?store_id={market}&sort=name",
            ["market_bench", "desk_chair", "ewer", "fan"],
            id="item-store-sorted-by-name",
        ),
        pytest.param(
            "/store?q=r&sort=-name", ["market", "corner"], id="store-filter-sorted"
        ),
    ],
)
def test_sort_orders_a_filtered_list(client, user_headers, catalogue, url, labels):
    ids = get_ids(client, user_headers, expand(url, catalogue))

    assert ids == [catalogue[label] for label in labels]


def test_default_item_order_is_by_id(client, user_headers, catalogue):
    ids = get_ids(client, user_headers, "/item")

    assert ids == sorted(ids)
    assert len(ids) == len(ITEMS)


# --- Invalid filters and sorts -------------------------------------------------------

# (url, the query parameter `errors.query` must name, or None where the rule spans two)
INVALID_QUERIES = [
    pytest.param("/item?sort=colour", "sort", id="item-sort-unknown-field"),
    pytest.param("/item?sort=-colour", "sort", id="item-sort-unknown-descending"),
    pytest.param("/item?sort=--price", "sort", id="item-sort-double-minus"),
    pytest.param("/item?sort=", "sort", id="item-sort-empty"),
    pytest.param("/item?sort=Price", "sort", id="item-sort-wrong-case"),
    pytest.param("/item?min_price=abc", "min_price", id="min-price-not-a-number"),
    pytest.param("/item?max_price=abc", "max_price", id="max-price-not-a-number"),
    pytest.param("/item?min_price=-1", "min_price", id="min-price-negative"),
    pytest.param("/item?min_price=NaN", "min_price", id="min-price-nan"),
    pytest.param("/item?max_price=Infinity", "max_price", id="max-price-infinite"),
    pytest.param(
        "/item?max_price=100000000", "max_price", id="max-price-above-maximum"
    ),
    pytest.param("/item?q=", "q", id="item-q-empty"),
    pytest.param("/item?q=" + "x" * 81, "q", id="item-q-too-long"),
    pytest.param("/item?store_id=0", "store_id", id="store-id-0"),
    pytest.param("/item?store_id=-1", "store_id", id="store-id-negative"),
    pytest.param("/item?store_id=abc", "store_id", id="store-id-not-a-number"),
    pytest.param("/item?tag_id=0", "tag_id", id="tag-id-0"),
    pytest.param("/item?tag_id=abc", "tag_id", id="tag-id-not-a-number"),
    pytest.param("/store?sort=colour", "sort", id="store-sort-unknown-field"),
    pytest.param("/store?sort=price", "sort", id="store-sort-by-price"),
    pytest.param("/store?q=", "q", id="store-q-empty"),
]


@pytest.mark.parametrize(("url", "field"), INVALID_QUERIES)
def test_invalid_filter_or_sort_is_422(client, user_headers, url, field):
    response = client.get(url, headers=user_headers)

    body = assert_error(response, 422)
    assert body["errors"]["query"]
    if field is not None:
        assert field in body["errors"]["query"]


def test_price_range_with_min_above_max_matches_nothing(
    client, user_headers, catalogue
):
    response = client.get("/item?min_price=50&max_price=10", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == []


@pytest.mark.parametrize(
    "url", ["/store?colour=red", "/item?pagesize=10", "/store/{store_id}/tag?sort=name"]
)
def test_unknown_query_parameter_of_a_list_is_422(client, user_headers, store, url):
    response = client.get(url.format(store_id=store["id"]), headers=user_headers)

    body = assert_error(response, 422)
    assert list(body["errors"]["query"].values()) == [["Unknown field."]]


# --- Filters with pagination ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "total"),
    [
        pytest.param("/item?q=chair", 3, id="item-q"),
        pytest.param("/item?store_id={market}&min_price=40", 2, id="item-store-price"),
        pytest.param("/store?q=r", 2, id="store-q"),
    ],
)
def test_x_pagination_total_counts_only_matching_rows(
    client, user_headers, catalogue, url, total
):
    response = client.get(expand(url, catalogue) + "&page_size=1", headers=user_headers)

    assert response.status_code == 200
    assert len(response.get_json()) == 1
    metadata = json.loads(response.headers["X-Pagination"])
    assert (metadata["total"], metadata["total_pages"]) == (total, total)


def test_pages_of_a_sorted_filter_follow_its_order(client, user_headers, catalogue):
    url = "/item?min_price=17.99&sort=-price&page_size=2"
    paged = []
    for page in (1, 2, 3):
        paged += get_ids(client, user_headers, f"{url}&page={page}")

    assert paged == [
        catalogue[label]
        for label in ("bench", "desk_chair", "market_bench", "ewer", "armchair", "fan")
    ]
