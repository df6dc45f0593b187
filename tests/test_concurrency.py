"""Racing requests get the answers the contract lists, never a 5xx, and nothing
answered 2xx is undone (contract, section 1).

Each race sends its requests from threads released together by a barrier to
gunicorn with 4 workers, on SQLite and on PostgreSQL, and runs ROUNDS times;
the summary at the end of the run says how each round came out.
"""

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from itertools import count

import pytest
from flask_migrate import upgrade

from db import db
from tests.conftest import build_app, empty_database, served_env
from tests.helpers import PASSWORD
from tests.servers import gunicorn, race, request
from tests.test_changes import Replica

pytestmark = pytest.mark.slow

ROUNDS = 10
RACERS = 16


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """gunicorn (4 workers) on a database of its own, with an admin "root"."""
    workdir = tmp_path_factory.mktemp("concurrency")
    url = empty_database(request, request.param, workdir)
    app = build_app(url)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    result = app.test_cli_runner().invoke(
        args=["users", "create-admin", "root", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        db.engine.dispose()
    with gunicorn(served_env(url), workdir / "gunicorn.log", workers=4) as base_url:
        yield Client(base_url, request.param)


class Client:
    """The served API, as the admin "root" sees it."""

    def __init__(self, base_url: str, backend: str):
        self.base_url = base_url
        self.backend = backend
        self.token = self.login("root")["access_token"]

    def __call__(self, method, path, body=None, token=None, headers=None):
        answer = request(
            method, self.base_url + path, body, token or self.token, headers
        )
        assert answer.status < 500, (answer.status, answer.raw)
        return answer

    def login(self, username: str) -> dict:
        credentials = {"username": username, "password": PASSWORD}
        answer = request("POST", f"{self.base_url}/login", credentials)
        assert answer.status == 200, answer.raw
        return answer.body

    def create(self, path: str, body: dict) -> dict:
        answer = self("POST", path, body)
        assert answer.status == 201, answer.raw
        return answer.body


@pytest.fixture
def report(request, race_report):
    """Records how the rounds of this test came out, for the run's summary."""
    outcomes = Counter()
    yield outcomes
    race_report(request.node.nodeid, ROUNDS, outcomes)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_creates_in_a_store_being_deleted_are_404_or_422_or_kept_whole(server, report):
    for _ in range(ROUNDS):
        store = server.create("/store", {"name": unique("doomed")})
        path = f"/store/{store['id']}"
        item = {"price": 1.5, "store_id": store["id"]}
        calls = [partial(server, "DELETE", path)]
        calls += [
            partial(server, "POST", "/item", {**item, "name": f"item-{n}"})
            for n in range(7)
        ]
        calls += [
            partial(server, "POST", f"{path}/tag", {"name": f"tag-{n}"})
            for n in range(8)
        ]

        deleted, *items_and_tags = race(calls)
        items, tags = items_and_tags[:7], items_and_tags[7:]

        assert deleted.status == 200
        for answer in items:
            report[f"item {answer.status}"] += 1
            if answer.status == 201:
                # Answered from its own transaction: the store as it was.
                plain = {
                    "id": store["id"],
                    "name": store["name"],
                    "owner_id": store["owner_id"],
                }
                assert answer.body["store"] == plain
            else:
                assert answer.status == 422, answer.raw
                assert answer.body["errors"] == {
                    "json": {"store_id": ["Store not found."]}
                }
        for answer in tags:
            report[f"tag {answer.status}"] += 1
            if answer.status == 201:
                assert answer.body["store"]["id"] == store["id"]
            else:
                assert answer.status == 404, answer.raw
                assert answer.body["message"] == "Store not found."
        # Nothing of the store is left, whatever was created before it went.
        assert server("GET", path).status == 404
        assert server("GET", f"/item?store_id={store['id']}").body == []
        for answer in items + tags:
            if answer.status == 201:
                kind = "item" if "price" in answer.body else "tag"
                assert server("GET", f"/{kind}/{answer.body['id']}").status == 404


@pytest.mark.parametrize("kind", ["store", "item"])
def test_writes_with_one_if_match_etag_exactly_one_wins(server, report, kind):
    for _ in range(ROUNDS):
        store = server.create("/store", {"name": unique("etag")})
        if kind == "store":
            path = f"/store/{store['id']}"
            bodies = [{"name": unique("renamed")} for _ in range(RACERS)]
        else:
            body = {"name": "chair", "price": 10, "store_id": store["id"]}
            path = f"/item/{server.create('/item', body)['id']}"
            bodies = [{"price": 10 + n} for n in range(1, RACERS + 1)]
        etag = server("GET", path).headers["ETag"]

        if_match = {"If-Match": etag}
        answers = race(
            [partial(server, "PUT", path, body, headers=if_match) for body in bodies]
        )

        statuses = sorted(answer.status for answer in answers)
        report[str(statuses.count(200)) + " × 200"] += 1
        assert statuses == [200] + [412] * (RACERS - 1)
        winner = next(n for n, answer in enumerate(answers) if answer.status == 200)
        for field, value in bodies[winner].items():
            assert answers[winner].body[field] == value
            assert server("GET", path).body[field] == value


def test_deleting_a_tag_while_it_is_linked_is_refused_or_links_are_404(server, report):
    for _ in range(ROUNDS):
        store = server.create("/store", {"name": unique("tags")})
        tag = server.create(f"/store/{store['id']}/tag", {"name": "sale"})
        items = [
            server.create(
                "/item", {"name": f"item-{n}", "price": 1, "store_id": store["id"]}
            )
            for n in range(7)
        ]
        calls = [partial(server, "DELETE", f"/tag/{tag['id']}")]
        calls += [
            partial(server, "POST", f"/item/{item['id']}/tag/{tag['id']}")
            for item in items
        ]

        deleted, *links = race(calls)

        link_statuses = [answer.status for answer in links]
        report[f"delete {deleted.status}"] += 1
        linked = {item["id"] for item in items}
        after = server("GET", f"/tag/{tag['id']}")
        if deleted.status == 200:
            # The delete came first: every link found no tag, none was made.
            assert link_statuses == [404] * len(items)
            assert after.status == 404
            linked = set()
        else:
            # A link came first: the delete was refused, and every link holds.
            assert deleted.status == 409, deleted.raw
            assert link_statuses == [201] * len(items)
            assert {item["id"] for item in after.body["items"]} == linked
        for item in items:
            shown = server("GET", f"/item/{item['id']}").body
            assert {t["id"] for t in shown["tags"]} == (
                {tag["id"]} if item["id"] in linked else set()
            )


@pytest.mark.parametrize("kind", ["store", "item", "tag", "user"])
def test_creates_of_one_name_make_exactly_one(server, report, kind):
    for _ in range(ROUNDS):
        name = unique("same")
        if kind == "store":
            path, bodies = "/store", [{"name": name}] * RACERS
        elif kind == "item":
            store = server.create("/store", {"name": unique("items")})
            path = "/item"
            bodies = [{"name": name, "price": 1, "store_id": store["id"]}] * RACERS
        elif kind == "tag":
            store = server.create("/store", {"name": unique("tags")})
            path, bodies = f"/store/{store['id']}/tag", [{"name": name}] * RACERS
        else:
            # Usernames differing only in letter case are the same username.
            path = "/register"
            bodies = [
                {"username": name.upper() if n % 2 else name, "password": PASSWORD}
                for n in range(RACERS)
            ]

        answers = race([partial(server, "POST", path, body) for body in bodies])

        statuses = sorted(answer.status for answer in answers)
        report[str(statuses.count(201)) + " × 201"] += 1
        assert statuses == [201] + [409] * (RACERS - 1)


@pytest.mark.parametrize("kind", ["store", "item", "tag", "link"])
def test_creates_with_one_idempotency_key_make_exactly_one(server, report, kind):
    """Retries of one create, racing: one creates, the others replay its
    answer or are told it is in flight (409); never two rows."""
    for _ in range(ROUNDS):
        name = unique("keyed")
        store = server.create("/store", {"name": unique("keys")})
        if kind == "store":
            path, body = "/store", {"name": name}
        elif kind == "item":
            path, body = "/item", {"name": name, "price": 1, "store_id": store["id"]}
        elif kind == "tag":
            path, body = f"/store/{store['id']}/tag", {"name": name}
        else:
            item = server.create(
                "/item", {"name": name, "price": 1, "store_id": store["id"]}
            )
            tag = server.create(f"/store/{store['id']}/tag", {"name": name})
            path, body = f"/item/{item['id']}/tag/{tag['id']}", None
        headers = {"Idempotency-Key": unique("key")}

        answers = race([partial(server, "POST", path, body, headers=headers)] * RACERS)

        made = [
            a
            for a in answers
            if a.status == 201 and "Idempotent-Replayed" not in a.headers
        ]
        replayed = [
            a for a in answers if a.headers.get("Idempotent-Replayed") == "true"
        ]
        busy = [a for a in answers if a.status == 409]
        report[f"{len(replayed)} replayed, {len(busy)} × 409"] += 1
        assert len(made) == 1, [(a.status, a.raw) for a in answers]
        assert len(made) + len(replayed) + len(busy) == RACERS
        assert all(a.raw == made[0].raw and a.status == 201 for a in replayed)
        assert all("Retry-After" in a.headers for a in busy)
        if kind == "store":
            found = server("GET", f"/store?q={name}").body
        elif kind == "link":
            found = server("GET", f"/item/{item['id']}").body["tags"]
        else:
            found = (
                server("GET", f"/item?store_id={store['id']}").body
                if kind == "item"
                else server("GET", f"/store/{store['id']}/tag").body
            )
            found = [row for row in found if row["name"] == name]
        assert len(found) == 1


def test_links_of_one_pair_make_one_link(server, report):
    for _ in range(ROUNDS):
        store = server.create("/store", {"name": unique("pair")})
        tag = server.create(f"/store/{store['id']}/tag", {"name": "sale"})
        body = {"name": "chair", "price": 1, "store_id": store["id"]}
        item = server.create("/item", body)
        path = f"/item/{item['id']}/tag/{tag['id']}"

        answers = race([partial(server, "POST", path)] * RACERS)

        statuses = sorted(answer.status for answer in answers)
        report[str(statuses.count(201)) + " × 201"] += 1
        assert statuses == [200] * (RACERS - 1) + [201]
        assert all(answer.body["id"] == tag["id"] for answer in answers)
        assert [t["id"] for t in server("GET", f"/item/{item['id']}").body["tags"]] == [
            tag["id"]
        ]


def test_refreshes_of_one_token_rotate_it_once(server, report):
    username = unique("mobile")
    server("POST", "/register", {"username": username, "password": PASSWORD})
    for _ in range(ROUNDS):
        refresh = server.login(username)["refresh_token"]

        answers = race([partial(server, "POST", "/refresh", token=refresh)] * RACERS)

        statuses = sorted(answer.status for answer in answers)
        report[str(statuses.count(200)) + " × 200"] += 1
        assert statuses == [200] + [401] * (RACERS - 1)
        assert {a.body["error"] for a in answers if a.status == 401} == {
            "token_revoked"
        }
        # The other 15 presented a token already rotated: a reuse, which
        # revokes the family, the winner's new pair included.
        (winner,) = [answer.body for answer in answers if answer.status == 200]
        assert server("GET", "/me", token=winner["access_token"]).status == 401


def test_a_reader_following_the_changes_feed_while_writers_commit_misses_nothing(
    server, report
):
    """Writers create, rename, link, unlink and delete while a reader follows
    the feed; caught up at the end, the reader has exactly the server's data."""
    replica = Replica()
    read = partial(_json, server)
    replica.catch_up(read)
    for _ in range(ROUNDS):
        writes, catch_ups = _feed_round(server, replica, read)
        replica.catch_up(read)

        assert replica.rows == feed_state(read)
        report[f"{writes} writes, {catch_ups} catch-ups meanwhile"] += 1


def _feed_round(server, replica, read) -> tuple[int, int]:
    """RACERS - 1 writers released together, and the reader following the
    feed until they are done: the writes made, and the reader's catch-ups."""
    store = server.create("/store", {"name": unique("feed")})
    writers_done = threading.Event()

    def writer(n: int) -> int:
        item = server.create(
            "/item", {"name": unique(f"w{n}"), "price": 1, "store_id": store["id"]}
        )
        tag = server.create(f"/store/{store['id']}/tag", {"name": unique(f"t{n}")})
        server("POST", f"/item/{item['id']}/tag/{tag['id']}")
        server("PUT", f"/item/{item['id']}", {"price": n + 2})
        if n % 2:
            server("DELETE", f"/item/{item['id']}/tag/{tag['id']}")
            server("DELETE", f"/item/{item['id']}")
        return 6 if n % 2 else 4

    def reader() -> int:
        catch_ups = 0
        while not writers_done.is_set():
            replica.catch_up(read)
            catch_ups += 1
        return catch_ups

    def writers() -> int:
        try:
            return sum(race([partial(writer, n) for n in range(RACERS - 1)]))
        finally:
            writers_done.set()

    with ThreadPoolExecutor(max_workers=2) as pool:
        reading = pool.submit(reader)
        writes = pool.submit(writers).result()
        return writes, reading.result()


def _json(server, path: str):
    answer = server("GET", path)
    assert answer.status == 200, answer.raw
    return answer.body


def feed_state(get) -> dict:
    """Every store, item and tag of the server, as the feed shows them."""
    state = {}
    for page in count(1):
        stores = get(f"/store?page={page}&page_size=100")
        for store in stores:
            state[("store", store["id"])] = {
                k: store[k] for k in ("id", "name", "owner_id")
            }
            for tag in store["tags"]:
                state[("tag", tag["id"])] = {**tag, "store_id": store["id"]}
        if len(stores) < 100:
            break
    for page in count(1):
        items = get(f"/item?page={page}&page_size=100")
        for item in items:
            state[("item", item["id"])] = {
                **{k: item[k] for k in ("id", "name", "price", "description")},
                "store_id": item["store"]["id"],
                "tag_ids": [tag["id"] for tag in item["tags"]],
            }
        if len(items) < 100:
            break
    return state
