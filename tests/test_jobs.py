"""Background jobs in a real Celery worker (`celery -A worker worker`, started by
the test) over a real broker, delivering to a real SMTP server.

The API (a test client) only enqueues, into a queue of the test's own on the
machine's Redis (keys under a prefix of the test's own) or RabbitMQ; the
worker shares the test's database. Times from request to delivered email
are printed (`pytest -s` shows them).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kombu import Connection
from sqlalchemy import select, update

import blocklist
import jobs
from db import db
from models import IdempotencyKeyModel, RevokedTokenModel
from tests.backends import REDIS_URL, delete_keys, redis_server, unreachable
from tests.conftest import SECRET
from tests.helpers import PASSWORD, assert_error, auth_header, login, signed_in
from tests.mailbox import Mailbox
from tests.servers import ROOT

pytestmark = pytest.mark.slow

RABBITMQ_URL = os.environ.get(
    "TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"
)
APP_URL = "https://stores.example.com"
NEW_PASSWORD = "battery staple horse"


class Worker:
    """`celery -A worker worker` with one process, in a session of its own."""

    def __init__(self, env: dict, log_path: Path):
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.write_text("")
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "worker", "worker"]
                + ["--concurrency=1", "--loglevel=INFO", "--without-mingle"]
                + ["--without-gossip", f"--hostname=test-{uuid.uuid4().hex[:8]}@%h"],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while " ready." not in self.log_path.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{self.log()}")
            time.sleep(0.1)  # polling for start-up, not waiting out a race

    def kill(self) -> None:
        """SIGKILL to the worker and its pool: no shutdown, no acknowledgement."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # warm shutdown
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text()


@pytest.fixture(scope="module")
def mailbox():
    server = Mailbox()
    yield server
    server.close()


@pytest.fixture
def broker(request):
    """The broker URL, and the queue and key prefix of this test alone."""
    kind = getattr(request, "param", "redis")
    queue = f"stores-test-{uuid.uuid4().hex}"
    prefix = f"stores-test:{uuid.uuid4().hex}:"
    if kind == "redis":
        client = redis_server()
        yield {
            "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_QUEUE": queue,
            "REDIS_KEY_PREFIX": prefix,
        }
        delete_keys(client, prefix)
        client.close()
        return
    connection = Connection(RABBITMQ_URL, connect_timeout=5)
    try:
        connection.ensure_connection(max_retries=1)
    except Exception as error:
        unreachable("RabbitMQ", RABBITMQ_URL, error)
    yield {"CELERY_BROKER_URL": RABBITMQ_URL, "CELERY_QUEUE": queue}
    connection.default_channel.queue_delete(queue)
    connection.close()


@pytest.fixture
def settings(app_config, broker, mailbox):
    """What the API and the worker are both configured with."""
    return {
        **app_config,
        **broker,
        "SMTP_URL": mailbox.url,
        "APP_URL": APP_URL,
        "EMAIL_RETRY_DELAY": 1,
    }


@pytest.fixture
def client(make_app, settings, mailbox):
    app = make_app(
        **{k: v for k, v in settings.items() if k != "SQLALCHEMY_DATABASE_URI"}
    )
    yield app.test_client()
    while not mailbox.handler.accepted.empty():  # a test that failed midway
        mailbox.handler.accepted.get()
    mailbox.refuse(0)


@pytest.fixture
def worker(settings, tmp_path):
    env = {
        "JWT_SECRET_KEY": SECRET,
        "DATABASE_URL": settings["SQLALCHEMY_DATABASE_URI"],
        **{k: str(v) for k, v in settings.items() if k != "SQLALCHEMY_DATABASE_URI"},
    }
    worker = Worker(env, tmp_path / "worker.log")
    yield worker
    worker.stop()


def register(client, username: str, email: str) -> float:
    """Registers; returns when the request was sent (time.monotonic())."""
    sent = time.monotonic()
    body = {"username": username, "password": PASSWORD, "email": email}
    response = client.post("/register", json=body)
    assert response.status_code == 201, response.get_json()
    return sent


def forgot(client, email: str) -> float:
    sent = time.monotonic()
    response = client.post("/password/forgot", json={"email": email})
    assert response.status_code == 202, response.get_json()
    return sent


def report(what: str, sent: float, mail) -> None:
    print(f"\n{what}: delivered {mail.received_at - sent:.2f} s after the request")


def test_a_worker_sends_the_verification_that_verifies(client, worker, mailbox):
    worker.start()

    sent = register(client, "alice", "alice@example.com")
    mail = mailbox.next(timeout=30)
    report("verification", sent, mail)
    response = client.post("/email/verify", json={"token": mail.token})

    assert mail.to == ["alice@example.com"]
    assert response.status_code == 200
    assert response.get_json()["email_verified"] is True
    assert "jobs.send_verification sent to a***@example.com" in worker.log()


