"""The benchmark behind `make bench`: the API under gunicorn, measured against a ceiling.

For each backend (SQLite; PostgreSQL; PostgreSQL with Redis, which then counts
the rate limits; the last two when their servers answer) it:

1. creates a fresh database, migrates it and seeds 50 stores x 20 items,
   5 tags per store, each item linked to 2 of its store's tags, and one user
   who owns every store;
2. lists the SQL statements one request of each kind sends, as the database
   is sent them (transaction control and pings included: libpq's trace of
   the wire on PostgreSQL, SQLite's own trace callback, bench/wire.py), and
   counts its Redis commands, in-process against the same database;
3. serves the API with the project's gunicorn.conf.py (2 workers), beside
   the ceiling (bench/ceiling.py, a bare Flask app) with the same settings.

Then wrk (16 connections, a fixed duration) drives the ceiling and each
endpoint on each backend in turn, three rounds, and the median of each figure
is kept; each gunicorn worker's peak RSS (VmHWM) is read at the end. An
endpoint's runs on the backends stand next to each other in time, so the
ratios between backends hold while the machine's speed drifts.

The table goes to stdout and to bench/results.md, with the machine's facts.
Ratios to the ceiling, not absolute numbers, are what carry between machines;
each PostgreSQL figure is also shown as a ratio to SQLite's in the same run.
Rate limits are on, as deployed, with limits no run reaches.

Settings come from the environment: BENCH_DURATION (seconds per run, default
10), BENCH_RUNS (3), BENCH_CONNECTIONS (16), BENCH_BACKENDS
("sqlite,postgresql,postgresql+redis"), BENCH_DATABASE_URL and BENCH_REDIS_URL (the PostgreSQL and Redis servers),
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
import redis  # noqa: E402
from redis import Redis  # noqa: E402
from redis.exceptions import RedisError  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from app import create_app  # noqa: E402
from bench.wire import statements_sent  # noqa: E402

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
BACKENDS = os.environ.get("BENCH_BACKENDS", "sqlite,postgresql,postgresql+redis").split(
    ","
)
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


@dataclass(frozen=True)
class Target:
    backend: str  # "sqlite" or "postgresql" (with or without Redis)
    endpoint: str
    of: str  # "ceiling": req/s ÷ the ceiling's; "sqlite": ÷ SQLite's
    at_least: float


TARGETS = [
    Target("sqlite", "GET /item/<id>", "ceiling", 0.40),
    Target("sqlite", "GET /store/<id>", "ceiling", 0.35),
    Target("sqlite", "GET /store", "ceiling", 0.035),
    Target("postgresql", "GET /item/<id>", "sqlite", 0.85),
    Target("postgresql", "GET /store/<id>", "sqlite", 0.85),
    Target("postgresql", "GET /store", "ceiling", 0.06),
]
# The most memory a worker may hold, on every backend.
MAX_RSS_MB = 120
# Limits as deployed, but high enough that no run is refused.
UNREACHED_LIMIT = "1000000 per minute"
LIMIT_SETTINGS = (
    "RATELIMIT_LOGIN",
    "RATELIMIT_LOGIN_PER_USERNAME",
    "RATELIMIT_REGISTER",
    "RATELIMIT_REFRESH",
)


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
    statements: list[str] = field(default_factory=list)
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
    sqlite: "Backend | None" = None  # the run's SQLite backend, to compare with

    @property
    def kind(self) -> str:
        return "sqlite" if self.database_url.startswith("sqlite") else "postgresql"

    def ratio(self, row: Row) -> float:
        """`row`'s req/s ÷ the ceiling's."""
        return row.median("requests_per_second") / self.ceiling.median(
            "requests_per_second"
        )

    def ratio_to_sqlite(self, row: Row) -> float | None:
        """`row`'s req/s ÷ the same endpoint's on SQLite in this run."""
        if self.sqlite is None or row.name not in self.sqlite.rows:
            return None
        other = self.sqlite.rows[row.name].median("requests_per_second")
        return row.median("requests_per_second") / other

    def verdicts(self, row: Row) -> list[tuple[Target, float | None]]:
        """Each target on `row`, with the ratio it is judged by."""
        return [
            (
                target,
                self.ratio(row)
                if target.of == "ceiling"
                else self.ratio_to_sqlite(row),
            )
            for target in TARGETS
            if target.backend == self.kind and target.endpoint == row.name
        ]

    def missed(self) -> list[str]:
        """What this run fell short of, if anything."""
        missed = [
            f"{row.name}: {ratio:.3f} of {target.of} < {target.at_least}"
            for row in self.rows.values()
            for target, ratio in self.verdicts(row)
            if ratio is not None and ratio < target.at_least
        ]
        if self.rss_mb >= MAX_RSS_MB:
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
        **dict.fromkeys(LIMIT_SETTINGS, UNREACHED_LIMIT),
    }
    if backend.redis_url:
        config["REDIS_URL"] = backend.redis_url
        config["REDIS_KEY_PREFIX"] = backend.redis_prefix
    return config


def seed(app) -> None:
    """A fresh schema by the migrations, then the benchmark's data; the one
    user owns every store."""
    from flask_migrate import upgrade

    from db import db
    from models import ItemModel, StoreModel, TagModel, UserModel, items_tags

    with app.app_context():
        upgrade()
        user = UserModel(username=USERNAME)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.flush()
        stores, items, tags, links = [], [], [], []
        for s in range(1, STORES + 1):
            stores.append({"id": s, "name": f"Store {s:02d}", "owner_id": user.id})
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


def count_round_trips(app, endpoint: Endpoint, headers: dict) -> tuple[list[str], int]:
    """The SQL statements (as sent) and Redis commands of one request of `endpoint`."""
    from db import engines

    with app.app_context():
        used = engines()
    client = app.test_client()
    execute_command = redis.Redis.execute_command
    redis_commands = 0

    def counted(self, *args, **kwargs):
        nonlocal redis_commands
        redis_commands += 1
        return execute_command(self, *args, **kwargs)

    def send():
        response = client.open(
            endpoint.path,
            method=endpoint.method,
            headers=headers,
            json=request_body(endpoint, "count-" + secrets.token_hex(4)),
        )
        assert response.status_code < 300, (endpoint.name, response.get_json())

    def warm_up():
        send()  # the app, and the connections as a warm worker's are
        nonlocal redis_commands
        redis_commands = 0

    redis.Redis.execute_command = counted
    try:
        sent = statements_sent(used, send, warm_up)
    finally:
        redis.Redis.execute_command = execute_command
    return sent, redis_commands


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


@dataclass
class Served:
    """A backend's API under gunicorn, seeded and signed in to."""

    backend: Backend
    base: str
    master: int
    tokens: dict[str, str]


