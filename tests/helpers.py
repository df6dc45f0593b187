"""Builders that go through the real API, as a client would."""

from urllib.parse import urlsplit

import pytest

PASSWORD = "correct horse battery"


def auth_header(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def register(client, username: str, password: str = PASSWORD) -> dict:
    response = client.post(
        "/register", json={"username": username, "password": password}
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def login(client, username: str, password: str = PASSWORD) -> dict:
    """The token pair of a real `POST /login`."""
    response = client.post("/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def signed_in(client, username: str = "alice") -> dict:
    """The Authorization header of a new user, registered and logged in."""
    register(client, username)
    return auth_header(login(client, username)["access_token"])


def create_store(client, headers, name: str) -> dict:
    response = client.post("/store", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_item(
    client, headers, store_id: int, name: str, price=9.99, **fields
) -> dict:
    body = {"name": name, "price": price, "store_id": store_id, **fields}
    response = client.post("/item", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_tag(client, headers, store_id: int, name: str) -> dict:
    response = client.post(
        f"/store/{store_id}/tag", json={"name": name}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def link(client, headers, item_id: int, tag_id: int):
    return client.post(f"/item/{item_id}/tag/{tag_id}", headers=headers)


def assert_error(
    response, status: int, message: str | None = None, error: str | None = None
):
    """The response is the contract's error envelope with this status."""
    body = response.get_json()
    assert response.status_code == status, body
    assert response.mimetype == "application/json"
    assert body["code"] == status
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message
    if error is not None:
        assert body["error"] == error
    return body


def invalid_name_bodies(unknown_field: str) -> list:
    """Bodies `{name}` that must be a 422, each with the field `errors.json` names."""
    return [
        pytest.param({}, "name", id="missing-name"),
        pytest.param({"name": ""}, "name", id="empty-name"),
        pytest.param({"name": "   "}, "name", id="whitespace-only-name"),
        pytest.param({"name": "x" * 81}, "name", id="name-of-81-chars"),
        pytest.param({"name": None}, "name", id="null-name"),
        pytest.param({"name": 42}, "name", id="non-string-name"),
        pytest.param(
            {"name": "x", unknown_field: "y"}, unknown_field, id="unknown-field"
        ),
    ]


def resolve(spec, node: dict) -> dict:
    """`node`, or what its `$ref` points at."""
    if "$ref" not in node:
        return node
    found = spec
    for part in node["$ref"].removeprefix("#/").split("/"):
        found = found[part]
    return found


def location_path(response) -> str:
    """The path of a 201's `Location` header."""
    return urlsplit(response.headers["Location"]).path
