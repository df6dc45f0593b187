"""Accounts: register, login, /me, reading and deleting users, admin rights (contract 2-3)."""

import pytest

from db import db
from models import UserModel
from tests.helpers import (
    PASSWORD,
    assert_error,
    auth_header,
    create_store,
    login,
    register,
)

USER_FIELDS = {"id", "username", "email", "email_verified", "is_admin"}


def me(client, headers) -> dict:
    response = client.get("/me", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refreshed(client, refresh_token: str) -> dict:
    """The token pair `POST /refresh` answers: its access token is not fresh."""
    response = client.post("/refresh", headers=auth_header(refresh_token))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def set_admin(app, username: str, is_admin: bool) -> None:
    """Change admin rights behind the API's back, as another process would."""
    with app.app_context():
        user = UserModel.find_by_username(username)
        user.is_admin = is_admin
        db.session.commit()


def user_count(app) -> int:
    with app.app_context():
        return db.session.query(UserModel).count()


# POST /register


def test_register_answers_201_with_the_user(client):
    response = client.post(
        "/register", json={"username": "carol", "password": PASSWORD}
    )

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == USER_FIELDS
    assert isinstance(body["id"], int)
    assert body["username"] == "carol"
    assert body["is_admin"] is False


def test_register_never_shows_the_password_or_its_hash(app, client):
    response = client.post(
        "/register", json={"username": "carol", "password": PASSWORD}
    )

    with app.app_context():
        password_hash = UserModel.find_by_username("carol").password_hash
    text = response.get_data(as_text=True)
    assert PASSWORD not in text
    assert password_hash not in text
    assert "password" not in text


def test_register_location_points_at_the_new_user(client):
    response = client.post(
        "/register", json={"username": "carol", "password": PASSWORD}
    )

    user = response.get_json()
    assert response.headers["Location"] == f"/user/{user['id']}"
    headers = auth_header(login(client, "carol")["access_token"])
    assert client.get(response.headers["Location"], headers=headers).get_json() == user


def test_register_trims_the_username(client):
    user = register(client, "  carol\t ")

    assert user["username"] == "carol"
    assert login(client, "carol")["access_token"]


def test_register_keeps_the_username_case(client):
    user = register(client, "CaRoL")

    assert user["username"] == "CaRoL"


@pytest.mark.parametrize(
    "taken", ["carol", "CAROL", "Carol", "  carol  "], ids=str.strip
)
def test_register_refuses_a_username_taken_in_any_case(app, client, taken):
    register(client, "Carol")

    response = client.post("/register", json={"username": taken, "password": PASSWORD})

    assert_error(response, 409)
    assert user_count(app) == 1


@pytest.mark.parametrize(
    "username",
    [
        "abc",
        "a" * 80,
        "jane.doe",
        "jane_doe",
        "jane-doe",
        "J0hn99",
        "...",
        "  " + "b" * 80 + "  ",
    ],
    ids=[
        "3-chars",
        "80-chars",
        "dot",
        "underscore",
        "hyphen",
        "digits",
        "only-dots",
        "80-after-trim",
    ],
)
def test_register_accepts_a_valid_username(client, username):
    response = client.post(
        "/register", json={"username": username, "password": PASSWORD}
    )

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["username"] == username.strip()


@pytest.mark.parametrize(
    "username",
    [
        "ab",
        "a" * 81,
        "",
        "    ",
        "  ab  ",
        "jane doe",
        "jane@doe",
        "jane/doe",
        "jane+doe",
        "jane!",
        "ja\tne",
        "ja\x00ne",
        None,
        123,
        ["alice"],
    ],
    ids=[
        "2-chars",
        "81-chars",
        "empty",
        "blank",
        "2-after-trim",
        "space",
        "at",
        "slash",
        "plus",
        "bang",
        "tab",
        "nul",
        "null",
        "number",
        "list",
    ],
)
def test_register_rejects_an_invalid_username(app, client, username):
    response = client.post(
        "/register", json={"username": username, "password": PASSWORD}
    )

    body = assert_error(response, 422)
    assert "username" in body["errors"]["json"]
    assert user_count(app) == 0


@pytest.mark.parametrize(
    "password", ["x" * 8, "x" * 128, "  1234  "], ids=["8", "128", "8-with-spaces"]
)
def test_register_accepts_a_password_of_8_to_128_characters(client, password):
    register(client, "carol", password)

    assert login(client, "carol", password)["access_token"]


@pytest.mark.parametrize(
    "password",
    ["x" * 7, "x" * 129, "", "   x   ", None, 12345678],
    ids=["7", "129", "empty", "7-with-spaces", "null", "number"],
)
def test_register_rejects_an_invalid_password(app, client, password):
    response = client.post(
        "/register", json={"username": "carol", "password": password}
    )

    body = assert_error(response, 422)
    assert "password" in body["errors"]["json"]
    assert user_count(app) == 0


def test_register_keeps_surrounding_spaces_of_the_password(client):
    register(client, "carol", "  secret words  ")

    response = client.post(
        "/login", json={"username": "carol", "password": "secret words"}
    )

    assert_error(response, 401, "Invalid credentials.")


def test_login_accepts_the_password_with_its_exact_spaces(client):
    register(client, "carol", "  secret words  ")

    response = client.post(
        "/login", json={"username": "carol", "password": "  secret words  "}
    )

    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("field", ["is_admin", "id", "email_verified", "password_hash"])
def test_register_rejects_an_unknown_field(app, client, field):
    body = {"username": "carol", "password": PASSWORD, field: True}

    response = client.post("/register", json=body)

    error = assert_error(response, 422)
    assert error["errors"]["json"][field] == ["Unknown field."]
    assert user_count(app) == 0


@pytest.mark.parametrize(
    "body, missing",
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "carol"}, "password"),
        ({}, "username"),
    ],
    ids=["no-username", "no-password", "empty"],
)
def test_register_requires_username_and_password(client, body, missing):
    response = client.post("/register", json=body)

    error = assert_error(response, 422)
    assert missing in error["errors"]["json"]


