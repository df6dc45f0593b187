"""Command-line tasks: `flask users create-admin`, `flask tokens prune` and
`flask prune` (contract 3, 5)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from db import db
from models import RevokedTokenModel, UserModel
from tests.helpers import (
    PASSWORD,
    assert_error,
    auth_header,
    create_store,
    login,
    register,
)
from tests.test_jobs import leave_one_expired_of_each

NEW_PASSWORD = "a different passphrase"


def create_admin(runner, *args: str, input: str | None = None):
    return runner.invoke(args=["users", "create-admin", *args], input=input)


def users_in_db(app) -> list[tuple[str, bool]]:
    with app.app_context():
        users = db.session.scalars(select(UserModel).order_by(UserModel.id))
        return [(user.username, user.is_admin) for user in users]


def me(client, username: str, password: str = PASSWORD) -> dict:
    headers = auth_header(login(client, username, password)["access_token"])
    return client.get("/me", headers=headers).get_json()


def login_fails(client, username: str, password: str) -> bool:
    response = client.post("/login", json={"username": username, "password": password})
    return response.status_code == 401


# flask users create-admin


def test_create_admin_with_password_creates_an_admin_who_can_log_in(client, runner):
    result = create_admin(runner, "root", "--password", PASSWORD)

    assert result.exit_code == 0, result.output
    user = me(client, "root")
    assert user["username"] == "root"
    assert user["is_admin"] is True


def test_created_admin_can_delete_a_store(client, runner, user_headers):
    store = create_store(client, user_headers, "Corner Shop")
    create_admin(runner, "root", "--password", PASSWORD)
    headers = auth_header(login(client, "root")["access_token"])

    response = client.delete(f"/store/{store['id']}", headers=headers)

    assert response.status_code == 200
    assert response.get_json() == {"message": "Store deleted."}
    assert_error(client.get(f"/store/{store['id']}", headers=headers), 404)


def test_create_admin_trims_the_username(app, runner):
    result = create_admin(runner, "  root  ", "--password", PASSWORD)

    assert result.exit_code == 0, result.output
    assert users_in_db(app) == [("root", True)]


def test_create_admin_without_password_prompts_with_confirmation(client, runner):
    result = create_admin(runner, "root", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert "confirm" in result.output.lower()
    assert me(client, "root")["is_admin"] is True


def test_create_admin_prompt_hides_the_password(runner):
    result = create_admin(runner, "root", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output


def test_create_admin_prompt_refuses_mismatched_confirmation(app, runner):
    result = create_admin(runner, "root", input=f"{PASSWORD}\n{NEW_PASSWORD}\n")

    assert result.exit_code != 0
    assert "match" in result.output
    assert users_in_db(app) == []


def test_create_admin_on_existing_user_grants_admin(app, client, runner):
    register(client, "carol")

    result = create_admin(runner, "carol")

    assert result.exit_code == 0, result.output
    assert users_in_db(app) == [("carol", True)]


def test_create_admin_on_existing_user_keeps_the_password_without_option(
    client, runner
):
    register(client, "carol")

    result = create_admin(runner, "carol")

    assert result.exit_code == 0, result.output
    assert "Password" not in result.output
    assert me(client, "carol")["is_admin"] is True


def test_create_admin_on_existing_user_sets_the_given_password(client, runner):
    register(client, "carol")

    result = create_admin(runner, "carol", "--password", NEW_PASSWORD)

    assert result.exit_code == 0, result.output
    assert me(client, "carol", NEW_PASSWORD)["is_admin"] is True
    assert login_fails(client, "carol", PASSWORD)


def test_create_admin_finds_an_existing_user_in_any_case(app, client, runner):
    register(client, "Carol")

    result = create_admin(runner, "CAROL")

    assert result.exit_code == 0, result.output
    assert users_in_db(app) == [("Carol", True)]


@pytest.mark.parametrize(
    "username",
    ["ab", "a" * 81, "bad name", "bad@name", "   "],
    ids=["2-chars", "81-chars", "space", "at", "blank"],
)
def test_create_admin_refuses_an_invalid_username(app, runner, username):
    result = create_admin(runner, username, "--password", PASSWORD)

    assert result.exit_code != 0
    assert "username" in result.output
    assert users_in_db(app) == []


@pytest.mark.parametrize(
    "password", ["x" * 7, "x" * 129, ""], ids=["7-chars", "129-chars", "empty"]
)
def test_create_admin_refuses_an_invalid_password(app, runner, password):
    result = create_admin(runner, "root", "--password", password)

    assert result.exit_code != 0
    assert "password" in result.output
    assert users_in_db(app) == []


def test_create_admin_refuses_an_invalid_prompted_password(app, runner):
    result = create_admin(runner, "root", input="short\nshort\n")

    assert result.exit_code != 0
    assert "password" in result.output
    assert users_in_db(app) == []


def test_create_admin_with_invalid_password_leaves_existing_user_unchanged(
    app, client, runner
):
    register(client, "carol")

    result = create_admin(runner, "carol", "--password", "short")

    assert result.exit_code != 0
    assert "password" in result.output
    assert users_in_db(app) == [("carol", False)]
    assert me(client, "carol")["is_admin"] is False


# flask tokens prune


def add_revoked(app, **expires_at: datetime) -> None:
    with app.app_context():
        for jti, when in expires_at.items():
            db.session.add(RevokedTokenModel(jti=jti, expires_at=when))
        db.session.commit()


def revoked_jtis(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(RevokedTokenModel.jti)))


def printed_count(output: str) -> int:
    numbers = re.findall(r"\d+", output)
    assert len(numbers) == 1, output
    return int(numbers[0])


def test_prune_deletes_only_entries_that_have_expired(app, runner):
    now = datetime.now(UTC)
    add_revoked(
        app,
        expired_long_ago=now - timedelta(days=40),
        expired_recently=now - timedelta(minutes=1),
        expires_soon=now + timedelta(minutes=1),
        expires_later=now + timedelta(days=30),
    )

    result = runner.invoke(args=["tokens", "prune"])

    assert result.exit_code == 0, result.output
    assert revoked_jtis(app) == {"expires_soon", "expires_later"}


def test_prune_prints_how_many_entries_it_deleted(app, runner):
    now = datetime.now(UTC)
    add_revoked(
        app,
        gone_1=now - timedelta(days=2),
        gone_2=now - timedelta(hours=1),
        gone_3=now - timedelta(seconds=30),
        kept=now + timedelta(hours=1),
    )

    result = runner.invoke(args=["tokens", "prune"])

    assert result.exit_code == 0, result.output
    assert printed_count(result.output) == 3


def test_prune_with_nothing_expired_deletes_nothing(app, runner):
    add_revoked(app, kept=datetime.now(UTC) + timedelta(hours=1))

    result = runner.invoke(args=["tokens", "prune"])

    assert result.exit_code == 0, result.output
    assert printed_count(result.output) == 0
    assert revoked_jtis(app) == {"kept"}


def test_prune_keeps_logged_out_tokens_revoked(client, runner):
    register(client, "carol")
    tokens = login(client, "carol")
    client.post("/logout", headers=auth_header(tokens["access_token"]))

    runner.invoke(args=["tokens", "prune"])

    response = client.get("/me", headers=auth_header(tokens["access_token"]))
    assert_error(response, 401, error="token_revoked")
    response = client.post("/refresh", headers=auth_header(tokens["refresh_token"]))
    assert_error(response, 401, error="token_revoked")


# flask prune


def test_prune_deletes_what_the_daily_jobs_delete_and_says_how_much(make_app):
    app = leave_one_expired_of_each(make_app)

    first = app.test_cli_runner().invoke(args=["prune"])
    again = app.test_cli_runner().invoke(args=["prune"])

    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [
        "Pruned 1 expired blocklist entries.",
        "Pruned 1 expired idempotency keys.",
        "Pruned 1 tombstones of the changes feed.",
    ]
    assert [printed_count(line) for line in again.output.splitlines()] == [0, 0, 0]
