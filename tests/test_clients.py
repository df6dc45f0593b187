"""The API client collections in clients/: newman walks the Postman chain against
gunicorn, and neither collection drifts from /openapi.json or from itself.

Chain order is the order a runner sends the requests: depth first through Postman
folders, and through Insomnia request groups sorted by metaSortKey.
"""

import base64
import binascii
import copy
import json
import os
import re
import subprocess
from urllib.parse import parse_qsl

import pytest

from tests.servers import ROOT

POSTMAN = ROOT / "clients" / "postman_collection.json"
INSOMNIA = ROOT / "clients" / "insomnia_export.json"
NEWMAN = ROOT / "node_modules" / ".bin" / "newman"
POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
LOCAL_SERVER = "http://127.0.0.1:5000"
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
INSOMNIA_TYPES = {
    "workspace",
    "environment",
    "cookie_jar",
    "request_group",
    "request",
    "api_spec",
}

# A Postman variable, an Insomnia variable or an Insomnia tag, wherever it sits.
TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
POSTMAN_VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
POSTMAN_SET = re.compile(r"""pm\.collectionVariables\.set\(\s*["']([^"']+)["']""")
INSOMNIA_VARIABLE = re.compile(r"\{\{\s*(?:_\.)?(\w+)\s*\}\}")
RESPONSE_TAG = re.compile(r"\{%\s*response\s+'(\w+)',\s*'([^']*)',\s*'([^']*)'")
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
LITERAL_ID = re.compile(r'"\w*_id"\s*:\s*\d')


def load(path) -> dict:
    return json.loads(path.read_text())


def strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from strings(inner)


# --- Reading the collections ------------------------------------------------------


def postman_requests(collection: dict) -> list[dict]:
    """The collection's request items in the order a runner sends them."""

    def walk(items):
        for item in items:
            if "item" in item:
                yield from walk(item["item"])
            else:
                yield item

    return list(walk(collection["item"]))


def postman_script(item: dict, listen: str) -> str:
    scripts = [
        event["script"]["exec"]
        for event in item.get("event", [])
        if event["listen"] == listen
    ]
    return "\n".join(
        script if isinstance(script, str) else "\n".join(script) for script in scripts
    )


def postman_urls(url) -> set[str]:
    """The URL the Postman app shows (raw) and the one newman sends (host, path, query)."""
    if isinstance(url, str):
        return {url}
    query = "&".join(
        f"{pair['key']}={pair.get('value') or ''}"
        for pair in url.get("query", [])
        if not pair.get("disabled")
    )
    sent = "".join(url.get("host", [])) + "/" + "/".join(url.get("path", []))
    return {url["raw"], f"{sent}?{query}" if query else sent}


def postman_calls(collection: dict) -> list[tuple[str, str, str]]:
    """(request name, method, URL) for each distinct URL of every request."""
    return [
        (item["name"], item["request"]["method"], url)
        for item in postman_requests(collection)
        for url in sorted(postman_urls(item["request"]["url"]))
    ]


def insomnia_requests(export: dict) -> list[dict]:
    """The export's requests in the order Insomnia lists them."""
    children = {}
    for resource in export["resources"]:
        children.setdefault(resource.get("parentId"), []).append(resource)

    def walk(parent_id):
        for resource in sorted(
            children.get(parent_id, []), key=lambda r: r.get("metaSortKey", 0)
        ):
            if resource["_type"] == "request":
                yield resource
            elif resource["_type"] == "request_group":
                yield from walk(resource["_id"])

    workspace = next(r for r in export["resources"] if r["_type"] == "workspace")
    return list(walk(workspace["_id"]))


def insomnia_calls(export: dict) -> list[tuple[str, str, str]]:
    calls = []
    for request in insomnia_requests(export):
        url = request["url"]
        parameters = "&".join(
            f"{p['name']}={p['value']}"
            for p in request.get("parameters", [])
            if not p.get("disabled")
        )
        if parameters:
            url += ("&" if "?" in url else "?") + parameters
        calls.append((request["name"], request["method"], url))
    return calls


# --- The checks -------------------------------------------------------------------


