"""ETags: on every GET, If-None-Match (304), optional If-Match on PUT/DELETE (412), docs."""

import pytest

from tests.helpers import assert_error, create_item, link, resolve

STALE = '"0123456789abcdef0123456789abcdef01234567"'


@pytest.fixture
def ids(client, user_headers, store, item, tag) -> dict:
    """Ids for the paths below: the store, its item "Chair", its tag, a second
    item "Table" linked to the tag, and the user "alice" (user_headers)."""
    table = create_item(client, user_headers, store["id"], "Table", 120)
    assert link(client, user_headers, table["id"], tag["id"]).status_code == 201
    me = client.get("/me", headers=user_headers).get_json()
    return {
        "store_id": store["id"],
        "item_id": item["id"],
        "linked_item_id": table["id"],
        "tag_id": tag["id"],
        "user_id": me["id"],
    }


def etag_of(client, url: str, headers: dict) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.headers["ETag"]


# --- GET: ETag and If-None-Match ----------------------------------------------------

GETS = [
    pytest.param("/store", id="store-list"),
    pytest.param("/store?page=1&page_size=1", id="store-list-page"),
    pytest.param("/store/{store_id}", id="store"),
    pytest.param("/item", id="item-list"),
    pytest.param("/item/{item_id}", id="item"),
    pytest.param("/store/{store_id}/tag", id="tag-list"),
    pytest.param("/tag/{tag_id}", id="tag"),
    pytest.param("/me", id="me"),
    pytest.param("/user/{user_id}", id="user"),
    pytest.param("/health", id="health"),
]


@pytest.mark.parametrize("path", GETS)
def test_get_answers_with_an_etag(client, user_headers, ids, path):
    response = client.get(path.format(**ids), headers=user_headers)

    assert response.status_code == 200
    assert response.headers["ETag"].strip('"')


@pytest.mark.parametrize("path", GETS)
def test_get_with_the_current_etag_in_if_none_match_is_304_without_body(
    client, user_headers, ids, path
):
    url = path.format(**ids)
    etag = etag_of(client, url, user_headers)

    response = client.get(url, headers={**user_headers, "If-None-Match": etag})

    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag


@pytest.mark.parametrize("path", GETS)
def test_get_with_a_stale_etag_in_if_none_match_is_200_with_the_resource(
    client, user_headers, ids, path
):
    url = path.format(**ids)
    current = client.get(url, headers=user_headers)

    response = client.get(url, headers={**user_headers, "If-None-Match": STALE})

    assert response.status_code == 200
    assert response.get_json() == current.get_json()
    assert response.headers["ETag"] == current.headers["ETag"]


@pytest.mark.parametrize("path", GETS)
def test_get_with_the_weak_form_of_the_current_etag_is_304(
    client, user_headers, ids, path
):
    """W/"x" is what a client behind a compressing proxy (nginx) holds."""
    url = path.format(**ids)
    etag = etag_of(client, url, user_headers)

    response = client.get(url, headers={**user_headers, "If-None-Match": f"W/{etag}"})

    assert response.status_code == 304
    assert response.headers["ETag"] == etag


def test_etags_of_different_pages_differ(client, user_headers, ids):
    first = etag_of(client, "/item?page=1&page_size=1", user_headers)
    second = etag_of(client, "/item?page=2&page_size=1", user_headers)

    assert first != second


# --- An ETag changes when the resource or anything embedded in it changes --------------


def rename_linked_item(client, headers, ids):
    return client.put(
        f"/item/{ids['linked_item_id']}", json={"name": "Desk"}, headers=headers
    )


def reprice_linked_item(client, headers, ids):
    return client.put(
        f"/item/{ids['linked_item_id']}", json={"price": 99.5}, headers=headers
    )


def rename_item(client, headers, ids):
    return client.put(
        f"/item/{ids['item_id']}", json={"name": "Stool"}, headers=headers
    )


def link_tag_to_item(client, headers, ids):
    return link(client, headers, ids["item_id"], ids["tag_id"])


def unlink_tag_from_linked_item(client, headers, ids):
    return client.delete(
        f"/item/{ids['linked_item_id']}/tag/{ids['tag_id']}", headers=headers
    )


def rename_store(client, headers, ids):
    return client.put(
        f"/store/{ids['store_id']}", json={"name": "Renamed Shop"}, headers=headers
    )


def add_item(client, headers, ids):
    return client.post(
        "/item",
        json={"name": "Lamp", "price": 12, "store_id": ids["store_id"]},
        headers=headers,
    )


