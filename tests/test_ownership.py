"""Ownership (contract, section 3): only a store's owner or an admin changes it.

tests/test_authorization.py answers every operation for the owner, a
stranger_headers and an admin, on an owned and on an ownerless store. Here: a
refused write changes nothing, a deleted owner leaves their stores
ownerless, admins hand stores over, `GET /store?owner_id=` filters, admin
writes to others' stores are audited, and a hand-over racing its old and
new owners' writes judges each write by one owner.
"""

import logging
import uuid
from functools import partial

import pytest

from tests import test_concurrency
from tests.helpers import (
    PASSWORD,
    assert_error,
    auth_header,
    create_item,
    create_store,
    create_tag,
    link,
    login,
    register,
)
from tests.servers import race
from tests.test_audit import audit_lines
from tests.test_concurrency import RACERS, ROUNDS

FORBIDDEN = "Only the store's owner or an admin may change it."

# The served API of the races (gunicorn with 4 workers, on each backend), and
# the record of how their rounds came out.
server = test_concurrency.server
report = test_concurrency.report


def catalogue(client, headers) -> dict:
    """A store of the `headers`' user with an item, a tag linked to it and a
    free tag: their ids."""
    store = create_store(client, headers, "Corner Shop")
    item = create_item(client, headers, store["id"], "Chair", 17.99)
    tag = create_tag(client, headers, store["id"], "linked")
    free = create_tag(client, headers, store["id"], "free")
    assert link(client, headers, item["id"], tag["id"]).status_code == 201
    return {
        "store": store["id"],
        "item": item["id"],
        "tag": tag["id"],
        "free": free["id"],
    }


@pytest.fixture
def shop(client, user_headers):
    """Alice's store with an item, a tag linked to it and a free tag."""
    return catalogue(client, user_headers)


# Every write to a store and what is in it, on the `shop`.
WRITES = {
    "rename the store": ("PUT", "/store/{store}", {"name": "Renamed"}),
    "delete the store": ("DELETE", "/store/{store}", None),
    "create an item": (
        "POST",
        "/item",
        {"name": "New", "price": 1, "store_id": "store"},
    ),
    "update the item": ("PUT", "/item/{item}", {"price": 3}),
    "delete the item": ("DELETE", "/item/{item}", None),
    "create a tag": ("POST", "/store/{store}/tag", {"name": "new"}),
    "delete the free tag": ("DELETE", "/tag/{free}", None),
    "link the free tag": ("POST", "/item/{item}/tag/{free}", None),
    "unlink the tag": ("DELETE", "/item/{item}/tag/{tag}", None),
}


def send(client, headers, shop, write):
    method, path, body = WRITES[write]
    if body is not None:
        body = {key: shop.get(value, value) for key, value in body.items()}
    return client.open(path.format(**shop), method=method, json=body, headers=headers)


def everything(client, headers) -> list:
    """What the API shows of every store, item and tag."""
    return [
        client.get(path, headers=headers).get_json()
        for path in ("/store", "/item", "/store/1/tag")
    ]


@pytest.mark.parametrize("write", WRITES)
def test_a_strangers_write_is_403_and_changes_nothing(
    client, user_headers, stranger_headers, shop, write
):
    before = everything(client, user_headers)

    response = send(client, stranger_headers, shop, write)

    assert_error(response, 403, message=FORBIDDEN, error="forbidden")
    assert everything(client, user_headers) == before


@pytest.mark.parametrize("who", ["owner", "admin"])
@pytest.mark.parametrize("write", WRITES)
def test_the_owner_and_an_admin_may_make_every_write(
    client, user_headers, admin_headers, shop, write, who
):
    headers = user_headers if who == "owner" else admin_headers
    before = everything(client, user_headers)

    response = send(client, headers, shop, write)

    assert response.status_code in (200, 201), response.get_json()
    assert everything(client, user_headers) != before


def test_a_created_store_is_its_creators(client, user_headers):
    me = client.get("/me", headers=user_headers).get_json()

    store = create_store(client, user_headers, "Mine")

    assert store["owner_id"] == me["id"]
    shown = client.get(f"/store/{store['id']}", headers=user_headers).get_json()
    assert shown["owner_id"] == me["id"]


