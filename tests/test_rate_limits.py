"""Rate limits on POST /login, /register and /refresh: per address, per username for
failed logins, configurable, reset after their window, off when disabled, in Redis
when configured."""

import itertools
import time
import uuid

import pytest
from limits import strategies
from limits.storage import memory

from ratelimit import LIMITS
from tests.conftest import WITH_REDIS
from tests.helpers import PASSWORD, assert_error, auth_header, login, register

# Every limit's setting, as ratelimit.LIMITS names them.
LIMIT_NAMES = tuple(setting for limits in LIMITS.values() for setting, _ in limits)
# High enough that the requests a test makes to arrange things are never refused.
OUT_OF_THE_WAY = "1000 per minute"
WRONG_PASSWORD = "not the password"

# Addresses of this run: Redis keeps counters past a run, and past the test that
# made them (for up to an hour), so each test counts from addresses and usernames
# that no other test, in this run or an earlier one, has used.
_RUN = uuid.uuid4().hex
_address_numbers = itertools.count(1)


def new_address() -> str:
    """An IPv6 client address (in the documentation range) of this test alone."""
    return f"2001:db8:{_RUN[:4]}:{_RUN[4:8]}::{next(_address_numbers):x}"


def new_username() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


def limited_app(make_app, **limits):
    """An app with rate limits on: `limits` as given, every other one out of the way."""
    settings = {name: OUT_OF_THE_WAY for name in LIMIT_NAMES}
    return make_app(RATELIMIT_ENABLED=True, **{**settings, **limits})


def post(client, path: str, address: str, **kwargs):
    return client.post(path, environ_base={"REMOTE_ADDR": address}, **kwargs)


def assert_rate_limited(response, window_seconds: int = 60) -> None:
    """A 429 in the error envelope, saying in whole seconds when to try again."""
    assert_error(response, 429)
    assert 0 < int(response.headers["Retry-After"]) <= window_seconds


# What each limit counts. `send` makes one request that the limit counts, and
# `allowed` is its answer while the limit is not reached.


class Registering:
    """POST /register, each time for a new username."""

    limit = "RATELIMIT_REGISTER"
    allowed = 201

    def __init__(self, client):
        self.client = client

    def send(self, address: str):
        body = {"username": new_username(), "password": PASSWORD}
        return post(self.client, "/register", address, json=body)


class LoggingIn:
    """POST /login with the right password."""

    limit = "RATELIMIT_LOGIN"
    allowed = 200

    def __init__(self, client):
        self.client = client
        self.username = new_username()
        register(client, self.username)

    def send(self, address: str):
        body = {"username": self.username, "password": PASSWORD}
        return post(self.client, "/login", address, json=body)


class FailingToLogIn(LoggingIn):
    """POST /login with a wrong password, for one username."""

    limit = "RATELIMIT_LOGIN_PER_USERNAME"
    allowed = 401

    def send(self, address: str):
        body = {"username": self.username, "password": WRONG_PASSWORD}
        return post(self.client, "/login", address, json=body)


class Refreshing:
    """POST /refresh, each time with the refresh token the last one gave."""

    limit = "RATELIMIT_REFRESH"
    allowed = 200

    def __init__(self, client):
        self.client = client
        username = new_username()
        register(client, username)
        self.refresh_token = login(client, username)["refresh_token"]

    def send(self, address: str):
        headers = auth_header(self.refresh_token)
        response = post(self.client, "/refresh", address, headers=headers)
        if response.status_code == 200:
            self.refresh_token = response.get_json()["refresh_token"]
        return response


class AskingForAReset:
    """POST /password/forgot, each time for a new address."""

    limit = "RATELIMIT_FORGOT"
    allowed = 202

    def __init__(self, client):
        self.client = client

    def send(self, address: str):
        body = {"email": f"{new_username()}@example.com"}
        return post(self.client, "/password/forgot", address, json=body)


class Verifying:
    """POST /email/verify with a token the server never issued."""

    limit = "RATELIMIT_VERIFY"
    allowed = 422

    def __init__(self, client):
        self.client = client

    def send(self, address: str):
        return post(self.client, "/email/verify", address, json={"token": "guess"})


class Resetting:
    """POST /password/reset with a token the server never issued."""

    limit = "RATELIMIT_RESET"
    allowed = 422

    def __init__(self, client):
        self.client = client

    def send(self, address: str):
        body = {"token": "guess", "new_password": "long enough"}
        return post(self.client, "/password/reset", address, json=body)


