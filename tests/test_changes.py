"""The changes feed (contract section 8): a client that applies it in order ends with
exactly the server's stores, items, tags and links, and misses no change, even
one whose transaction commits after later ones.

Writers racing a reader on gunicorn are in tests/test_concurrency.py.
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

import changes
from tests.helpers import (
    assert_error,
    auth_header,
    create_item,
    create_store,
    create_tag,
    link,
    login,
    register,
)


class Replica:
    """What an offline-first client keeps: the feed's rows, applied in order."""

    def __init__(self):
        self.rows: dict[tuple[str, int], dict] = {}
        self.cursor: str | None = None
        self.pages = 0

    def apply(self, answer: dict) -> None:
        for change in answer["changes"]:
            key = (change["type"], change["id"])
            if change["op"] == "delete":
                self.rows.pop(key, None)
            else:
                self.rows[key] = change["data"]
        self.cursor = answer["cursor"]
        self.pages += 1

    def catch_up(self, get, limit: int = 500) -> None:
        """Read the feed until `has_more` is false (`get(path)` returns its JSON)."""
        while True:
            path = f"/changes?limit={limit}"
            if self.cursor is not None:
                path += f"&since={self.cursor}"
            answer = get(path)
            self.apply(answer)
            if not answer["has_more"]:
                return


def server_state(get) -> dict[tuple[str, int], dict]:
    """The server's stores, items (with their tag ids) and tags, as the feed shows them."""
    state = {}
    for store in get("/store?page_size=100"):
        plain = {k: store[k] for k in ("id", "name", "owner_id")}
        state[("store", store["id"])] = plain
        for tag in store["tags"]:
            state[("tag", tag["id"])] = {**tag, "store_id": store["id"]}
    for item in get("/item?page_size=100"):
        state[("item", item["id"])] = {
            "id": item["id"],
            "name": item["name"],
            "price": item["price"],
            "description": item["description"],
            "store_id": item["store"]["id"],
            "tag_ids": [tag["id"] for tag in item["tags"]],
        }
    return state


@pytest.fixture
def get(client, user_headers):
    def get(path: str):
        response = client.get(path, headers=user_headers)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return get


def test_a_first_sync_shows_every_row_as_an_upsert(client, user_headers, get):
    store = create_store(client, user_headers, "Corner Shop")
    item = create_item(client, user_headers, store["id"], "Chair", price=12.5)
    tag = create_tag(client, user_headers, store["id"], "oak")
    link(client, user_headers, item["id"], tag["id"])

    answer = get("/changes")

    assert answer["has_more"] is False
    assert {(c["type"], c["op"]) for c in answer["changes"]} == {
        ("store", "upsert"),
        ("item", "upsert"),
        ("tag", "upsert"),
    }
    by_type = {c["type"]: c["data"] for c in answer["changes"]}
    assert by_type["item"] == {
        "id": item["id"],
        "name": "Chair",
        "price": 12.5,
        "description": None,
        "store_id": store["id"],
        "tag_ids": [tag["id"]],
    }
    assert by_type["tag"] == {"id": tag["id"], "name": "oak", "store_id": store["id"]}
    me = get("/me")["id"]
    assert by_type["store"] == {
        "id": store["id"],
        "name": "Corner Shop",
        "owner_id": me,
    }


def test_a_client_replaying_the_feed_ends_with_the_servers_state(
    client, user_headers, get
):
    replica = Replica()
    shop = create_store(client, user_headers, "Shop")
    other = create_store(client, user_headers, "Other")
    chair = create_item(client, user_headers, shop["id"], "Chair")
    table = create_item(client, user_headers, shop["id"], "Table")
    lamp = create_item(client, user_headers, other["id"], "Lamp")
    oak = create_tag(client, user_headers, shop["id"], "oak")
    pine = create_tag(client, user_headers, shop["id"], "pine")
    lit = create_tag(client, user_headers, other["id"], "lit")
    replica.catch_up(get, limit=2)  # a first sync, two at a time

    link(client, user_headers, chair["id"], oak["id"])
    link(client, user_headers, table["id"], pine["id"])
    link(client, user_headers, lamp["id"], lit["id"])
    client.put(f"/store/{shop['id']}", json={"name": "Shop 2"}, headers=user_headers)
    client.put(f"/item/{chair['id']}", json={"price": 3}, headers=user_headers)
    replica.catch_up(get, limit=3)
    client.delete(f"/item/{chair['id']}/tag/{oak['id']}", headers=user_headers)
    client.delete(f"/tag/{oak['id']}", headers=user_headers)
    client.delete(f"/item/{table['id']}", headers=user_headers)
    client.delete(f"/store/{other['id']}", headers=user_headers)  # its item and tag too
    create_item(client, user_headers, shop["id"], "Stool")
    replica.catch_up(get, limit=3)

    assert replica.rows == server_state(get)
    assert replica.pages >= 6