# POST /login


def test_login_returns_an_access_token_and_a_refresh_token(client):
    register(client, "carol")

    response = client.post("/login", json={"username": "carol", "password": PASSWORD})

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token"}
    assert body["access_token"] and body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]


@pytest.mark.parametrize("typed", ["carol", "CAROL", "cArOl"])
def test_login_matches_the_username_without_regard_to_case(client, typed):
    user = register(client, "Carol")

    tokens = login(client, typed)

    assert me(client, auth_header(tokens["access_token"]))["id"] == user["id"]


@pytest.mark.parametrize(
    "username, password",
    [
        ("nobody", PASSWORD),
        ("carol", "wrong password"),
        ("carol", PASSWORD.upper()),
    ],
    ids=["unknown-user", "wrong-password", "password-in-other-case"],
)
def test_login_with_bad_credentials_is_401_invalid_credentials(
    client, username, password
):
    register(client, "carol")

    response = client.post("/login", json={"username": username, "password": password})

    assert_error(response, 401, "Invalid credentials.")


def test_login_answers_unknown_user_and_wrong_password_alike(client):
    register(client, "carol")

    unknown = client.post("/login", json={"username": "nobody", "password": PASSWORD})
    wrong = client.post("/login", json={"username": "carol", "password": "x" * 12})

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.get_json() == wrong.get_json()
    assert unknown.headers.get("WWW-Authenticate") == wrong.headers.get(
        "WWW-Authenticate"
    )


@pytest.mark.parametrize(
    "body, missing",
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "carol"}, "password"),
        ({}, "username"),
    ],
    ids=["no-username", "no-password", "empty"],
)
def test_login_requires_username_and_password(client, body, missing):
    register(client, "carol")

    response = client.post("/login", json=body)

    error = assert_error(response, 422)
    assert missing in error["errors"]["json"]


# GET /me


def test_me_returns_the_user_of_the_token(client):
    user = register(client, "carol")
    headers = auth_header(login(client, "carol")["access_token"])

    response = client.get("/me", headers=headers)

    assert response.status_code == 200
    assert response.get_json() == user
    assert set(response.get_json()) == USER_FIELDS


def test_me_shows_admin_rights(client, admin_headers):
    response = client.get("/me", headers=admin_headers)

    assert response.get_json()["username"] == "admin"
    assert response.get_json()["is_admin"] is True


def test_me_requires_a_token(client):
    response = client.get("/me")

    assert_error(response, 401, error="authorization_required")


# GET /user/<id>