def documented_operations(app) -> dict[tuple[str, str], set[str]]:
    """(METHOD, path template) of every operation in /openapi.json: its query parameters."""
    spec = app.test_client().get("/openapi.json").get_json()

    def resolve(parameter):
        if "$ref" not in parameter:
            return parameter
        name = parameter["$ref"].removeprefix("#/components/parameters/")
        return spec["components"]["parameters"][name]

    return {
        (method.upper(), path): {
            parameter["name"]
            for parameter in map(
                resolve, [*item.get("parameters", []), *operation.get("parameters", [])]
            )
            if parameter["in"] == "query"
        }
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def template_of(path: str, operations) -> str | None:
    """The OpenAPI path template `path` fits; a {param} segment takes only a variable."""
    segments = path.split("/")
    for _, template in operations:
        parts = template.split("/")
        if len(parts) == len(segments) and all(
            segment == "{}" if part.startswith("{") else segment == part
            for part, segment in zip(parts, segments, strict=True)
        ):
            return template
    return None


def undocumented_calls(calls, base: str, operations) -> list[str]:
    """Every call whose method, path or query parameter /openapi.json does not have.

    `calls` are (name, method, url); each URL must start with the `base` variable, and
    variables and tags in it are read as "{}" placeholders.
    """
    problems = []
    for name, method, url in calls:
        if not url.startswith(base):
            problems.append(f"{name}: {url} does not start with {base}")
            continue
        path, _, query = TEMPLATE.sub("{}", url.removeprefix(base)).partition("?")
        template = template_of(path, operations)
        if (method, template) not in operations:
            problems.append(f"{name}: {method} {path} is not in /openapi.json")
            continue
        for parameter, _ in parse_qsl(query, keep_blank_values=True):
            if parameter not in operations[method, template]:
                problems.append(
                    f"{name}: {method} {template} has no query parameter {parameter!r}"
                )
    return problems


def postman_variables_not_yet_set(collection: dict) -> list[str]:
    """Every {{variable}} a request uses that is not base_url and not set before it is sent:
    by an earlier request's script, or by its own pre-request script."""
    problems = []
    set_earlier = set()
    for item in postman_requests(collection):
        prerequest = postman_script(item, "prerequest")
        available = set_earlier | {"base_url"} | set(POSTMAN_SET.findall(prerequest))
        used = {
            variable
            for text in strings(item["request"])
            for variable in POSTMAN_VARIABLE.findall(text)
        }
        problems += [
            f"{item['name']}: {{{{{variable}}}}} is not set by an earlier request"
            for variable in sorted(used - available)
        ]
        set_earlier |= set(POSTMAN_SET.findall(prerequest))
        set_earlier |= set(POSTMAN_SET.findall(postman_script(item, "test")))
    return problems


def decoded_argument(argument: str) -> str | None:
    """The text of a 'b64::<base64>::46b' tag argument, or None if it is not one."""
    match = re.fullmatch(r"b64::([A-Za-z0-9+/=]+)::46b", argument)
    if not match:
        return None
    try:
        return base64.b64decode(match.group(1), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def bad_insomnia_references(export: dict) -> list[str]:
    """Every response tag whose request is missing or not earlier in the chain, or
    whose JSONPath / header name is not a well-formed b64 argument."""
    problems = []
    request_ids = {r["_id"] for r in export["resources"] if r["_type"] == "request"}
    earlier = set()
    for request in insomnia_requests(export):
        for text in strings(request):
            for kind, target, argument in RESPONSE_TAG.findall(text):
                where = f"{request['name']}: response tag on {target!r}"
                if target not in request_ids:
                    problems.append(f"{where}: no such request")
                elif target not in earlier:
                    problems.append(f"{where}: not an earlier request")
                decoded = decoded_argument(argument)
                if kind in {"body", "header"} and not decoded:
                    problems.append(f"{where}: {argument!r} is not b64::<base64>::46b")
                elif kind == "body" and not decoded.startswith("$"):
                    problems.append(f"{where}: {decoded!r} is not a JSONPath")
        earlier.add(request["_id"])
    return problems


def find_postman_request(collection: dict, name: str) -> dict:
    return next(i for i in postman_requests(collection) if i["name"] == name)


def find_insomnia_request(export: dict, request_id: str) -> dict:
    return next(r for r in export["resources"] if r["_id"] == request_id)


@pytest.fixture
def operations(app_factory):
    return documented_operations(app_factory("sqlite://"))


# --- newman against the real server -----------------------------------------------


def installed_newman():
    """node_modules/.bin/newman; skips without it, except under CI=true, which fails."""
    if NEWMAN.exists():
        return NEWMAN
    reason = "newman is not installed in node_modules/ (run `npm ci`)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires it")
    pytest.skip(reason)


@pytest.mark.slow
def test_newman_walks_the_postman_chain_against_gunicorn_without_a_failure(
    request, tmp_path
):
    newman = installed_newman()  # before a server is started for nothing
    base_url, log = request.getfixturevalue("gunicorn_server")
    report = tmp_path / "newman.json"

    result = subprocess.run(
        [
            str(newman),
            "run",
            str(POSTMAN),
            "--env-var",
            f"base_url={base_url}",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--color",
            "off",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    output = f"{result.stdout}\n{result.stderr}\n--- gunicorn ---\n{log.read_text()}"
    assert result.returncode == 0, output
    run = json.loads(report.read_text())["run"]
    assert run["failures"] == [], output
    stats = run["stats"]
    assert stats["assertions"]["failed"] == 0, output
    assert stats["requests"]["total"] == len(postman_requests(load(POSTMAN)))
    assert stats["assertions"]["total"] >= stats["requests"]["total"]


# --- No drift from /openapi.json --------------------------------------------------


def test_every_postman_request_is_an_operation_of_the_openapi_document(operations):
    calls = postman_calls(load(POSTMAN))

    assert undocumented_calls(calls, "{{base_url}}", operations) == []


def test_every_insomnia_request_is_an_operation_of_the_openapi_document(operations):
    calls = insomnia_calls(load(INSOMNIA))

    assert undocumented_calls(calls, "{{ _.base_url }}", operations) == []


def test_drift_check_reports_a_renamed_postman_path(operations):
    collection = load(POSTMAN)
    url = find_postman_request(collection, "Create a store")["request"]["url"]
    url["raw"] = url["raw"].replace("/store", "/stores")
    url["path"] = ["stores"]

    problems = undocumented_calls(postman_calls(collection), "{{base_url}}", operations)

    assert problems == ["Create a store: POST /stores is not in /openapi.json"]


def test_drift_check_reports_a_postman_path_renamed_only_where_newman_reads_it(
    operations,
):
    collection = load(POSTMAN)
    find_postman_request(collection, "Create a store")["request"]["url"]["path"] = [
        "stores"
    ]

    problems = undocumented_calls(postman_calls(collection), "{{base_url}}", operations)

    assert problems == ["Create a store: POST /stores is not in /openapi.json"]


def test_drift_check_reports_a_renamed_insomnia_path(operations):
    export = load(INSOMNIA)
    request = find_insomnia_request(export, "req_create_store")
    request["url"] = request["url"].replace("/store", "/stores")

    problems = undocumented_calls(
        insomnia_calls(export), "{{ _.base_url }}", operations
    )

    assert problems == ["Create a store: POST /stores is not in /openapi.json"]


def test_drift_check_reports_an_unknown_query_parameter(operations):
    collection = load(POSTMAN)
    url = find_postman_request(collection, "List the store's items, first page")[
        "request"
    ]["url"]
    url["raw"] = url["raw"].replace("page_size=", "per_page=")
    url["query"][-1]["key"] = "per_page"

    problems = undocumented_calls(postman_calls(collection), "{{base_url}}", operations)

    assert problems == [
        "List the store's items, first page: GET /item has no query parameter 'per_page'"
    ]


def test_drift_check_reports_a_hard_coded_id_in_a_path(operations):
    collection = load(POSTMAN)
    url = find_postman_request(collection, "Get the store and its ETag")["request"][
        "url"
    ]
    url["raw"] = "{{base_url}}/store/1"
    url["path"] = ["store", "1"]

    problems = undocumented_calls(postman_calls(collection), "{{base_url}}", operations)

    assert problems == [
        "Get the store and its ETag: GET /store/1 is not in /openapi.json"
    ]


def test_both_collections_walk_the_same_chain():
    def chain(calls, base):
        return [
            (method, TEMPLATE.sub("{}", url.removeprefix(base)).split("?")[0])
            for _, method, url in calls
        ]

    assert chain(postman_calls(load(POSTMAN)), "{{base_url}}") == chain(
        insomnia_calls(load(INSOMNIA)), "{{ _.base_url }}"
    )


def test_every_postman_url_shown_in_the_app_is_the_one_newman_sends():
    collection = load(POSTMAN)

    assert len(postman_calls(collection)) == len(postman_requests(collection))


# --- Chained values ---------------------------------------------------------------


def test_every_postman_variable_is_set_by_an_earlier_request():
    assert postman_variables_not_yet_set(load(POSTMAN)) == []


def test_variable_check_reports_a_request_moved_before_the_one_that_sets_its_variables():
    collection = load(POSTMAN)
    listing = find_postman_request(collection, "List the store's items, first page")
    collection["item"].insert(0, copy.deepcopy(listing))

    problems = postman_variables_not_yet_set(collection)

    assert problems[:2] == [
        "List the store's items, first page: {{access_token}} is not set by an earlier request",
        "List the store's items, first page: {{store_id}} is not set by an earlier request",
    ]


def test_every_insomnia_response_tag_references_an_earlier_request():
    assert bad_insomnia_references(load(INSOMNIA)) == []


def test_reference_check_reports_a_tag_on_a_later_or_missing_request():
    export = load(INSOMNIA)
    request = find_insomnia_request(export, "req_create_item")
    request["body"]["text"] = request["body"]["text"].replace(
        "'req_create_store'", "'req_create_tag'"
    )
    request["authentication"]["token"] = request["authentication"]["token"].replace(
        "'req_login'", "'req_signin'"
    )

    problems = bad_insomnia_references(export)

    assert sorted(problems) == [
        "Create an item in the store: response tag on 'req_create_tag': not an earlier request",
        "Create an item in the store: response tag on 'req_signin': no such request",
    ]


def test_every_insomnia_variable_is_defined_in_the_base_environment():
    export = load(INSOMNIA)
    environment = next(r for r in export["resources"] if r["_type"] == "environment")
    used = {
        variable
        for request in insomnia_requests(export)
        for text in strings(request)
        for variable in INSOMNIA_VARIABLE.findall(text)
    }

    assert used and used <= set(environment["data"])


@pytest.mark.parametrize("path", [POSTMAN, INSOMNIA], ids=["postman", "insomnia"])
def test_no_collection_holds_a_literal_token_or_id(path):
    texts = list(strings(load(path)))

    assert [text for text in texts if JWT.search(text)] == []
    assert [text for text in texts if LITERAL_ID.search(text)] == []


def test_every_postman_request_has_a_test_script_asserting_its_status():
    untested = [
        item["name"]
        for item in postman_requests(load(POSTMAN))
        if not re.search(
            r"pm\.test\(.*\n\s*pm\.response\.to\.have\.status\(\d{3}\)",
            postman_script(item, "test"),
        )
    ]

    assert untested == []


# --- Valid formats ----------------------------------------------------------------


def test_postman_collection_is_a_v2_1_collection_of_requests():
    collection = load(POSTMAN)

    def check(items):
        assert isinstance(items, list) and items
        for item in items:
            assert isinstance(item["name"], str) and item["name"]
            if "item" in item:
                check(item["item"])
                continue
            request = item["request"]
            assert request["method"].lower() in HTTP_METHODS
            assert isinstance(request["url"], str | dict)
            for event in item.get("event", []):
                assert event["listen"] in {"prerequest", "test"}
                assert all(isinstance(line, str) for line in event["script"]["exec"])

    assert collection["info"]["schema"] == POSTMAN_SCHEMA
    assert collection["info"]["name"]
    check(collection["item"])


def test_postman_base_url_variable_defaults_to_the_local_server():
    variables = load(POSTMAN)["variable"]

    assert {"key": "base_url", "value": LOCAL_SERVER} in [
        {"key": v["key"], "value": v["value"]} for v in variables
    ]


def test_insomnia_export_is_a_v4_export_of_typed_resources():
    export = load(INSOMNIA)
    resources = export["resources"]
    ids = [resource["_id"] for resource in resources]

    assert export["_type"] == "export"
    assert export["__export_format"] == 4
    assert len(ids) == len(set(ids))
    assert {resource["_type"] for resource in resources} <= INSOMNIA_TYPES
    assert [r["_type"] for r in resources].count("workspace") == 1
    assert all(r["parentId"] in ids for r in resources if r["_type"] != "workspace")
    requests = [r for r in resources if r["_type"] == "request"]
    assert requests and all(r["method"].lower() in HTTP_METHODS for r in requests)
    assert len(insomnia_requests(export)) == len(requests)  # all under the workspace


def test_insomnia_base_environment_defines_base_url_with_the_local_default():
    export = load(INSOMNIA)
    workspace = next(r for r in export["resources"] if r["_type"] == "workspace")
    base = [
        r
        for r in export["resources"]
        if r["_type"] == "environment" and r["parentId"] == workspace["_id"]
    ]

    assert [environment["data"]["base_url"] for environment in base] == [LOCAL_SERVER]