PER_ADDRESS = [
    pytest.param(Registering, id="register"),
    pytest.param(LoggingIn, id="login"),
    pytest.param(Refreshing, id="refresh"),
    pytest.param(AskingForAReset, id="forgot"),
    pytest.param(Verifying, id="verify"),
    pytest.param(Resetting, id="reset"),
]
EVERY_LIMIT = [*PER_ADDRESS, pytest.param(FailingToLogIn, id="failed-login")]


class FakeClock:
    """Stands in for the `time` module where the limits library reads the time."""

    def __init__(self):
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=WITH_REDIS)
def backend(request):
    """Rate limits are counted in Redis where it is configured: this module
    runs on that backend as well."""
    return request.param


@pytest.fixture
def clock(backend, monkeypatch):
    """A clock for the in-memory storage, which is where the fixed-window strategy
    reads the time; `strategies` gets it too, for the strategies that read it there."""
    if backend == "postgresql+redis":
        pytest.skip("limits are counted in Redis, which expires them by its own clock")
    fake = FakeClock()
    monkeypatch.setattr(memory, "time", fake)
    monkeypatch.setattr(strategies, "time", fake)
    return fake


@pytest.fixture
def redis_backend(backend, request):
    """The Redis client of this test's backend; other backends count in memory."""
    if backend != "postgresql+redis":
        pytest.skip("limits are counted in Redis only on the postgresql+redis backend")
    return request.getfixturevalue("redis")


# Per client address


@pytest.mark.parametrize("amount", [1, 4])
@pytest.mark.parametrize("endpoint", PER_ADDRESS)
def test_requests_beyond_the_configured_limit_are_refused(make_app, endpoint, amount):
    app = limited_app(make_app, **{endpoint.limit: f"{amount} per minute"})
    calls = endpoint(app.test_client())
    address = new_address()

    statuses = [calls.send(address).status_code for _ in range(amount + 1)]

    assert statuses == [endpoint.allowed] * amount + [429]


@pytest.mark.parametrize("endpoint", EVERY_LIMIT)
def test_refusal_is_an_error_envelope_with_retry_after(make_app, endpoint):
    app = limited_app(make_app, **{endpoint.limit: "1 per minute"})
    calls = endpoint(app.test_client())
    address = new_address()
    calls.send(address)

    refused = calls.send(address)

    assert_rate_limited(refused)


@pytest.mark.parametrize("endpoint", PER_ADDRESS)
def test_limit_of_one_address_leaves_other_addresses_alone(make_app, endpoint):
    app = limited_app(make_app, **{endpoint.limit: "2 per minute"})
    calls = endpoint(app.test_client())
    busy = new_address()
    for _ in range(2):
        calls.send(busy)
    assert calls.send(busy).status_code == 429

    response = calls.send(new_address())

    assert response.status_code == endpoint.allowed


@pytest.mark.parametrize("endpoint", EVERY_LIMIT)
def test_limit_resets_after_its_window(make_app, clock, endpoint):
    app = limited_app(make_app, **{endpoint.limit: "2 per minute"})
    calls = endpoint(app.test_client())
    address = new_address()
    for _ in range(2):
        calls.send(address)
    assert calls.send(address).status_code == 429

    clock.advance(61)
    response = calls.send(address)

    assert response.status_code == endpoint.allowed


# Per email address, for reset requests


def test_reset_requests_for_an_address_are_limited_from_any_client(make_app):
    app = limited_app(make_app, RATELIMIT_FORGOT_PER_EMAIL="2 per hour")
    client = app.test_client()
    email = f"{new_username()}@example.com"
    spellings = [email, f"  {email.upper()} "]
    answers = [
        post(client, "/password/forgot", new_address(), json={"email": spelling})
        for spelling in spellings
    ]

    refused = post(client, "/password/forgot", new_address(), json={"email": email})
    other = {"email": f"{new_username()}@example.com"}

    assert [answer.status_code for answer in answers] == [202, 202]
    assert_rate_limited(refused, window_seconds=3600)
    assert (
        post(client, "/password/forgot", new_address(), json=other).status_code == 202
    )


# Per username, counting failed logins only


def test_failed_logins_for_a_username_are_limited_from_any_address(make_app):
    app = limited_app(make_app, RATELIMIT_LOGIN_PER_USERNAME="3 per minute")
    client = app.test_client()
    calls = FailingToLogIn(client)
    failures = [calls.send(new_address()).status_code for _ in range(3)]

    # Even the right password, from yet another address, is refused now.
    body = {"username": calls.username, "password": PASSWORD}
    response = post(client, "/login", new_address(), json=body)

    assert failures == [401] * 3
    assert_rate_limited(response)


