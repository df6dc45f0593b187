"""Security headers on every response, no-store on token answers, Swagger UI's
Content-Security-Policy, and CORS only for listed origins."""

from html.parser import HTMLParser

import pytest

from tests.helpers import PASSWORD, auth_header, login, register


@pytest.fixture
def backend():
    """Headers cannot differ between databases: these tests run once."""
    return "sqlite"


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
ALLOWED_ORIGIN = "https://app.example"
OTHER_ORIGIN = "https://evil.example"
# Source expressions that name no other origin.
OWN_SOURCES = {"'self'", "'none'", "data:", "'unsafe-inline'"}


def security_headers(response) -> dict:
    return {name: response.headers.get(name) for name in SECURITY_HEADERS}


def content_security_policy(response) -> dict:
    """The policy as {directive: [sources]}."""
    policy = {}
    for directive in response.headers["Content-Security-Policy"].split(";"):
        name, *sources = directive.split()
        policy[name] = sources
    return policy


class Scripts(HTMLParser):
    """The <script> elements of a page: their attributes and their inline text."""

    def __init__(self, html: str):
        super().__init__()
        self.scripts = []
        self.handlers = []
        self._inside = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if tag == "script":
            self.scripts.append({"attrs": dict(attrs), "text": ""})
            self._inside = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._inside = False

    def handle_data(self, data):
        if self._inside:
            self.scripts[-1]["text"] += data


# Security headers on every response

RESPONSES = [
    pytest.param("GET", "/health", {}, 200, id="success"),
    pytest.param("GET", "/me", {"auth": True}, 200, id="authenticated-success"),
    pytest.param(
        "POST", "/store", {"auth": True, "json": {"name": "Shop"}}, 201, id="created"
    ),
    pytest.param("GET", "/store", {}, 401, id="auth-error"),
    pytest.param(
        "POST",
        "/login",
        {"json": {"username": "nobody", "password": PASSWORD}},
        401,
        id="login-error",
    ),
    pytest.param(
        "POST", "/store", {"auth": True, "json": {"name": ""}}, 422, id="validation"
    ),
    pytest.param(
        "POST",
        "/store",
        {"auth": True, "data": "{", "content_type": "application/json"},
        400,
        id="bad-json",
    ),
    pytest.param(
        "POST",
        "/store",
        {"auth": True, "data": "name=Shop", "content_type": "text/plain"},
        415,
        id="wrong-content-type",
    ),
    pytest.param(
        "POST",
        "/store",
        {"auth": True, "data": " " * (65 * 1024), "content_type": "application/json"},
        413,
        id="too-large",
    ),
    pytest.param("GET", "/store/999", {"auth": True}, 404, id="not-found"),
    pytest.param("GET", "/no/such/page", {}, 404, id="unknown-url"),
    pytest.param("DELETE", "/health", {}, 405, id="wrong-method"),
    pytest.param("GET", "/swagger-ui", {}, 200, id="swagger-ui"),
    pytest.param(
        "GET", "/swagger-ui/assets/swagger-ui-bundle.js", {}, 200, id="swagger-asset"
    ),
    pytest.param(
        "GET", "/swagger-ui/static/swagger-ui-init.js", {}, 200, id="swagger-init"
    ),
    pytest.param("GET", "/openapi.json", {}, 200, id="openapi-json"),
]


@pytest.mark.parametrize(("method", "path", "request_args", "status"), RESPONSES)
def test_every_response_carries_the_security_headers(
    client, user_headers, method, path, request_args, status
):
    kwargs = dict(request_args)
    if kwargs.pop("auth", False):
        kwargs["headers"] = user_headers

    with client.open(path, method=method, **kwargs) as response:  # closes files
        assert response.status_code == status
        assert security_headers(response) == SECURITY_HEADERS


def test_server_error_carries_the_security_headers(make_app):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom")
    def boom():
        raise RuntimeError("an unexpected fault")

    response = app.test_client().get("/boom")

    assert response.status_code == 500
    assert security_headers(response) == SECURITY_HEADERS


# Token answers


