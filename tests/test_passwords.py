"""Password hashing: argon2 for new hashes, older pbkdf2_sha256 hashes verify and are
upgraded at the next successful login, and an unknown username costs as much as a
wrong password."""

import statistics
import time

import pytest
from passlib.hash import argon2, pbkdf2_sha256
from sqlalchemy import select, update

from db import db
from models import UserModel
from tests.helpers import PASSWORD, assert_error, register

PRODUCTION_ARGON2 = {
    "ARGON2_MEMORY_COST": 19 * 1024,
    "ARGON2_TIME_COST": 2,
    "ARGON2_PARALLELISM": 1,
}


def stored_hash(app, username: str) -> str:
    with app.app_context():
        return db.session.scalar(
            select(UserModel.password_hash).where(UserModel.username == username)
        )


def store_hash(app, username: str, password_hash: str) -> None:
    with app.app_context():
        db.session.execute(
            update(UserModel)
            .where(UserModel.username == username)
            .values(password_hash=password_hash)
        )
        db.session.commit()


def log_in(client, username: str, password: str = PASSWORD):
    return client.post("/login", json={"username": username, "password": password})


@pytest.fixture
def legacy_hash(app, client) -> str:
    """dave, whose password is stored as a pbkdf2_sha256 hash (as before argon2)."""
    register(client, "dave")
    password_hash = pbkdf2_sha256.hash(PASSWORD)
    store_hash(app, "dave", password_hash)
    return password_hash


def test_new_passwords_are_hashed_with_argon2(app, client):
    register(client, "dave")

    password_hash = stored_hash(app, "dave")

    assert password_hash.startswith("$argon2")
    assert argon2.verify(PASSWORD, password_hash)


def test_argon2_hashes_have_the_configured_cost(make_app):
    app = make_app(**PRODUCTION_ARGON2)
    register(app.test_client(), "dave")

    parameters = argon2.from_string(stored_hash(app, "dave"))

    assert (parameters.memory_cost, parameters.rounds, parameters.parallelism) == (
        19 * 1024,
        2,
        1,
    )


def test_pbkdf2_hash_still_logs_in(client, legacy_hash):
    response = log_in(client, "dave")

    assert response.status_code == 200


def test_pbkdf2_hash_is_replaced_by_argon2_at_a_successful_login(
    app, client, legacy_hash
):
    log_in(client, "dave")

    password_hash = stored_hash(app, "dave")
    assert password_hash.startswith("$argon2")
    assert argon2.verify(PASSWORD, password_hash)


def test_pbkdf2_hash_is_kept_after_a_failed_login(app, client, legacy_hash):
    response = log_in(client, "dave", "not the password")

    assert_error(response, 401)
    assert stored_hash(app, "dave") == legacy_hash


def test_upgraded_hash_logs_in(client, legacy_hash):
    log_in(client, "dave")

    response = log_in(client, "dave")

    assert response.status_code == 200


def test_unknown_username_takes_as_long_as_a_wrong_password(backend, make_app):
    if backend != "sqlite":
        pytest.skip("timed on SQLite only, where the database adds the least noise")
    client = make_app(**PRODUCTION_ARGON2).test_client()
    register(client, "dave")
    attempts = {
        "wrong password": {"username": "dave", "password": "not the password"},
        "unknown user": {"username": "nobody", "password": "not the password"},
    }
    for body in attempts.values():  # warm-up: the first of each may do extra work
        assert client.post("/login", json=body).status_code == 401
    durations = {kind: [] for kind in attempts}

    for _ in range(15):
        for kind, body in attempts.items():
            started = time.perf_counter()
            response = client.post("/login", json=body)
            durations[kind].append(time.perf_counter() - started)
            assert response.status_code == 401

    medians = sorted(statistics.median(times) for times in durations.values())
    assert medians[1] <= medians[0] * 1.25, durations
