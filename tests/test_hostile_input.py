"""Hostile request bodies: too big, not JSON, or pathological JSON, sent to every write
endpoint, get a 4xx error envelope, never a 500, and change nothing."""

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import select

import email_tokens
from db import db
from models import UserModel
from ratelimit import LIMITS
from tests.helpers import (
    PASSWORD,
    assert_error,
    auth_header,
    create_item,
    create_store,
    create_tag,
    login,
    register,
)

DEFAULT_LIMIT = 64 * 1024
# Room for the largest hostile body, so that the JSON parser and the schemas see
# them instead of the size limit refusing them first.
ROOMY_LIMIT = 4 * 1024 * 1024
# Every limit's setting, as ratelimit.LIMITS names them.
LIMIT_NAMES = tuple(setting for limits in LIMITS.values() for setting, _ in limits)

# JSON fragments put in place of one field's value.
HOSTILE_VALUES = [
    pytest.param(b'"' + b"x" * 1_000_000 + b'"', id="million-character-string"),
    pytest.param(b'"correct\\u0000horse battery"', id="escaped-NUL"),
    pytest.param(b'"correct\x00horse battery"', id="raw-NUL-byte"),
    pytest.param('"caf\u00e9 cr\u00e8me"'.encode("latin-1"), id="latin-1-bytes"),
    pytest.param(b'"\xff\xfe\xfd"', id="invalid-utf-8"),
    pytest.param(b'"\xed\xa0\x80"', id="utf-8-encoded-surrogate"),
    pytest.param(b'"lone \\ud800 surrogate"', id="escaped-lone-surrogate"),
    pytest.param(b"1e309", id="1e309"),
    pytest.param(b"-1e309", id="minus-1e309"),
    pytest.param(b"1e-400", id="1e-400"),
    pytest.param(b"9" * 5000, id="5000-digit-integer"),
    pytest.param(b"NaN", id="NaN"),
    pytest.param(b"Infinity", id="Infinity"),
    pytest.param(b"-Infinity", id="minus-Infinity"),
    pytest.param(b"[" * 100_000, id="100000-open-brackets"),
    pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="50000-nested-objects"),
]
# Whole bodies.
HOSTILE_BODIES = [
    pytest.param(b"[" * 100_000, id="100000-open-brackets"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100000-nested-arrays"),
    pytest.param(b"\xff\xfe{\x00}\x00", id="utf-16-body"),
    pytest.param(b"\x00" * 1000, id="NUL-bytes"),
    pytest.param(b'{"name": "x"', id="truncated-object"),
    pytest.param(b"NaN", id="NaN"),
    pytest.param(b'"just a string"', id="string"),
    pytest.param(b"[]", id="array"),
    pytest.param(b"null", id="null"),
]
NOT_JSON = [
    pytest.param(None, id="no-content-type"),
    pytest.param("text/plain", id="text-plain"),
    pytest.param("application/x-www-form-urlencoded", id="form"),
    pytest.param("application/xml", id="xml"),
]


@dataclass
class Operation:
    """A write endpoint with a JSON body, as the OpenAPI document describes it."""

    method: str
    path: str
    example: dict
    fields: list

    def __str__(self):
        return f"{self.method} {self.path}"


def write_operations(client) -> list[Operation]:
    """Every operation with a request body, from the app's own OpenAPI document, so
    that endpoints added later are covered without changing these tests."""
    spec = client.get("/openapi.json").get_json()
    operations = []
    for path, path_item in spec["paths"].items():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            content = operation["requestBody"]["content"]["application/json"]
            schema = content["schema"]
            if "$ref" in schema:
                schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
            writable = [
                name
                for name, field in schema["properties"].items()
                if not field.get("readOnly")
            ]
            example = content.get("example", {})
            operations.append(
                Operation(method.upper(), path, example, sorted({*example, *writable}))
            )
    assert operations, "the OpenAPI document lists no operation with a body"
    return operations


class Target:
    """An app with a user, a store, an item and a tag, and what its writes look like.

    The user is an admin (made by the CLI, as the contract says) and owns the
    store, so that every write endpoint, the admin-only ones included, gets as
    far as reading its body instead of refusing the caller first.
    """

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        register(self.client, "mallory")
        result = app.test_cli_runner().invoke(
            args=["users", "create-admin", "mallory", "--password", PASSWORD]
        )
        assert result.exit_code == 0, result.output
        self.headers = auth_header(login(self.client, "mallory")["access_token"])
        me = self.client.get("/me", headers=self.headers).get_json()
        store = create_store(self.client, self.headers, "Corner Shop")
        item = create_item(self.client, self.headers, store["id"], "Chair")
        tag = create_tag(self.client, self.headers, store["id"], "oak")
        self.ids = {
            "user_id": me["id"],
            "store_id": store["id"],
            "item_id": item["id"],
            "tag_id": tag["id"],
        }
        # Valid tokens of the account emails: mallory's verification, and
        # the reset of another user (a reset would log mallory out).
        register(self.client, "trudy")
        with app.app_context():
            mallory, trudy = (
                UserModel.find_by_username(name) for name in ("mallory", "trudy")
            )
            mallory.email, trudy.email = "mallory@example.com", "trudy@example.com"
            db.session.commit()
            self.tokens = {
                "/email/verify": email_tokens.issue(mallory, email_tokens.VERIFY_EMAIL),
                "/password/reset": email_tokens.issue(
                    trudy, email_tokens.RESET_PASSWORD
                ),
            }
        self.operations = write_operations(self.client)

    def url(self, operation: Operation) -> str:
        try:
            return operation.path.format(**self.ids)
        except KeyError as missing:
            pytest.fail(f"{operation}: no id to put in the path for {missing}")

    def valid_body(self, operation: Operation) -> dict:
        """The documented example, with this app's ids and this user's password
        where it names one."""
        known = {
            **self.ids,
            "current_password": PASSWORD,
            "token": self.tokens.get(operation.path),
        }
        return {
            name: known.get(name, value) for name, value in operation.example.items()
        }

    def with_value(self, operation: Operation, field: str, fragment: bytes) -> bytes:
        """The valid body as JSON text, with `fragment` as the value of `field`."""
        placeholder = "\ue000hostile\ue000"
        body = {**self.valid_body(operation), field: placeholder}
        text = json.dumps(body).encode()
        return text.replace(json.dumps(placeholder).encode(), fragment)

    def send(self, operation: Operation, data=None, content_type=None):
        return self.client.open(
            self.url(operation),
            method=operation.method,
            data=data,
            content_type=content_type,
            headers=self.headers,
        )

    def rows(self) -> dict:
        """Every row of every table, to show that nothing was written."""
        with self.app.app_context():
            return {
                table.name: db.session.execute(
                    select(table).order_by(*table.primary_key.columns)
                ).all()
                for table in db.metadata.sorted_tables
            }


def production_app(make_app, **overrides):
    """An app as deployed: rate limits on (their key functions read the body too,
    so they must cope with hostile ones; the limits are set high enough never to
    answer in place of the parser), and an unexpected exception is a 500 answer."""
    return make_app(
        RATELIMIT_ENABLED=True,
        PROPAGATE_EXCEPTIONS=False,
        **{name: "1000 per minute" for name in LIMIT_NAMES},
        **overrides,
    )


@pytest.fixture
def target(make_app) -> Target:
    return Target(production_app(make_app))


@pytest.fixture
def roomy_target(make_app) -> Target:
    return Target(production_app(make_app, MAX_CONTENT_LENGTH=ROOMY_LIMIT))


def assert_refused(answers: list, status: int | None = None) -> None:
    """Every answer is the error envelope, with `status` (or any 4xx); the ones that
    are not are listed all together."""
    wrong = []
    for where, response in answers:
        body = response.get_json(silent=True)
        is_envelope = (
            isinstance(body, dict) and body.get("code") == response.status_code
        )
        expected = (
            response.status_code == status
            if status
            else 400 <= response.status_code < 500
        )
        if not (expected and is_envelope):
            wrong.append(f"{where}: {response.status_code} {response.get_data()[:120]}")
    assert not wrong, "\n".join(wrong)


def test_write_operations_are_found_in_the_openapi_document(target):
    found = {str(operation) for operation in target.operations}

    assert found >= {
        "POST /register",
        "POST /login",
        "PUT /me/password",
        "POST /store",
        "PUT /store/{store_id}",
        "POST /item",
        "PUT /item/{item_id}",
        "POST /store/{store_id}/tag",
        "PUT /store/{store_id}/owner",
    }


# Size


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(None, id="default-64KiB"),
        pytest.param(1024, id="1KiB"),
        pytest.param(ROOMY_LIMIT, id="4MiB"),
    ],
)
@pytest.mark.parametrize("over", [False, True], ids=["at-the-limit", "one-byte-over"])
def test_body_size_limit_is_the_configured_one(make_app, limit, over):
    overrides = {} if limit is None else {"MAX_CONTENT_LENGTH": limit}
    app = make_app(**overrides)
    client = app.test_client()
    register(client, "mallory")
    headers = auth_header(login(client, "mallory")["access_token"])
    body = json.dumps({"name": "Corner Shop"}).encode()
    size = (limit or DEFAULT_LIMIT) + over
    padded = body + b" " * (size - len(body))  # white space: still valid JSON

    response = client.post(
        "/store", data=padded, content_type="application/json", headers=headers
    )

    if over:
        assert_error(response, 413)
    else:
        assert response.status_code == 201


