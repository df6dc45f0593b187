"""Each response shape has one source: the OpenAPI document.

Every 2xx answer of /openapi.json whose schema is a Store, Item, Tag or User
(one or a list), or an object wrapping one (TagUnlink's `item` and `tag`), is
requested from the running app, and its body must carry exactly the fields
its documented schema shows: every property but the `writeOnly` ones
(`password`, `store_id`), `readOnly` ones included, and nothing else, down
through nested objects and lists (`$ref` and `allOf` followed). The answers
and their fields come from the document; REQUESTS only says how to ask for
each answer, and an answer without a row there fails. The data is made so
that every list an answer shows has elements, so nested shapes are checked
too; only a new resource's own lists are empty, and REQUESTS names them.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

import email_tokens
from db import db
from models import UserModel
from tests.conftest import build_app
from tests.helpers import PASSWORD, create_item, create_tag, link, register, resolve

# The components whose shape is checked wherever an answer shows them.
SHAPES = {"Store", "Item", "Tag", "User"}
REF_PREFIX = "#/components/schemas/"
METHODS = {"get", "post", "put", "patch", "delete"}


@dataclass(frozen=True)
class Request:
    """How to get one answer from the `world` fixture's data: the body (a
    dict, or made from the world's ids), the world objects filling the path
    where they differ from PATH_VALUES, the lists that are necessarily
    empty in this answer (at paths as shape_problems names them), and
    whether an admin asks (for an admin-only answer) rather than alice."""

    body: dict | Callable[[dict], dict] | None = None
    path: dict = field(default_factory=dict)
    empty: frozenset = frozenset()
    admin: bool = False


def request(body=None, empty=(), admin=False, **path) -> Request:
    return Request(body, path, frozenset(empty), admin)


# Which object of the world fills each path parameter, unless a row says.
PATH_VALUES = {
    "store_id": "store",
    "item_id": "item",
    "tag_id": "tag",
    "user_id": "me",
}

# One row per answer ("METHOD path status") of the document that shows a
# shape. A new such answer fails until it gets a row here.
REQUESTS = {
    "GET /store 200": request(),
    "POST /store 201": request(
        {"name": "Second Shop"}, empty={"body.items", "body.tags"}
    ),
    "GET /store/{store_id} 200": request(),
    "PUT /store/{store_id} 200": request({"name": "Renamed Shop"}),
    # An admin hands alice's store to another registered user.
    "PUT /store/{store_id}/owner 200": request(
        lambda ids: {"user_id": ids["other_user"]}, admin=True
    ),
    "GET /item 200": request(),
    "POST /item 201": request(
        lambda ids: {"name": "Lamp", "price": 5.5, "store_id": ids["store"]},
        empty={"body.tags"},
    ),
    "GET /item/{item_id} 200": request(),
    "PUT /item/{item_id} 200": request({"price": 19.5}),
    "GET /store/{store_id}/tag 200": request(),
    "POST /store/{store_id}/tag 201": request({"name": "new"}, empty={"body.items"}),
    "GET /tag/{tag_id} 200": request(),
    # Already linked in the world: nothing changes.
    "POST /item/{item_id}/tag/{tag_id} 200": request(),
    "POST /item/{item_id}/tag/{tag_id} 201": request(
        item_id="other_item", tag_id="other_tag"
    ),
    "DELETE /item/{item_id}/tag/{tag_id} 200": request(),
    "POST /register 201": request({"username": "carol", "password": PASSWORD}),
    "GET /me 200": request(),
    "PUT /me/email 200": request({"email": "alice@example.com"}),
    "POST /email/verify 200": request(lambda ids: {"token": ids["verify_token"]}),
    "GET /user/{user_id} 200": request(),
}


def refs(node: dict) -> set[str]:
    """The component names `node` points at: itself, its `allOf` parts or,
    for a list, its elements."""
    if "items" in node:
        return refs(node["items"])
    found = {node["$ref"].removeprefix(REF_PREFIX)} if "$ref" in node else set()
    for part in node.get("allOf", []):
        found |= refs(part)
    return found


def shows_a_shape(spec: dict, schema: dict) -> bool:
    """Whether `schema` is, or lists, one of SHAPES, or is a component with a
    property that is (as TagUnlink's `item` and `tag`)."""
    names = refs(schema)
    if names & SHAPES:
        return True
    components = spec["components"]["schemas"]
    return any(
        refs(prop) & SHAPES
        for name in names
        for prop in components[name].get("properties", {}).values()
    )


def answer_schema(spec: dict, answer: str) -> dict:
    """The JSON schema of `answer` ("METHOD path status") in `spec`."""
    method, path, status = answer.split(" ")
    response = resolve(spec, spec["paths"][path][method.lower()]["responses"][status])
    return response["content"]["application/json"]["schema"]


def shaped_answers(spec: dict) -> list[str]:
    """Every 2xx answer of `spec` that shows a shape, as "METHOD path status"."""
    answers = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            for status, response in operation["responses"].items():
                content = resolve(spec, response).get("content", {})
                schema = content.get("application/json", {}).get("schema")
                if status.startswith("2") and schema and shows_a_shape(spec, schema):
                    answers.append(f"{method.upper()} {path} {status}")
    return sorted(answers)


def document() -> dict:
    app = build_app("sqlite://")
    return app.test_client().get("/openapi.json").get_json()


DOCUMENT = document()
DOCUMENTED = shaped_answers(DOCUMENT)


def flattened(spec: dict, node: dict) -> dict:
    """`node` with its `$ref` followed and the properties of its `allOf`
    parts merged in."""
    while "$ref" in node:
        node = resolve(spec, node)
    if "allOf" not in node:
        return node
    merged = {key: value for key, value in node.items() if key != "allOf"}
    for part in node["allOf"]:
        part = flattened(spec, part)
        properties = {**merged.get("properties", {}), **part.get("properties", {})}
        merged = {**part, **merged, "properties": properties}
    return merged


def shape_problems(
    spec: dict, schema: dict, body, path: str = "body", may_be_empty=frozenset()
) -> list[str]:
    """What in `body`, at `path`, differs from the fields `schema` documents.

    An object must hold every property but the `writeOnly` ones, and no
    other key; its values are checked in turn. A list must not be empty,
    unless its path is in `may_be_empty`, for then its elements' shape goes
    unchecked. Scalars are not looked into: only the fields are.
    """
    schema = flattened(spec, schema)
    if body is None and schema.get("nullable"):
        return []
    if schema.get("type") == "array":
        if not isinstance(body, list):
            return [f"{path}: a list is documented, got {body!r}"]
        if not body:
            if path in may_be_empty:
                return []
            return [f"{path}: empty list, so its elements' shape goes unchecked"]
        return [
            problem
            for index, element in enumerate(body)
            for problem in shape_problems(
                spec, schema["items"], element, f"{path}[{index}]", may_be_empty
            )
        ]
    if "properties" not in schema:
        return []
    if not isinstance(body, dict):
        return [f"{path}: an object is documented, got {body!r}"]
    properties = schema["properties"]
    write_only = {
        name
        for name, prop in properties.items()
        if flattened(spec, prop).get("writeOnly")
    }
    shown = properties.keys() - write_only
    problems = []
    if missing := sorted(shown - body.keys()):
        problems.append(f"{path}: documented fields missing: {missing}")
    if leaked := sorted(write_only & body.keys()):
        problems.append(f"{path}: write-only fields shown: {leaked}")
    if extra := sorted(body.keys() - properties.keys()):
        problems.append(f"{path}: undocumented fields: {extra}")
    for name in sorted(shown & body.keys()):
        problems += shape_problems(
            spec, properties[name], body[name], f"{path}.{name}", may_be_empty
        )
    return problems


@pytest.fixture
def world(app, client, user_headers, store, item, tag):
    """Alice's store with two items and two tags, linked so that every list
    an answer shows has elements, also after the item and the tag are
    unlinked, and another user, dave, with an address to verify: {name: id},
    and the token of dave's verification email."""
    other_item = create_item(client, user_headers, store["id"], "Table", 120)
    other_tag = create_tag(client, user_headers, store["id"], "oak")
    for item_id, tag_id in [
        (item["id"], tag["id"]),
        (item["id"], other_tag["id"]),
        (other_item["id"], tag["id"]),
    ]:
        assert link(client, user_headers, item_id, tag_id).status_code == 201
    me = client.get("/me", headers=user_headers).get_json()
    other_user = register(client, "dave")
    with app.app_context():
        dave = db.session.get(UserModel, other_user["id"])
        dave.email = "dave@example.com"
        db.session.commit()
        verify_token = email_tokens.issue(dave, email_tokens.VERIFY_EMAIL)
    return {
        "verify_token": verify_token,
        "store": store["id"],
        "item": item["id"],
        "tag": tag["id"],
        "other_item": other_item["id"],
        "other_tag": other_tag["id"],
        "me": me["id"],
        "other_user": other_user["id"],
    }


def url_of(path: str, row: Request, ids: dict) -> str:
    names = {**PATH_VALUES, **row.path}
    return re.sub(r"\{(\w+)\}", lambda match: str(ids[names[match[1]]]), path)


def body_of(row: Request, ids: dict) -> dict | None:
    return row.body(ids) if callable(row.body) else row.body


@pytest.mark.parametrize("answer", DOCUMENTED)
def test_answer_shows_exactly_its_documented_fields(
    client, user_headers, admin_headers, spec, world, answer
):
    if answer not in REQUESTS:
        pytest.fail(f"{answer} shows a shape but has no row in REQUESTS: add one")
    row = REQUESTS[answer]
    method, path, status = answer.split(" ")

    response = client.open(
        url_of(path, row, world),
        method=method,
        json=body_of(row, world),
        headers=admin_headers if row.admin else user_headers,
    )

    body = response.get_json()
    assert response.status_code == int(status), (answer, body)
    problems = shape_problems(
        spec, answer_schema(spec, answer), body, may_be_empty=row.empty
    )
    assert not problems, f"{answer}:\n" + "\n".join(problems)


def test_every_row_of_the_table_is_a_documented_answer():
    stale = sorted(set(REQUESTS) - set(DOCUMENTED))

    assert stale == [], f"rows of REQUESTS the document does not list: {stale}"


def test_every_shape_is_shown_by_some_documented_answer():
    shown = set().union(
        *(refs(answer_schema(DOCUMENT, answer)) for answer in DOCUMENTED)
    )

    assert shown >= SHAPES, f"no answer found showing {sorted(SHAPES - shown)}"


# A document of its own for the checker's tests: a Full with a write-only
# field, a nested Plain (through allOf, as flask-smorest writes it) and a
# list of Plains.
TOY = {
    "components": {
        "schemas": {
            "Plain": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer", "readOnly": True},
                    "name": {"type": "string"},
                    "note": {"type": "string", "nullable": True},
                },
            },
            "Full": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer", "readOnly": True},
                    "secret": {"type": "string", "writeOnly": True},
                    "parent": {
                        "readOnly": True,
                        "allOf": [{"$ref": "#/components/schemas/Plain"}],
                    },
                    "children": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Plain"},
                    },
                },
            },
        }
    }
}
FULL = {"$ref": "#/components/schemas/Full"}


