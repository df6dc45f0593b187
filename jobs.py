"""Background jobs (Celery): account emails, and the daily pruning of revocation records.

The API never sends an email while a request waits: it enqueues a job
(`enqueue`) and answers. Where a job runs depends on `CELERY_BROKER_URL`:

- **With a broker** (Redis or RabbitMQ), the API only publishes; workers
  (`make worker`) run the jobs. A job is acknowledged only after it ended
  (late acknowledgement): a worker killed mid-job leaves its message in the
  broker for another. An email job whose SMTP server refuses or cannot be
  reached tries again after 10 s, 20 s, 40 s, … (at most 15 minutes apart),
  `EMAIL_RETRIES` times, then gives up with an error-level log line. Beat
  (`make beat`, one per deployment) schedules `prune_revocations` daily.
- **Without a broker** (the `make run` default), the same jobs run in a
  thread of the API process, one at a time, retries and their waits
  included; they are lost if the process stops, which suits development.

Each Flask app gets its own Celery app (`app.extensions["celery"]`) whose
tasks run inside that Flask app's context. Jobs carry ids and addresses,
never a token: the tokens of an email are made when it is sent.
"""

import contextlib
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import kombu.exceptions
from celery import Celery, Task, shared_task
from flask import Flask, current_app
from flask.logging import default_handler

import blocklist
import changes
import email_tokens
import idempotency
import mail
from db import db
from models import UserModel

logger = logging.getLogger("stores.jobs")
if default_handler not in logger.handlers:
    logger.addHandler(default_handler)
logger.setLevel(logging.INFO)
# Written once, by this handler: a worker's root logger has Celery's own.
logger.propagate = False

# The longest wait between two tries of an email.
MAX_RETRY_DELAY = 15 * 60


class Unavailable(RuntimeError):
    """The broker cannot be reached: the job was not enqueued."""


def init_app(app: Flask) -> None:
    """Give `app` its Celery app, configured from `app.config`."""

    class AppTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    broker = app.config["CELERY_BROKER_URL"]
    celery = Celery(app.import_name, task_cls=AppTask)
    celery.conf.update(
        broker_url=broker or "memory://",
        task_default_queue=app.config["CELERY_QUEUE"],
        task_ignore_result=True,
        # Acknowledged once done, redelivered if its worker dies meanwhile;
        # each worker process takes one job at a time, so a dead one takes
        # no queued jobs down with it.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=app.config["BACKEND_TIMEOUT"],
        beat_schedule={
            "prune-revocations": {
                "task": "jobs.prune_revocations",
                "schedule": timedelta(days=1),
            },
            "prune-changes": {
                "task": "jobs.prune_changes",
                "schedule": timedelta(days=1),
            },
            "prune-idempotency-keys": {
                "task": "jobs.prune_idempotency_keys",
                "schedule": timedelta(days=1),
            },
        },
        beat_schedule_filename=os.path.join(app.instance_path, "celerybeat-schedule"),
    )
    if broker and broker.startswith(("redis://", "rediss://")):
        # Every key of the deployment starts with its prefix, as the rate
        # limits' do.
        celery.conf.broker_transport_options = {
            "global_keyprefix": app.config["REDIS_KEY_PREFIX"] + "jobs:"
        }
    app.extensions["celery"] = celery


def enqueue(name: str, **kwargs: Any) -> None:
    """Run the job `name` in the background: publish it to the broker, or
    hand it to this process's job thread when there is none.

    Raises Unavailable when the broker cannot take it (logged).
    """
    celery: Celery = current_app.extensions["celery"]
    task = celery.tasks[f"jobs.{name}"]
    if not current_app.config["CELERY_BROKER_URL"]:
        _in_process(task, kwargs, retries=0)
        return
    try:
        task.apply_async(
            kwargs=kwargs,
            retry=True,
            retry_policy={
                "max_retries": 2,
                "interval_start": 0.2,
                "interval_step": 0.5,
            },
        )
    except kombu.exceptions.OperationalError as error:
        logger.error("Job %s not enqueued: the broker is unavailable (%s)", name, error)
        raise Unavailable(name) from error


