"""A mobile-style client that keeps its tokens: it calls until its access token
expires, refreshes once on `token_expired`, retries and succeeds; a second
refresh with the old refresh token is refused with `token_revoked`. It retries
a create whose answer it lost with the create's idempotency key, and catches
up through the changes feed after a time offline."""

from datetime import datetime, timedelta

import flask_jwt_extended.tokens
import jwt.api_jwt
import pytest

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
from tests.test_changes import Replica, server_state


class Clock:
    """How far the test has moved the clock that tokens are issued and checked by."""

    def __init__(self):
        self.offset = timedelta(0)

    def advance(self, seconds: int) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()

    class AnyDatetime(type):
        def __instancecheck__(cls, instance):
            return isinstance(instance, datetime)

    class ShiftedDatetime(datetime, metaclass=AnyDatetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + clock.offset

    monkeypatch.setattr(flask_jwt_extended.tokens, "datetime", ShiftedDatetime)
    monkeypatch.setattr(jwt.api_jwt, "datetime", ShiftedDatetime)
    return clock


class MobileClient:
    """Holds a token pair like an app does; refreshes once when the access token expires."""

    def __init__(self, client):
        self.client = client
        self.tokens = None
        self.refreshes = 0

    def log_in(self, username: str) -> None:
        response = self.client.post(
            "/login", json={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200
        self.tokens = response.get_json()

    def get(self, path: str):
        return self.send("GET", path)

    def send(self, method: str, path: str, body=None):
        response = self._send(method, path, body)
        if (
            response.status_code == 401
            and response.get_json()["error"] == "token_expired"
        ):
            self.refresh()
            response = self._send(method, path, body)
        return response

    def refresh(self) -> None:
        response = self.client.post("/refresh", headers=self._bearer("refresh_token"))
        assert response.status_code == 200, response.get_json()
        self.refreshes += 1
        self.tokens = response.get_json()

    def create(self, path: str, body: dict, key: str):
        """A create sent with its idempotency key, as an app retrying safely does."""
        return self.client.post(
            path,
            json=body,
            headers={**self._bearer("access_token"), "Idempotency-Key": key},
        )

    def feed(self, path: str) -> dict:
        response = self.get(path)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def _get(self, path: str):
        return self._send("GET", path)

    def _send(self, method: str, path: str, body=None):
        return self.client.open(
            path, method=method, json=body, headers=self._bearer("access_token")
        )

    def _bearer(self, kind: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[kind]}"}


@pytest.fixture
def short_lived_app(make_app):
    return make_app(
        JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=1),
        JWT_REFRESH_TOKEN_EXPIRES=timedelta(hours=1),
    )


def test_client_refreshes_once_when_its_token_expires_and_carries_on(
    short_lived_app, clock
):
    client = short_lived_app.test_client()
    register(client, "mobile")
    app = MobileClient(client)
    app.log_in("mobile")
    first_access = app.tokens["access_token"]

    answers = []
    for _ in range(4):  # a call every 30 s: the 1-minute token expires once on the way
        answers.append(app.get("/me"))
        clock.advance(30)

    assert [answer.status_code for answer in answers] == [200] * 4
    assert app.refreshes == 1
    assert app.tokens["access_token"] != first_access


def test_expired_token_is_refused_with_token_expired(short_lived_app, clock):
    client = short_lived_app.test_client()
    register(client, "mobile")
    app = MobileClient(client)
    app.log_in("mobile")

    clock.advance(61)
    response = app._get("/me")

    assert response.status_code == 401
    assert response.get_json()["error"] == "token_expired"


def test_second_refresh_with_the_old_refresh_token_is_revoked(short_lived_app, clock):
    client = short_lived_app.test_client()
    register(client, "mobile")
    app = MobileClient(client)
    app.log_in("mobile")
    old_refresh = app.tokens["refresh_token"]
    clock.advance(61)
    assert app.get("/me").status_code == 200  # refreshed on the way

    response = client.post(
        "/refresh", headers={"Authorization": f"Bearer {old_refresh}"}
    )

    assert response.status_code == 401
    assert response.get_json()["error"] == "token_revoked"


def test_the_owners_writes_carry_on_across_a_refresh(short_lived_app, clock):
    """The app's user changes their own store before and after its token is
    refreshed; creating an item needs a fresh token, which a refresh is not."""
    client = short_lived_app.test_client()
    register(client, "mobile")
    app = MobileClient(client)
    app.log_in("mobile")
    store = app.send("POST", "/store", {"name": "My stall"}).get_json()
    item = {"name": "Jam", "price": 3.5, "store_id": store["id"]}
    assert app.send("POST", "/item", item).status_code == 201

    clock.advance(90)  # the access token has expired
    renamed = app.send("PUT", f"/store/{store['id']}", {"name": "Our stall"})

    assert app.refreshes == 1
    assert renamed.status_code == 200
    assert renamed.get_json()["owner_id"] == store["owner_id"]
    second = app.send("POST", "/item", {**item, "name": "Honey"})
    assert second.status_code == 401
    assert second.get_json()["error"] == "fresh_token_required"


def test_a_create_whose_answer_was_lost_is_retried_with_its_key(short_lived_app, clock):
    client = short_lived_app.test_client()
    register(client, "mobile")
    app = MobileClient(client)
    app.log_in("mobile")
    store = app.send("POST", "/store", {"name": "My stall"}).get_json()
    body = {"name": "Jam", "price": 3.5, "store_id": store["id"]}

    app.create("/item", body, key="jam-1")  # the answer never reaches the phone
    # By the retry the token has expired; creating an item needs a fresh one,
    # so the app logs in again. The key is the user's: it still holds.
    clock.advance(90)
    app.log_in("mobile")
    retried = app.create("/item", body, key="jam-1")

    assert retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    items = app.get(f"/item?store_id={store['id']}").get_json()
    assert [item["name"] for item in items] == ["Jam"]
    assert retried.get_json()["id"] == items[0]["id"]


def test_an_offline_client_catches_up_through_the_changes_feed(short_lived_app, clock):
    client = short_lived_app.test_client()
    register(client, "mobile")
    register(client, "owner")
    owner = auth_header(login(client, "owner")["access_token"])
    shop = create_store(client, owner, "Corner Shop")
    chair = create_item(client, owner, shop["id"], "Chair")
    app = MobileClient(client)
    app.log_in("mobile")
    replica = Replica()
    replica.catch_up(app.feed)

    # Offline for a while: others change the data, and the app's token expires.
    table = create_item(client, owner, shop["id"], "Table")
    oak = create_tag(client, owner, shop["id"], "oak")
    link(client, owner, table["id"], oak["id"])
    client.put(f"/store/{shop['id']}", json={"name": "Shop"}, headers=owner)
    client.delete(f"/item/{chair['id']}", headers=owner)
    other = create_store(client, owner, "Second Shop")
    clock.advance(120)
    replica.catch_up(app.feed, limit=2)

    assert app.refreshes == 1
    assert replica.rows == server_state(app.feed)
    assert ("store", other["id"]) in replica.rows
    assert ("item", chair["id"]) not in replica.rows
