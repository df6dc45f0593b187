"""Tokens: identity, freshness, refresh rotation, logout, revocation and every 401 (contract 3)."""

import base64
import json
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    decode_token,
    get_jwt,
    verify_jwt_in_request,
)

import auth
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

OTHER_SECRET = "another-secret-key-that-is-also-long-enough-to-sign"


def assert_auth_error(response, error: str) -> dict:
    """A 401 in the envelope, with the `error` code and a bearer challenge."""
    body = assert_error(response, 401, error=error)
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")
    return body


def claims_of(app, token: str) -> dict:
    with app.app_context():
        return decode_token(token)


def refresh(client, refresh_token: str):
    return client.post("/refresh", headers=auth_header(refresh_token))


def logout(client, access_token: str):
    return client.post("/logout", headers=auth_header(access_token))


def get_me(client, access_token: str):
    return client.get("/me", headers=auth_header(access_token))


@pytest.fixture
def carol(client) -> dict:
    return register(client, "carol")


@pytest.fixture
def tokens(client, carol) -> dict:
    """The token pair of one login of carol."""
    return login(client, "carol")


@pytest.fixture
def other_client(make_app):
    """A client of a second app instance on the same database, as another worker."""
    return make_app().test_client()


# Identity and freshness


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_token_identity_is_the_user_id_as_a_string(app, carol, tokens, kind):
    claims = claims_of(app, tokens[kind])

    assert claims["sub"] == str(carol["id"])


def test_login_gives_a_fresh_access_token(app, tokens):
    claims = claims_of(app, tokens["access_token"])

    assert claims["type"] == "access"
    assert claims["fresh"] is True


def test_login_gives_a_refresh_token(app, tokens):
    claims = claims_of(app, tokens["refresh_token"])

    assert claims["type"] == "refresh"


# POST /refresh


def test_refresh_returns_a_new_token_pair(client, tokens):
    response = refresh(client, tokens["refresh_token"])

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token"}
    assert body["refresh_token"] != tokens["refresh_token"]
    assert body["access_token"] != tokens["access_token"]


def test_refresh_returns_a_nonfresh_access_token(app, client, tokens):
    new = refresh(client, tokens["refresh_token"]).get_json()

    claims = claims_of(app, new["access_token"])

    assert claims["type"] == "access"
    assert claims["fresh"] is False


def test_refreshed_access_token_is_refused_where_fresh_is_required(
    client, carol, tokens
):
    new = refresh(client, tokens["refresh_token"]).get_json()

    response = client.delete(
        f"/user/{carol['id']}", headers=auth_header(new["access_token"])
    )

    assert_auth_error(response, "fresh_token_required")


def test_refreshed_access_token_identifies_the_same_user(client, carol, tokens):
    new = refresh(client, tokens["refresh_token"]).get_json()

    response = get_me(client, new["access_token"])

    assert response.status_code == 200
    assert response.get_json()["id"] == carol["id"]


def test_refresh_returns_a_refresh_token_that_works(client, tokens):
    new = refresh(client, tokens["refresh_token"]).get_json()

    response = refresh(client, new["refresh_token"])

    assert response.status_code == 200, response.get_json()


def test_presenting_a_used_refresh_token_again_is_token_revoked(client, tokens):
    refresh(client, tokens["refresh_token"])

    response = refresh(client, tokens["refresh_token"])

    assert_auth_error(response, "token_revoked")


def test_refresh_refuses_an_access_token(client, tokens):
    response = refresh(client, tokens["access_token"])

    assert_auth_error(response, "invalid_token")


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/me"), ("POST", "/logout"), ("GET", "/store"), ("GET", "/user/1")],
)
def test_access_endpoint_refuses_a_refresh_token(client, tokens, method, path):
    response = client.open(
        path, method=method, headers=auth_header(tokens["refresh_token"])
    )

    assert_auth_error(response, "invalid_token")


# POST /logout


def test_logout_answers_with_a_message(client, tokens):
    response = logout(client, tokens["access_token"])

    assert response.status_code == 200
    assert response.get_json() == {"message": "Successfully logged out."}


