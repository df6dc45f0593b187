"""The contract's authorization table, endpoint by endpoint and token by token."""

from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token, create_refresh_token

from tests.helpers import (
    PASSWORD,
    auth_header,
    create_item,
    create_store,
    create_tag,
    link,
    login,
    register,
)

# level: who may call it (contract, section 3). success: the status when allowed.
ENDPOINTS = [
    (
        "POST",
        "/register",
        {"username": "newcomer", "password": PASSWORD},
        "anyone",
        201,
    ),
    ("POST", "/login", {"username": "alice", "password": PASSWORD}, "anyone", 200),
    ("GET", "/health", None, "anyone", 200),
    ("GET", "/openapi.json", None, "anyone", 200),
    ("GET", "/swagger-ui", None, "anyone", 200),
    ("POST", "/refresh", None, "refresh", 200),
    ("GET", "/store", None, "access", 200),
    ("POST", "/store", {"name": "New"}, "access", 201),
    ("GET", "/store/{store}", None, "access", 200),
    ("PUT", "/store/{store}", {"name": "Renamed"}, "access", 200),
    ("GET", "/item", None, "access", 200),
    ("GET", "/item/{item}", None, "access", 200),
    ("PUT", "/item/{item}", {"price": 3}, "access", 200),
    ("GET", "/store/{store}/tag", None, "access", 200),
    ("POST", "/store/{store}/tag", {"name": "new tag"}, "access", 201),
    ("GET", "/tag/{tag}", None, "access", 200),
    ("POST", "/item/{item}/tag/{free_tag}", None, "access", 201),
    ("DELETE", "/item/{item}/tag/{tag}", None, "access", 200),
    ("POST", "/logout", None, "access", 200),
    ("POST", "/logout/all", None, "access", 200),
    (
        "PUT",
        "/me/password",
        {"current_password": PASSWORD, "new_password": "another passphrase"},
        "fresh",
        200,
    ),
    ("GET", "/me", None, "access", 200),
    ("GET", "/user/{me}", None, "access", 200),
    ("POST", "/item", {"name": "New", "price": 1, "store_id": "{store}"}, "fresh", 201),
    ("DELETE", "/user/{me}", None, "fresh", 200),
    ("DELETE", "/store/{store}", None, "admin", 200),
    ("DELETE", "/item/{item}", None, "admin", 200),
    ("DELETE", "/tag/{free_tag}", None, "admin", 200),
    ("GET", "/user/{other}", None, "admin", 200),
    ("DELETE", "/user/{other}", None, "fresh admin", 200),
]

TOKENS = [
    "none",
    "garbage",
    "expired",
    "wrong type",
    "revoked",
    "non-fresh",
    "user",
    "admin",
]

# What a token that fails before any permission check gets.
REFUSED = {
    "none": "authorization_required",
    "garbage": "invalid_token",
    "expired": "token_expired",
    "wrong type": "invalid_token",
    "revoked": "token_revoked",
}


def expected(level: str, token: str, success: int) -> tuple[int, str | None]:
    if level == "anyone":
        return success, None
    if token in REFUSED:
        return 401, REFUSED[token]
    if level == "refresh":
        return success, None
    if token == "non-fresh" and "fresh" in level:
        return 401, "fresh_token_required"
    if token != "admin" and "admin" in level:
        return 403, "forbidden"
    return success, None


@pytest.fixture
def world(app, client, runner):
    """Users with every kind of token, and a store with a tagged item."""
    result = runner.invoke(
        args=["users", "create-admin", "admin", "--password", PASSWORD]
    )
    assert result.exit_code == 0
    users = {
        "admin": None,
        "user": register(client, "alice"),
        "other": register(client, "carol"),
    }
    register(client, "bob")
    pairs = {"user": login(client, "alice"), "admin": login(client, "admin")}
    pairs["non-fresh"] = client.post(
        "/refresh", headers=auth_header(login(client, "bob")["refresh_token"])
    ).get_json()
    revoked = login(client, "alice")
    assert (
        client.post("/logout", headers=auth_header(revoked["access_token"])).status_code
        == 200
    )
    pairs["revoked"] = revoked
    with app.app_context():
        me = client.get(
            "/me", headers=auth_header(pairs["user"]["access_token"])
        ).get_json()
        pairs["expired"] = {
            "access_token": create_access_token(
                str(me["id"]), expires_delta=timedelta(-1)
            ),
            "refresh_token": create_refresh_token(
                str(me["id"]), expires_delta=timedelta(-1)
            ),
        }
    ids = {"other": users["other"]["id"]}
    for kind in ("user", "non-fresh", "admin"):
        headers = auth_header(pairs[kind]["access_token"])
        ids[f"me:{kind}"] = client.get("/me", headers=headers).get_json()["id"]
    owner = auth_header(pairs["admin"]["access_token"])
    store = create_store(client, owner, "Corner Shop")
    item = create_item(client, owner, store["id"], "Chair")
    tag = create_tag(client, owner, store["id"], "linked")
    assert link(client, owner, item["id"], tag["id"]).status_code == 201
    free_tag = create_tag(client, owner, store["id"], "free")
    ids.update(
        store=store["id"], item=item["id"], tag=tag["id"], free_tag=free_tag["id"]
    )
    return pairs, ids


def token_for(pairs: dict, token: str, level: str) -> str | None:
    if token == "none":
        return None
    if token == "garbage":
        return "not.a.token"
    wants_refresh = level == "refresh"
    if token == "wrong type":
        wants_refresh, token = not wants_refresh, "user"
    return pairs[token]["refresh_token" if wants_refresh else "access_token"]


def fill(template, ids: dict, token: str):
    values = {**ids, "me": ids.get(f"me:{token}", ids["other"])}
    if isinstance(template, str):
        text = template.format(**values)
        return int(text) if text.isdigit() else text
    if isinstance(template, dict):
        return {key: fill(value, ids, token) for key, value in template.items()}
    return template


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize(
    ("method", "path", "body", "level", "success"),
    ENDPOINTS,
    ids=[f"{method} {path}" for method, path, *_ in ENDPOINTS],
)
def test_endpoint_answers_each_token_as_the_contract_says(
    client, world, method, path, body, level, success, token
):
    pairs, ids = world
    bearer = token_for(pairs, token, level)
    headers = auth_header(bearer) if bearer else {}

    response = client.open(
        fill(path, ids, token),
        method=method,
        json=fill(body, ids, token),
        headers=headers,
    )

    status, error = expected(level, token, success)
    assert response.status_code == status, response.get_data(as_text=True)
    if error is not None:
        assert response.get_json()["error"] == error