def test_body_over_the_default_limit_is_413_on_every_write_endpoint(target):
    before = target.rows()

    answers = []
    for operation in target.operations:
        body = json.dumps(target.valid_body(operation)).encode()
        padded = body + b" " * (DEFAULT_LIMIT + 1 - len(body))
        response = target.send(operation, padded, "application/json")
        answers.append((operation, response))

    assert_refused(answers, 413)
    assert target.rows() == before


# Not JSON


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_body_that_is_not_sent_as_json_is_415_on_every_write_endpoint(
    target, content_type
):
    before = target.rows()

    answers = []
    for operation in target.operations:
        body = json.dumps(target.valid_body(operation))
        response = target.send(operation, body, content_type)
        answers.append((operation, response))

    assert_refused(answers, 415)
    assert target.rows() == before


def test_missing_body_is_422_on_every_write_endpoint(target):
    before = target.rows()

    answers = [(operation, target.send(operation)) for operation in target.operations]

    assert_refused(answers, 422)
    assert target.rows() == before


# Pathological JSON


@pytest.mark.parametrize("body", HOSTILE_BODIES)
def test_hostile_body_is_refused_on_every_write_endpoint(roomy_target, body):
    before = roomy_target.rows()

    answers = [
        (operation, roomy_target.send(operation, body, "application/json"))
        for operation in roomy_target.operations
    ]

    assert_refused(answers)
    assert roomy_target.rows() == before


@pytest.mark.parametrize("fragment", HOSTILE_VALUES)
def test_hostile_value_is_refused_in_every_field_of_every_write_endpoint(
    roomy_target, fragment
):
    before = roomy_target.rows()

    answers = []
    for operation in roomy_target.operations:
        for field in operation.fields:
            body = roomy_target.with_value(operation, field, fragment)
            response = roomy_target.send(operation, body, "application/json")
            answers.append((f"{operation} [{field}]", response))

    assert_refused(answers)
    assert roomy_target.rows() == before


def test_example_bodies_pass_validation(roomy_target):
    """The bodies the hostile values are put into are otherwise valid, so what
    refuses them is the hostile value."""
    answers = []
    for operation in roomy_target.operations:
        body = json.dumps(roomy_target.valid_body(operation)).encode()
        response = roomy_target.send(operation, body, "application/json")
        answers.append((operation, response.status_code))

    assert all(status < 500 for _, status in answers), answers
    assert [op for op, status in answers if status in (400, 403, 415, 422)] == []
