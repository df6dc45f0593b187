"""Idempotency keys on creates (contract section 8): a retried create with its key
replays the first answer byte for byte and creates nothing again.

Races of one key are in tests/test_concurrency.py (gunicorn, 4 workers).
"""

from datetime import UTC, datetime, timedelta

import pytest
from flask_migrate import upgrade

import idempotency
from db import db
from models import IdempotencyKeyModel
from tests.conftest import build_app, empty_database, served_env
from tests.helpers import PASSWORD, assert_error, auth_header, login, register
from tests.servers import gunicorn
from tests.servers import request as http

KEY = "5b1c1e52-2f0e-4c57-9a6e-0c4f3b7e9d11"


def keyed(key: str = KEY, **headers) -> dict:
    return {"Idempotency-Key": key, **headers}


@pytest.fixture
def creates(client, user_headers, store, item, tag):
    """Each create that takes a key: (path, body), on the world's store and item."""
    return {
        "store": ("/store", {"name": "Keyed Shop"}),
        "item": ("/item", {"name": "Keyed", "price": 3, "store_id": store["id"]}),
        "tag": (f"/store/{store['id']}/tag", {"name": "keyed"}),
        "link": (f"/item/{item['id']}/tag/{tag['id']}", None),
    }


@pytest.mark.parametrize("kind", ["store", "item", "tag", "link"])
def test_a_create_sent_again_with_its_key_replays_its_answer(
    client, user_headers, creates, kind
):
    path, body = creates[kind]
    first = client.post(path, json=body, headers={**user_headers, **keyed()})
    assert first.status_code == 201, first.get_json()

    again = client.post(path, json=body, headers={**user_headers, **keyed()})

    assert again.status_code == 201
    assert again.data == first.data
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_a_replay_creates_nothing(client, user_headers, store):
    body = {"name": "Keyed", "price": 3, "store_id": store["id"]}
    for _ in range(3):
        client.post("/item", json=body, headers={**user_headers, **keyed()})

    items = client.get(f"/item?store_id={store['id']}", headers=user_headers)

    assert [row["name"] for row in items.get_json()] == ["Keyed"]


def test_spacing_and_key_order_of_the_body_do_not_make_another_request(
    client, user_headers
):
    headers = {**user_headers, **keyed(), "Content-Type": "application/json"}
    first = client.post("/store", data='{"name": "Shop"}', headers=headers)

    again = client.post("/store", data='{ "name" :"Shop" }\n', headers=headers)

    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(("/store", {"name": "Another Shop"}), id="another-body"),
        pytest.param(("/store/{store}/tag", {"name": "Shop"}), id="another-path"),
    ],
)
def test_the_same_key_for_another_request_is_a_422_on_the_header(
    client, user_headers, store, second
):
    client.post("/store", json={"name": "Shop"}, headers={**user_headers, **keyed()})
    path, body = second

    response = client.post(
        path.format(store=store["id"]), json=body, headers={**user_headers, **keyed()}
    )

    body = assert_error(response, 422)
    assert "Idempotency-Key" in body["errors"]["headers"]


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there", "\x7f"])
def test_a_malformed_key_is_a_422_on_the_header(client, user_headers, key):
    headers = {**user_headers, "Idempotency-Key": key}

    response = client.post("/store", json={"name": "Shop"}, headers=headers)

    body = assert_error(response, 422)
    assert "Idempotency-Key" in body["errors"]["headers"]
    assert client.get("/store", headers=user_headers).get_json() == []


def test_keys_are_each_users_own(client, user_headers):
    register(client, "bob")
    bob = auth_header(login(client, "bob")["access_token"])

    mine = client.post(
        "/store", json={"name": "Shop A"}, headers={**user_headers, **keyed()}
    )
    bobs = client.post("/store", json={"name": "Shop B"}, headers={**bob, **keyed()})

    assert mine.status_code == bobs.status_code == 201
    assert "Idempotent-Replayed" not in bobs.headers
    assert mine.get_json()["id"] != bobs.get_json()["id"]


def test_an_error_answer_is_kept_too(client, user_headers, store):
    headers = {**user_headers, **keyed()}
    body = {"name": "Dup", "price": 1, "store_id": store["id"]}
    client.post("/item", json=body, headers=user_headers)  # the name is now taken
    first = client.post("/item", json=body, headers=headers)
    assert first.status_code == 409

    again = client.post("/item", json=body, headers=headers)

    assert again.status_code == 409
    assert again.data == first.data
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_key_while_its_first_request_runs_is_a_409_with_retry_after(
    app, client, user_headers
):
    """The row of a request still running: claimed, with no answer yet."""
    first = client.post(
        "/store", json={"name": "Shop"}, headers={**user_headers, **keyed("held")}
    )
    assert first.status_code == 201
    me = client.get("/me", headers=user_headers).get_json()["id"]
    with app.app_context():
        row = db.session.get(IdempotencyKeyModel, (me, "held"))
        row.status = None
        db.session.commit()

    again = client.post(
        "/store", json={"name": "Shop"}, headers={**user_headers, **keyed("held")}
    )

    assert_error(again, 409)
    assert again.headers["Retry-After"] == "1"


def test_without_a_key_creates_behave_as_before(client, user_headers):
    first = client.post("/store", json={"name": "Shop"}, headers=user_headers)
    again = client.post("/store", json={"name": "Shop"}, headers=user_headers)

    assert first.status_code == 201
    assert_error(again, 409)


def test_keys_expire_after_24_hours_and_are_pruned(app, client, user_headers):
    client.post("/store", json={"name": "Shop"}, headers={**user_headers, **keyed()})
    later = datetime.now(UTC) + timedelta(hours=24, seconds=1)

    with app.app_context():
        assert idempotency.prune(later - timedelta(seconds=2)) == 0
        assert idempotency.prune(later) == 1


def test_a_replay_survives_a_restart_of_the_server(request, tmp_path):
    url = empty_database(request, "sqlite", tmp_path)
    app = build_app(url)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    env = served_env(url)
    body = {"name": "Restart Shop"}

    with gunicorn(env, tmp_path / "first.log") as base_url:
        request_url = f"{base_url}/store"
        assert (
            http(
                "POST",
                f"{base_url}/register",
                {"username": "ann", "password": PASSWORD},
            ).status
            == 201
        )
        token = http(
            "POST", f"{base_url}/login", {"username": "ann", "password": PASSWORD}
        ).body["access_token"]
        first = http("POST", request_url, body, token, keyed())
    with gunicorn(env, tmp_path / "second.log") as base_url:
        again = http("POST", f"{base_url}/store", body, token, keyed())

    assert first.status == again.status == 201
    assert again.raw == first.raw
    assert again.headers["Idempotent-Replayed"] == "true"
