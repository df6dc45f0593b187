"""Real servers for tests: the app under gunicorn, talked to over HTTP."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(
    method: str, url: str, body=None, token: str | None = None
) -> tuple[int, dict]:
    """One HTTP request; the status and the decoded JSON body."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


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
def gunicorn(env: dict, log_path: Path, workers: int = 2):
    """gunicorn with the project's gunicorn.conf.py; yields its base URL once it answers."""
    port = free_port()
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
