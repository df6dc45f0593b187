"""Items: list and read; create (fresh token), update and delete (the store's owner or an
admin), per the contract."""

import re

import pytest

from tests.helpers import (
    assert_error,
    create_item,
    create_store,
    create_tag,
    link,
    location_path,
)

ITEM_KEYS = {"id", "name", "price", "description", "store", "tags"}
PLAIN_TAG_KEYS = {"id", "name"}

VALID_PRICES = [
    pytest.param(0, id="zero"),
    pytest.param(5, id="integer"),
    pytest.param(0.1, id="one-decimal"),
    pytest.param(17.99, id="two-decimals"),
    pytest.param(99999999.99, id="maximum"),
]

INVALID_PRICES = [
    pytest.param("17.99", id="numeric-string"),
    pytest.param("abc", id="non-numeric-string"),
    pytest.param(17.999, id="three-decimals"),
    pytest.param(0.001, id="three-decimals-small"),
    pytest.param(-0.01, id="negative-cent"),
    pytest.param(-5, id="negative-integer"),
    pytest.param(100000000, id="above-maximum"),
    pytest.param(99999999.991, id="just-above-maximum"),
    pytest.param(None, id="null"),
    pytest.param(True, id="boolean"),
    pytest.param([17.99], id="array"),
]

# (fields to change in a valid create body, field that `errors.json` must name)
INVALID_CREATE_FIELDS = [
    pytest.param({"name": ""}, "name", id="empty-name"),
    pytest.param({"name": "   "}, "name", id="whitespace-only-name"),
    pytest.param({"name": "x" * 81}, "name", id="name-of-81-chars"),
    pytest.param({"name": None}, "name", id="null-name"),
    pytest.param({"name": 42}, "name", id="non-string-name"),
    pytest.param({"description": "d" * 1001}, "description", id="description-1001"),
    pytest.param({"description": 42}, "description", id="non-string-description"),
    pytest.param({"store_id": "1"}, "store_id", id="string-store-id"),
    pytest.param({"store_id": None}, "store_id", id="null-store-id"),
    pytest.param({"colour": "red"}, "colour", id="unknown-field"),
]

INVALID_UPDATE_BODIES = [
    pytest.param({"name": ""}, "name", id="empty-name"),
    pytest.param({"name": "   "}, "name", id="whitespace-only-name"),
    pytest.param({"name": "x" * 81}, "name", id="name-of-81-chars"),
    pytest.param({"name": None}, "name", id="null-name"),
    pytest.param({"description": "d" * 1001}, "description", id="description-1001"),
    pytest.param({"colour": "red"}, "colour", id="unknown-field"),
]

NON_INTEGER_ITEM_PATHS = [
    pytest.param("get", "/item/abc", id="get-word"),
    pytest.param("get", "/item/1.5", id="get-decimal"),
    pytest.param("put", "/item/abc", id="put-word"),
    pytest.param("delete", "/item/abc", id="delete-word"),
]


def plain_store(store: dict) -> dict:
    """The PlainStore part of a Store."""
    return {"id": store["id"], "name": store["name"], "owner_id": store["owner_id"]}


def item_body(store_id: int, **fields) -> dict:
    return {"name": "Chair", "price": 17.99, "store_id": store_id, **fields}


