"""Stores: list, create, read, rename and delete (the owner or an admin), per the API contract."""

import pytest
from sqlalchemy import func, select

from db import db
from models import items_tags
from tests.helpers import (
    assert_error,
    create_item,
    create_store,
    create_tag,
    invalid_name_bodies,
    link,
    location_path,
)

STORE_KEYS = {"id", "name", "owner_id", "items", "tags"}
PLAIN_ITEM_KEYS = {"id", "name", "price", "description"}
PLAIN_TAG_KEYS = {"id", "name"}

# (body, field that `errors.json` must name)
INVALID_STORE_BODIES = invalid_name_bodies(unknown_field="owner")

NON_INTEGER_STORE_PATHS = [
    pytest.param("get", "/store/abc", id="get-word"),
    pytest.param("get", "/store/1.5", id="get-decimal"),
    pytest.param("put", "/store/abc", id="put-word"),
    pytest.param("delete", "/store/abc", id="delete-word"),
]


def link_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(items_tags))


# --- POST /store ---------------------------------------------------------------


def test_create_store_returns_201_with_an_empty_store(client, user_headers):
    response = client.post("/store", json={"name": "Corner Shop"}, headers=user_headers)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == STORE_KEYS
    assert isinstance(body["id"], int)
    assert body["name"] == "Corner Shop"
    # The caller becomes its owner.
    assert body["owner_id"] == client.get("/me", headers=user_headers).get_json()["id"]
    assert body["items"] == []
    assert body["tags"] == []