def test_a_deleted_owner_leaves_their_stores_ownerless_and_for_admins_only(
    client, admin_headers, stranger_headers
):
    owner_tokens = login(client, register(client, "olga")["username"])
    owner = auth_header(owner_tokens["access_token"])
    store = create_store(client, owner, "Olga's")
    me = client.get("/me", headers=owner).get_json()
    assert client.delete(f"/user/{me['id']}", headers=owner).status_code == 200

    shown = client.get(f"/store/{store['id']}", headers=stranger_headers).get_json()
    assert shown["owner_id"] is None
    assert_error(
        client.put(f"/store/{store['id']}", json={"name": "X"}, headers=owner),
        401,
        error="user_not_found",
    )
    assert_error(
        client.put(
            f"/store/{store['id']}", json={"name": "X"}, headers=stranger_headers
        ),
        403,
        error="forbidden",
    )
    renamed = client.put(
        f"/store/{store['id']}", json={"name": "X"}, headers=admin_headers
    )
    assert renamed.status_code == 200


def test_an_admin_hands_a_store_over(
    client, user_headers, admin_headers, stranger_headers, shop
):
    mallory = client.get("/me", headers=stranger_headers).get_json()

    response = client.put(
        f"/store/{shop['store']}/owner",
        json={"user_id": mallory["id"]},
        headers=admin_headers,
    )

    assert response.status_code == 200
    assert response.get_json()["owner_id"] == mallory["id"]
    assert set(response.get_json()) == {"id", "name", "owner_id", "items", "tags"}
    # The new owner may change it; the old one no longer.
    assert send(client, stranger_headers, shop, "update the item").status_code == 200
    assert_error(send(client, user_headers, shop, "update the item"), 403)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"user_id": 99999}, 422, "user_id"),
        ({"user_id": "2"}, 422, "user_id"),
        ({"user_id": 0}, 422, "user_id"),
        ({}, 422, "user_id"),
    ],
)
def test_a_hand_over_to_no_user_is_422(
    client, admin_headers, shop, body, status, field
):
    response = client.put(
        f"/store/{shop['store']}/owner", json=body, headers=admin_headers
    )

    assert_error(response, status)
    assert field in response.get_json()["errors"]["json"]


def test_a_hand_over_is_404_for_an_unknown_store_and_403_for_a_non_admin(
    client, user_headers, admin_headers, stranger_headers
):
    mallory = client.get("/me", headers=stranger_headers).get_json()
    body = {"user_id": mallory["id"]}

    assert_error(
        client.put("/store/99999/owner", json=body, headers=admin_headers), 404
    )
    store = create_store(client, user_headers, "Mine")
    assert_error(
        client.put(f"/store/{store['id']}/owner", json=body, headers=user_headers),
        403,
        error="forbidden",
    )


def test_owner_id_filters_the_stores_with_q_sort_and_paging(
    client, user_headers, stranger_headers
):
    alice = client.get("/me", headers=user_headers).get_json()["id"]
    for name in ("b shop", "a shop", "c kiosk"):
        create_store(client, user_headers, name)
    create_store(client, stranger_headers, "a shop of mallory")

    def names(**query):
        response = client.get("/store", query_string=query, headers=user_headers)
        assert response.status_code == 200
        return [store["name"] for store in response.get_json()]

    assert names(owner_id=alice) == ["b shop", "a shop", "c kiosk"]
    assert names(owner_id=alice, q="shop", sort="name") == ["a shop", "b shop"]
    assert names(owner_id=alice, sort="-name", page=2, page_size=1) == ["b shop"]
    assert names(owner_id=99999) == []
    assert_error(client.get("/store?owner_id=0", headers=user_headers), 422)


@pytest.fixture
def captured(caplog):
    caplog.set_level(logging.INFO, logger="stores.audit")
    return caplog


def test_an_admins_write_to_a_store_they_do_not_own_is_audited(
    client, admin_headers, shop, captured
):
    captured.clear()

    send(client, admin_headers, shop, "update the item")
    taken = send(client, admin_headers, shop, "create a tag")  # twice: a 409
    taken = send(client, admin_headers, shop, "create a tag")
    assert taken.status_code == 409

    lines = [line for line in audit_lines(captured) if line["event"] != "login"]
    assert [line["event"] for line in lines] == [
        "admin_changed_store",
        "admin_changed_store",
    ]
    assert lines[0]["store_id"] == shop["store"]
    assert lines[0]["action"] == f"PUT /item/{shop['item']}"


