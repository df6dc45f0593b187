"""Session control: POST /logout/all and PUT /me/password revoke every token of the
user, on every device, and on every app instance sharing the database."""

import pytest

from tests.helpers import PASSWORD, assert_error, auth_header, login, register

NEW_PASSWORD = "battery staple horse"


def use(client, kind: str, token: str):
    """Use a token as a client would: an access token on GET /me, a refresh token
    on POST /refresh."""
    if kind == "access":
        return client.get("/me", headers=auth_header(token))
    return client.post("/refresh", headers=auth_header(token))


def outcome(response) -> tuple:
    return response.status_code, (response.get_json() or {}).get("error")


def change_password(client, access_token: str, current=PASSWORD, new=NEW_PASSWORD):
    body = {"current_password": current, "new_password": new}
    return client.put("/me/password", json=body, headers=auth_header(access_token))


def log_in(client, username: str, password: str = PASSWORD):
    return client.post("/login", json={"username": username, "password": password})


@pytest.fixture(params=["same-instance", "other-instance"])
def elsewhere(request, client, make_app):
    """Where tokens are used afterwards: the app instance that revoked them, or
    another on the same database (as another worker or host)."""
    if request.param == "same-instance":
        return client
    return make_app().test_client()


@pytest.fixture
def devices(client) -> dict:
    """The token pairs of dave's two logins: a phone and a laptop."""
    register(client, "dave")
    return {"phone": login(client, "dave"), "laptop": login(client, "dave")}


def every_token(devices: dict) -> dict:
    return {
        (device, kind): tokens[f"{kind}_token"]
        for device, tokens in devices.items()
        for kind in ("access", "refresh")
    }


# POST /logout/all


def test_logout_all_answers_200_with_a_message(client, devices):
    response = client.post(
        "/logout/all", headers=auth_header(devices["phone"]["access_token"])
    )

    assert response.status_code == 200
    assert response.get_json() == {"message": "Logged out on every device."}


def test_logout_all_revokes_every_token_on_every_device(client, devices, elsewhere):
    client.post("/logout/all", headers=auth_header(devices["phone"]["access_token"]))

    outcomes = {
        name: outcome(use(elsewhere, name[1], token))
        for name, token in every_token(devices).items()
    }

    assert outcomes == dict.fromkeys(outcomes, (401, "token_revoked"))


def test_logout_all_leaves_other_users_logged_in(client, devices, elsewhere):
    register(client, "erin")
    erin = login(client, "erin")

    client.post("/logout/all", headers=auth_header(devices["phone"]["access_token"]))

    assert use(elsewhere, "access", erin["access_token"]).status_code == 200
    assert use(elsewhere, "refresh", erin["refresh_token"]).status_code == 200


def test_login_after_logout_all_works(client, devices, elsewhere):
    client.post("/logout/all", headers=auth_header(devices["phone"]["access_token"]))

    tokens = log_in(elsewhere, "dave").get_json()

    assert use(elsewhere, "access", tokens["access_token"]).status_code == 200
    assert use(elsewhere, "refresh", tokens["refresh_token"]).status_code == 200


# PUT /me/password: refusals, which change nothing


def test_password_change_needs_a_fresh_token(client, nonfresh_headers):
    response = client.put(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=nonfresh_headers,
    )

    assert_error(response, 401, error="fresh_token_required")
    assert log_in(client, "bob").status_code == 200


def test_password_change_with_a_wrong_current_password_is_403(client, devices):
    response = change_password(
        client, devices["phone"]["access_token"], current="not the password"
    )

    assert_error(response, 403, error="invalid_credentials")
    assert log_in(client, "dave").status_code == 200
    assert log_in(client, "dave", NEW_PASSWORD).status_code == 401


def test_password_change_to_an_invalid_password_is_422(client, devices):
    response = change_password(client, devices["phone"]["access_token"], new="7 chars")

    body = assert_error(response, 422)
    assert "new_password" in body["errors"]["json"]
    assert log_in(client, "dave").status_code == 200


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param({"current": "not the password"}, id="wrong-current-password"),
        pytest.param({"new": "7 chars"}, id="invalid-new-password"),
    ],
)
def test_refused_password_change_revokes_no_token(client, devices, refusal):
    change_password(client, devices["phone"]["access_token"], **refusal)

    statuses = {
        name: use(client, name[1], token).status_code
        for name, token in every_token(devices).items()
    }

    assert statuses == dict.fromkeys(statuses, 200)


# PUT /me/password: success


def test_password_change_answers_a_new_token_pair_not_to_be_stored(client, devices):
    response = change_password(client, devices["phone"]["access_token"])

    assert response.status_code == 200
    assert set(response.get_json()) == {"access_token", "refresh_token"}
    assert response.headers["Cache-Control"] == "no-store"


def test_tokens_from_a_password_change_work(client, devices, elsewhere):
    tokens = change_password(client, devices["phone"]["access_token"]).get_json()

    assert use(elsewhere, "access", tokens["access_token"]).status_code == 200
    assert use(elsewhere, "refresh", tokens["refresh_token"]).status_code == 200


def test_access_token_from_a_password_change_is_fresh(client, devices):
    tokens = change_password(client, devices["phone"]["access_token"]).get_json()

    response = change_password(
        client, tokens["access_token"], current=NEW_PASSWORD, new=PASSWORD
    )

    assert response.status_code == 200


def test_password_change_revokes_every_earlier_token_on_every_device(
    client, devices, elsewhere
):
    change_password(client, devices["phone"]["access_token"])

    outcomes = {
        name: outcome(use(elsewhere, name[1], token))
        for name, token in every_token(devices).items()
    }

    assert outcomes == dict.fromkeys(outcomes, (401, "token_revoked"))


def test_password_change_leaves_other_users_logged_in(client, devices, elsewhere):
    register(client, "erin")
    erin = login(client, "erin")

    change_password(client, devices["phone"]["access_token"])

    assert use(elsewhere, "access", erin["access_token"]).status_code == 200
    assert use(elsewhere, "refresh", erin["refresh_token"]).status_code == 200


def test_old_password_no_longer_logs_in_after_a_change(client, devices, elsewhere):
    change_password(client, devices["phone"]["access_token"])

    response = log_in(elsewhere, "dave", PASSWORD)

    assert_error(response, 401, error="invalid_credentials")


def test_new_password_logs_in_after_a_change(client, devices, elsewhere):
    change_password(client, devices["phone"]["access_token"])

    response = log_in(elsewhere, "dave", NEW_PASSWORD)

    assert response.status_code == 200