# (watched GET, change made elsewhere)
EMBEDDED_CHANGES = [
    pytest.param("/store/{store_id}", rename_linked_item, id="store-item-renamed"),
    pytest.param("/store/{store_id}", reprice_linked_item, id="store-item-repriced"),
    pytest.param("/store/{store_id}", add_item, id="store-item-added"),
    pytest.param("/store/{store_id}", rename_store, id="store-renamed"),
    pytest.param("/tag/{tag_id}", rename_linked_item, id="tag-item-renamed"),
    pytest.param("/tag/{tag_id}", link_tag_to_item, id="tag-linked"),
    pytest.param("/tag/{tag_id}", unlink_tag_from_linked_item, id="tag-unlinked"),
    pytest.param("/tag/{tag_id}", rename_store, id="tag-store-renamed"),
    pytest.param("/item/{item_id}", link_tag_to_item, id="item-linked"),
    pytest.param("/item/{item_id}", rename_item, id="item-renamed"),
    pytest.param("/item/{item_id}", rename_store, id="item-store-renamed"),
    pytest.param(
        "/item/{linked_item_id}", unlink_tag_from_linked_item, id="item-unlinked"
    ),
    pytest.param("/item", rename_linked_item, id="item-list-item-renamed"),
    pytest.param("/item", link_tag_to_item, id="item-list-item-linked"),
    pytest.param("/item?page=1&page_size=1", rename_item, id="item-page-item-renamed"),
    pytest.param("/item?page=1&page_size=1", add_item, id="item-page-total-grew"),
    pytest.param("/store", rename_linked_item, id="store-list-item-renamed"),
    pytest.param("/store", rename_store, id="store-list-store-renamed"),
    pytest.param(
        "/store/{store_id}/tag", rename_linked_item, id="tag-list-item-renamed"
    ),
    pytest.param("/store/{store_id}/tag", link_tag_to_item, id="tag-list-linked"),
]


@pytest.mark.parametrize(("path", "change"), EMBEDDED_CHANGES)
def test_etag_changes_when_what_it_shows_changes(
    client, user_headers, ids, path, change
):
    url = path.format(**ids)
    before = etag_of(client, url, user_headers)
    assert change(client, user_headers, ids).status_code in (200, 201)

    response = client.get(url, headers={**user_headers, "If-None-Match": before})

    assert response.status_code == 200
    assert response.headers["ETag"] != before


# --- PUT and DELETE: If-Match ---------------------------------------------------------------

# (method, path, body, who writes and reads)
WRITES = [
    pytest.param(
        "put", "/store/{store_id}", {"name": "New Shop"}, "user", id="put-store"
    ),
    pytest.param("delete", "/store/{store_id}", None, "admin", id="delete-store"),
    pytest.param("put", "/item/{item_id}", {"price": 1.5}, "user", id="put-item"),
    pytest.param("delete", "/item/{item_id}", None, "admin", id="delete-item"),
    pytest.param("delete", "/tag/{tag_id}", None, "admin", id="delete-tag"),
    pytest.param("delete", "/user/{user_id}", None, "user", id="delete-self"),
]


@pytest.fixture
def unlinked_ids(client, user_headers, ids) -> dict:
    """`ids` with the tag unlinked, so that deleting it is allowed."""
    assert unlink_tag_from_linked_item(client, user_headers, ids).status_code == 200
    return ids


@pytest.fixture
def headers_of(user_headers, admin_headers):
    return {"user": user_headers, "admin": admin_headers}


def write(client, method, url, body, headers, if_match=None):
    if if_match is not None:
        headers = {**headers, "If-Match": if_match}
    return client.open(url, method=method.upper(), json=body, headers=headers)


def read(client, url, headers) -> tuple:
    response = client.get(url, headers=headers)
    return response.status_code, response.get_json()


@pytest.mark.parametrize(("method", "path", "body", "who"), WRITES)
def test_write_with_a_stale_if_match_is_412_and_changes_nothing(
    client, headers_of, unlinked_ids, method, path, body, who
):
    url, headers = path.format(**unlinked_ids), headers_of[who]
    before = read(client, url, headers)

    response = write(client, method, url, body, headers, if_match=STALE)

    assert_error(response, 412)
    assert read(client, url, headers) == before


@pytest.mark.parametrize(("method", "path", "body", "who"), WRITES)
def test_write_with_the_current_etag_in_if_match_succeeds(
    client, headers_of, unlinked_ids, method, path, body, who
):
    url, headers = path.format(**unlinked_ids), headers_of[who]
    before = read(client, url, headers)
    etag = etag_of(client, url, headers)

    response = write(client, method, url, body, headers, if_match=etag)

    assert response.status_code == 200, response.get_json()
    assert read(client, url, headers) != before


@pytest.mark.parametrize(("method", "path", "body", "who"), WRITES)
def test_write_with_the_weak_form_of_the_current_etag_succeeds(
    client, headers_of, unlinked_ids, method, path, body, who
):
    """A compressing proxy (nginx) hands the client W/"x" for "x"."""
    url, headers = path.format(**unlinked_ids), headers_of[who]
    before = read(client, url, headers)
    etag = etag_of(client, url, headers)

    response = write(client, method, url, body, headers, if_match=f"W/{etag}")

    assert response.status_code == 200, response.get_json()
    assert read(client, url, headers) != before


@pytest.mark.parametrize(("method", "path", "body", "who"), WRITES)
def test_write_with_if_match_star_succeeds(
    client, headers_of, unlinked_ids, method, path, body, who
):
    url, headers = path.format(**unlinked_ids), headers_of[who]
    before = read(client, url, headers)

    response = write(client, method, url, body, headers, if_match="*")

    assert response.status_code == 200, response.get_json()
    assert read(client, url, headers) != before