def test_a_hand_over_is_audited(
    client, admin_headers, stranger_headers, shop, captured
):
    mallory = client.get("/me", headers=stranger_headers).get_json()
    before = client.get(f"/store/{shop['store']}", headers=stranger_headers).get_json()
    captured.clear()

    client.put(
        f"/store/{shop['store']}/owner",
        json={"user_id": mallory["id"]},
        headers=admin_headers,
    )

    (line,) = [line for line in audit_lines(captured)]
    assert line["event"] == "store_owner_changed"
    assert (line["store_id"], line["from_owner_id"], line["to_owner_id"]) == (
        shop["store"],
        before["owner_id"],
        mallory["id"],
    )


@pytest.mark.slow
def test_writes_racing_a_hand_over_are_each_judged_by_one_owner(server, report):
    """An admin hands a store from one user to another while both update its
    item, 16 requests released together: every answer is 200 or 403, each 200
    names its writer as owner, what stays is what a 200 wrote, and after the
    hand-over only the new owner's writes pass."""
    suffix = uuid.uuid4().hex[:8]
    tokens = {}
    ids = {}
    for name in ("old", "new"):
        username = f"{name}-{suffix}"
        credentials = {"username": username, "password": PASSWORD}
        assert server("POST", "/register", credentials).status == 201
        tokens[name] = server.login(username)["access_token"]
        ids[name] = server("GET", "/me", token=tokens[name]).body["id"]
    for round_ in range(ROUNDS):
        store = server(
            "POST", "/store", {"name": f"s-{suffix}-{round_}"}, tokens["old"]
        )
        assert store.status == 201
        item = server(
            "POST",
            "/item",
            {"name": "thing", "price": 1, "store_id": store.body["id"]},
            tokens["old"],
        ).body
        path = f"/item/{item['id']}"
        calls = [
            partial(
                server,
                "PUT",
                f"/store/{store.body['id']}/owner",
                {"user_id": ids["new"]},
            )
        ]
        prices = {}
        for n in range(RACERS - 1):  # with the hand-over, RACERS at once
            owner = "old" if n % 2 else "new"
            prices[n] = 100 + n
            calls.append(
                partial(server, "PUT", path, {"price": prices[n]}, tokens[owner])
            )

        handed, *writes = race(calls)

        assert handed.status == 200
        assert {answer.status for answer in writes} <= {200, 403}
        for n, answer in enumerate(writes):
            writer = "old" if n % 2 else "new"
            report[f"{writer} {answer.status}"] += 1
            if answer.status == 200:
                # Answered as judged: the store shows the writer as its owner.
                assert answer.body["store"]["owner_id"] == ids[writer]
        stored = server("GET", path).body["price"]
        passed = [prices[n] for n, answer in enumerate(writes) if answer.status == 200]
        assert stored in passed or (not passed and stored == 1)
        after = {
            owner: server("PUT", path, {"price": 5}, tokens[owner]).status
            for owner in ("old", "new")
        }
        assert after == {"old": 403, "new": 200}


def test_a_hand_over_honours_if_match(client, admin_headers, stranger_headers, shop):
    mallory = client.get("/me", headers=stranger_headers).get_json()
    path = f"/store/{shop['store']}"
    etag = client.get(path, headers=stranger_headers).headers["ETag"]
    body = {"user_id": mallory["id"]}

    stale = client.put(
        f"{path}/owner", json=body, headers={**admin_headers, "If-Match": '"stale"'}
    )
    assert_error(stale, 412)
    assert (
        client.get(path, headers=stranger_headers).get_json()["owner_id"]
        != mallory["id"]
    )

    current = client.put(
        f"{path}/owner", json=body, headers={**admin_headers, "If-Match": etag}
    )
    assert current.status_code == 200
    assert current.get_json()["owner_id"] == mallory["id"]


def test_handing_a_store_to_its_owner_changes_and_audits_nothing(
    client, user_headers, admin_headers, shop, captured
):
    alice = client.get("/me", headers=user_headers).get_json()
    captured.clear()

    response = client.put(
        f"/store/{shop['store']}/owner",
        json={"user_id": alice["id"]},
        headers=admin_headers,
    )

    assert response.status_code == 200
    assert response.get_json()["owner_id"] == alice["id"]
    assert audit_lines(captured) == []
