"""Fail closed: with the database out of reach, protected requests get a 503, never a
pass and never a 500; with Redis out of reach, what needs it (rate limits) does; service
comes back by itself when the server does. Revocations live in the database, so a Redis
outage neither blocks nor forgets them."""

import uuid

import pytest
from sqlalchemy.engine import make_url

from tests.backends import REDIS_URL, delete_keys
from tests.helpers import (
    PASSWORD,
    assert_error,
    register,
    signed_in,
)
from tests.proxy import TCPProxy


def through(proxy: TCPProxy, url: str) -> str:
    return (
        make_url(url)
        .set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False)
    )


@pytest.fixture
def app_behind_database_proxy(app_factory, fresh_postgres):
    """An app whose PostgreSQL (which holds the blocklist) is reached through a proxy."""
    target = make_url(fresh_postgres)
    proxy = TCPProxy((target.host, target.port or 5432))
    yield proxy, app_factory(through(proxy, fresh_postgres), BACKEND_TIMEOUT=2)
    proxy.close()


@pytest.fixture
def app_behind_redis_proxy(app_factory, fresh_postgres, redis):
    """An app whose Redis (which counts its rate limits) is reached through a proxy."""
    target = make_url(REDIS_URL)
    proxy = TCPProxy((target.host, target.port or 6379))
    prefix = f"stores-test:{uuid.uuid4().hex}:"
    app = app_factory(
        fresh_postgres,
        REDIS_URL=through(proxy, REDIS_URL),
        REDIS_KEY_PREFIX=prefix,
        BACKEND_TIMEOUT=2,
        RATELIMIT_ENABLED=True,
    )
    yield proxy, app
    proxy.close()
    delete_keys(redis, prefix)


def prefix_of(app) -> str:
    return app.config["REDIS_KEY_PREFIX"]


def test_database_outage_answers_503_then_recovers(app_behind_database_proxy):
    proxy, app = app_behind_database_proxy
    client = app.test_client()
    headers = signed_in(client)
    assert client.get("/store", headers=headers).status_code == 200

    proxy.cut()
    during = client.get("/store", headers=headers)
    proxy.restore()
    after = client.get("/store", headers=headers)

    body = assert_error(during, 503)
    assert "Database" in body["message"]
    assert during.headers["Retry-After"]
    assert after.status_code == 200


def test_database_outage_refuses_login_with_503(app_behind_database_proxy):
    proxy, app = app_behind_database_proxy
    client = app.test_client()
    register(client, "alice")

    proxy.cut()
    response = client.post("/login", json={"username": "alice", "password": "x" * 8})

    assert_error(response, 503)


def test_health_names_the_database_when_it_is_down(app_behind_database_proxy):
    proxy, app = app_behind_database_proxy
    client = app.test_client()

    proxy.cut()
    response = client.get("/health")
    proxy.restore()

    assert assert_error(response, 503)["message"] == "Unavailable: database."
    assert response.headers["Retry-After"]
    assert client.get("/health").status_code == 200


def test_rate_limits_are_counted_in_memory_during_a_redis_outage(
    app_behind_redis_proxy, redis
):
    proxy, app = app_behind_redis_proxy
    app.config["RATELIMIT_LOGIN"] = "3 per minute"
    client = app.test_client()
    register(client, "alice")
    credentials = {"username": "alice", "password": PASSWORD}
    assert client.post("/login", json=credentials).status_code == 200
    counted_in_redis = len(list(redis.scan_iter(match=f"{prefix_of(app)}*")))

    proxy.cut()
    during = [client.post("/login", json=credentials).status_code for _ in range(4)]
    proxy.restore()

    assert counted_in_redis > 0
    # Counted afresh in memory: three logins, then the limit. (Flask-Limiter
    # goes back to Redis by itself, checking it at growing intervals.)
    assert during == [200, 200, 200, 429]


def test_tokens_are_checked_and_revoked_during_a_redis_outage(app_behind_redis_proxy):
    proxy, app = app_behind_redis_proxy
    client = app.test_client()
    headers = signed_in(client)

    proxy.cut()
    served = client.get("/me", headers=headers)
    logged_out = client.post("/logout", headers=headers)
    refused = client.get("/me", headers=headers)
    proxy.restore()

    assert served.status_code == 200
    assert logged_out.status_code == 200
    assert_error(refused, 401, error="token_revoked")
    assert_error(client.get("/me", headers=headers), 401, error="token_revoked")


def test_health_stays_ok_while_redis_is_down(app_behind_redis_proxy):
    proxy, app = app_behind_redis_proxy
    client = app.test_client()

    proxy.cut()
    response = client.get("/health")
    proxy.restore()

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
