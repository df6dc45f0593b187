"""Token families (contract, section 3): the tokens of one login and of every refresh
after it are a family, and a rotated refresh token that comes back revokes all of it;
a refresh token revoked by a logout is refused without being taken for a reuse."""

import logging

import pytest
from flask_jwt_extended import create_refresh_token

from tests.helpers import PASSWORD, assert_error, auth_header, login, register

NEW_PASSWORD = "battery staple horse"


@pytest.fixture
def family(client) -> dict:
    """A login of "erin" and one refresh after it: the tokens of both steps."""
    register(client, "erin")
    first = login(client, "erin")
    second = refresh(client, first["refresh_token"]).get_json()
    return {"first": first, "second": second}


@pytest.fixture
def audited(caplog):
    caplog.set_level(logging.INFO, logger="stores.audit")

    def events() -> list[str]:
        return [
            record.getMessage()
            for record in caplog.records
            if record.name == "stores.audit"
        ]

    return events


def refresh(client, refresh_token: str):
    return client.post("/refresh", headers=auth_header(refresh_token))


def me(client, access_token: str):
    return client.get("/me", headers=auth_header(access_token))


def test_a_rotated_refresh_token_presented_again_is_token_revoked(client, family):
    response = refresh(client, family["first"]["refresh_token"])

    assert_error(response, 401, error="token_revoked")


def test_reuse_revokes_the_newest_refresh_token_of_the_family(client, family):
    refresh(client, family["first"]["refresh_token"])

    response = refresh(client, family["second"]["refresh_token"])

    assert_error(response, 401, error="token_revoked")


def test_reuse_revokes_the_access_tokens_of_the_family(client, family):
    refresh(client, family["first"]["refresh_token"])

    for tokens in family.values():
        assert_error(me(client, tokens["access_token"]), 401, error="token_revoked")


def test_reuse_shuts_out_a_thief_who_refreshed_first(client, family):
    # The thief used the stolen refresh token before its owner did.
    thief = refresh(client, family["second"]["refresh_token"]).get_json()

    owner = refresh(client, family["second"]["refresh_token"])

    assert_error(owner, 401, error="token_revoked")
    assert_error(me(client, thief["access_token"]), 401, error="token_revoked")
    assert_error(refresh(client, thief["refresh_token"]), 401, error="token_revoked")


def test_reuse_leaves_other_logins_of_the_user_valid(client, family):
    other = login(client, "erin")

    refresh(client, family["first"]["refresh_token"])

    assert me(client, other["access_token"]).status_code == 200
    assert refresh(client, other["refresh_token"]).status_code == 200


def test_reuse_is_audited_once(client, family, audited):
    refresh(client, family["first"]["refresh_token"])

    assert audited().count("refresh_token_reused") == 1


def test_a_new_login_after_reuse_starts_a_family_that_works(client, family):
    refresh(client, family["first"]["refresh_token"])

    tokens = login(client, "erin")

    assert me(client, tokens["access_token"]).status_code == 200
    rotated = refresh(client, tokens["refresh_token"])
    assert rotated.status_code == 200
    assert me(client, rotated.get_json()["access_token"]).status_code == 200


def test_refresh_after_logout_is_refused_and_not_taken_for_reuse(client, audited):
    register(client, "erin")
    tokens = login(client, "erin")
    client.post("/logout", headers=auth_header(tokens["access_token"]))
    other = login(client, "erin")

    response = refresh(client, tokens["refresh_token"])

    assert_error(response, 401, error="token_revoked")
    assert "refresh_token_reused" not in audited()
    assert me(client, other["access_token"]).status_code == 200


@pytest.mark.parametrize("revoke_all", ["logout-all", "password-change"])
def test_refresh_after_revoking_every_token_is_not_taken_for_reuse(
    client, audited, revoke_all
):
    register(client, "erin")
    tokens = login(client, "erin")
    headers = auth_header(tokens["access_token"])
    if revoke_all == "logout-all":
        assert client.post("/logout/all", headers=headers).status_code == 200
    else:
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert client.put("/me/password", json=body, headers=headers).status_code == 200

    response = refresh(client, tokens["refresh_token"])

    assert_error(response, 401, error="token_revoked")
    assert "refresh_token_reused" not in audited()


def test_reuse_of_a_token_issued_before_families_revokes_what_it_was_refreshed_into(
    app, client
):
    user = register(client, "erin")
    with app.app_context():
        # As tokens were issued before families: no `fam` claim.
        legacy = create_refresh_token(str(user["id"]), additional_claims={"gen": 0})
    rotated = refresh(client, legacy).get_json()

    reused = refresh(client, legacy)

    assert_error(reused, 401, error="token_revoked")
    assert_error(me(client, rotated["access_token"]), 401, error="token_revoked")
    assert_error(refresh(client, rotated["refresh_token"]), 401, error="token_revoked")
