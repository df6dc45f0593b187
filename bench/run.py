"""The benchmark behind `make bench`: the API under gunicorn, measured against a ceiling.

For each backend (SQLite, and PostgreSQL with Redis when both answer) it:

1. creates a fresh database, migrates it and seeds 50 stores x 20 items,
   5 tags per store, each item linked to 2 of its store's tags, and one user;
2. serves the API with the project's gunicorn.conf.py (2 workers), and beside
   it the ceiling (bench/ceiling.py, a bare Flask app) with the same settings;
3. drives each endpoint and the ceiling with wrk (16 connections, a fixed
   duration) three times, round after round, and keeps the median of each
   figure;
4. counts the SQL statements (and Redis commands) one request of each kind
   runs, in-process against the same database, and reads each gunicorn
   worker's peak RSS (VmHWM) at the end.

The table goes to stdout and to bench/results.md, with the machine's facts.
Ratios to the ceiling, not absolute numbers, are what carry between machines.

Settings come from the environment: BENCH_DURATION (seconds per run, default
10), BENCH_RUNS (3), BENCH_CONNECTIONS (16), BENCH_BACKENDS ("sqlite,postgresql"),
BENCH_DATABASE_URL and BENCH_REDIS_URL (the PostgreSQL and Redis servers),
BENCH_OUTPUT (bench/results.md).
"""

import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from redis import Redis  # noqa: E402
from redis.exceptions import RedisError  # noqa: E402
from sqlalchemy import event, insert  # noqa: E402

from app import create_app  # noqa: E402

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
BACKENDS = os.environ.get("BENCH_BACKENDS", "sqlite,postgresql").split(",")
POSTGRES_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
OUTPUT = Path(os.environ.get("BENCH_OUTPUT", ROOT / "bench" / "results.md"))
WORKERS = 2
WARM_UP_SECONDS = 2
GUNICORN = Path(sys.executable).parent / "gunicorn"
LUA = ROOT / "bench" / "request.lua"

STORES, ITEMS_PER_STORE, TAGS_PER_STORE, TAGS_PER_ITEM = 50, 20, 5, 2
USERNAME, PASSWORD = "bench", "a benchmark password"

# The API's ratio to the ceiling that each endpoint must reach, and the most
# memory a worker may hold: on SQLite, 2 workers. Other backends are measured
# for comparison, without targets.
TARGETS = {"GET /item/<id>": 0.35, "GET /store/<id>": 0.35, "GET /store": 0.035}
MAX_RSS_MB = 120


@dataclass
class Endpoint:
    name: str
    path: str
    method: str = "GET"
    body: dict | None = None
    token: str = "access"  # which token to send: "access", "fresh" or ""
    writes: bool = False  # measured after every read, as it grows the data


ITEM_ID = STORES * ITEMS_PER_STORE // 2
STORE_ID = STORES // 2
ENDPOINTS = [
    Endpoint("GET /item/<id>", f"/item/{ITEM_ID}"),
    Endpoint("GET /store/<id>", f"/store/{STORE_ID}"),
    Endpoint("GET /store", "/store"),
    Endpoint("GET /item?page=1", "/item?page=1"),
    Endpoint(
        "POST /login",
        "/login",
        method="POST",
        body={"username": USERNAME, "password": PASSWORD},
        token="",
    ),
    Endpoint(
        "POST /item",
        "/item",
        method="POST",
        body={"name": "{n}", "price": 9.99, "store_id": STORE_ID},
        token="fresh",
        writes=True,
    ),
]


@dataclass
class Measure:
    requests_per_second: float
    p50_ms: float
    p99_ms: float


@dataclass
class Row:
    name: str
    runs: list[Measure] = field(default_factory=list)
    sql: int | None = None
    redis: int | None = None

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


@dataclass
class Backend:
    name: str
    database_url: str
    redis_url: str = ""
    redis_prefix: str = ""
    rows: dict[str, Row] = field(default_factory=dict)
    ceiling: Row = field(default_factory=lambda: Row("ceiling (bare Flask)"))
    rss_mb: float = 0.0
    ceiling_rss_mb: float = 0.0

    @property
    def targets(self) -> dict[str, float]:
        return TARGETS if self.database_url.startswith("sqlite") else {}

    def ratio(self, row: Row) -> float:
        return row.median("requests_per_second") / self.ceiling.median(
            "requests_per_second"
        )

    def missed(self) -> list[str]:
        """What this run fell short of, if anything."""
        missed = [
            f"{row.name}: {self.ratio(row):.3f} < {self.targets[row.name]}"
            for row in self.rows.values()
            if row.name in self.targets and self.ratio(row) < self.targets[row.name]
        ]
        if self.targets and self.rss_mb >= MAX_RSS_MB:
            missed.append(f"peak RSS per worker: {self.rss_mb:.0f} MB")
        return missed