@pytest.mark.parametrize(
    "method, path", [("GET", "/me"), ("POST", "/logout"), ("GET", "/store")]
)
def test_logout_revokes_the_access_token(client, tokens, method, path):
    logout(client, tokens["access_token"])

    response = client.open(
        path, method=method, headers=auth_header(tokens["access_token"])
    )

    assert_auth_error(response, "token_revoked")


def test_logout_revokes_the_refresh_token_of_the_same_login(client, tokens):
    logout(client, tokens["access_token"])

    response = refresh(client, tokens["refresh_token"])

    assert_auth_error(response, "token_revoked")


def test_logout_keeps_another_logins_access_token_valid(client, tokens):
    other_device = login(client, "carol")

    logout(client, tokens["access_token"])

    assert get_me(client, other_device["access_token"]).status_code == 200


def test_logout_keeps_another_logins_refresh_token_valid(client, tokens):
    other_device = login(client, "carol")

    logout(client, tokens["access_token"])

    assert refresh(client, other_device["refresh_token"]).status_code == 200


def test_logout_keeps_another_users_tokens_valid(client, tokens):
    register(client, "dave")
    dave = login(client, "dave")

    logout(client, tokens["access_token"])

    assert get_me(client, dave["access_token"]).status_code == 200
    assert refresh(client, dave["refresh_token"]).status_code == 200


def test_logout_with_a_refreshed_token_revokes_its_refresh_token(client, tokens):
    new = refresh(client, tokens["refresh_token"]).get_json()

    logout(client, new["access_token"])

    assert_auth_error(refresh(client, new["refresh_token"]), "token_revoked")


def test_logout_with_a_refreshed_token_revokes_that_access_token(client, tokens):
    new = refresh(client, tokens["refresh_token"]).get_json()

    logout(client, new["access_token"])

    assert_auth_error(get_me(client, new["access_token"]), "token_revoked")


def test_logout_needs_an_access_token(client):
    response = client.post("/logout")

    assert_auth_error(response, "authorization_required")


# Revocation across app instances (workers, restarts)


@pytest.mark.parametrize(
    "method, path, kind",
    [("GET", "/me", "access_token"), ("POST", "/refresh", "refresh_token")],
    ids=["access", "refresh"],
)
def test_logout_holds_in_another_app_instance(
    client, other_client, tokens, method, path, kind
):
    logout(client, tokens["access_token"])

    response = other_client.open(path, method=method, headers=auth_header(tokens[kind]))

    assert_auth_error(response, "token_revoked")


def test_refresh_rotation_holds_in_another_app_instance(client, other_client, tokens):
    refresh(client, tokens["refresh_token"])

    response = refresh(other_client, tokens["refresh_token"])

    assert_auth_error(response, "token_revoked")


def test_unrevoked_token_works_in_another_app_instance(other_client, tokens):
    # Guards the two tests above: the second instance accepts good tokens.
    response = get_me(other_client, tokens["access_token"])

    assert response.status_code == 200


# Expired, forged and malformed tokens


@pytest.mark.parametrize(
    "make, method, path",
    [
        (create_access_token, "GET", "/me"),
        (create_refresh_token, "POST", "/refresh"),
    ],
    ids=["access", "refresh"],
)
def test_expired_token_is_token_expired(app, client, carol, make, method, path):
    with app.app_context():
        token = make(str(carol["id"]), expires_delta=timedelta(seconds=-1))

    response = client.open(path, method=method, headers=auth_header(token))

    assert_auth_error(response, "token_expired")


def test_token_signed_with_another_secret_is_invalid_token(app, client, tokens):
    claims = claims_of(app, tokens["access_token"])
    forged = pyjwt.encode(claims, OTHER_SECRET, algorithm="HS256")

    response = get_me(client, forged)

    assert_auth_error(response, "invalid_token")


def test_token_with_a_tampered_payload_is_invalid_token(app, client, tokens):
    other = register(client, "dave")
    header, _payload, signature = tokens["access_token"].split(".")
    claims = {**claims_of(app, tokens["access_token"]), "sub": str(other["id"])}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")

    response = get_me(client, f"{header}.{payload}.{signature}")

    assert_auth_error(response, "invalid_token")


