"""A mobile-style client that keeps its tokens: it calls until its access token
expires, refreshes once on `token_expired`, retries and succeeds; a second
refresh with the old refresh token is refused with `token_revoked`."""

from datetime import datetime, timedelta

import flask_jwt_extended.tokens
import jwt.api_jwt
import pytest

from tests.helpers import PASSWORD, register


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
        response = self._get(path)
        if (
            response.status_code == 401
            and response.get_json()["error"] == "token_expired"
        ):
            self.refresh()
            response = self._get(path)
        return response

    def refresh(self) -> None:
        response = self.client.post("/refresh", headers=self._bearer("refresh_token"))
        assert response.status_code == 200, response.get_json()
        self.refreshes += 1
        self.tokens = response.get_json()

    def _get(self, path: str):
        return self.client.get(path, headers=self._bearer("access_token"))

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