def sign_in(base: str) -> dict[str, str]:
    """The tokens the endpoints send, from a new login: an access token
    lives 15 minutes, less than a whole run, so each round signs in again."""
    login = post_json(base + "/login", {"username": USERNAME, "password": PASSWORD})
    return {"access": login["access_token"], "fresh": login["access_token"], "": ""}


@contextmanager
def serve(backend: Backend):
    """Seeds `backend`, counts what each endpoint sends, and serves it."""
    secret = secrets.token_urlsafe(48)
    app = create_app(app_config(backend, secret))
    print(f"[{backend.name}] seeding", flush=True)
    seed(app)
    env = {
        "DATABASE_URL": backend.database_url,
        "JWT_SECRET_KEY": secret,
        "REDIS_URL": backend.redis_url,
        "REDIS_KEY_PREFIX": backend.redis_prefix,
        **dict.fromkeys(LIMIT_SETTINGS, UNREACHED_LIMIT),
    }
    with gunicorn(env, ready_path="/health") as (base, master):
        tokens = sign_in(base)
        for endpoint in ENDPOINTS:
            headers = {}
            if endpoint.token:
                headers["Authorization"] = f"Bearer {tokens[endpoint.token]}"
            row = backend.rows[endpoint.name] = Row(endpoint.name)
            row.statements, row.redis = count_round_trips(app, endpoint, headers)
        yield Served(backend, base, master, tokens)
        backend.rss_mb = peak_rss_mb(worker_pids(master))


def measure(served: list[Served], ceiling_url: str, ceiling_master: int) -> None:
    """Every endpoint on every backend, and the ceiling, round after round.

    Within a round each endpoint is measured on each backend in turn, next to
    each other in time, so a drift of the machine's speed (other load, a
    throttled CPU) moves them together and spares their ratios; the ceiling
    opens each round. The writes come last, as they grow the data.
    """
    ceiling = Row("ceiling (bare Flask)")
    for each in served:
        each.backend.ceiling = ceiling
    reads = [e for e in ENDPOINTS if not e.writes]
    writes = [e for e in ENDPOINTS if e.writes]
    print("warming up", flush=True)
    wrk(ceiling_url + "/", None, {}, "warm", WARM_UP_SECONDS)
    for endpoint in reads:
        for each in served:
            wrk(
                each.base + endpoint.path,
                endpoint,
                each.tokens,
                "warm",
                WARM_UP_SECONDS,
            )

    def run_once(round_number: int, endpoint: Endpoint, each: Served) -> None:
        name = each.backend.name
        run = f"{name.replace(' ', '')}{round_number}"
        measured = wrk(each.base + endpoint.path, endpoint, each.tokens, run, DURATION)
        each.backend.rows[endpoint.name].runs.append(measured)
        print(
            f"[{name}] run {round_number + 1}/{RUNS} {endpoint.name}: "
            f"{measured.requests_per_second:.0f} req/s",
            flush=True,
        )

    for round_number in range(RUNS):
        for each in served:
            each.tokens = sign_in(each.base)
        ceiling.runs.append(wrk(ceiling_url + "/", None, {}, "ceiling", DURATION))
        for endpoint in reads:
            for each in served:
                run_once(round_number, endpoint, each)
    for round_number in range(RUNS):
        for each in served:
            each.tokens = sign_in(each.base)
        for endpoint in writes:
            for each in served:
                run_once(round_number, endpoint, each)
    rss = peak_rss_mb(worker_pids(ceiling_master))
    for each in served:
        each.backend.ceiling_rss_mb = rss


