"""Under real gunicorn with several workers, a logged-out token is refused by all of them."""

import re

import pytest

from tests.helpers import PASSWORD
from tests.servers import call, hold_request

pytestmark = pytest.mark.slow


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
    refused_by = re.findall(r'"GET /me HTTP/1.1" 401 .* <(\d+)>', log.read_text())
    assert len(refused_by) == 20 and len(set(refused_by)) == 2


def test_refresh_token_of_a_logged_out_login_is_refused(gunicorn_server):
    base_url, _ = gunicorn_server
    call("POST", f"{base_url}/register", {"username": "ann", "password": PASSWORD})
    _, tokens = call(
        "POST", f"{base_url}/login", {"username": "ann", "password": PASSWORD}
    )
    call("POST", f"{base_url}/logout", token=tokens["access_token"])

    status, body = call("POST", f"{base_url}/refresh", token=tokens["refresh_token"])

    assert (status, body["error"]) == (401, "token_revoked")


def test_access_log_has_one_line_per_request_with_its_duration(gunicorn_server):
    base_url, log = gunicorn_server

    call("GET", f"{base_url}/health")

    lines = [line for line in log.read_text().splitlines() if '"GET /health' in line]
    assert lines and re.search(r'"GET /health HTTP/1.1" 200 \d+ \d+ms <\d+>', lines[-1])