def raw_price(response) -> str:
    """The price as written in the raw JSON text of the response."""
    match = re.search(r'"price"\s*:\s*([^,}\s]+)', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return match.group(1)


# --- POST /item ----------------------------------------------------------------


def test_create_item_returns_201_with_the_item(client, user_headers, store):
    response = client.post("/item", json=item_body(store["id"]), headers=user_headers)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == ITEM_KEYS
    assert isinstance(body["id"], int)
    assert body["name"] == "Chair"
    assert body["price"] == 17.99
    assert body["description"] is None
    assert body["store"] == plain_store(store)
    assert body["tags"] == []


def test_create_item_location_points_at_the_created_item(client, user_headers, store):
    response = client.post("/item", json=item_body(store["id"]), headers=user_headers)

    created = response.get_json()
    assert location_path(response) == f"/item/{created['id']}"
    fetched = client.get(response.headers["Location"], headers=user_headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == created


def test_create_item_keeps_the_description(client, user_headers, store):
    body = item_body(store["id"], description="Oak, with a padded seat.")

    response = client.post("/item", json=body, headers=user_headers)

    assert response.status_code == 201
    assert response.get_json()["description"] == "Oak, with a padded seat."


def test_create_item_accepts_a_null_description(client, user_headers, store):
    body = item_body(store["id"], description=None)

    response = client.post("/item", json=body, headers=user_headers)

    assert response.status_code == 201
    assert response.get_json()["description"] is None


def test_create_item_accepts_a_description_of_1000_chars(client, user_headers, store):
    body = item_body(store["id"], description="d" * 1000)

    response = client.post("/item", json=body, headers=user_headers)

    assert response.status_code == 201
    assert response.get_json()["description"] == "d" * 1000


def test_create_item_trims_the_name_before_storing_it(client, user_headers, store):
    body = item_body(store["id"], name="  Chair \t")

    response = client.post("/item", json=body, headers=user_headers)

    assert response.status_code == 201
    assert response.get_json()["name"] == "Chair"
    fetched = client.get(f"/item/{response.get_json()['id']}", headers=user_headers)
    assert fetched.get_json()["name"] == "Chair"


def test_create_item_accepts_a_name_of_80_chars(client, user_headers, store):
    body = item_body(store["id"], name="x" * 80)

    response = client.post("/item", json=body, headers=user_headers)

    assert response.status_code == 201
    assert response.get_json()["name"] == "x" * 80


@pytest.mark.parametrize("price", VALID_PRICES)
def test_create_item_accepts_a_valid_price_and_stores_it_exactly(
    client, user_headers, store, price
):
    response = client.post(
        "/item", json=item_body(store["id"], price=price), headers=user_headers
    )

    assert response.status_code == 201, response.get_json()
    fetched = client.get(f"/item/{response.get_json()['id']}", headers=user_headers)
    assert fetched.get_json()["price"] == price


def test_price_17_99_is_returned_as_the_json_number_17_99(client, user_headers, item):
    response = client.get(f"/item/{item['id']}", headers=user_headers)

    price = response.get_json()["price"]
    assert isinstance(price, float)
    assert price == 17.99
    assert raw_price(response) == "17.99"


def test_maximum_price_is_returned_exactly(client, user_headers, store):
    created = create_item(client, user_headers, store["id"], "Sofa", 99999999.99)

    response = client.get(f"/item/{created['id']}", headers=user_headers)

    assert raw_price(response) == "99999999.99"


def test_integer_price_is_returned_as_a_json_number(client, user_headers, store):
    created = create_item(client, user_headers, store["id"], "Stool", 5)

    response = client.get(f"/item/{created['id']}", headers=user_headers)

    price = response.get_json()["price"]
    assert isinstance(price, int | float) and not isinstance(price, bool)
    assert price == 5


@pytest.mark.parametrize("price", INVALID_PRICES)
def test_create_item_with_an_invalid_price_is_422(client, user_headers, store, price):
    response = client.post(
        "/item", json=item_body(store["id"], price=price), headers=user_headers
    )

    error = assert_error(response, 422)
    assert "price" in error["errors"]["json"]
    assert client.get("/item", headers=user_headers).get_json() == []


@pytest.mark.parametrize("field", ["name", "price", "store_id"])
def test_create_item_without_a_required_field_is_422(
    client, user_headers, store, field
):
    body = item_body(store["id"])
    del body[field]

    response = client.post("/item", json=body, headers=user_headers)

    error = assert_error(response, 422)
    assert field in error["errors"]["json"]


@pytest.mark.parametrize(("fields", "field"), INVALID_CREATE_FIELDS)
def test_create_item_with_an_invalid_field_is_422(
    client, user_headers, store, fields, field
):
    response = client.post(
        "/item", json={**item_body(store["id"]), **fields}, headers=user_headers
    )

    error = assert_error(response, 422)
    assert field in error["errors"]["json"]
    assert client.get("/item", headers=user_headers).get_json() == []


def test_create_item_with_an_unknown_field_says_unknown_field(
    client, user_headers, store
):
    response = client.post(
        "/item", json=item_body(store["id"], colour="red"), headers=user_headers
    )

    error = assert_error(response, 422)
    assert error["errors"]["json"]["colour"] == ["Unknown field."]


def test_create_item_in_an_unknown_store_is_422_on_store_id(client, user_headers):
    response = client.post("/item", json=item_body(9999), headers=user_headers)

    error = assert_error(response, 422)
    assert error["errors"]["json"]["store_id"]
    assert client.get("/item", headers=user_headers).get_json() == []


def test_create_item_with_a_name_taken_in_the_store_is_409(
    client, user_headers, store, item
):
    response = client.post(
        "/item", json=item_body(store["id"], name=item["name"]), headers=user_headers
    )

    assert_error(response, 409)
    assert len(client.get("/item", headers=user_headers).get_json()) == 1


def test_create_item_with_a_taken_name_padded_with_spaces_is_409(
    client, user_headers, store, item
):
    body = item_body(store["id"], name=f"  {item['name']}  ")

    response = client.post("/item", json=body, headers=user_headers)

    assert_error(response, 409)


def test_create_item_with_a_name_taken_in_another_store_is_allowed(
    client, user_headers, item
):
    other = create_store(client, user_headers, "Other Shop")

    response = client.post(
        "/item", json=item_body(other["id"], name=item["name"]), headers=user_headers
    )

    assert response.status_code == 201
    assert response.get_json()["store"]["id"] == other["id"]


def test_create_item_needs_a_fresh_token(client, nonfresh_headers):
    # Bob's own store: a non-fresh token of its owner is still refused.
    own = create_store(client, nonfresh_headers, "Bob's Shop")

    response = client.post("/item", json=item_body(own["id"]), headers=nonfresh_headers)

    assert_error(response, 401, error="fresh_token_required")
    assert client.get("/item", headers=nonfresh_headers).get_json() == []


# --- GET /item/<id> ------------------------------------------------------------


def test_get_item_returns_the_item(client, user_headers, store, item):
    response = client.get(f"/item/{item['id']}", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == {
        "id": item["id"],
        "name": "Chair",
        "price": 17.99,
        "description": None,
        "store": plain_store(store),
        "tags": [],
    }


def test_get_item_nests_its_plain_tags_ordered_by_id(client, user_headers, store, item):
    tags = [
        create_tag(client, user_headers, store["id"], name) for name in ("z", "a", "m")
    ]
    for tag in reversed(tags):
        assert link(client, user_headers, item["id"], tag["id"]).status_code == 201

    response = client.get(f"/item/{item['id']}", headers=user_headers)

    assert response.get_json()["tags"] == [
        {"id": tag["id"], "name": tag["name"]} for tag in tags
    ]


def test_get_missing_item_is_404(client, user_headers):
    response = client.get("/item/9999", headers=user_headers)

    assert_error(response, 404, "Item not found.")


@pytest.mark.parametrize(("method", "path"), NON_INTEGER_ITEM_PATHS)
def test_non_integer_item_id_is_404(client, admin_headers, method, path):
    response = getattr(client, method)(
        path, json={"price": 1} if method == "put" else None, headers=admin_headers
    )

    assert_error(response, 404)


# --- GET /item -----------------------------------------------------------------


def test_list_items_without_items_is_an_empty_array(client, user_headers):
    response = client.get("/item", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == []


def test_list_items_is_ordered_by_id(client, user_headers, store):
    other = create_store(client, user_headers, "Other Shop")
    created = [
        create_item(client, user_headers, store["id"], "Zeta"),
        create_item(client, user_headers, other["id"], "Alpha"),
        create_item(client, user_headers, store["id"], "Middle"),
    ]

    response = client.get("/item", headers=user_headers)

    assert response.status_code == 200
    assert [i["id"] for i in response.get_json()] == [i["id"] for i in created]
    assert [i["id"] for i in created] == sorted(i["id"] for i in created)


def test_list_items_nests_store_and_plain_tags(client, user_headers, store, item, tag):
    assert link(client, user_headers, item["id"], tag["id"]).status_code == 201

    response = client.get("/item", headers=user_headers)

    (listed,) = response.get_json()
    assert set(listed) == ITEM_KEYS
    assert listed["store"] == plain_store(store)
    assert listed["tags"] == [{"id": tag["id"], "name": tag["name"]}]
    assert set(listed["tags"][0]) == PLAIN_TAG_KEYS


# --- PUT /item/<id> ------------------------------------------------------------


def test_update_item_name_returns_the_updated_item(client, user_headers, store, item):
    response = client.put(
        f"/item/{item['id']}", json={"name": "Armchair"}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.get_json() == {**item, "name": "Armchair"}


def test_update_item_price_changes_only_the_price(client, user_headers, item):
    response = client.put(
        f"/item/{item['id']}", json={"price": 19.5}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.get_json() == {**item, "price": 19.5}


def test_update_item_description_changes_only_the_description(
    client, user_headers, item
):
    response = client.put(
        f"/item/{item['id']}", json={"description": "Oak"}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.get_json() == {**item, "description": "Oak"}


def test_update_item_can_clear_the_description(client, user_headers, store):
    created = create_item(client, user_headers, store["id"], "Chair", description="Oak")

    response = client.put(
        f"/item/{created['id']}", json={"description": None}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.get_json()["description"] is None


def test_update_item_is_persisted(client, user_headers, item):
    client.put(
        f"/item/{item['id']}",
        json={"name": "Armchair", "price": 20, "description": "Oak"},
        headers=user_headers,
    )

    response = client.get(f"/item/{item['id']}", headers=user_headers)

    body = response.get_json()
    assert (body["name"], body["price"], body["description"]) == ("Armchair", 20, "Oak")


def test_update_item_trims_the_name(client, user_headers, item):
    response = client.put(
        f"/item/{item['id']}", json={"name": "  Armchair  "}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.get_json()["name"] == "Armchair"


def test_update_item_to_its_own_name_is_not_a_conflict(client, user_headers, item):
    response = client.put(
        f"/item/{item['id']}", json={"name": item["name"]}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.get_json()["name"] == item["name"]


def test_update_item_to_a_name_taken_in_its_store_is_409(
    client, user_headers, store, item
):
    other = create_item(client, user_headers, store["id"], "Table")

    response = client.put(
        f"/item/{other['id']}", json={"name": item["name"]}, headers=user_headers
    )

    assert_error(response, 409)
    fetched = client.get(f"/item/{other['id']}", headers=user_headers)
    assert fetched.get_json()["name"] == "Table"


def test_update_item_to_a_name_taken_in_another_store_is_allowed(
    client, user_headers, item
):
    other_store = create_store(client, user_headers, "Other Shop")
    other = create_item(client, user_headers, other_store["id"], "Table")

    response = client.put(
        f"/item/{other['id']}", json={"name": item["name"]}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.get_json()["name"] == item["name"]


@pytest.mark.parametrize("price", INVALID_PRICES)
def test_update_item_with_an_invalid_price_is_422(client, user_headers, item, price):
    response = client.put(
        f"/item/{item['id']}", json={"price": price}, headers=user_headers
    )

    error = assert_error(response, 422)
    assert "price" in error["errors"]["json"]
    fetched = client.get(f"/item/{item['id']}", headers=user_headers)
    assert fetched.get_json()["price"] == item["price"]


@pytest.mark.parametrize(("body", "field"), INVALID_UPDATE_BODIES)
def test_update_item_with_an_invalid_field_is_422(
    client, user_headers, item, body, field
):
    response = client.put(f"/item/{item['id']}", json=body, headers=user_headers)

    error = assert_error(response, 422)
    assert field in error["errors"]["json"]
    assert client.get(f"/item/{item['id']}", headers=user_headers).get_json() == item


def test_update_item_with_an_empty_body_is_422(client, user_headers, item):
    response = client.put(f"/item/{item['id']}", json={}, headers=user_headers)

    error = assert_error(response, 422)
    assert error["errors"]["json"]


@pytest.mark.parametrize(
    "store_id",
    [pytest.param("same", id="unchanged"), pytest.param("other", id="another-store")],
)
def test_update_item_with_a_store_id_is_422(
    client, user_headers, store, item, store_id
):
    other = create_store(client, user_headers, "Other Shop")
    new_store_id = store["id"] if store_id == "same" else other["id"]

    response = client.put(
        f"/item/{item['id']}",
        json={"name": "Armchair", "store_id": new_store_id},
        headers=user_headers,
    )

    error = assert_error(response, 422)
    assert error["errors"]["json"]["store_id"]
    assert client.get(f"/item/{item['id']}", headers=user_headers).get_json() == item


def test_update_missing_item_is_404(client, user_headers):
    response = client.put("/item/9999", json={"name": "Chair"}, headers=user_headers)

    assert_error(response, 404, "Item not found.")


def test_update_item_never_creates_one(client, user_headers, store):
    client.put(
        "/item/9999",
        json={"name": "Chair", "price": 1, "description": "Oak"},
        headers=user_headers,
    )

    assert_error(client.get("/item/9999", headers=user_headers), 404, "Item not found.")
    assert client.get("/item", headers=user_headers).get_json() == []


# --- DELETE /item/<id> ---------------------------------------------------------


def test_delete_item_as_admin_says_item_deleted(client, admin_headers, item):
    response = client.delete(f"/item/{item['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Item deleted."}


def test_deleted_item_is_gone(client, admin_headers, store, item):
    client.delete(f"/item/{item['id']}", headers=admin_headers)

    assert_error(
        client.get(f"/item/{item['id']}", headers=admin_headers), 404, "Item not found."
    )
    assert (
        client.get(f"/store/{store['id']}", headers=admin_headers).get_json()["items"]
        == []
    )


def test_delete_item_as_the_stores_owner_says_item_deleted(client, user_headers, item):
    response = client.delete(f"/item/{item['id']}", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Item deleted."}
    assert_error(
        client.get(f"/item/{item['id']}", headers=user_headers), 404, "Item not found."
    )


def test_delete_item_by_another_user_is_403(
    client, user_headers, stranger_headers, item
):
    response = client.delete(f"/item/{item['id']}", headers=stranger_headers)

    assert_error(
        response,
        403,
        "Only the store's owner or an admin may change it.",
        error="forbidden",
    )
    fetched = client.get(f"/item/{item['id']}", headers=user_headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == item


def test_delete_missing_item_is_404(client, admin_headers):
    response = client.delete("/item/9999", headers=admin_headers)

    assert_error(response, 404, "Item not found.")


def test_delete_item_removes_it_from_its_tags(
    client, user_headers, admin_headers, item, tag
):
    assert link(client, user_headers, item["id"], tag["id"]).status_code == 201

    client.delete(f"/item/{item['id']}", headers=admin_headers)

    response = client.get(f"/tag/{tag['id']}", headers=admin_headers)
    assert response.status_code == 200
    assert response.get_json()["items"] == []


def test_tag_of_a_deleted_item_can_then_be_deleted(
    client, user_headers, admin_headers, item, tag
):
    assert link(client, user_headers, item["id"], tag["id"]).status_code == 201
    client.delete(f"/item/{item['id']}", headers=admin_headers)

    response = client.delete(f"/tag/{tag['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Tag deleted."}


def test_delete_item_leaves_the_other_items_of_a_tag_linked(
    client, user_headers, admin_headers, store, item, tag
):
    other = create_item(client, user_headers, store["id"], "Table")
    assert link(client, user_headers, item["id"], tag["id"]).status_code == 201
    assert link(client, user_headers, other["id"], tag["id"]).status_code == 201

    client.delete(f"/item/{item['id']}", headers=admin_headers)

    fetched = client.get(f"/tag/{tag['id']}", headers=admin_headers).get_json()
    assert [i["id"] for i in fetched["items"]] == [other["id"]]
