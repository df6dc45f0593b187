"""The audit log: each security event writes one JSON line on the `stores.audit`
logger, with the event, the user id and the client address, and never a password
or a token."""

import json
import logging
from datetime import datetime
from unittest.mock import ANY

import pytest

from audit import FORMATTER
from tests.helpers import PASSWORD, auth_header, login, register

CLIENT = "203.0.113.7"
AS_CLIENT = {"REMOTE_ADDR": CLIENT}
NEW_PASSWORD = "battery staple horse"


@pytest.fixture
def captured(caplog):
    """Every log record of the test, at every level and from every logger."""
    caplog.set_level(logging.DEBUG)
    return caplog


def audit_lines(caplog) -> list[dict]:
    """The audit lines of the test, as the audit log's formatter writes them."""
    records = [record for record in caplog.records if record.name == "stores.audit"]
    lines = [FORMATTER.format(record) for record in records]
    for line in lines:
        assert "\n" not in line
    return [json.loads(line) for line in lines]


def assert_audited(caplog, event: str, user_id, secrets, **details) -> dict:
    """Exactly one audit line was written, for `event`, and no secret was logged."""
    lines = audit_lines(caplog)
    assert [line["event"] for line in lines] == [event]
    line = lines[0]
    assert {"event", "user_id", "client", "timestamp"} <= set(line)
    assert line["user_id"] == user_id
    assert line["client"] == CLIENT
    for name, value in details.items():
        assert line[name] == value
    leaked = [secret for secret in secrets if secret and secret in caplog.text]
    assert leaked == []
    return line


@pytest.fixture
def dave(client) -> dict:
    return register(client, "dave")


@pytest.fixture
def tokens(client, dave) -> dict:
    return login(client, "dave")


# Logins


def test_login_is_audited(client, dave, captured):
    response = client.post(
        "/login",
        json={"username": "dave", "password": PASSWORD},
        environ_base=AS_CLIENT,
    )

    tokens = response.get_json()
    assert response.status_code == 200
    assert_audited(
        captured,
        "login",
        dave["id"],
        [PASSWORD, tokens["access_token"], tokens["refresh_token"]],
    )


@pytest.mark.parametrize(
    ("username", "user_id"),
    [
        pytest.param("dave", ANY, id="wrong-password"),
        pytest.param("nobody", None, id="unknown-username"),
    ],
)
def test_failed_login_is_audited(client, dave, captured, username, user_id):
    wrong_password = "not the password at all"

    response = client.post(
        "/login",
        json={"username": username, "password": wrong_password},
        environ_base=AS_CLIENT,
    )

    assert response.status_code == 401
    assert_audited(captured, "login_failed", user_id, [wrong_password, PASSWORD])


# Logouts and password changes


def test_logout_is_audited(client, dave, tokens, captured):
    response = client.post(
        "/logout", headers=auth_header(tokens["access_token"]), environ_base=AS_CLIENT
    )

    assert response.status_code == 200
    assert_audited(
        captured,
        "logout",
        dave["id"],
        [PASSWORD, tokens["access_token"], tokens["refresh_token"]],
    )


def test_logout_everywhere_is_audited(client, dave, tokens, captured):
    response = client.post(
        "/logout/all",
        headers=auth_header(tokens["access_token"]),
        environ_base=AS_CLIENT,
    )

    assert response.status_code == 200
    assert_audited(
        captured,
        "logout_all",
        dave["id"],
        [PASSWORD, tokens["access_token"], tokens["refresh_token"]],
    )


def test_password_change_is_audited(client, dave, tokens, captured):
    response = client.put(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=auth_header(tokens["access_token"]),
        environ_base=AS_CLIENT,
    )

    new_tokens = response.get_json()
    assert response.status_code == 200
    assert_audited(
        captured,
        "password_changed",
        dave["id"],
        [
            PASSWORD,
            NEW_PASSWORD,
            tokens["access_token"],
            tokens["refresh_token"],
            new_tokens["access_token"],
            new_tokens["refresh_token"],
        ],
    )


def test_reuse_of_a_rotated_refresh_token_is_audited(client, dave, tokens, captured):
    rotated = client.post("/refresh", headers=auth_header(tokens["refresh_token"]))
    assert rotated.status_code == 200
    captured.clear()

    response = client.post(
        "/refresh",
        headers=auth_header(tokens["refresh_token"]),
        environ_base=AS_CLIENT,
    )

    assert response.status_code == 401
    assert_audited(
        captured,
        "refresh_token_reused",
        dave["id"],
        [
            PASSWORD,
            tokens["access_token"],
            tokens["refresh_token"],
            rotated.get_json()["access_token"],
            rotated.get_json()["refresh_token"],
        ],
    )


# Admin deletes


def target_id(request, kind: str) -> int:
    if kind == "user":
        return register(request.getfixturevalue("client"), "erin")["id"]
    return request.getfixturevalue(kind)["id"]


@pytest.mark.parametrize(
    ("kind", "path", "event"),
    [
        ("store", "/store/{}", "admin_deleted_store"),
        ("item", "/item/{}", "admin_deleted_item"),
        ("tag", "/tag/{}", "admin_deleted_tag"),
        ("user", "/user/{}", "admin_deleted_user"),
    ],
)
def test_admin_delete_is_audited(
    request, client, admin_headers, captured, kind, path, event
):
    admin_id = client.get("/me", headers=admin_headers).get_json()["id"]
    deleted_id = target_id(request, kind)
    captured.clear()

    response = client.delete(
        path.format(deleted_id), headers=admin_headers, environ_base=AS_CLIENT
    )

    assert response.status_code == 200
    admin_token = admin_headers["Authorization"].removeprefix("Bearer ")
    assert_audited(
        captured, event, admin_id, [PASSWORD, admin_token], target_id=deleted_id
    )


def test_an_audit_line_is_one_json_object_with_a_timestamp(client, dave, captured):
    client.post(
        "/login",
        json={"username": "dave", "password": PASSWORD},
        environ_base=AS_CLIENT,
    )

    (line,) = audit_lines(captured)
    assert set(line) == {"event", "user_id", "client", "timestamp"}
    assert datetime.fromisoformat(line["timestamp"]).tzinfo is not None