def test_a_store_deleted_deletes_its_items_and_tags_in_the_feed(
    client, user_headers, get
):
    store = create_store(client, user_headers, "Shop")
    item = create_item(client, user_headers, store["id"], "Chair")
    tag = create_tag(client, user_headers, store["id"], "oak")
    link(client, user_headers, item["id"], tag["id"])
    cursor = get("/changes")["cursor"]

    client.delete(f"/store/{store['id']}", headers=user_headers)
    answer = get(f"/changes?since={cursor}")

    assert sorted(
        (c["type"], c["id"], c["op"], c["data"]) for c in answer["changes"]
    ) == [
        ("item", item["id"], "delete", None),
        ("store", store["id"], "delete", None),
        ("tag", tag["id"], "delete", None),
    ]


def test_an_owner_deleted_changes_their_stores(client, user_headers, get):
    register(client, "bob")
    bob = auth_header(login(client, "bob")["access_token"])
    store = create_store(client, bob, "Bob's")
    bob_id = client.get("/me", headers=bob).get_json()["id"]
    cursor = get("/changes")["cursor"]

    assert client.delete(f"/user/{bob_id}", headers=bob).status_code == 200
    answer = get(f"/changes?since={cursor}")

    assert answer["changes"] == [
        {
            "type": "store",
            "id": store["id"],
            "op": "upsert",
            "data": {"id": store["id"], "name": "Bob's", "owner_id": None},
        }
    ]


def test_an_unchanged_feed_answers_no_changes_and_the_same_cursor(
    client, user_headers, get
):
    create_store(client, user_headers, "Shop")
    cursor = get("/changes")["cursor"]

    answer = get(f"/changes?since={cursor}")

    assert answer == {"changes": [], "cursor": cursor, "has_more": False}


def test_limit_pages_the_feed_with_has_more(client, user_headers, get):
    for n in range(5):
        create_store(client, user_headers, f"Shop {n}")

    first = get("/changes?limit=2")
    second = get(f"/changes?limit=2&since={first['cursor']}")
    third = get(f"/changes?limit=2&since={second['cursor']}")

    assert [len(a["changes"]) for a in (first, second, third)] == [2, 2, 1]
    assert [a["has_more"] for a in (first, second, third)] == [True, True, False]


@pytest.mark.parametrize(
    "since", ["", "nonsense", "c1.", "c1.!!", "c1.LTE", "c1.MTIz=", "c1.YQ"]
)
def test_a_malformed_cursor_is_a_422_on_since(client, user_headers, since):
    response = client.get(f"/changes?since={since}", headers=user_headers)

    body = assert_error(response, 422)
    assert "since" in body["errors"]["query"]


@pytest.mark.parametrize("limit", [0, 1001, "many"])
def test_a_limit_out_of_range_is_a_422(client, user_headers, limit):
    response = client.get(f"/changes?limit={limit}", headers=user_headers)

    assert "limit" in assert_error(response, 422)["errors"]["query"]


def test_a_cursor_older_than_the_kept_deletes_is_a_410(app, client, user_headers, get):
    store = create_store(client, user_headers, "Shop")
    cursor = get("/changes")["cursor"]
    client.delete(f"/store/{store['id']}", headers=user_headers)
    later = datetime.now(UTC) + timedelta(days=31)

    with app.app_context():
        assert changes.prune(later) == 1
    response = client.get(f"/changes?since={cursor}", headers=user_headers)

    assert_error(response, 410, error="cursor_expired")
    assert get("/changes")["changes"] == []  # a new first sync works


def test_tombstones_within_the_retention_are_kept(app, client, user_headers, get):
    store = create_store(client, user_headers, "Shop")
    cursor = get("/changes")["cursor"]
    client.delete(f"/store/{store['id']}", headers=user_headers)

    with app.app_context():
        assert changes.prune(datetime.now(UTC) + timedelta(days=29)) == 0

    assert get(f"/changes?since={cursor}")["changes"][0]["op"] == "delete"


def test_the_feed_needs_an_access_token(client):
    assert_error(client.get("/changes"), 401, error="authorization_required")


def test_a_change_committed_after_later_ones_is_not_missed(
    app_config, client, user_headers, get, backend
):
    """A transaction that wrote first but commits last: numbered at its commit."""
    if backend == "sqlite":
        pytest.skip("SQLite lets one transaction write at a time: none commits late")
    replica = Replica()
    replica.catch_up(get)
    engine = create_engine(app_config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as slow:
            slow.execute(text("BEGIN"))
            slow.execute(text("INSERT INTO stores (name) VALUES ('Slow Shop')"))
            create_store(client, user_headers, "Quick Shop")  # commits first
            replica.catch_up(get)
            slow.execute(text("COMMIT"))
        replica.catch_up(get)
    finally:
        engine.dispose()

    names = sorted(
        row["name"] for (kind, _), row in replica.rows.items() if kind == "store"
    )
    assert names == ["Quick Shop", "Slow Shop"]
    assert replica.rows == server_state(get)
