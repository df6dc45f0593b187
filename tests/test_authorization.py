"""The contract's authorization table, for every operation of /openapi.json and every
kind of token: none, garbage, expired, the wrong type (refresh for access and the
reverse), revoked, non-fresh, a fresh user's who owns the world's store, a
stranger's (who owns nothing), a fresh admin's, and the deleted owner's of a
store that is now ownerless, which only admins may change."""

import re
from collections import ChainMap, defaultdict
from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token, create_refresh_token

from tests.conftest import build_app
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


# The contract's table (section 3), one row per operation of /openapi.json:
# who may call it, the status when allowed, a body, and which objects of the
# `world` fixture fill the path (store_id -> "store", user_id -> "me", ...).
# An operation without a row fails test_every_operation_has_a_row.
def row(level: str, success: int, body=None, **path) -> dict:
    return {"level": level, "success": success, "body": body, "path": path}


CONTRACT = {
    "POST /register": [
        row("anyone", 201, {"username": "newcomer", "password": PASSWORD})
    ],
    "POST /login": [row("anyone", 200, {"username": "alice", "password": PASSWORD})],
    "GET /health": [row("anyone", 200)],
    "POST /refresh": [row("refresh", 200)],
    "GET /store": [row("access", 200)],
    "POST /store": [row("access", 201, {"name": "New"})],
    "GET /store/{store_id}": [row("access", 200)],
    "PUT /store/{store_id}": [
        row("owner", 200, {"name": "Renamed"}),
        row("ownerless", 200, {"name": "Renamed"}, store_id="lone_store"),
    ],
    "DELETE /store/{store_id}": [
        row("owner", 200),
        row("ownerless", 200, store_id="lone_store"),
    ],
    "PUT /store/{store_id}/owner": [row("admin", 200, {"user_id": "other"})],
    "GET /item": [row("access", 200)],
    "POST /item": [
        row("fresh owner", 201, {"name": "New", "price": 1, "store_id": "store"}),
        row(
            "fresh ownerless",
            201,
            {"name": "New", "price": 1, "store_id": "lone_store"},
        ),
    ],
    "GET /item/{item_id}": [row("access", 200)],
    "PUT /item/{item_id}": [
        row("owner", 200, {"price": 3}),
        row("ownerless", 200, {"price": 3}, item_id="lone_item"),
    ],
    "DELETE /item/{item_id}": [
        row("owner", 200),
        row("ownerless", 200, item_id="lone_item"),
    ],
    "GET /store/{store_id}/tag": [row("access", 200)],
    "GET /changes": [row("access", 200)],
    "POST /store/{store_id}/tag": [
        row("owner", 201, {"name": "new tag"}),
        row("ownerless", 201, {"name": "new tag"}, store_id="lone_store"),
    ],
    "GET /tag/{tag_id}": [row("access", 200)],
    "DELETE /tag/{tag_id}": [
        row("owner", 200, tag_id="free_tag"),
        row("ownerless", 200, tag_id="lone_free_tag"),
    ],
    "POST /item/{item_id}/tag/{tag_id}": [
        row("owner", 201, tag_id="free_tag"),
        row("ownerless", 201, item_id="lone_item", tag_id="lone_free_tag"),
    ],
    "DELETE /item/{item_id}/tag/{tag_id}": [
        row("owner", 200),
        row("ownerless", 200, item_id="lone_item", tag_id="lone_tag"),
    ],
    "POST /logout": [row("access", 200)],
    "POST /logout/all": [row("access", 200)],
    "GET /me": [row("access", 200)],
    "PUT /me/password": [
        row(
            "fresh",
            200,
            {"current_password": PASSWORD, "new_password": "another passphrase"},
        )
    ],
    "PUT /me/email": [row("fresh", 200, {"email": "someone@example.com"})],
    # The token in the body is the proof; a bearer token changes nothing.
    "POST /email/verify": [row("anyone", 422, {"token": "not-a-token"})],
    "POST /password/forgot": [row("anyone", 202, {"email": "alice@example.com"})],
    "POST /password/reset": [
        row("anyone", 422, {"token": "not-a-token", "new_password": "long enough"})
    ],
    "GET /user/{user_id}": [row("access", 200), row("admin", 200, user_id="other")],
    "DELETE /user/{user_id}": [
        row("fresh", 200),
        row("fresh admin", 200, user_id="other"),
    ],
}
# Served outside the documented API, and open to anyone.
UNDOCUMENTED = {
    "GET /openapi.json": [row("anyone", 200)],
    "GET /swagger-ui": [row("anyone", 200)],
}
DEFAULT_PATH_VALUES = {
    "store_id": "store",
    "item_id": "item",
    "tag_id": "tag",
    "user_id": "me",
}


def documented_operations() -> list[str]:
    app = build_app("sqlite://")
    spec = app.test_client().get("/openapi.json").get_json()
    methods = {"get", "post", "put", "patch", "delete"}
    return sorted(
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if method in methods
    )


DOCUMENTED = documented_operations()
CASES = [
    pytest.param(operation, rule, id=f"{operation} [{rule['level']}]")
    for operation in [*DOCUMENTED, *UNDOCUMENTED]
    for rule in {**CONTRACT, **UNDOCUMENTED}.get(operation, [row("missing", 0)])
]