# --- servers -----------------------------------------------------------------


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(env: dict, app: str | None = None, *, ready_path: str):
    """gunicorn with the project's gunicorn.conf.py; yields (base URL, master pid)."""
    port = free_port()
    command = [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py")]
    if app:
        command.append(app)
    env = {
        **os.environ,
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(WORKERS),
    }
    # Access lines go to a file, as they would go to a log collector.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(base + ready_path, process, log)
            yield base, process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def wait_until_ready(url: str, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise SystemExit(f"gunicorn exited:\n{log.read().decode(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise SystemExit(f"gunicorn did not answer {url} within 60 s")


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def peak_rss_mb(pids: list[int]) -> float:
    """The largest peak resident set size (VmHWM) among `pids`, in MB."""
    peaks = []
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        kilobytes = int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1))
        peaks.append(kilobytes / 1024)
    return max(peaks)


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


# --- data --------------------------------------------------------------------


def app_config(backend: Backend, secret: str) -> dict:
    config = {
        "SQLALCHEMY_DATABASE_URI": backend.database_url,
        "JWT_SECRET_KEY": secret,
        "RATELIMIT_ENABLED": False,
    }
    if backend.redis_url:
        config["REDIS_URL"] = backend.redis_url
        config["REDIS_KEY_PREFIX"] = backend.redis_prefix
    return config


def seed(app) -> None:
    """A fresh schema by the migrations, then the benchmark's data."""
    from flask_migrate import upgrade

    from db import db
    from models import ItemModel, StoreModel, TagModel, UserModel, items_tags

    with app.app_context():
        upgrade()
        stores, items, tags, links = [], [], [], []
        for s in range(1, STORES + 1):
            stores.append({"id": s, "name": f"Store {s:02d}"})
            first_tag = (s - 1) * TAGS_PER_STORE + 1
            for t in range(TAGS_PER_STORE):
                tags.append({"id": first_tag + t, "name": f"tag {t}", "store_id": s})
            for i in range(ITEMS_PER_STORE):
                item_id = (s - 1) * ITEMS_PER_STORE + i + 1
                items.append(
                    {
                        "id": item_id,
                        "name": f"Item {i:02d}",
                        "price": Decimal(f"{i}.99"),
                        "description": f"Item {i} of store {s}.",
                        "store_id": s,
                    }
                )
                for k in range(TAGS_PER_ITEM):
                    tag_id = first_tag + (i + k) % TAGS_PER_STORE
                    links.append({"item_id": item_id, "tag_id": tag_id})
        db.session.execute(insert(StoreModel), stores)
        db.session.execute(insert(TagModel), tags)
        db.session.execute(insert(ItemModel), items)
        db.session.execute(insert(items_tags), links)
        user = UserModel(username=USERNAME)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # Explicit ids leave the sequences behind; POST /item needs them on.
            for table in ("stores", "items", "tags", "users"):
                db.session.execute(
                    db.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            db.session.commit()


def request_body(endpoint: Endpoint, name: str) -> dict | None:
    """The endpoint's body, "{n}" replaced by `name`."""
    if endpoint.body is None:
        return None
    return json.loads(json.dumps(endpoint.body).replace("{n}", name))


def count_round_trips(app, endpoint: Endpoint, headers: dict) -> tuple[int, int]:
    """SQL statements and Redis commands that one request of `endpoint` runs."""
    from db import db

    counts = {"sql": 0, "redis": 0}

    def count_statement(*_args):
        counts["sql"] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count_statement)
    redis = app.extensions.get("redis")
    if redis is not None:
        execute_command = redis.execute_command

        def counted(*args, **kwargs):
            counts["redis"] += 1
            return execute_command(*args, **kwargs)

        redis.execute_command = counted
    try:
        client = app.test_client()
        for _ in range(2):  # the first request warms the app up; the second counts
            counts.update(sql=0, redis=0)
            response = client.open(
                endpoint.path,
                method=endpoint.method,
                headers=headers,
                json=request_body(endpoint, "count-" + secrets.token_hex(4)),
            )
            assert response.status_code < 300, (endpoint.name, response.get_json())
    finally:
        event.remove(engine, "before_cursor_execute", count_statement)
        if redis is not None:
            redis.execute_command = execute_command
    return counts["sql"], counts["redis"]


# --- load --------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS_MS[unit]


def wrk(url: str, endpoint: Endpoint | None, tokens: dict, run: str, seconds: int):
    env = {**os.environ, "BENCH_RUN": run}
    if endpoint is not None:
        env["BENCH_METHOD"] = endpoint.method
        env["BENCH_TOKEN"] = tokens.get(endpoint.token, "")
        env["BENCH_BODY"] = json.dumps(endpoint.body) if endpoint.body else ""
    result = subprocess.run(
        [
            "wrk",
            "--threads",
            "2",
            "--connections",
            str(CONNECTIONS),
            "--duration",
            f"{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "--script",
            str(LUA),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if failed or (errors and re.search(r"[1-9]", errors.group(1))):
        raise SystemExit(f"wrk saw failed requests on {url}:\n{out}")
    return Measure(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        p99_ms=_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
    )


def measure(backend: Backend, ceiling_url: str, ceiling_master: int) -> None:
    secret = secrets.token_urlsafe(48)
    app = create_app(app_config(backend, secret))
    print(f"[{backend.name}] seeding", flush=True)
    seed(app)
    env = {
        "DATABASE_URL": backend.database_url,
        "JWT_SECRET_KEY": secret,
        "REDIS_URL": backend.redis_url,
        "REDIS_KEY_PREFIX": backend.redis_prefix,
        "RATELIMIT_ENABLED": "false",
    }
    with gunicorn(env, ready_path="/health") as (base, master):
        login = post_json(base + "/login", {"username": USERNAME, "password": PASSWORD})
        tokens = {
            "access": login["access_token"],
            "fresh": login["access_token"],
            "": "",
        }
        for endpoint in ENDPOINTS:
            headers = {}
            if endpoint.token:
                headers["Authorization"] = f"Bearer {tokens[endpoint.token]}"
            row = backend.rows[endpoint.name] = Row(endpoint.name)
            row.sql, row.redis = count_round_trips(app, endpoint, headers)

        reads = [e for e in ENDPOINTS if not e.writes]
        writes = [e for e in ENDPOINTS if e.writes]
        print(f"[{backend.name}] warming up", flush=True)
        wrk(ceiling_url + "/", None, tokens, "warm", WARM_UP_SECONDS)
        for endpoint in reads:
            wrk(base + endpoint.path, endpoint, tokens, "warm", WARM_UP_SECONDS)

        def run_once(round_number: int, endpoint: Endpoint) -> None:
            run = f"{backend.name}{round_number}"
            measured = wrk(base + endpoint.path, endpoint, tokens, run, DURATION)
            backend.rows[endpoint.name].runs.append(measured)
            print(
                f"[{backend.name}] run {round_number + 1}/{RUNS} {endpoint.name}: "
                f"{measured.requests_per_second:.0f} req/s",
                flush=True,
            )

        # The ceiling and the reads round after round; the writes last.
        for round_number in range(RUNS):
            run = f"{backend.name}{round_number}"
            backend.ceiling.runs.append(
                wrk(ceiling_url + "/", None, tokens, run, DURATION)
            )
            for endpoint in reads:
                run_once(round_number, endpoint)
        for round_number in range(RUNS):
            for endpoint in writes:
                run_once(round_number, endpoint)
        backend.rss_mb = peak_rss_mb(worker_pids(master))
        backend.ceiling_rss_mb = peak_rss_mb(worker_pids(ceiling_master))


# --- backends ----------------------------------------------------------------


@contextmanager
def sqlite_backend():
    with tempfile.TemporaryDirectory() as directory:
        yield Backend("SQLite", f"sqlite:///{directory}/bench.db")


@contextmanager
def postgresql_backend():
    """A fresh database beside BENCH_DATABASE_URL's, and Redis keys under a fresh prefix."""
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
        redis = Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        redis.ping()
    except (psycopg.Error, RedisError) as error:
        print(f"PostgreSQL with Redis skipped: not reachable ({error})", flush=True)
        yield None
        return
    name = f"stores_bench_{secrets.token_hex(4)}"
    prefix = f"stores-bench-{secrets.token_hex(4)}:"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield Backend("PostgreSQL + Redis", url, REDIS_URL, prefix)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        keys = list(redis.scan_iter(match=prefix + "*"))
        if keys:
            redis.delete(*keys)


# --- report ------------------------------------------------------------------


def machine_facts() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = int(
        re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)
    )
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    versions = {}
    for package in ("flask", "flask-smorest", "sqlalchemy", "marshmallow", "gunicorn"):
        from importlib.metadata import version

        versions[package] = version(package)
    return [
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {memory_kb / 1024 / 1024:.0f} GiB",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}; "
        + ", ".join(f"{name} {number}" for name, number in versions.items()),
        f"- {(wrk_version.stdout or wrk_version.stderr).splitlines()[0].strip()}",
        f"- Load: wrk, 2 threads, {CONNECTIONS} connections, {DURATION} s per run, "
        f"median of {RUNS} runs; gunicorn.conf.py with {WORKERS} sync workers, "
        "access log on; rate limits off",
        f"- Data: {STORES} stores x {ITEMS_PER_STORE} items, {TAGS_PER_STORE} tags per "
        f"store, {TAGS_PER_ITEM} tags per item, one user",
    ]


def table(backend: Backend) -> list[str]:
    ceiling = backend.ceiling.median("requests_per_second")
    lines = [
        f"### {backend.name}",
        "",
        "| endpoint | req/s | p50 | p99 | ratio to ceiling | target | SQL queries/req "
        "| Redis commands/req | peak RSS/worker |",
        "|---|--:|--:|--:|--:|:-:|--:|--:|--:|",
        f"| {backend.ceiling.name} | {ceiling:.0f} "
        f"| {backend.ceiling.median('p50_ms'):.2f} ms "
        f"| {backend.ceiling.median('p99_ms'):.2f} ms | 1.000 | | 0 | 0 "
        f"| {backend.ceiling_rss_mb:.0f} MB |",
    ]
    for row in backend.rows.values():
        ratio = backend.ratio(row)
        target = backend.targets.get(row.name)
        verdict = ""
        if target is not None:
            verdict = f"≥ {target} {'met' if ratio >= target else 'MISSED'}"
        lines.append(
            f"| `{row.name}` | {row.median('requests_per_second'):.0f} "
            f"| {row.median('p50_ms'):.2f} ms | {row.median('p99_ms'):.2f} ms "
            f"| {ratio:.3f} | {verdict} | {row.sql} "
            f"| {row.redis if backend.redis_url else '-'} | {backend.rss_mb:.0f} MB |"
        )
    return lines


def report(backends: list[Backend]) -> str:
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/run.py). Ratios to the ceiling, a bare Flask "
        "app served the same way in the same run, carry from one machine to another; "
        "absolute numbers do not.",
        "",
        *machine_facts(),
        f"- Password hash: argon2id, memory {app.config['ARGON2_MEMORY_COST']} KiB, "
        f"time cost {app.config['ARGON2_TIME_COST']}, parallelism "
        f"{app.config['ARGON2_PARALLELISM']}: `POST /login` is bounded by it by design",
        "",
    ]
    for backend in backends:
        lines += table(backend) + [""]
    lines += [
        "Peak RSS is the largest VmHWM among the workers at the end of the run, "
        "shared pages included. SQL and Redis counts are of one request, after a "
        "first one has warmed the app.",
        "",
        f"The targets, and a peak RSS under {MAX_RSS_MB} MB per worker, hold for the "
        "SQLite run; other backends are measured beside it for comparison.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    if shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is not installed (make bench installs it: apt-get install wrk)"
        )
    backends = []
    with ExitStack() as stack:
        ceiling_url, ceiling_master = stack.enter_context(
            gunicorn({}, "bench.ceiling:app", ready_path="/")
        )
        for name in BACKENDS:
            factory = {"sqlite": sqlite_backend, "postgresql": postgresql_backend}[name]
            backend = stack.enter_context(factory())
            if backend is None:
                continue
            measure(backend, ceiling_url, ceiling_master)
            backends.append(backend)
    text = report(backends)
    OUTPUT.write_text(text)
    print("\n" + text)
    for backend in backends:
        for missed in backend.missed():
            print(f"Target missed on {backend.name}: {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