def test_a_worker_sends_the_reset_and_the_notice(client, worker, mailbox):
    worker.start()
    register(client, "alice", "alice@example.com")
    client.post("/email/verify", json={"token": mailbox.next(timeout=30).token})
    tokens = login(client, "alice")

    forgot(client, "nobody@example.com")
    sent = forgot(client, "alice@example.com")
    reset = mailbox.next(timeout=30)
    report("reset", sent, reset)
    body = {"token": reset.token, "new_password": NEW_PASSWORD}
    response = client.post("/password/reset", json=body)
    notice = mailbox.next(timeout=30)

    assert reset.subject == "Reset your password"
    assert response.status_code == 200
    assert notice.subject == "Your password was changed"
    assert_error(
        client.get("/me", headers=auth_header(tokens["access_token"])),
        401,
        error="token_revoked",
    )
    assert login(client, "alice", NEW_PASSWORD)
    assert_error(client.post("/password/reset", json=body), 422)
    # One worker process runs jobs in order: the unknown address's job ran
    # before the reset's, and sent nothing.
    mailbox.assert_empty()


def test_with_the_worker_stopped_the_request_still_answers_and_the_email_waits(
    client, worker, mailbox
):
    sent = register(client, "alice", "alice@example.com")
    answered = time.monotonic()
    mailbox.assert_empty()  # nothing can have sent it: no worker runs

    worker.start()
    mail = mailbox.next(timeout=30)

    print(f"\nanswered in {answered - sent:.3f} s with no worker running")
    report("verification queued while no worker ran", sent, mail)
    assert mail.to == ["alice@example.com"]


def test_an_email_the_smtp_server_refuses_is_retried_until_delivered(
    client, worker, mailbox
):
    worker.start()
    refused_before = mailbox.refused
    mailbox.refuse(2)

    sent = register(client, "alice", "alice@example.com")
    mail = mailbox.next(timeout=60)

    report("verification refused twice", sent, mail)
    assert mailbox.refused - refused_before == 2
    assert mail.received_at - sent >= 3  # waits of 1 s and 2 s
    assert worker.log().count("jobs.send_verification to a***@example.com failed") == 2


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
def test_a_job_whose_worker_is_killed_midway_is_sent_by_the_next(
    client, worker, mailbox
):
    worker.start()
    mailbox.hold()
    sent = register(client, "alice", "alice@example.com")
    mailbox.wait_until_held()

    worker.kill()  # mid-job: the SMTP server has the email, not yet accepted
    mailbox.release()
    worker.start()
    mail = mailbox.next(timeout=60)

    report("verification whose first worker was killed", sent, mail)
    assert mail.to == ["alice@example.com"]


def test_without_a_broker_jobs_run_in_the_api_process(make_app, mailbox):
    client = make_app(SMTP_URL=mailbox.url).test_client()

    register(client, "alice", "alice@example.com")
    jobs.drain(timeout=30)

    assert mailbox.next(timeout=1).to == ["alice@example.com"]


def test_an_unreachable_broker_answers_forgot_503(make_app, caplog):
    client = make_app(CELERY_BROKER_URL="redis://127.0.0.1:1/0").test_client()

    response = client.post("/password/forgot", json={"email": "alice@example.com"})

    assert_error(response, 503)


def test_a_worker_prunes_expired_revocations_when_beat_sends_the_job(client, worker):
    app = client.application
    now = datetime.now(UTC)
    with app.app_context():
        blocklist.revoke("expired-token", now - timedelta(minutes=1))
        blocklist.revoke("live-token", now + timedelta(hours=1))
    worker.start()

    with app.app_context():
        jobs.enqueue("prune_revocations")  # what beat sends, daily
    deadline = time.monotonic() + 30
    while "Pruned 1 expired revocation records" not in worker.log():
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.1)  # polling for the job's log line, not waiting out a race

    with app.app_context():
        kept = db.session.scalars(select(RevokedTokenModel.jti)).all()
    assert kept == ["live-token"]


def test_beat_schedules_the_pruning_of_revocations_daily(app):
    schedule = app.extensions["celery"].conf.beat_schedule

    assert schedule["prune-revocations"]["task"] == "jobs.prune_revocations"
    assert schedule["prune-revocations"]["schedule"].total_seconds() == 24 * 3600


def leave_one_expired_of_each(make_app):
    """An app holding one expired thing of each kind the daily prunes remove
    (a revocation, an idempotency key, a tombstone past its retention) beside
    ones that stay."""
    app = make_app(CHANGES_RETENTION_DAYS=0)
    client = app.test_client()
    headers = signed_in(client, "ann")
    keyed = {**headers, "Idempotency-Key": "k1"}
    store = client.post("/store", json={"name": "Gone"}, headers=keyed).get_json()
    client.post("/store", json={"name": "Kept"}, headers=headers)
    client.delete(f"/store/{store['id']}", headers=headers)  # a tombstone
    now = datetime.now(UTC)
    with app.app_context():
        blocklist.revoke("expired-token", now - timedelta(minutes=1))
        db.session.execute(
            update(IdempotencyKeyModel).values(expires_at=now - timedelta(minutes=1))
        )
        db.session.commit()
    return app


def test_the_daily_prunes_run_as_jobs(make_app):
    """What beat sends daily, run in the API process: each prune removes what
    has expired, and only that."""
    app = leave_one_expired_of_each(make_app)
    with app.app_context():
        celery = app.extensions["celery"]
        pruned = {
            name: celery.tasks[f"jobs.{name}"].apply().get()
            for name in ("prune_revocations", "prune_changes", "prune_idempotency_keys")
        }

    assert pruned == {
        "prune_revocations": 1,
        "prune_changes": 1,
        "prune_idempotency_keys": 1,
    }