def test_unsigned_token_is_invalid_token(app, client, tokens):
    claims = claims_of(app, tokens["access_token"])
    unsigned = pyjwt.encode(claims, None, algorithm="none")

    response = get_me(client, unsigned)

    assert_auth_error(response, "invalid_token")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer not-a-token", "Bearer a.b.c", "Bearer abc def"],
    ids=["no-token", "garbage", "three-garbage-parts", "two-tokens"],
)
def test_malformed_bearer_token_is_invalid_token(client, authorization):
    response = client.get("/me", headers={"Authorization": authorization})

    assert_auth_error(response, "invalid_token")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic abc"}, {"Authorization": ""}],
    ids=["no-header", "basic-scheme", "empty-header"],
)
def test_missing_bearer_token_is_authorization_required(client, headers):
    response = client.get("/me", headers=headers)

    assert_auth_error(response, "authorization_required")


def test_non_bearer_scheme_with_a_valid_token_is_authorization_required(client, tokens):
    headers = {"Authorization": f"Token {tokens['access_token']}"}

    response = client.get("/me", headers=headers)

    assert_auth_error(response, "authorization_required")


# Token checks come before everything else


@pytest.mark.parametrize(
    "body",
    [
        {"json": {"name": ""}},
        {"json": {"name": "Shop", "bogus": 1}},
        {"json": {}},
        {"data": "{not json", "content_type": "application/json"},
        {"data": "name=Shop", "content_type": "text/plain"},
    ],
    ids=["empty-name", "unknown-field", "no-name", "invalid-json", "not-json"],
)
@pytest.mark.parametrize(
    "authorization, error",
    [
        (None, "authorization_required"),
        ("Bearer not-a-token", "invalid_token"),
    ],
    ids=["no-token", "bad-token"],
)
def test_token_is_checked_before_the_body(client, body, authorization, error):
    headers = {"Authorization": authorization} if authorization else {}

    response = client.post("/store", headers=headers, **body)

    assert_auth_error(response, error)


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("PUT", "/store/99999", {"name": ""}),
        ("POST", "/item", {"name": "", "price": "x", "store_id": 99999}),
        ("DELETE", "/user/99999", None),
        ("GET", "/user/99999", None),
        ("POST", "/store/99999/tag", {"name": ""}),
    ],
)
def test_token_is_checked_before_the_path_and_body(client, method, path, body):
    response = client.open(path, method=method, json=body)

    assert_auth_error(response, "authorization_required")


def test_revoked_token_is_checked_before_the_body(client, tokens):
    logout(client, tokens["access_token"])

    response = client.post(
        "/store", json={"name": ""}, headers=auth_header(tokens["access_token"])
    )

    assert_auth_error(response, "token_revoked")


# The check is flask-jwt-extended's, in one decode (auth.verify): for every
# header below it raises what `verify_jwt_in_request` raises, with the same
# message, or accepts the same claims.


def forged(app, tokens, **changes) -> str:
    """A token signed with the app's secret: the login's access token with
    `changes` to its claims (None removes a claim)."""
    claims = {**claims_of(app, tokens["access_token"]), **changes}
    claims = {name: value for name, value in claims.items() if value is not None}
    return pyjwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm="HS256")