def send_soon(name: str, **kwargs: Any) -> None:
    """`enqueue`, for an email the request's answer does not depend on: a
    broker that cannot take it is logged, and the answer stands."""
    with contextlib.suppress(Unavailable):
        enqueue(name, **kwargs)


# Without a broker: one job thread per process (made again in a forked child,
# which does not inherit the parent's threads).
_local: dict[int, ThreadPoolExecutor] = {}
_local_lock = threading.Lock()


def _in_process(task: Task, kwargs: dict[str, Any], *, retries: int) -> None:
    with _local_lock:
        executor = _local.get(os.getpid())
        if executor is None:
            executor = _local[os.getpid()] = ThreadPoolExecutor(
                1, thread_name_prefix="jobs"
            )
    executor.submit(task.apply, kwargs=kwargs, retries=retries)


def drain(timeout: float | None = None) -> None:
    """Wait until the in-process jobs queued so far have run (what a graceful
    stop of the process also waits for). Retries waiting for their time are
    not waited for."""
    with _local_lock:
        executor = _local.get(os.getpid())
    if executor is not None:
        executor.submit(lambda: None).result(timeout)


def _deliver(task: Task, email: mail.Email) -> None:
    """Send `email` as the job `task`; on failure, try again later or give up."""
    try:
        mail.send(email)
    except mail.DELIVERY_ERRORS as error:
        tries = task.request.retries
        if tries >= current_app.config["EMAIL_RETRIES"]:
            logger.error(
                "Gave up on %s to %s after %d tries: %s",
                task.name,
                mail.masked(email.to),
                tries + 1,
                error,
            )
            return
        delay = min(current_app.config["EMAIL_RETRY_DELAY"] * 2**tries, MAX_RETRY_DELAY)
        logger.warning(
            "%s to %s failed (%s); try %d in %d s",
            task.name,
            mail.masked(email.to),
            error,
            tries + 2,
            delay,
        )
        if task.request.is_eager:
            kwargs = dict(task.request.kwargs or {})
            timer = threading.Timer(
                delay, _in_process, (task, kwargs), {"retries": tries + 1}
            )
            timer.daemon = True
            timer.start()
            return
        raise task.retry(countdown=delay) from error
    logger.info("%s sent to %s", task.name, mail.masked(email.to))


@shared_task(bind=True, name="jobs.send_verification")
def send_verification(self: Task, user_id: int, address: str) -> None:
    """The verification email for `address`, unless it is no longer the
    user's unverified address by the time the job runs."""
    user = db.session.get(UserModel, user_id)
    if user is None or user.email != address or user.email_verified:
        return
    token = email_tokens.issue(user, email_tokens.VERIFY_EMAIL)
    _deliver(self, mail.verification(address, token))


@shared_task(bind=True, name="jobs.send_password_reset")
def send_password_reset(self: Task, address: str) -> None:
    """The reset email, if `address` is a verified account's; nothing otherwise."""
    user = UserModel.find_by_email(address)
    if user is None or not user.email_verified or user.email is None:
        return
    token = email_tokens.issue(user, email_tokens.RESET_PASSWORD)
    _deliver(self, mail.password_reset(user.email, token))


@shared_task(bind=True, name="jobs.send_password_changed")
def send_password_changed(self: Task, user_id: int) -> None:
    """The notice of a new password, to the user's verified address."""
    user = db.session.get(UserModel, user_id)
    if user is None or not user.email_verified or user.email is None:
        return
    _deliver(self, mail.password_changed(user.email))


@shared_task(name="jobs.prune_revocations")
def prune_revocations() -> int:
    """Delete the revocation records of tokens that have expired anyway."""
    pruned = blocklist.prune(datetime.now(UTC))
    logger.info("Pruned %d expired revocation records", pruned)
    return pruned


@shared_task(name="jobs.prune_idempotency_keys")
def prune_idempotency_keys() -> int:
    """Delete the idempotency keys kept longer than 24 hours."""
    pruned = idempotency.prune(datetime.now(UTC))
    logger.info("Pruned %d expired idempotency keys", pruned)
    return pruned


@shared_task(name="jobs.prune_changes")
def prune_changes() -> int:
    """Delete the changes feed's tombstones older than its retention."""
    pruned = changes.prune(datetime.now(UTC))
    logger.info("Pruned %d tombstones of the changes feed", pruned)
    return pruned
