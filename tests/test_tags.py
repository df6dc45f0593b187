"""Tags of a store, and the links between tags and items, per the API contract."""

import pytest

from tests.helpers import (
    assert_error,
    create_item,
    create_store,
    create_tag,
    invalid_name_bodies,
    link,
    location_path,
)

TAG_KEYS = {"id", "name", "store", "items"}
ITEM_KEYS = {"id", "name", "price", "description", "store", "tags"}
PLAIN_ITEM_KEYS = {"id", "name", "price", "description"}

INVALID_TAG_BODIES = invalid_name_bodies(unknown_field="colour")

NON_INTEGER_TAG_PATHS = [
    pytest.param("get", "/store/abc/tag", id="get-store-tags"),
    pytest.param("post", "/store/abc/tag", id="post-store-tag"),
    pytest.param("get", "/tag/abc", id="get-tag"),
    pytest.param("get", "/tag/1.5", id="get-tag-decimal"),
    pytest.param("delete", "/tag/abc", id="delete-tag"),
    pytest.param("post", "/item/abc/tag/1", id="link-item-word"),
    pytest.param("post", "/item/1/tag/abc", id="link-tag-word"),
    pytest.param("delete", "/item/abc/tag/1", id="unlink-item-word"),
    pytest.param("delete", "/item/1/tag/abc", id="unlink-tag-word"),
]


def plain_store(store: dict) -> dict:
    """The PlainStore part of a Store."""
    return {"id": store["id"], "name": store["name"], "owner_id": store["owner_id"]}


def plain(item: dict) -> dict:
    """The PlainItem part of an Item."""
    return {key: item[key] for key in PLAIN_ITEM_KEYS}


def unlink(client, headers, item_id: int, tag_id: int):
    return client.delete(f"/item/{item_id}/tag/{tag_id}", headers=headers)


# --- POST /store/<id>/tag ------------------------------------------------------


def test_create_tag_returns_201_with_the_tag(client, user_headers, store):
    response = client.post(
        f"/store/{store['id']}/tag", json={"name": "furniture"}, headers=user_headers
    )

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == TAG_KEYS
    assert isinstance(body["id"], int)
    assert body["name"] == "furniture"
    assert body["store"] == plain_store(store)
    assert body["items"] == []