@pytest.mark.parametrize(("method", "path", "body", "who"), WRITES)
def test_write_without_if_match_proceeds(
    client, headers_of, unlinked_ids, method, path, body, who
):
    url, headers = path.format(**unlinked_ids), headers_of[who]
    before = read(client, url, headers)

    response = write(client, method, url, body, headers)

    assert response.status_code == 200, response.get_json()
    assert read(client, url, headers) != before


@pytest.mark.parametrize(
    ("path", "first", "second"),
    [
        pytest.param(
            "/item/{item_id}", {"price": 20}, {"price": 25}, id="item-after-update"
        ),
        pytest.param(
            "/store/{store_id}",
            {"name": "Shop One"},
            {"name": "Shop Two"},
            id="store-after-update",
        ),
    ],
)
def test_put_based_on_an_etag_read_before_another_change_is_412(
    client, user_headers, ids, path, first, second
):
    url = path.format(**ids)
    read_earlier = etag_of(client, url, user_headers)
    assert client.put(url, json=first, headers=user_headers).status_code == 200

    response = client.put(
        url, json=second, headers={**user_headers, "If-Match": read_earlier}
    )

    assert_error(response, 412)
    after = client.get(url, headers=user_headers).get_json()
    assert {field: after[field] for field in first} == first


def test_put_with_the_weak_form_of_a_stale_etag_is_412(client, user_headers, ids):
    url = f"/store/{ids['store_id']}"
    read_earlier = etag_of(client, url, user_headers)
    assert (
        client.put(url, json={"name": "Renamed"}, headers=user_headers).status_code
        == 200
    )

    response = client.put(
        url,
        json={"name": "Again"},
        headers={**user_headers, "If-Match": f"W/{read_earlier}"},
    )

    assert_error(response, 412)
    assert client.get(url, headers=user_headers).get_json()["name"] == "Renamed"


def test_store_etag_changes_when_an_item_is_renamed_so_a_stale_put_is_412(
    client, user_headers, ids
):
    url = f"/store/{ids['store_id']}"
    read_earlier = etag_of(client, url, user_headers)
    assert rename_linked_item(client, user_headers, ids).status_code == 200

    response = client.put(
        url,
        json={"name": "Renamed Shop"},
        headers={**user_headers, "If-Match": read_earlier},
    )

    assert_error(response, 412)
    assert client.get(url, headers=user_headers).get_json()["name"] == "Corner Shop"


# --- The OpenAPI document ----------------------------------------------------------------

DOCUMENTED_GETS = [
    "/store",
    "/store/{store_id}",
    "/item",
    "/item/{item_id}",
    "/store/{store_id}/tag",
    "/tag/{tag_id}",
    "/me",
    "/user/{user_id}",
    "/health",
]
DOCUMENTED_WRITES = [
    ("put", "/store/{store_id}"),
    ("delete", "/store/{store_id}"),
    ("put", "/item/{item_id}"),
    ("delete", "/item/{item_id}"),
    ("delete", "/tag/{tag_id}"),
    ("delete", "/user/{user_id}"),
]
ERROR_REF = "#/components/schemas/Error"


def header_parameter(spec, operation: dict, name: str) -> dict | None:
    for parameter in operation.get("parameters", []):
        parameter = resolve(spec, parameter)
        if parameter["in"] == "header" and parameter["name"].lower() == name.lower():
            return parameter
    return None


@pytest.mark.parametrize("path", DOCUMENTED_GETS)
def test_get_documents_if_none_match(spec, path):
    operation = spec["paths"][path]["get"]

    parameter = header_parameter(spec, operation, "If-None-Match")

    assert parameter is not None
    assert parameter.get("required", False) is False


@pytest.mark.parametrize("path", DOCUMENTED_GETS)
def test_get_documents_a_304_response(spec, path):
    responses = spec["paths"][path]["get"]["responses"]

    assert "304" in responses


@pytest.mark.parametrize("path", DOCUMENTED_GETS)
def test_get_documents_the_etag_header_on_200(spec, path):
    ok = resolve(spec, spec["paths"][path]["get"]["responses"]["200"])

    assert "ETag" in ok["headers"]


@pytest.mark.parametrize(("method", "path"), DOCUMENTED_WRITES)
def test_write_documents_an_optional_if_match(spec, method, path):
    operation = spec["paths"][path][method]

    parameter = header_parameter(spec, operation, "If-Match")

    assert parameter is not None
    assert parameter.get("required", False) is False


@pytest.mark.parametrize(("method", "path"), DOCUMENTED_WRITES)
def test_write_documents_412_with_the_error_envelope(spec, method, path):
    responses = spec["paths"][path][method]["responses"]

    precondition_failed = resolve(spec, responses["412"])

    schema = precondition_failed["content"]["application/json"]["schema"]
    assert schema == {"$ref": ERROR_REF}


@pytest.mark.parametrize(("method", "path"), DOCUMENTED_WRITES)
def test_write_does_not_document_428(spec, method, path):
    responses = spec["paths"][path][method]["responses"]

    assert "428" not in responses