def test_username_limit_ignores_letter_case(make_app):
    app = limited_app(make_app, RATELIMIT_LOGIN_PER_USERNAME="2 per minute")
    client = app.test_client()
    username = new_username()
    register(client, username)
    for spelling in (username.upper(), username.title()):
        body = {"username": spelling, "password": WRONG_PASSWORD}
        assert post(client, "/login", new_address(), json=body).status_code == 401

    body = {"username": username, "password": PASSWORD}
    response = post(client, "/login", new_address(), json=body)

    assert_rate_limited(response)


def test_successful_logins_do_not_count_against_the_username(make_app):
    app = limited_app(make_app, RATELIMIT_LOGIN_PER_USERNAME="2 per minute")
    calls = LoggingIn(app.test_client())

    statuses = [calls.send(new_address()).status_code for _ in range(5)]

    assert statuses == [200] * 5


def test_username_limit_leaves_other_usernames_alone(make_app):
    app = limited_app(make_app, RATELIMIT_LOGIN_PER_USERNAME="1 per minute")
    client = app.test_client()
    attacked = FailingToLogIn(client)
    address = new_address()
    attacked.send(address)
    assert attacked.send(address).status_code == 429

    response = LoggingIn(client).send(address)

    assert response.status_code == 200


@pytest.mark.parametrize("one_address", [True, False], ids=["one-address", "many"])
def test_hundred_wrong_passwords_are_stopped_long_before_the_hundredth(
    make_app, one_address
):
    app = make_app(RATELIMIT_ENABLED=True)  # the default limits
    client = app.test_client()
    username = new_username()
    post(
        client,
        "/register",
        new_address(),
        json={"username": username, "password": PASSWORD},
    )
    address = new_address()
    body = {"username": username, "password": WRONG_PASSWORD}

    statuses = [
        post(
            client, "/login", address if one_address else new_address(), json=body
        ).status_code
        for _ in range(100)
    ]

    first_refusal = statuses.index(429)
    assert first_refusal <= 20
    assert set(statuses[:first_refusal]) == {401}
    assert set(statuses[first_refusal:]) == {429}


@pytest.mark.parametrize("endpoint", EVERY_LIMIT)
def test_no_limit_applies_when_rate_limits_are_disabled(make_app, endpoint):
    strict = {name: "1 per minute" for name in LIMIT_NAMES}
    app = make_app(RATELIMIT_ENABLED=False, **strict)
    calls = endpoint(app.test_client())
    address = new_address()

    statuses = [calls.send(address).status_code for _ in range(5)]

    assert statuses == [endpoint.allowed] * 5


# Counted in Redis


def test_app_instances_share_their_counts_through_redis(make_app, redis_backend):
    first = limited_app(make_app, RATELIMIT_LOGIN="3 per minute")
    second = limited_app(make_app, RATELIMIT_LOGIN="3 per minute")
    on_first = LoggingIn(first.test_client())
    on_second = LoggingIn(second.test_client())
    address = new_address()
    on_first.send(address)
    on_second.send(address)
    on_first.send(address)

    refused_by_second = on_second.send(address)
    refused_by_first = on_first.send(address)

    assert refused_by_second.status_code == 429
    assert refused_by_first.status_code == 429
    assert list(redis_backend.scan_iter(match=f"*/{address}/*"))


def test_rate_limit_keys_in_redis_start_with_the_deployments_prefix(
    make_app, app_config, redis_backend
):
    app = limited_app(make_app)
    address = new_address()

    LoggingIn(app.test_client()).send(address)

    keys = [key.decode() for key in redis_backend.scan_iter(match=f"*/{address}/*")]
    assert keys
    assert all(key.startswith(app_config["REDIS_KEY_PREFIX"]) for key in keys), keys


def test_each_app_counts_its_limits_under_its_own_prefix(
    make_app, app_config, redis_backend
):
    own_prefix = app_config["REDIS_KEY_PREFIX"]
    # Beneath this test's prefix, so that the test's clean-up removes its keys too.
    limited_app(make_app, REDIS_KEY_PREFIX=f"{own_prefix}other:")
    app = limited_app(make_app)
    address = new_address()

    LoggingIn(app.test_client()).send(address)

    keys = [key.decode() for key in redis_backend.scan_iter(match=f"*/{address}/*")]
    assert keys
    assert all(f"{own_prefix}ratelimit" in key for key in keys), keys