def test_user_can_get_own_account(client, user_headers):
    alice = me(client, user_headers)

    response = client.get(f"/user/{alice['id']}", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == alice


def test_user_cannot_get_another_account(client, user_headers):
    other = register(client, "carol")

    response = client.get(f"/user/{other['id']}", headers=user_headers)

    assert_error(response, 403, error="forbidden")


def test_admin_can_get_any_account(client, admin_headers):
    other = register(client, "carol")

    response = client.get(f"/user/{other['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.get_json() == other


def test_admin_getting_an_unknown_user_is_404(client, admin_headers):
    response = client.get("/user/99999", headers=admin_headers)

    assert_error(response, 404)


def test_get_user_with_a_non_integer_id_is_404(client, admin_headers):
    response = client.get("/user/abc", headers=admin_headers)

    assert_error(response, 404)


# DELETE /user/<id>


def test_delete_user_needs_a_fresh_token(client, nonfresh_headers):
    bob = me(client, nonfresh_headers)

    response = client.delete(f"/user/{bob['id']}", headers=nonfresh_headers)

    assert_error(response, 401, error="fresh_token_required")
    assert login(client, "bob")["access_token"]


def test_user_can_delete_own_account(client, user_headers):
    alice = me(client, user_headers)

    response = client.delete(f"/user/{alice['id']}", headers=user_headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "User deleted."}
    failed = client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert_error(failed, 401, "Invalid credentials.")


def test_user_cannot_delete_another_account(client, user_headers):
    other = register(client, "carol")

    response = client.delete(f"/user/{other['id']}", headers=user_headers)

    assert_error(response, 403, error="forbidden")
    assert login(client, "carol")["access_token"]


def test_admin_can_delete_any_account(client, admin_headers):
    other = register(client, "carol")

    response = client.delete(f"/user/{other['id']}", headers=admin_headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "User deleted."}
    assert_error(client.get(f"/user/{other['id']}", headers=admin_headers), 404)


def test_admin_deleting_a_user_needs_a_fresh_token(client, admin_headers):
    other = register(client, "carol")
    stale = refreshed(client, login(client, "admin")["refresh_token"])

    response = client.delete(
        f"/user/{other['id']}", headers=auth_header(stale["access_token"])
    )

    assert_error(response, 401, error="fresh_token_required")
    assert login(client, "carol")["access_token"]


def test_admin_deleting_an_unknown_user_is_404(client, admin_headers):
    response = client.delete("/user/99999", headers=admin_headers)

    assert_error(response, 404)


def _tokens_of_carol(client) -> dict:
    """Every kind of token carol can hold, with a request that uses it."""
    first = login(client, "carol")
    second = refreshed(client, login(client, "carol")["refresh_token"])
    return {
        "login-access": ("GET", "/me", first["access_token"]),
        "login-refresh": ("POST", "/refresh", first["refresh_token"]),
        "refreshed-access": ("GET", "/me", second["access_token"]),
        "refreshed-refresh": ("POST", "/refresh", second["refresh_token"]),
    }


@pytest.mark.parametrize(
    "kind",
    ["login-access", "login-refresh", "refreshed-access", "refreshed-refresh"],
)
def test_every_token_of_a_deleted_user_fails_with_user_not_found(
    client, admin_headers, kind
):
    carol = register(client, "carol")
    method, path, token = _tokens_of_carol(client)[kind]

    client.delete(f"/user/{carol['id']}", headers=admin_headers)
    response = client.open(path, method=method, headers=auth_header(token))

    assert_error(response, 401, error="user_not_found")


def test_own_token_fails_with_user_not_found_after_self_deletion(client, user_headers):
    alice = me(client, user_headers)

    client.delete(f"/user/{alice['id']}", headers=user_headers)
    response = client.get("/me", headers=user_headers)

    assert_error(response, 401, error="user_not_found")


def test_deleted_users_nonfresh_token_fails_with_user_not_found_on_fresh_endpoint(
    client, admin_headers
):
    carol = register(client, "carol")
    stale = refreshed(client, login(client, "carol")["refresh_token"])

    client.delete(f"/user/{carol['id']}", headers=admin_headers)
    response = client.delete(
        f"/user/{carol['id']}", headers=auth_header(stale["access_token"])
    )

    assert_error(response, 401, error="user_not_found")


def test_deleted_users_token_does_not_pass_to_the_next_registered_user(client):
    # On SQLite an INTEGER PRIMARY KEY without AUTOINCREMENT hands the highest
    # freed id to the next row, so the deleted user's `sub` could name someone new.
    carol = register(client, "carol")
    old_headers = auth_header(login(client, "carol")["access_token"])
    client.delete(f"/user/{carol['id']}", headers=old_headers)

    register(client, "mallory")
    response = client.get("/me", headers=old_headers)

    assert_error(response, 401, error="user_not_found")


# Admin rights are read from the database on each request


def test_demoted_admin_loses_admin_rights_at_once(
    app, client, admin_headers, user_headers
):
    # Alice's store: only admin rights let the admin delete it.
    store = create_store(client, user_headers, "Corner Shop")
    set_admin(app, "admin", False)

    response = client.delete(f"/store/{store['id']}", headers=admin_headers)

    assert_error(response, 403, error="forbidden")
    assert client.get(f"/store/{store['id']}", headers=user_headers).status_code == 200
    assert me(client, admin_headers)["is_admin"] is False


def test_demoted_admin_can_no_longer_get_other_accounts(app, client, admin_headers):
    other = register(client, "carol")
    set_admin(app, "admin", False)

    response = client.get(f"/user/{other['id']}", headers=admin_headers)

    assert_error(response, 403, error="forbidden")


def test_promoted_user_gains_admin_rights_at_once(app, client, user_headers):
    # Carol's store: only admin rights let alice delete it.
    register(client, "carol")
    carol_headers = auth_header(login(client, "carol")["access_token"])
    store = create_store(client, carol_headers, "Corner Shop")
    set_admin(app, "alice", True)

    response = client.delete(f"/store/{store['id']}", headers=user_headers)

    assert response.status_code == 200, response.get_json()
    assert me(client, user_headers)["is_admin"] is True
