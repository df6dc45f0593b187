"""Under real gunicorn with several workers, a logged-out token is refused by all of
them; two servers started from one checkout do not share a control socket."""

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import served_env, sqlite_copy
from tests.helpers import PASSWORD
from tests.servers import call, gunicorn, hold_request

GUNICORNC = Path(sys.executable).parent / "gunicornc"

pytestmark = pytest.mark.slow


def logged(log: Path, pattern: str, count: int) -> list[str]:
    """What `pattern` captures in the access log, once it has `count` matches
    (or after 10 s): a worker writes its line after the answer has left."""
    deadline = time.monotonic() + 10
    while len(found := re.findall(pattern, log.read_text())) < count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)  # polling for the log line, not waiting out a race
    return found


def test_logged_out_token_is_refused_by_every_worker(gunicorn_server):
    base_url, log = gunicorn_server
    assert (
        call("POST", f"{base_url}/register", {"username": "ann", "password": PASSWORD})[
            0
        ]
        == 201
    )
    status, tokens = call(
        "POST", f"{base_url}/login", {"username": "ann", "password": PASSWORD}
    )
    assert status == 200
    access = tokens["access_token"]
    assert call("POST", f"{base_url}/logout", token=access)[0] == 200

    # A request whose headers are still arriving holds one single-threaded
    # worker, so the next 19 must be answered by the other; then it completes.
    held = hold_request(base_url, "/me", access)
    answers = [call("GET", f"{base_url}/me", token=access) for _ in range(19)]
    answers.append(held.finish())

    assert [status for status, _ in answers] == [401] * 20
    assert {body["error"] for _, body in answers} == {"token_revoked"}
    refused_by = logged(log, r'"GET /me HTTP/1.1" 401 .* <(\d+)>', 20)
    assert len(refused_by) == 20 and len(set(refused_by)) == 2


def test_refresh_token_of_a_logged_out_login_is_refused(gunicorn_server):
    base_url, _ = gunicorn_server
    credentials = {"username": "bea", "password": PASSWORD}
    assert call("POST", f"{base_url}/register", credentials)[0] == 201
    _, tokens = call("POST", f"{base_url}/login", credentials)
    call("POST", f"{base_url}/logout", token=tokens["access_token"])

    status, body = call("POST", f"{base_url}/refresh", token=tokens["refresh_token"])

    assert (status, body["error"]) == (401, "token_revoked")


def test_access_log_has_one_line_per_request_with_its_duration(gunicorn_server):
    base_url, log = gunicorn_server
    line = r'"GET /health HTTP/1.1" 200 \d+ \d+ms <\d+>'
    before = len(re.findall(line, log.read_text()))

    call("GET", f"{base_url}/health")

    assert len(logged(log, line, before + 1)) == before + 1


def control(socket_path, command: str) -> dict:
    """A command to a running gunicorn through its control socket (gunicornc)."""
    result = subprocess.run(
        [GUNICORNC, "-s", str(socket_path), "-c", command, "-j"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def control_sockets(folder: Path, count: int) -> list[Path]:
    """The control sockets in `folder`, once there are `count` (gunicorn opens
    its socket only after it has started its workers)."""
    deadline = time.monotonic() + 30
    while len(found := sorted(folder.glob("*.ctl"))) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} control sockets expected, found {found}")
        time.sleep(0.05)  # polling for start-up, not waiting out a race
    return found


@pytest.fixture
def short_home():
    """A home folder with a short path: a Unix socket's path has at most 107
    bytes, which pytest's folders (deeper still under xdist) can exceed."""
    with tempfile.TemporaryDirectory(prefix="home-") as home:
        yield Path(home)


def test_two_servers_from_one_checkout_and_home_have_their_own_control_sockets(
    migrated_sqlite, tmp_path, short_home
):
    home = short_home
    database = sqlite_copy(migrated_sqlite, tmp_path)
    env = served_env(database, HOME=str(home), XDG_RUNTIME_DIR="")
    sockets = home / ".gunicorn"

    with gunicorn(env, tmp_path / "a.log") as server_a:
        with gunicorn(env, tmp_path / "b.log") as server_b:
            both = control_sockets(sockets, 2)
            assert len(both) == 2
            for server in (server_a, server_b):
                port = server.rsplit(":", 1)[1]
                path = next(path for path in both if path.name.endswith(f"-{port}.ctl"))
                assert len(control(path, "show workers")["workers"]) == 2
        # B has stopped: its socket is gone, A's is there and answers.
        (left,) = sockets.glob("*.ctl")
        assert left.name.endswith(f"-{server_a.rsplit(':', 1)[1]}.ctl")
        assert len(control(left, "show workers")["workers"]) == 2
        assert call("GET", f"{server_a}/health") == (200, {"status": "ok"})
    assert list(sockets.glob("*.ctl")) == []
