"""Accounts by email (contract section 7), with the jobs run in the API process
(no broker, as `make run` has it) and delivered to a real SMTP server.

Each email is awaited as the SMTP server accepts it; jobs run one at a time
in the order they were queued, so once a later email arrived, every job
queued before it has run (how "no email" is shown without waiting).
tests/test_jobs.py runs the same jobs in a real Celery worker.
"""

import logging
import threading
import time
from datetime import timedelta

import pytest
from itsdangerous.timed import TimestampSigner

import jobs
from tests.helpers import PASSWORD, assert_error, auth_header, login
from tests.mailbox import Mailbox

APP_URL = "https://stores.example.com"
NEW_PASSWORD = "battery staple horse"
FORGOT_ANSWER = {
    "message": "If that address belongs to a verified account, a reset email is on its way."
}


@pytest.fixture(scope="module")
def mailbox():
    server = Mailbox()
    yield server
    server.close()


@pytest.fixture
def app(make_app, mailbox):
    app = make_app(SMTP_URL=mailbox.url, APP_URL=APP_URL, EMAIL_RETRY_DELAY=1)
    yield app
    jobs.drain(timeout=30)
    while not mailbox.handler.accepted.empty():  # a test that failed midway
        mailbox.handler.accepted.get()
    mailbox.refuse(0)