def test_every_operation_has_a_row_in_the_contract_table():
    assert set(DOCUMENTED) == set(CONTRACT)


TOKENS = [
    "none",
    "garbage",
    "expired",
    "wrong type",
    "revoked",
    "non-fresh",
    "user",
    "stranger",
    "admin",
    "deleted owner",
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
    assert level != "missing", "this operation has no row in CONTRACT"
    if level == "anyone":
        return success, None
    if token in REFUSED:
        return 401, REFUSED[token]
    if token == "deleted owner":
        return 401, "user_not_found"
    if level == "refresh":
        return success, None
    if token == "non-fresh" and "fresh" in level:
        return 401, "fresh_token_required"
    if token != "admin" and "admin" in level:
        return 403, "forbidden"
    # The world's store is the user's; nobody but an admin owns the lone one.
    if "ownerless" in level and token != "admin":
        return 403, "forbidden"
    if "owner" in level and token not in ("user", "admin"):
        return 403, "forbidden"
    return success, None


@pytest.fixture
def world(app, client, runner):
    """Users with every kind of token; the user's store with a tagged item and
    a free tag, and the same in a store whose owner was deleted."""
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
    register(client, "dave")
    pairs = {
        "user": login(client, "alice"),
        "stranger": login(client, "dave"),
        "admin": login(client, "admin"),
    }
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
    for kind in ("user", "stranger", "non-fresh", "admin"):
        headers = auth_header(pairs[kind]["access_token"])
        ids[f"me:{kind}"] = client.get("/me", headers=headers).get_json()["id"]
    ids.update(catalogue(client, auth_header(pairs["user"]["access_token"])))
    register(client, "gone")
    gone = login(client, "gone")
    lone = catalogue(client, auth_header(gone["access_token"]), "lone_")
    deleted = client.delete(
        f"/user/{users_id(client, gone)}", headers=auth_header(gone["access_token"])
    )
    assert deleted.status_code == 200
    pairs["deleted owner"] = gone
    ids.update(lone)
    return pairs, ids


def users_id(client, tokens: dict) -> int:
    return client.get("/me", headers=auth_header(tokens["access_token"])).get_json()[
        "id"
    ]


def catalogue(client, owner: dict, prefix: str = "") -> dict:
    """A store of `owner`'s with an item, a tag linked to it and a free tag: their ids."""
    store = create_store(client, owner, f"{prefix}Corner Shop")
    item = create_item(client, owner, store["id"], "Chair")
    tag = create_tag(client, owner, store["id"], "linked")
    assert link(client, owner, item["id"], tag["id"]).status_code == 201
    free_tag = create_tag(client, owner, store["id"], "free")
    return {
        f"{prefix}store": store["id"],
        f"{prefix}item": item["id"],
        f"{prefix}tag": tag["id"],
        f"{prefix}free_tag": free_tag["id"],
    }


def token_for(pairs: dict, token: str, level: str) -> str | None:
    if token == "none":
        return None
    if token == "garbage":
        return "not.a.token"
    wants_refresh = level == "refresh"
    if token == "wrong type":
        wants_refresh, token = not wants_refresh, "user"
    return pairs[token]["refresh_token" if wants_refresh else "access_token"]


def request_for(
    operation: str, rule: dict, ids: dict, token: str
) -> tuple[str, str, dict]:
    """The method, URL and body of `operation` on the world's objects."""
    method, path = operation.split(" ")
    me = ids[f"me:{token}"] if f"me:{token}" in ids else ids["other"]
    objects = ChainMap({"me": me}, ids)
    names = {**DEFAULT_PATH_VALUES, **rule["path"]}
    url = re.sub(r"\{(\w+)\}", lambda match: str(objects[names[match[1]]]), path)
    body = rule["body"]
    if isinstance(body, dict):
        body = {key: objects.get(value, value) for key, value in body.items()}
    return method, url, body


# Tokens refused by their signature, expiry or type alone, before any row is
# read: their requests need no world, just ids in the paths.
UNREAD = {"none", "garbage", "expired", "wrong type"}


def unread_world(app) -> tuple[dict, dict]:
    """Tokens that are refused unread, and ids of nothing."""
    with app.app_context():
        pairs = {
            "expired": {
                "access_token": create_access_token("1", expires_delta=timedelta(-1)),
                "refresh_token": create_refresh_token("1", expires_delta=timedelta(-1)),
            },
            "user": {
                "access_token": create_access_token("1"),
                "refresh_token": create_refresh_token("1"),
            },
        }
    return pairs, defaultdict(lambda: 1)


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize(("operation", "rule"), CASES)
def test_endpoint_answers_each_token_as_the_contract_says(
    request, app, client, operation, rule, token
):
    if token in UNREAD and rule["level"] != "anyone":
        pairs, ids = unread_world(app)
    else:
        pairs, ids = request.getfixturevalue("world")
    bearer = token_for(pairs, token, rule["level"])
    headers = auth_header(bearer) if bearer else {}
    method, url, body = request_for(operation, rule, ids, token)

    response = client.open(url, method=method, json=body, headers=headers)

    status, error = expected(rule["level"], token, rule["success"])
    assert response.status_code == status, response.get_data(as_text=True)
    if error is not None:
        assert response.get_json()["error"] == error