def test_create_tag_location_points_at_the_created_tag(client, user_headers, store):
    response = client.post(
        f"/store/{store['id']}/tag", json={"name": "furniture"}, headers=user_headers
    )

    created = response.get_json()
    assert location_path(response) == f"/tag/{created['id']}"
    fetched = client.get(response.headers["Location"], headers=user_headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == created


def test_create_tag_trims_the_name_before_storing_it(client, user_headers, store):
    response = client.post(
        f"/store/{store['id']}/tag",
        json={"name": "  furniture \t"},
        headers=user_headers,
    )

    assert response.status_code == 201
    assert response.get_json()["name"] == "furniture"
    fetched = client.get(f"/tag/{response.get_json()['id']}", headers=user_headers)
    assert fetched.get_json()["name"] == "furniture"


def test_create_tag_accepts_a_name_of_80_chars(client, user_headers, store):
    response = client.post(
        f"/store/{store['id']}/tag", json={"name": "x" * 80}, headers=user_headers
    )

    assert response.status_code == 201
    assert response.get_json()["name"] == "x" * 80


@pytest.mark.parametrize(("body", "field"), INVALID_TAG_BODIES)
def test_create_tag_with_an_invalid_body_is_422(
    client, user_headers, store, body, field
):
    response = client.post(f"/store/{store['id']}/tag", json=body, headers=user_headers)

    error = assert_error(response, 422)
    assert field in error["errors"]["json"]
    listed = client.get(f"/store/{store['id']}/tag", headers=user_headers)
    assert listed.get_json() == []


def test_create_tag_with_an_unknown_field_says_unknown_field(
    client, user_headers, store
):
    response = client.post(
        f"/store/{store['id']}/tag",
        json={"name": "sale", "colour": "red"},
        headers=user_headers,
    )

    error = assert_error(response, 422)
    assert error["errors"]["json"]["colour"] == ["Unknown field."]


def test_create_tag_in_a_missing_store_is_404(client, user_headers):
    response = client.post(
        "/store/9999/tag", json={"name": "furniture"}, headers=user_headers
    )

    assert_error(response, 404, "Store not found.")


def test_create_tag_with_a_name_taken_in_the_store_is_409(
    client, user_headers, store, tag
):
    response = client.post(
        f"/store/{store['id']}/tag", json={"name": tag["name"]}, headers=user_headers
    )

    assert_error(response, 409)
    listed = client.get(f"/store/{store['id']}/tag", headers=user_headers)
    assert len(listed.get_json()) == 1


def test_create_tag_with_a_taken_name_padded_with_spaces_is_409(
    client, user_headers, store, tag
):
    response = client.post(
        f"/store/{store['id']}/tag",
        json={"name": f"  {tag['name']}  "},
        headers=user_headers,
    )

    assert_error(response, 409)


def test_create_tag_with_a_name_taken_in_another_store_is_allowed(
    client, user_headers, tag
):
    other = create_store(client, user_headers, "Other Shop")

    response = client.post(
        f"/store/{other['id']}/tag", json={"name": tag["name"]}, headers=user_headers
    )

    assert response.status_code == 201
    assert response.get_json()["store"]["id"] == other["id"]


# --- GET /store/<id>/tag -------------------------------------------------------


def test_list_store_tags_without_tags_is_an_empty_array(client, user_headers, store):
    response = client.get(f"/store/{store['id']}/tag", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == []


def test_list_store_tags_is_ordered_by_id(client, user_headers, store):
    created = [
        create_tag(client, user_headers, store["id"], name) for name in ("z", "a", "m")
    ]

    response = client.get(f"/store/{store['id']}/tag", headers=user_headers)

    assert response.status_code == 200
    assert [t["id"] for t in response.get_json()] == [t["id"] for t in created]
    assert [t["id"] for t in created] == sorted(t["id"] for t in created)


def test_list_store_tags_shows_only_that_stores_tags(client, user_headers, store, tag):
    other = create_store(client, user_headers, "Other Shop")
    create_tag(client, user_headers, other["id"], "elsewhere")

    response = client.get(f"/store/{store['id']}/tag", headers=user_headers)

    assert [t["id"] for t in response.get_json()] == [tag["id"]]


def test_list_store_tags_nests_store_and_plain_items(
    client, user_headers, store, item, tag
):
    assert link(client, user_headers, item["id"], tag["id"]).status_code == 201

    response = client.get(f"/store/{store['id']}/tag", headers=user_headers)

    (listed,) = response.get_json()
    assert set(listed) == TAG_KEYS
    assert listed["store"] == plain_store(store)
    assert listed["items"] == [plain(item)]


def test_list_tags_of_a_missing_store_is_404(client, user_headers):
    response = client.get("/store/9999/tag", headers=user_headers)

    assert_error(response, 404, "Store not found.")


# --- GET /tag/<id> -------------------------------------------------------------


def test_get_tag_returns_the_tag(client, user_headers, store, tag):
    response = client.get(f"/tag/{tag['id']}", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == {
        "id": tag["id"],
        "name": "furniture",
        "store": plain_store(store),
        "items": [],
    }


def test_get_tag_nests_its_plain_items_ordered_by_id(client, user_headers, store, tag):
    items = [
        create_item(client, user_headers, store["id"], name, description="d")
        for name in ("Z", "A", "M")
    ]
    for item in reversed(items):
        assert link(client, user_headers, item["id"], tag["id"]).status_code == 201

    response = client.get(f"/tag/{tag['id']}", headers=user_headers)

    assert response.get_json()["items"] == [plain(item) for item in items]


def test_get_missing_tag_is_404(client, user_headers):
    response = client.get("/tag/9999", headers=user_headers)

    assert_error(response, 404, "Tag not found.")


@pytest.mark.parametrize(("method", "path"), NON_INTEGER_TAG_PATHS)
def test_non_integer_id_in_a_tag_path_is_404(client, admin_headers, method, path):
    response = getattr(client, method)(
        path,
        json={"name": "sale"} if path.endswith("/tag") else None,
        headers=admin_headers,
    )

    assert_error(response, 404)


# --- DELETE /tag/<id> ----------------------------------------------------------


def test_delete_unlinked_tag_as_admin_says_tag_deleted(client, admin_headers, tag):
    response = client.delete(f"/tag/{tag['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Tag deleted."}


def test_deleted_tag_is_gone(client, admin_headers, store, tag):
    client.delete(f"/tag/{tag['id']}", headers=admin_headers)

    assert_error(
        client.get(f"/tag/{tag['id']}", headers=admin_headers), 404, "Tag not found."
    )
    listed = client.get(f"/store/{store['id']}/tag", headers=admin_headers)
    assert listed.get_json() == []


def test_delete_unlinked_tag_as_the_stores_owner_says_tag_deleted(
    client, user_headers, tag
):
    response = client.delete(f"/tag/{tag['id']}", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Tag deleted."}
    assert_error(
        client.get(f"/tag/{tag['id']}", headers=user_headers), 404, "Tag not found."
    )


def test_delete_tag_by_another_user_is_403(client, user_headers, stranger_headers, tag):
    response = client.delete(f"/tag/{tag['id']}", headers=stranger_headers)

    assert_error(
        response,
        403,
        "Only the store's owner or an admin may change it.",
        error="forbidden",
    )
    fetched = client.get(f"/tag/{tag['id']}", headers=user_headers)
    assert fetched.status_code == 200
    assert fetched.get_json() == tag


def test_delete_missing_tag_is_404(client, admin_headers):
    response = client.delete("/tag/9999", headers=admin_headers)

    assert_error(response, 404, "Tag not found.")


def test_delete_tag_while_linked_to_an_item_is_409(
    client, user_headers, admin_headers, item, tag
):
    assert link(client, user_headers, item["id"], tag["id"]).status_code == 201

    response = client.delete(f"/tag/{tag['id']}", headers=admin_headers)

    assert_error(response, 409)
    fetched = client.get(f"/tag/{tag['id']}", headers=admin_headers).get_json()
    assert [i["id"] for i in fetched["items"]] == [item["id"]]


def test_delete_tag_after_unlinking_it_succeeds(
    client, user_headers, admin_headers, item, tag
):
    assert link(client, user_headers, item["id"], tag["id"]).status_code == 201
    assert unlink(client, user_headers, item["id"], tag["id"]).status_code == 200

    response = client.delete(f"/tag/{tag['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Tag deleted."}


# --- POST /item/<id>/tag/<tag_id> ----------------------------------------------


def test_link_tag_to_item_returns_201_with_the_linked_tag(
    client, user_headers, store, item, tag
):
    response = link(client, user_headers, item["id"], tag["id"])

    assert response.status_code == 201
    assert response.get_json() == {
        "id": tag["id"],
        "name": tag["name"],
        "store": plain_store(store),
        "items": [plain(item)],
    }


def test_link_tag_to_item_location_points_at_the_tag(client, user_headers, item, tag):
    response = link(client, user_headers, item["id"], tag["id"])

    assert location_path(response) == f"/tag/{tag['id']}"
    fetched = client.get(response.headers["Location"], headers=user_headers)
    assert fetched.get_json() == response.get_json()


def test_linked_tag_shows_in_the_items_tags(client, user_headers, item, tag):
    link(client, user_headers, item["id"], tag["id"])

    response = client.get(f"/item/{item['id']}", headers=user_headers)

    assert response.get_json()["tags"] == [{"id": tag["id"], "name": tag["name"]}]


def test_link_already_linked_tag_returns_200_with_the_tag(
    client, user_headers, item, tag
):
    first = link(client, user_headers, item["id"], tag["id"])

    response = link(client, user_headers, item["id"], tag["id"])

    assert response.status_code == 200
    assert response.get_json() == first.get_json()


def test_link_already_linked_tag_makes_no_duplicate_link(
    client, user_headers, item, tag
):
    link(client, user_headers, item["id"], tag["id"])
    link(client, user_headers, item["id"], tag["id"])

    item_tags = client.get(f"/item/{item['id']}", headers=user_headers).get_json()[
        "tags"
    ]
    tag_items = client.get(f"/tag/{tag['id']}", headers=user_headers).get_json()[
        "items"
    ]
    assert [t["id"] for t in item_tags] == [tag["id"]]
    assert [i["id"] for i in tag_items] == [item["id"]]


def test_link_tag_of_another_store_is_422_on_the_tag_id(client, user_headers, item):
    other = create_store(client, user_headers, "Other Shop")
    foreign_tag = create_tag(client, user_headers, other["id"], "furniture")

    response = link(client, user_headers, item["id"], foreign_tag["id"])

    error = assert_error(response, 422)
    assert error["errors"]["path"]["tag_id"]
    fetched = client.get(f"/item/{item['id']}", headers=user_headers).get_json()
    assert fetched["tags"] == []


def test_link_tag_to_a_missing_item_is_404(client, user_headers, tag):
    response = link(client, user_headers, 9999, tag["id"])

    assert_error(response, 404, "Item not found.")


def test_link_missing_tag_to_an_item_is_404(client, user_headers, item):
    response = link(client, user_headers, item["id"], 9999)

    assert_error(response, 404, "Tag not found.")
    fetched = client.get(f"/item/{item['id']}", headers=user_headers).get_json()
    assert fetched["tags"] == []


# --- DELETE /item/<id>/tag/<tag_id> --------------------------------------------


def test_unlink_tag_from_item_returns_both_after_the_removal(
    client, user_headers, store, item, tag
):
    assert link(client, user_headers, item["id"], tag["id"]).status_code == 201

    response = unlink(client, user_headers, item["id"], tag["id"])

    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Item removed from tag."
    assert body["item"] == {**item, "tags": []}
    assert set(body["item"]) == ITEM_KEYS
    assert body["tag"] == {
        "id": tag["id"],
        "name": tag["name"],
        "store": plain_store(store),
        "items": [],
    }
    assert set(body) == {"message", "item", "tag"}


def test_unlink_tag_removes_only_the_link(client, user_headers, item, tag):
    link(client, user_headers, item["id"], tag["id"])

    unlink(client, user_headers, item["id"], tag["id"])

    fetched_item = client.get(f"/item/{item['id']}", headers=user_headers)
    fetched_tag = client.get(f"/tag/{tag['id']}", headers=user_headers)
    assert fetched_item.status_code == 200
    assert fetched_item.get_json()["tags"] == []
    assert fetched_tag.status_code == 200
    assert fetched_tag.get_json()["items"] == []


def test_unlink_keeps_the_items_other_tags(client, user_headers, store, item, tag):
    other_tag = create_tag(client, user_headers, store["id"], "sale")
    link(client, user_headers, item["id"], tag["id"])
    link(client, user_headers, item["id"], other_tag["id"])

    response = unlink(client, user_headers, item["id"], tag["id"])

    assert response.get_json()["item"]["tags"] == [
        {"id": other_tag["id"], "name": "sale"}
    ]


def test_unlink_tag_that_is_not_linked_is_404(client, user_headers, item, tag):
    response = unlink(client, user_headers, item["id"], tag["id"])

    assert_error(response, 404)


def test_unlink_tag_twice_is_404_the_second_time(client, user_headers, item, tag):
    link(client, user_headers, item["id"], tag["id"])
    assert unlink(client, user_headers, item["id"], tag["id"]).status_code == 200

    response = unlink(client, user_headers, item["id"], tag["id"])

    assert_error(response, 404)


def test_unlink_tag_from_a_missing_item_is_404(client, user_headers, tag):
    response = unlink(client, user_headers, 9999, tag["id"])

    assert_error(response, 404, "Item not found.")


def test_unlink_missing_tag_from_an_item_is_404(client, user_headers, item):
    response = unlink(client, user_headers, item["id"], 9999)

    assert_error(response, 404, "Tag not found.")