def register(client, username: str, email: str | None) -> dict:
    body = {"username": username, "password": PASSWORD}
    if email is not None:
        body["email"] = email
    response = client.post("/register", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def verified(client, mailbox, username: str, email: str) -> dict:
    """A registered user whose address is verified; the tokens of a login."""
    register(client, username, email)
    token = mailbox.next().token
    assert client.post("/email/verify", json={"token": token}).status_code == 200
    return login(client, username)


def forgot(client, email: str):
    response = client.post("/password/forgot", json={"email": email})
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == FORGOT_ANSWER
    return response


def later_timestamp(monkeypatch, seconds: float) -> None:
    """Tokens are read as if `seconds` had passed since they were issued."""
    now = time.time()
    monkeypatch.setattr(
        TimestampSigner, "get_timestamp", lambda self: int(now + seconds)
    )


def test_register_with_an_email_sends_a_verification_that_verifies(client, mailbox):
    user = register(client, "alice", "Alice@Example.com")
    assert user["email"] == "Alice@Example.com"
    assert user["email_verified"] is False

    mail = mailbox.next()
    assert mail.to == ["Alice@Example.com"]
    assert mail.subject == "Confirm your email address"
    assert mail.link.startswith(f"{APP_URL}/email/verify?token=")
    response = client.post("/email/verify", json={"token": mail.token})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["email_verified"] is True
    me = client.get("/me", headers=auth_header(login(client, "alice")["access_token"]))
    assert me.get_json()["email_verified"] is True


def test_register_without_an_email_sends_nothing(client, mailbox):
    user = register(client, "alice", None)
    register(client, "bob", "bob@example.com")

    assert user["email"] is None and user["email_verified"] is False
    assert mailbox.next().to == ["bob@example.com"]
    mailbox.assert_empty()


def test_a_verification_token_works_once(client, mailbox):
    register(client, "alice", "alice@example.com")
    token = mailbox.next().token
    assert client.post("/email/verify", json={"token": token}).status_code == 200

    again = client.post("/email/verify", json={"token": token})

    body = assert_error(again, 422)
    assert "token" in body["errors"]["json"]


def test_a_verification_token_is_void_once_the_address_changes(client, mailbox):
    register(client, "alice", "old@example.com")
    old_token = mailbox.next().token
    headers = auth_header(login(client, "alice")["access_token"])

    changed = client.put(
        "/me/email", json={"email": "new@example.com"}, headers=headers
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["email"] == "new@example.com"
    new_mail = mailbox.next()

    assert new_mail.to == ["new@example.com"]
    assert_error(client.post("/email/verify", json={"token": old_token}), 422)
    assert (
        client.post("/email/verify", json={"token": new_mail.token}).status_code == 200
    )


def test_a_verification_token_expires_after_24_hours(client, mailbox, monkeypatch):
    register(client, "alice", "alice@example.com")
    token = mailbox.next().token

    later_timestamp(monkeypatch, timedelta(hours=24, seconds=2).total_seconds())

    assert_error(client.post("/email/verify", json={"token": token}), 422)


@pytest.mark.parametrize(
    "token",
    ["", "not-a-token", "eyJhbGciOiJIUzI1NiJ9.e30.sig", "x" * 1001],
)
def test_a_bad_verification_token_is_a_422_on_token(client, token):
    body = assert_error(client.post("/email/verify", json={"token": token}), 422)
    assert "token" in body["errors"]["json"]


def test_a_reset_token_is_no_verification_token(client, mailbox):
    tokens = verified(client, mailbox, "alice", "alice@example.com")
    assert tokens
    forgot(client, "alice@example.com")
    reset_token = mailbox.next().token

    assert_error(client.post("/email/verify", json={"token": reset_token}), 422)


def test_a_taken_email_is_a_409_in_any_letter_case(client, mailbox):
    register(client, "alice", "alice@example.com")

    response = client.post(
        "/register",
        json={"username": "bob", "password": PASSWORD, "email": "ALICE@example.com"},
    )

    assert_error(response, 409, "A user with that email address already exists.")


def test_a_taken_username_is_still_told_as_such(client):
    register(client, "alice", "alice@example.com")

    response = client.post(
        "/register",
        json={"username": "ALICE", "password": PASSWORD, "email": "other@example.com"},
    )

    assert_error(response, 409, "A user with that username already exists.")


def test_changing_to_a_taken_email_is_a_409(client, mailbox):
    register(client, "alice", "alice@example.com")
    register(client, "bob", None)
    headers = auth_header(login(client, "bob")["access_token"])

    response = client.put(
        "/me/email", json={"email": "Alice@Example.com"}, headers=headers
    )

    assert_error(response, 409, "A user with that email address already exists.")


@pytest.mark.parametrize(
    "email",
    ["", "not an address", "@example.com", "a@", "a" * 245 + "@example.com", 7],
)
def test_an_invalid_email_is_a_422(client, email):
    response = client.post(
        "/register", json={"username": "alice", "password": PASSWORD, "email": email}
    )

    body = assert_error(response, 422)
    assert "email" in body["errors"]["json"]


def test_changing_the_email_needs_a_fresh_token(client):
    register(client, "alice", None)
    refresh = login(client, "alice")["refresh_token"]
    stale = client.post("/refresh", headers=auth_header(refresh)).get_json()

    response = client.put(
        "/me/email",
        json={"email": "alice@example.com"},
        headers=auth_header(stale["access_token"]),
    )

    assert_error(response, 401, error="fresh_token_required")


def test_the_verified_address_sent_again_changes_nothing(client, mailbox):
    tokens = verified(client, mailbox, "alice", "alice@example.com")

    response = client.put(
        "/me/email",
        json={"email": "alice@example.com"},
        headers=auth_header(tokens["access_token"]),
    )

    assert response.get_json()["email_verified"] is True
    forgot(
        client, "alice@example.com"
    )  # the next email is the reset, not a verification
    assert mailbox.next().subject == "Reset your password"


def test_forgot_answers_the_same_for_any_address_and_mails_only_verified_ones(
    client, mailbox
):
    verified(client, mailbox, "alice", "alice@example.com")
    register(client, "bob", "bob@example.com")  # never verified
    assert mailbox.next().to == ["bob@example.com"]

    unknown = forgot(client, "nobody@example.com")
    unverified = forgot(client, "bob@example.com")
    known = forgot(client, "ALICE@example.com")

    assert unknown.data == unverified.data == known.data
    mail = mailbox.next()
    assert mail.to == ["alice@example.com"]
    assert mail.subject == "Reset your password"
    assert mail.link.startswith(f"{APP_URL}/password/reset?token=")
    jobs.drain(timeout=30)
    mailbox.assert_empty()


def test_a_reset_revokes_every_token_and_the_new_password_logs_in(client, mailbox):
    tokens = verified(client, mailbox, "alice", "alice@example.com")
    forgot(client, "alice@example.com")
    token = mailbox.next().token

    response = client.post(
        "/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"message": "Password changed."}
    access = auth_header(tokens["access_token"])
    assert_error(client.get("/me", headers=access), 401, error="token_revoked")
    refresh = auth_header(tokens["refresh_token"])
    assert_error(client.post("/refresh", headers=refresh), 401, error="token_revoked")
    assert login(client, "alice", NEW_PASSWORD)["access_token"]
    old = client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert_error(old, 401)
    notice = mailbox.next()
    assert notice.subject == "Your password was changed"
    assert notice.to == ["alice@example.com"]


def test_a_reset_token_works_once(client, mailbox):
    verified(client, mailbox, "alice", "alice@example.com")
    forgot(client, "alice@example.com")
    token = mailbox.next().token
    body = {"token": token, "new_password": NEW_PASSWORD}
    assert client.post("/password/reset", json=body).status_code == 200

    again = client.post(
        "/password/reset", json={**body, "new_password": "a third one!"}
    )

    assert "token" in assert_error(again, 422)["errors"]["json"]
    assert login(client, "alice", NEW_PASSWORD)


def test_a_reset_token_is_void_once_the_password_changes(client, mailbox):
    tokens = verified(client, mailbox, "alice", "alice@example.com")
    forgot(client, "alice@example.com")
    token = mailbox.next().token
    changed = client.put(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=auth_header(tokens["access_token"]),
    )
    assert changed.status_code == 200
    assert mailbox.next().subject == "Your password was changed"

    response = client.post(
        "/password/reset", json={"token": token, "new_password": "a third one!"}
    )

    assert_error(response, 422)
    assert login(client, "alice", NEW_PASSWORD)


def test_a_reset_token_expires_after_30_minutes(client, mailbox, monkeypatch):
    verified(client, mailbox, "alice", "alice@example.com")
    forgot(client, "alice@example.com")
    token = mailbox.next().token

    later_timestamp(monkeypatch, timedelta(minutes=30, seconds=2).total_seconds())
    response = client.post(
        "/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert_error(response, 422)
    assert login(client, "alice", PASSWORD)


def test_a_reset_with_a_short_password_is_a_422_on_new_password(client):
    response = client.post(
        "/password/reset", json={"token": "whatever", "new_password": "short"}
    )

    assert "new_password" in assert_error(response, 422)["errors"]["json"]


def test_an_email_the_smtp_server_refuses_is_delivered_after_it_recovers(
    client, mailbox
):
    refused_before = mailbox.refused
    mailbox.refuse(2)
    sent = time.monotonic()

    register(client, "alice", "alice@example.com")
    mail = mailbox.next(timeout=30)

    # Refused twice, then accepted after waits of 1 s and 2 s (EMAIL_RETRY_DELAY=1).
    assert mailbox.refused - refused_before == 2
    assert mail.received_at - sent >= 3
    assert mail.to == ["alice@example.com"]


def test_without_smtp_the_email_is_written_to_the_log(make_app, caplog, monkeypatch):
    client = make_app(APP_URL=APP_URL).test_client()
    monkeypatch.setattr(logging.getLogger("stores.mail"), "handlers", [caplog.handler])

    register(client, "alice", "alice@example.com")
    jobs.drain(timeout=30)

    logged = [r.getMessage() for r in caplog.records if r.name == "stores.mail"]
    assert len(logged) == 1
    assert "To: alice@example.com" in logged[0]
    assert f"{APP_URL}/email/verify?token=" in logged[0]


class Recorder(logging.Handler):
    """Keeps the records of a logger, and tells when one of `level` came."""

    def __init__(self, level: int):
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.came = threading.Event()
        self.wanted = level

    def emit(self, record):
        self.records.append(record)
        if record.levelno >= self.wanted:
            self.came.set()


def test_an_email_refused_past_its_retries_is_given_up_with_an_error(
    make_app, mailbox, monkeypatch
):
    client = make_app(SMTP_URL=mailbox.url, EMAIL_RETRIES=1, EMAIL_RETRY_DELAY=1)
    client = client.test_client()
    recorder = Recorder(logging.ERROR)
    monkeypatch.setattr(logging.getLogger("stores.jobs"), "handlers", [recorder])
    refused_before = mailbox.refused
    mailbox.refuse(5)

    register(client, "alice", "alice@example.com")

    assert recorder.came.wait(30), "no error was logged"
    error = [r for r in recorder.records if r.levelno == logging.ERROR]
    assert [r.getMessage().split(":")[0] for r in error] == [
        "Gave up on jobs.send_verification to a***@example.com after 2 tries"
    ]
    assert mailbox.refused - refused_before == 2
    mailbox.assert_empty()


def test_account_events_are_audited_without_tokens_or_full_addresses(
    client, mailbox, caplog
):
    caplog.set_level(logging.INFO)
    register(client, "alice", "alice@example.com")
    verify_token = mailbox.next().token
    client.post("/email/verify", json={"token": verify_token})
    forgot(client, "alice@example.com")
    reset_token = mailbox.next().token
    client.post(
        "/password/reset", json={"token": reset_token, "new_password": NEW_PASSWORD}
    )
    mailbox.next()  # the notice

    lines = [
        (record.getMessage(), getattr(record, "email", None))
        for record in caplog.records
        if record.name == "stores.audit"
    ]
    assert lines == [
        ("email_changed", "a***@example.com"),
        ("email_verified", "a***@example.com"),
        ("password_reset_requested", "a***@example.com"),
        ("password_reset", None),
    ]
    # Of the API's own lines and Celery's (not the test SMTP server's).
    ours = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("stores.", "celery."))
    )
    for secret in (verify_token, reset_token, "alice@example.com"):
        assert secret not in ours