# --- backends ----------------------------------------------------------------


@contextmanager
def sqlite_backend():
    with tempfile.TemporaryDirectory() as directory:
        yield Backend("SQLite", f"sqlite:///{directory}/bench.db")


@contextmanager
def postgresql_backend(with_redis: bool):
    """A fresh database beside BENCH_DATABASE_URL's; with Redis, keys under a
    fresh prefix."""
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
        server = Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        if with_redis:
            server.ping()
    except (psycopg.Error, RedisError) as error:
        print(f"PostgreSQL skipped: not reachable ({error})", flush=True)
        yield None
        return
    name = f"stores_bench_{secrets.token_hex(4)}"
    prefix = f"stores-bench-{secrets.token_hex(4)}:"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        if with_redis:
            yield Backend("PostgreSQL + Redis", url, REDIS_URL, prefix)
        else:
            yield Backend("PostgreSQL", url)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        if with_redis:
            keys = list(server.scan_iter(match=prefix + "*"))
            if keys:
                server.delete(*keys)


BACKEND_FACTORIES = {
    "sqlite": sqlite_backend,
    "postgresql": lambda: postgresql_backend(with_redis=False),
    "postgresql+redis": lambda: postgresql_backend(with_redis=True),
}


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
        "access log on; rate limits on, at limits no run reaches",
        f"- Data: {STORES} stores x {ITEMS_PER_STORE} items, {TAGS_PER_STORE} tags per "
        f"store, {TAGS_PER_ITEM} tags per item, one user",
    ]


def table(backend: Backend) -> list[str]:
    ceiling = backend.ceiling.median("requests_per_second")
    lines = [
        f"### {backend.name}",
        "",
        "| endpoint | req/s | p50 | p99 | ÷ ceiling | ÷ SQLite | target "
        "| SQL statements/req | Redis commands/req | peak RSS/worker |",
        "|---|--:|--:|--:|--:|--:|:-:|--:|--:|--:|",
        f"| {backend.ceiling.name} | {ceiling:.0f} "
        f"| {backend.ceiling.median('p50_ms'):.2f} ms "
        f"| {backend.ceiling.median('p99_ms'):.2f} ms | 1.000 | | | 0 | 0 "
        f"| {backend.ceiling_rss_mb:.0f} MB |",
    ]
    for row in backend.rows.values():
        to_sqlite = backend.ratio_to_sqlite(row) if backend.kind != "sqlite" else None
        verdict = ", ".join(
            f"{target.of} ≥ {target.at_least} "
            + ("met" if ratio is not None and ratio >= target.at_least else "MISSED")
            for target, ratio in backend.verdicts(row)
        )
        lines.append(
            f"| `{row.name}` | {row.median('requests_per_second'):.0f} "
            f"| {row.median('p50_ms'):.2f} ms | {row.median('p99_ms'):.2f} ms "
            f"| {backend.ratio(row):.3f} "
            f"| {'' if to_sqlite is None else f'{to_sqlite:.3f}'} | {verdict} "
            f"| {len(row.statements)} "
            f"| {row.redis if backend.redis_url else '-'} | {backend.rss_mb:.0f} MB |"
        )
    lines += ["", "Statements of one request, as the database was sent them:", ""]
    lines += [
        f"- `{row.name}`: " + (", ".join(row.statements) or "none")
        for row in backend.rows.values()
    ]
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
        "shared pages included. SQL statements are those the database was sent "
        "(each one round trip on PostgreSQL), transaction control and pings "
        "included, and Redis commands those of one request, after a first one "
        "has warmed the app. ÷ SQLite is the req/s of the same endpoint on "
        "SQLite in this run.",
        "",
        f"Every backend must hold a peak RSS under {MAX_RSS_MB} MB per worker; "
        "the targets column says what each endpoint must reach.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    if shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is not installed (make bench installs it: apt-get install wrk)"
        )
    with ExitStack() as stack:
        ceiling_url, ceiling_master = stack.enter_context(
            gunicorn({}, "bench.ceiling:app", ready_path="/")
        )
        served = []
        with ExitStack() as servers:
            for name in BACKENDS:
                backend = stack.enter_context(BACKEND_FACTORIES[name]())
                if backend is not None:
                    served.append(servers.enter_context(serve(backend)))
            measure(served, ceiling_url, ceiling_master)
        backends = [each.backend for each in served]
        sqlite = next((b for b in backends if b.kind == "sqlite"), None)
        for backend in backends:
            backend.sqlite = sqlite
    text = report(backends)
    OUTPUT.write_text(text)
    print("\n" + text)
    for backend in backends:
        for missed in backend.missed():
            print(f"Target missed on {backend.name}: {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