def test_create_store_location_points_at_the_created_store(client, user_headers):
    response = client.post("/store", json={"name": "Corner Shop"}, headers=user_headers)

    created = response.get_json()
    assert location_path(response) == f"/store/{created['id']}"
    fetched = client.get(response.headers["Location"], headers=user_headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == created


def test_create_store_trims_the_name_before_storing_it(client, user_headers):
    response = client.post(
        "/store", json={"name": "  Corner Shop \t"}, headers=user_headers
    )

    assert response.status_code == 201
    assert response.get_json()["name"] == "Corner Shop"
    fetched = client.get(f"/store/{response.get_json()['id']}", headers=user_headers)
    assert fetched.get_json()["name"] == "Corner Shop"


def test_create_store_accepts_a_name_of_80_chars(client, user_headers):
    name = "x" * 80

    response = client.post("/store", json={"name": name}, headers=user_headers)

    assert response.status_code == 201
    assert response.get_json()["name"] == name


@pytest.mark.parametrize(("body", "field"), INVALID_STORE_BODIES)
def test_create_store_with_an_invalid_body_is_422(client, user_headers, body, field):
    response = client.post("/store", json=body, headers=user_headers)

    error = assert_error(response, 422)
    assert field in error["errors"]["json"]
    assert client.get("/store", headers=user_headers).get_json() == []


def test_create_store_with_an_unknown_field_says_unknown_field(client, user_headers):
    response = client.post(
        "/store", json={"name": "Shop", "owner": "bob"}, headers=user_headers
    )

    error = assert_error(response, 422)
    assert error["errors"]["json"]["owner"] == ["Unknown field."]


def test_create_store_with_a_taken_name_is_409(client, user_headers, store):
    response = client.post("/store", json={"name": store["name"]}, headers=user_headers)

    assert_error(response, 409)
    assert len(client.get("/store", headers=user_headers).get_json()) == 1


def test_create_store_with_a_taken_name_padded_with_spaces_is_409(
    client, user_headers, store
):
    response = client.post(
        "/store", json={"name": f"  {store['name']}  "}, headers=user_headers
    )

    assert_error(response, 409)


# --- GET /store/<id> -----------------------------------------------------------


def test_get_store_returns_the_store(client, user_headers, store):
    response = client.get(f"/store/{store['id']}", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == {
        "id": store["id"],
        "name": "Corner Shop",
        "owner_id": store["owner_id"],
        "items": [],
        "tags": [],
    }
    assert isinstance(store["owner_id"], int)


def test_get_store_nests_plain_items_and_plain_tags(client, user_headers, store):
    item = create_item(
        client, user_headers, store["id"], "Chair", 17.99, description="Oak"
    )
    tag = create_tag(client, user_headers, store["id"], "furniture")
    assert link(client, user_headers, item["id"], tag["id"]).status_code == 201

    response = client.get(f"/store/{store['id']}", headers=user_headers)

    body = response.get_json()
    assert body["items"] == [
        {"id": item["id"], "name": "Chair", "price": 17.99, "description": "Oak"}
    ]
    assert body["tags"] == [{"id": tag["id"], "name": "furniture"}]


def test_get_missing_store_is_404(client, user_headers):
    response = client.get("/store/9999", headers=user_headers)

    assert_error(response, 404, "Store not found.")


@pytest.mark.parametrize(("method", "path"), NON_INTEGER_STORE_PATHS)
def test_non_integer_store_id_is_404(client, admin_headers, method, path):
    response = getattr(client, method)(
        path, json={"name": "Shop"} if method == "put" else None, headers=admin_headers
    )

    assert_error(response, 404)


# --- GET /store ----------------------------------------------------------------


def test_list_stores_without_stores_is_an_empty_array(client, user_headers):
    response = client.get("/store", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == []


def test_list_stores_is_ordered_by_id(client, user_headers):
    zeta = create_store(client, user_headers, "Zeta")
    alpha = create_store(client, user_headers, "Alpha")
    middle = create_store(client, user_headers, "Middle")

    response = client.get("/store", headers=user_headers)

    assert response.status_code == 200
    body = response.get_json()
    assert [s["id"] for s in body] == sorted(s["id"] for s in body)
    assert [s["id"] for s in body] == [zeta["id"], alpha["id"], middle["id"]]


def test_list_stores_nests_plain_items_and_plain_tags(client, user_headers, store):
    item = create_item(client, user_headers, store["id"], "Chair", 5)
    tag = create_tag(client, user_headers, store["id"], "furniture")
    assert link(client, user_headers, item["id"], tag["id"]).status_code == 201
    create_store(client, user_headers, "Empty Shop")

    response = client.get("/store", headers=user_headers)

    first, second = response.get_json()
    assert set(first) == STORE_KEYS
    assert [set(i) for i in first["items"]] == [PLAIN_ITEM_KEYS]
    assert [set(t) for t in first["tags"]] == [PLAIN_TAG_KEYS]
    assert first["items"][0]["id"] == item["id"]
    assert first["tags"][0]["id"] == tag["id"]
    assert second["name"] == "Empty Shop"
    assert second["items"] == []
    assert second["tags"] == []


def test_list_stores_orders_nested_items_and_tags_by_id(client, user_headers, store):
    items = [
        create_item(client, user_headers, store["id"], name) for name in ("Z", "A", "M")
    ]
    tags = [
        create_tag(client, user_headers, store["id"], name) for name in ("z", "a", "m")
    ]

    body = client.get("/store", headers=user_headers).get_json()

    assert [i["id"] for i in body[0]["items"]] == [i["id"] for i in items]
    assert [t["id"] for t in body[0]["tags"]] == [t["id"] for t in tags]


# --- PUT /store/<id> -----------------------------------------------------------


def test_rename_store_returns_the_renamed_store(client, user_headers, store):
    response = client.put(
        f"/store/{store['id']}", json={"name": "Big Shop"}, headers=user_headers
    )

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == STORE_KEYS
    assert body["id"] == store["id"]
    assert body["name"] == "Big Shop"
    assert body["owner_id"] == store["owner_id"]


def test_rename_store_is_persisted(client, user_headers, store):
    client.put(f"/store/{store['id']}", json={"name": "Big Shop"}, headers=user_headers)

    response = client.get(f"/store/{store['id']}", headers=user_headers)

    assert response.get_json()["name"] == "Big Shop"


def test_rename_store_trims_the_name(client, user_headers, store):
    response = client.put(
        f"/store/{store['id']}", json={"name": "  Big Shop  "}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.get_json()["name"] == "Big Shop"


def test_rename_store_to_its_own_name_is_not_a_conflict(client, user_headers, store):
    response = client.put(
        f"/store/{store['id']}", json={"name": store["name"]}, headers=user_headers
    )

    assert response.status_code == 200
    assert response.get_json()["name"] == store["name"]


def test_rename_store_to_a_taken_name_is_409(client, user_headers, store):
    other = create_store(client, user_headers, "Other Shop")

    response = client.put(
        f"/store/{other['id']}", json={"name": store["name"]}, headers=user_headers
    )

    assert_error(response, 409)
    fetched = client.get(f"/store/{other['id']}", headers=user_headers)
    assert fetched.get_json()["name"] == "Other Shop"


def test_rename_missing_store_is_404(client, user_headers):
    response = client.put("/store/9999", json={"name": "Shop"}, headers=user_headers)

    assert_error(response, 404, "Store not found.")


def test_rename_store_never_creates_one(client, user_headers):
    client.put("/store/9999", json={"name": "Shop"}, headers=user_headers)

    assert client.get("/store", headers=user_headers).get_json() == []


@pytest.mark.parametrize(("body", "field"), INVALID_STORE_BODIES)
def test_rename_store_with_an_invalid_body_is_422(
    client, user_headers, store, body, field
):
    response = client.put(f"/store/{store['id']}", json=body, headers=user_headers)

    error = assert_error(response, 422)
    assert field in error["errors"]["json"]
    fetched = client.get(f"/store/{store['id']}", headers=user_headers)
    assert fetched.get_json()["name"] == store["name"]


# --- DELETE /store/<id> --------------------------------------------------------


def test_delete_store_as_admin_says_store_deleted(client, admin_headers, store):
    response = client.delete(f"/store/{store['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Store deleted."}


def test_deleted_store_is_gone(client, admin_headers, store):
    client.delete(f"/store/{store['id']}", headers=admin_headers)

    response = client.get(f"/store/{store['id']}", headers=admin_headers)

    assert_error(response, 404, "Store not found.")
    assert client.get("/store", headers=admin_headers).get_json() == []


def test_delete_store_as_its_owner_says_store_deleted(client, user_headers, store):
    response = client.delete(f"/store/{store['id']}", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Store deleted."}
    assert_error(
        client.get(f"/store/{store['id']}", headers=user_headers),
        404,
        "Store not found.",
    )


def test_delete_store_by_another_user_is_403(
    client, user_headers, stranger_headers, store, item
):
    before = client.get(f"/store/{store['id']}", headers=user_headers).get_json()

    response = client.delete(f"/store/{store['id']}", headers=stranger_headers)

    assert_error(
        response,
        403,
        "Only the store's owner or an admin may change it.",
        error="forbidden",
    )
    after = client.get(f"/store/{store['id']}", headers=user_headers)
    assert after.status_code == 200
    assert after.get_json() == before
    assert client.get(f"/item/{item['id']}", headers=user_headers).status_code == 200


def test_delete_missing_store_is_404(client, admin_headers):
    response = client.delete("/store/9999", headers=admin_headers)

    assert_error(response, 404, "Store not found.")


def test_delete_store_deletes_its_items(client, user_headers, admin_headers, store):
    item = create_item(client, user_headers, store["id"], "Chair")

    client.delete(f"/store/{store['id']}", headers=admin_headers)

    assert_error(
        client.get(f"/item/{item['id']}", headers=admin_headers),
        404,
        "Item not found.",
    )
    assert client.get("/item", headers=admin_headers).get_json() == []


def test_delete_store_deletes_its_tags(client, user_headers, admin_headers, store):
    tag = create_tag(client, user_headers, store["id"], "furniture")

    client.delete(f"/store/{store['id']}", headers=admin_headers)

    assert_error(
        client.get(f"/tag/{tag['id']}", headers=admin_headers),
        404,
        "Tag not found.",
    )


def test_delete_store_deletes_the_links_of_its_items_and_tags(
    app, client, user_headers, admin_headers, store
):
    item = create_item(client, user_headers, store["id"], "Chair")
    tag = create_tag(client, user_headers, store["id"], "furniture")
    assert link(client, user_headers, item["id"], tag["id"]).status_code == 201
    assert link_count(app) == 1

    response = client.delete(f"/store/{store['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert link_count(app) == 0


def test_delete_store_leaves_other_stores_untouched(
    client, user_headers, admin_headers, store
):
    other = create_store(client, user_headers, "Other Shop")
    other_item = create_item(client, user_headers, other["id"], "Chair")
    other_tag = create_tag(client, user_headers, other["id"], "furniture")
    assert (
        link(client, user_headers, other_item["id"], other_tag["id"]).status_code == 201
    )
    create_item(client, user_headers, store["id"], "Chair")

    client.delete(f"/store/{store['id']}", headers=admin_headers)

    fetched = client.get(f"/store/{other['id']}", headers=admin_headers).get_json()
    assert [i["id"] for i in fetched["items"]] == [other_item["id"]]
    assert [t["id"] for t in fetched["tags"]] == [other_tag["id"]]
    item = client.get(f"/item/{other_item['id']}", headers=admin_headers).get_json()
    assert [t["id"] for t in item["tags"]] == [other_tag["id"]]
