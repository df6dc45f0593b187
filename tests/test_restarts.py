"""No restart of one server loses an acknowledged write or a revocation: Redis (which
keeps nothing on disk) and PostgreSQL are killed and started again under load, and
every answer meanwhile is one the contract lists, in the JSON envelope."""

import threading
import uuid
from collections import Counter

import pytest
from flask_migrate import upgrade

from db import db
from tests.conftest import build_app, served_env
from tests.helpers import PASSWORD
from tests.servers import PrivateCluster, PrivateRedis, gunicorn, request

pytestmark = pytest.mark.slow

# Each load thread sends at most this many requests, and stops when told.
MAX_REQUESTS = 3000
# Times PostgreSQL is stopped and started under the write load.
RESTARTS = 3


class Load:
    """Threads that repeat `send` until stopped, keeping every answer."""

    def __init__(self, send, threads: int = 4):
        self.send = send
        self.answers = []
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._threads = [
            threading.Thread(target=self._run, args=(n,)) for n in range(threads)
        ]

    def _run(self, thread: int) -> None:
        for count in range(MAX_REQUESTS):
            if self._stop.is_set():
                return
            answer = self.send(thread, count)
            with self._changed:
                self.answers.append(answer)
                self._changed.notify_all()

    def wait_for(self, count: int, predicate=lambda _answer: True) -> int:
        """Wait until `count` more answers for which `predicate` holds have come."""
        with self._changed:
            start = len(self.answers)

            def enough():
                return sum(map(predicate, self.answers[start:])) >= count

            assert self._changed.wait_for(enough, timeout=120), "the load stalled"
            return len(self.answers)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)


def wait_until(condition, what: str, attempts: int = 600) -> None:
    """Poll `condition`, a request: the polling is paced by its answers."""
    for _ in range(attempts):
        if condition():
            return
    raise AssertionError(f"gave up waiting for {what} after {attempts} tries")


def healthy(base_url: str) -> bool:
    return request("GET", f"{base_url}/health", timeout=5).status == 200


def assert_listed_answer(answer, allowed: set[int]) -> None:
    assert answer.status in allowed, (answer.status, answer.raw)
    if answer.status >= 400:
        assert answer.is_envelope(), (answer.status, answer.headers, answer.raw)
    if answer.status == 503:
        assert answer.headers.get("Retry-After"), answer.headers


def sign_in(base_url: str, username: str) -> dict:
    credentials = {"username": username, "password": PASSWORD}
    request("POST", f"{base_url}/register", credentials)
    answer = request("POST", f"{base_url}/login", credentials)
    assert answer.status == 200, answer.raw
    return answer.body


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    yield server
    server.close()


def test_a_redis_restart_forgets_no_revocation(private_redis, fresh_postgres, tmp_path):
    # Limits on, so that Redis is in use; high, so the load is not limited.
    high = "100000 per minute"
    env = served_env(
        fresh_postgres,
        REDIS_URL=private_redis.url,
        RATELIMIT_ENABLED="true",
        RATELIMIT_LOGIN=high,
        RATELIMIT_LOGIN_PER_USERNAME=high,
        RATELIMIT_REGISTER=high,
        RATELIMIT_REFRESH=high,
    )
    with gunicorn(env, tmp_path / "gunicorn.log") as base_url:
        logins = [sign_in(base_url, "ann") for _ in range(4)]
        for tokens in logins[:2]:
            answer = request("POST", f"{base_url}/logout", token=tokens["access_token"])
            assert answer.status == 200
        rotated = request(
            "POST", f"{base_url}/refresh", token=logins[2]["refresh_token"]
        )
        assert rotated.status == 200
        revoked_access = [tokens["access_token"] for tokens in logins[:2]]
        revoked_refresh = [tokens["refresh_token"] for tokens in logins[:2]]
        live_access = logins[3]["access_token"]

        def send(thread: int, count: int):
            kind = count % 3
            if kind == 0:
                token = revoked_access[thread % 2]
                return "revoked access", request("GET", f"{base_url}/me", token=token)
            if kind == 1:
                token = revoked_refresh[thread % 2]
                answer = request("POST", f"{base_url}/refresh", token=token)
                return "revoked refresh", answer
            return "live access", request("GET", f"{base_url}/me", token=live_access)

        with Load(send) as load:
            load.wait_for(100)
            counted_in_redis = private_redis.client().dbsize()
            private_redis.kill()
            load.wait_for(300)
            private_redis.start()
            load.wait_for(100)

        outcomes = Counter()
        for kind, answer in load.answers:
            outcomes[kind, answer.status] += 1
            if kind == "revoked access":
                # Revocation never needed Redis: refused throughout.
                assert (answer.status, answer.body["error"]) == (401, "token_revoked")
            elif kind == "revoked refresh":
                # Rate limited: counted in memory while Redis is down; never accepted.
                assert_listed_answer(answer, {401})
                if answer.status == 401:
                    assert answer.body["error"] == "token_revoked"
            else:
                assert answer.status == 200, answer.raw
        # The limits were counted in Redis, lost it under the load and fell
        # back to memory.
        assert counted_in_redis > 0
        log = (tmp_path / "gunicorn.log").read_text()
        assert "falling back to in-memory storage" in log, outcomes
        for token in revoked_access:
            answer = request("GET", f"{base_url}/me", token=token)
            assert (answer.status, answer.body["error"]) == (401, "token_revoked")
        answer = request(
            "POST", f"{base_url}/refresh", token=logins[2]["refresh_token"]
        )
        assert (answer.status, answer.body["error"]) == (401, "token_revoked")


@pytest.fixture
def cluster():
    server = PrivateCluster()
    yield server
    server.close()


def test_a_postgresql_restart_loses_no_acknowledged_write(cluster, tmp_path):
    app = build_app(cluster.url)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    with gunicorn(served_env(cluster.url), tmp_path / "gunicorn.log") as base_url:
        token = sign_in(base_url, "ann")["access_token"]
        run = uuid.uuid4().hex[:8]

        def send(thread: int, count: int):
            name = f"store-{run}-{thread}-{count}"
            answer = request("POST", f"{base_url}/store", {"name": name}, token=token)
            return name, answer

        with Load(send) as load:
            for _ in range(RESTARTS):
                load.wait_for(100)
                # A fast shutdown ends every session: writes in flight see
                # AdminShutdown, at any point of their transaction.
                cluster.stop("fast")
                load.wait_for(20, lambda answer: answer[1].status == 503)
                cluster.start()
                wait_until(lambda: healthy(base_url), "PostgreSQL to be back")
            load.wait_for(100)

        statuses = Counter(answer.status for _, answer in load.answers)
        for _, answer in load.answers:
            assert_listed_answer(answer, {201, 503})
        acknowledged = {name for name, answer in load.answers if answer.status == 201}
        stored = set()
        page = 1
        while True:
            answer = request(
                "GET", f"{base_url}/store?page={page}&page_size=100", token=token
            )
            assert answer.status == 200, answer.raw
            stored |= {store["name"] for store in answer.body}
            if len(answer.body) < 100:
                break
            page += 1
        assert statuses[503] >= 20 * RESTARTS, statuses
        assert acknowledged <= stored, sorted(acknowledged - stored)[:10]
        assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()