def full(**changes) -> dict:
    """A Full body that has its documented shape, with `changes`."""
    plain = {"id": 1, "name": "a", "note": None}
    return {"id": 2, "parent": dict(plain), "children": [dict(plain)], **changes}


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        pytest.param(full(), [], id="exact"),
        pytest.param(
            full(parent={"id": 1, "note": "x", "colour": "red"}),
            [
                "body.parent: documented fields missing: ['name']",
                "body.parent: undocumented fields: ['colour']",
            ],
            id="nested-missing-and-extra",
        ),
        pytest.param(
            full(children=[{"id": 1, "name": "a", "note": None}, {"id": 3}]),
            ["body.children[1]: documented fields missing: ['name', 'note']"],
            id="second-element-of-a-list",
        ),
        pytest.param(
            full(secret="hunter2"),
            ["body: write-only fields shown: ['secret']"],
            id="write-only-shown",
        ),
        pytest.param(
            {"children": []},
            [
                "body: documented fields missing: ['id', 'parent']",
                "body.children: empty list, so its elements' shape goes unchecked",
            ],
            id="read-only-missing-and-empty-list",
        ),
        pytest.param(
            full(parent=None, children={}),
            [
                "body.children: a list is documented, got {}",
                "body.parent: an object is documented, got None",
            ],
            id="wrong-kinds",
        ),
    ],
)
def test_checker_reports_each_difference_by_path(body, problems):
    assert shape_problems(TOY, FULL, body) == problems


def test_checker_accepts_an_empty_list_where_told_it_is_one():
    body = full(children=[])

    assert shape_problems(TOY, FULL, body, may_be_empty={"body.children"}) == []


def test_checker_follows_lists_of_components():
    listed = {"type": "array", "items": FULL}

    assert shape_problems(TOY, listed, [full(), full(extra=1)]) == [
        "body[1]: undocumented fields: ['extra']"
    ]
