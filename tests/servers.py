"""Real servers for tests: the app under gunicorn, talked to over HTTP; private Redis
and PostgreSQL servers a test may kill; and requests raced against them."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Answer:
    status: int
    headers: dict
    raw: bytes

    @property
    def body(self):
        return json.loads(self.raw or b"null")

    def is_envelope(self) -> bool:
        """Whether this is the contract's JSON error envelope for its status."""
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return False
        body = self.body
        return (
            isinstance(body, dict)
            and body.get("code") == self.status
            and bool(body.get("status"))
            and bool(body.get("message"))
        )


def request(
    method: str,
    url: str,
    body=None,
    token: str | None = None,
    headers: dict | None = None,
    timeout: float = 30,
) -> Answer:
    """One HTTP request, whatever its answer."""
    data = None if body is None else json.dumps(body).encode()
    sent = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        sent.add_header("Content-Type", "application/json")
    if token:
        sent.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        sent.add_header(name, value)
    try:
        with urllib.request.urlopen(sent, timeout=timeout) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read())


def call(
    method: str, url: str, body=None, token: str | None = None
) -> tuple[int, dict]:
    """One HTTP request; the status and the decoded JSON body."""
    answer = request(method, url, body, token, timeout=10)
    return answer.status, answer.body


def race(calls: list[Callable]) -> list:
    """Run `calls` at once, a thread each, released together by a barrier.

    Their results, in the order of `calls`; an exception in any is raised.
    """
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result() for future in futures]


class HeldRequest:
    """A GET whose headers are sent but for the blank line that ends them."""

    def __init__(self, base_url: str, path: str, token: str):
        host, port = base_url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
            f"Authorization: Bearer {token}\r\n".encode()
        )

    def finish(self) -> tuple[int, dict]:
        self.sock.sendall(b"\r\n")
        with self.sock, self.sock.makefile("rb") as stream:
            status = int(stream.readline().split()[1])
            while stream.readline() not in (b"\r\n", b""):
                pass  # headers
            return status, json.loads(stream.read())


def hold_request(base_url: str, path: str, token: str) -> HeldRequest:
    return HeldRequest(base_url, path, token)


@contextmanager
def gunicorn(env: dict, log_path: Path, workers: int = 2, port: int | None = None):
    """gunicorn with the project's gunicorn.conf.py; yields its base URL once it answers."""
    port = port or free_port()
    environment = {
        **os.environ,
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
    }
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, base_url, log_path)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=60)


def _wait_until_serving(
    process, base_url: str, log_path: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{log_path.read_text()}")
        try:
            if call("GET", f"{base_url}/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)  # polling for start-up, not waiting out a race
    raise RuntimeError(
        f"gunicorn did not answer in {timeout}s:\n{log_path.read_text()}"
    )


def _wait_for_port(port: int, process, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)  # polling for start-up, not waiting out a race
    raise RuntimeError(f"{what} did not listen on {port} in {timeout}s")


class PrivateRedis:
    """A redis-server of the test's own that keeps nothing on disk (as many do),
    so a kill loses all it held; `kill()` and `start()` it at will."""

    def __init__(self, workdir: Path):
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is not installed; CI=true requires it")
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self.process, "redis-server")

    def client(self):
        return Redis.from_url(self.url, socket_timeout=5)

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing saved."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()


class PrivateCluster:
    """A PostgreSQL cluster of the test's own (initdb, run as the `postgres`
    user), which a test may stop and start while the API uses it."""

    def __init__(self):
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not bins or os.geteuid() != 0:
            reason = "a private PostgreSQL cluster needs pg_ctl and root (to run as postgres)"
            if os.environ.get("CI") == "true":
                pytest.fail(f"{reason}; CI=true requires it")
            pytest.skip(reason)
        self.bin = bins[-1].parent
        # Outside pytest's temporary folders, which only root may enter.
        self.workdir = Path(tempfile.mkdtemp(prefix="stores-test-pg-"))
        shutil.chown(self.workdir, "postgres", "postgres")
        self.data = self.workdir / "data"
        self.log = self.workdir / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres(
            self.bin / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres"
        )
        self.start()

    def _as_postgres(self, *command) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, command)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _ctl(self, *args) -> None:
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, *args)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        self._ctl("-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session (AdminShutdown) and shuts down cleanly;
        `immediate` aborts, as a crash would."""
        self._ctl("-w", "-m", mode, "stop")

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)
