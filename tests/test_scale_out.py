"""Two gunicorn servers (two workers each) sharing one PostgreSQL and one Redis behave
as one service: a token from either works on both, and a logout on one holds on all,
also after both restart."""

import uuid

import pytest

from tests.backends import REDIS_URL, delete_keys
from tests.conftest import SECRET
from tests.helpers import PASSWORD
from tests.servers import call, gunicorn

pytestmark = pytest.mark.slow


@pytest.fixture
def shared_env(fresh_postgres, redis):
    prefix = f"stores-test:{uuid.uuid4().hex}:"
    yield {
        "DATABASE_URL": fresh_postgres,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": prefix,
        "JWT_SECRET_KEY": SECRET,
        "RATELIMIT_ENABLED": "false",
    }
    delete_keys(redis, prefix)


def test_logout_on_one_host_holds_on_every_host_and_across_restarts(
    shared_env, tmp_path
):
    with (
        gunicorn(shared_env, tmp_path / "a.log") as server_a,
        gunicorn(shared_env, tmp_path / "b.log") as server_b,
    ):
        credentials = {"username": "ann", "password": PASSWORD}
        assert call("POST", f"{server_a}/register", credentials)[0] == 201
        status, tokens = call("POST", f"{server_a}/login", credentials)
        assert status == 200
        access, refresh = tokens["access_token"], tokens["refresh_token"]
        assert call("GET", f"{server_b}/me", token=access)[0] == 200

        assert call("POST", f"{server_b}/logout", token=access)[0] == 200

        refusals = [call("GET", f"{server_a}/me", token=access) for _ in range(20)]
        assert [(status, body["error"]) for status, body in refusals] == [
            (401, "token_revoked")
        ] * 20
        status, body = call("POST", f"{server_a}/refresh", token=refresh)
        assert (status, body["error"]) == (401, "token_revoked")

    with (
        gunicorn(shared_env, tmp_path / "a2.log") as server_a,
        gunicorn(shared_env, tmp_path / "b2.log") as server_b,
    ):
        for server in (server_a, server_b):
            status, body = call("GET", f"{server}/me", token=access)
            assert (status, body["error"]) == (401, "token_revoked")
            status, body = call("POST", f"{server}/refresh", token=refresh)
            assert (status, body["error"]) == (401, "token_revoked")


def test_a_login_on_one_host_is_served_by_the_other(shared_env, tmp_path):
    with (
        gunicorn(shared_env, tmp_path / "a.log") as server_a,
        gunicorn(shared_env, tmp_path / "b.log") as server_b,
    ):
        credentials = {"username": "ann", "password": PASSWORD}
        call("POST", f"{server_a}/register", credentials)
        _, tokens = call("POST", f"{server_a}/login", credentials)

        status, rotated = call(
            "POST", f"{server_b}/refresh", token=tokens["refresh_token"]
        )
        served = call("GET", f"{server_a}/me", token=rotated["access_token"])
        reused = call("POST", f"{server_a}/refresh", token=tokens["refresh_token"])

        assert status == 200
        assert served[0] == 200
        assert (reused[0], reused[1]["error"]) == (401, "token_revoked")
        # The reuse on A revoked the family on both hosts.
        for server in (server_a, server_b):
            status, body = call("GET", f"{server}/me", token=rotated["access_token"])
            assert (status, body["error"]) == (401, "token_revoked")


def test_health_checks_the_shared_servers(shared_env, tmp_path):
    with gunicorn(shared_env, tmp_path / "a.log") as server:
        assert call("GET", f"{server}/health") == (200, {"status": "ok"})