def get_tokens(client, endpoint: str):
    register(client, "dave")
    tokens = login(client, "dave")
    if endpoint == "/login":
        return client.post("/login", json={"username": "dave", "password": PASSWORD})
    if endpoint == "/refresh":
        return client.post("/refresh", headers=auth_header(tokens["refresh_token"]))
    body = {"current_password": PASSWORD, "new_password": "battery staple horse"}
    return client.put(
        "/me/password", json=body, headers=auth_header(tokens["access_token"])
    )


@pytest.mark.parametrize("endpoint", ["/login", "/refresh", "/me/password"])
def test_token_answers_must_not_be_stored(client, endpoint):
    response = get_tokens(client, endpoint)

    assert response.status_code == 200
    assert "access_token" in response.get_json()
    assert response.headers["Cache-Control"] == "no-store"


# Swagger UI's Content-Security-Policy


def test_swagger_ui_scripts_and_connections_are_limited_to_this_server(client):
    policy = content_security_policy(client.get("/swagger-ui"))

    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]


def test_swagger_ui_policy_names_no_other_origin(client):
    policy = content_security_policy(client.get("/swagger-ui"))

    sources = {source for directive in policy.values() for source in directive}
    assert sources <= OWN_SOURCES
    assert policy["default-src"] in (["'none'"], ["'self'"])


def test_swagger_ui_policy_forbids_inline_and_evaluated_scripts(client):
    policy = content_security_policy(client.get("/swagger-ui"))

    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]


def test_swagger_ui_policy_forbids_framing(client):
    policy = content_security_policy(client.get("/swagger-ui"))

    assert policy["frame-ancestors"] == ["'none'"]


def test_swagger_ui_page_has_no_inline_script(client):
    page = Scripts(client.get("/swagger-ui").get_data(as_text=True))

    assert page.scripts
    assert [script["text"].strip() for script in page.scripts] == [""] * len(
        page.scripts
    )
    assert all("src" in script["attrs"] for script in page.scripts)
    assert page.handlers == []


def fetch(client, path: str) -> tuple:
    with client.get(path) as response:  # closes the file it streams
        return response.status_code, response.mimetype


def test_swagger_ui_scripts_come_from_this_server(client):
    page = Scripts(client.get("/swagger-ui").get_data(as_text=True))
    sources = [script["attrs"]["src"] for script in page.scripts]

    answers = {source: fetch(client, source) for source in sources}

    assert all(source.startswith("/") and source[1:2] != "/" for source in sources)
    assert answers == dict.fromkeys(sources, (200, "text/javascript"))


# CORS


@pytest.fixture
def cors_client(make_app):
    return make_app(CORS_ORIGINS=[ALLOWED_ORIGIN]).test_client()


def preflight(client, origin: str):
    return client.options(
        "/store",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )


@pytest.mark.parametrize("origin", [ALLOWED_ORIGIN, OTHER_ORIGIN])
def test_cors_is_off_by_default(client, origin):
    simple = client.get("/health", headers={"Origin": origin})
    preflighted = preflight(client, origin)

    assert "Access-Control-Allow-Origin" not in simple.headers
    assert "Access-Control-Allow-Origin" not in preflighted.headers


def test_listed_origin_may_read_answers(cors_client):
    response = cors_client.get("/health", headers={"Origin": ALLOWED_ORIGIN})

    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_listed_origin_gets_a_preflight_answer(cors_client):
    response = preflight(cors_client, ALLOWED_ORIGIN)

    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers


def test_listed_origin_may_call_with_a_token(cors_client):
    register(cors_client, "dave")
    headers = auth_header(login(cors_client, "dave")["access_token"])

    response = cors_client.get("/me", headers={**headers, "Origin": ALLOWED_ORIGIN})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_unlisted_origin_gets_no_cors_headers(cors_client):
    simple = cors_client.get("/health", headers={"Origin": OTHER_ORIGIN})
    preflighted = preflight(cors_client, OTHER_ORIGIN)

    assert "Access-Control-Allow-Origin" not in simple.headers
    assert "Access-Control-Allow-Origin" not in preflighted.headers