AUTHORIZATIONS = {
    "none": lambda app, tokens: None,
    "empty": lambda app, tokens: "",
    "commas": lambda app, tokens: " , ",
    "basic": lambda app, tokens: "Basic abc",
    "bearer-alone": lambda app, tokens: "Bearer",
    "lowercase-bearer": lambda app, tokens: "bearer " + tokens["access_token"],
    "two-words": lambda app, tokens: "Bearer abc def",
    "garbage": lambda app, tokens: "Bearer not-a-token",
    "two-parts": lambda app, tokens: "Bearer a.b",
    "bad-base64": lambda app, tokens: "Bearer !!!!.e30.e30",
    "access": lambda app, tokens: "Bearer " + tokens["access_token"],
    "refresh": lambda app, tokens: "Bearer " + tokens["refresh_token"],
    "basic-then-bearer": lambda app, tokens: (
        "Basic x, Bearer " + tokens["access_token"]
    ),
    "two-bearers": lambda app, tokens: (
        f"Bearer {tokens['access_token']}, Bearer {tokens['access_token']}"
    ),
    "padded": lambda app, tokens: "Bearer " + tokens["access_token"] + "==",
    "other-secret": lambda app, tokens: (
        "Bearer " + pyjwt.encode(claims_of(app, tokens["access_token"]), OTHER_SECRET)
    ),
    "unsigned": lambda app, tokens: (
        "Bearer "
        + pyjwt.encode(claims_of(app, tokens["access_token"]), None, algorithm="none")
    ),
    "expired": lambda app, tokens: "Bearer " + forged(app, tokens, exp=1),
    "not-yet-valid": lambda app, tokens: (
        "Bearer " + forged(app, tokens, nbf=4102444800)
    ),
    "no-sub": lambda app, tokens: "Bearer " + forged(app, tokens, sub=None),
    "int-sub": lambda app, tokens: "Bearer " + forged(app, tokens, sub=1),
    "no-type": lambda app, tokens: "Bearer " + forged(app, tokens, type=None),
    "odd-type": lambda app, tokens: "Bearer " + forged(app, tokens, type="other"),
}


def outcome(check):
    """What `check()` raised (its class, message and the claims it carries),
    or the claims it accepted."""
    try:
        return "accepted", check()
    except Exception as error:  # every kind is compared
        return type(error), str(error), getattr(error, "jwt_data", None)


@pytest.mark.parametrize("refresh_view", [False, True], ids=["access", "refresh"])
@pytest.mark.parametrize("name", AUTHORIZATIONS)
def test_the_token_check_is_flask_jwt_extended_s(
    app, carol, tokens, name, refresh_view
):
    authorization = AUTHORIZATIONS[name](app, tokens)
    headers = {} if authorization is None else {"Authorization": authorization}

    def upstream():
        verify_jwt_in_request(refresh=refresh_view)
        return get_jwt()

    def ours():
        return auth.verify(refresh=refresh_view).claims

    with app.test_request_context("/me", headers=headers):
        expected = outcome(upstream)
    with app.test_request_context("/me", headers=headers):
        actual = outcome(ours)

    assert actual == expected


# A read checks its token in its first query (auth.read): each way a token
# stops standing is answered on every read before anything the read found,
# a missing row or a bad query included.

READS = [
    "/item/{item}",
    "/item/99999",
    "/store/{store}",
    "/store/99999",
    "/tag/{tag}",
    "/tag/99999",
    "/item",
    "/item?page=2&page_size=1&sort=-price",
    "/item?page_size=0",
    "/store",
    "/store?sort=bogus",
    "/store/{store}/tag",
    "/store/99999/tag",
    "/me",
]


def logged_out(client, tokens):
    assert logout(client, tokens["access_token"]).status_code == 200
    return "token_revoked"


def logged_out_everywhere(client, tokens):
    headers = auth_header(tokens["access_token"])
    assert client.post("/logout/all", headers=headers).status_code == 200
    return "token_revoked"


def deleted(client, tokens):
    fresh = auth_header(login(client, "carol")["access_token"])
    carol = client.get("/me", headers=fresh).get_json()["id"]
    assert client.delete(f"/user/{carol}", headers=fresh).status_code == 200
    return "user_not_found"


@pytest.fixture
def shop(client, tokens) -> dict:
    headers = auth_header(tokens["access_token"])
    store = create_store(client, headers, "Shop")["id"]
    item = create_item(client, headers, store, "Chair")["id"]
    tag = create_tag(client, headers, store, "t")["id"]
    assert link(client, headers, item, tag).status_code == 201
    return {"store": store, "item": item, "tag": tag}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("ended", [logged_out, logged_out_everywhere, deleted])
@pytest.mark.parametrize("path", READS)
def test_a_read_refuses_a_token_that_no_longer_stands(
    client, tokens, shop, path, ended, method
):
    url = path.format(**shop)
    headers = auth_header(tokens["access_token"])
    before = client.open(url, method=method, headers=headers)
    assert before.status_code in (200, 404, 422), before.get_data(as_text=True)
    error = ended(client, tokens)

    response = client.open(url, method=method, headers=headers)

    assert response.status_code == 401
    if method == "GET":
        assert_auth_error(response, error)
