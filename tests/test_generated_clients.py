"""Clients generated from /openapi.json by `make clients`, exercised as app teams use them.

`make clients` writes a Python package (openapi-python-client) and TypeScript
types (openapi-typescript) into the git-ignored generated/, and type-checks
clients/typescript/check.ts against the types with tsc. Here the Python
client, imported from generated/ and never edited, plays a mobile session
against gunicorn; and tsc must refuse code that misuses the types.

The generation runs once per test run, under a lock, whichever xdist worker
comes first (the others reuse it).
"""

import fcntl
import importlib
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.conftest import served_env, sqlite_copy
from tests.servers import ROOT, gunicorn

pytestmark = pytest.mark.slow

GENERATED = ROOT / "generated"
RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID", uuid.uuid4().hex)


@pytest.fixture(scope="module")
def generated():
    if shutil.which("npx") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npm is not installed; CI=true requires it")
        pytest.skip("npm is not installed: make clients needs openapi-typescript")
    GENERATED.mkdir(exist_ok=True)
    stamp = GENERATED / ".made-by-test-run"
    with open(GENERATED / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists() or stamp.read_text() != RUN:
            made = subprocess.run(
                ["make", "clients"], cwd=ROOT, capture_output=True, text=True
            )
            assert made.returncode == 0, made.stdout + made.stderr
            assert "Warning" not in made.stdout + made.stderr, made.stdout
            stamp.write_text(RUN)
    return GENERATED


@pytest.fixture(scope="module")
def client_package(generated):
    sys.path.insert(0, str(generated / "python"))
    try:
        yield importlib.import_module("stores_api_client")
    finally:
        sys.path.remove(str(generated / "python"))


@pytest.fixture(scope="module")
def server(migrated_sqlite, tmp_path_factory):
    folder = tmp_path_factory.mktemp("generated-client")
    url = sqlite_copy(migrated_sqlite, folder)
    with gunicorn(served_env(url), folder / "gunicorn.log") as base_url:
        yield base_url


def test_the_generated_python_client_plays_a_mobile_session(client_package, server):
    from stores_api_client import AuthenticatedClient, Client
    from stores_api_client.api.changes import get_changes
    from stores_api_client.api.items import get_item, post_item
    from stores_api_client.api.stores import post_store
    from stores_api_client.api.users import (
        get_me,
        post_login,
        post_logout,
        post_refresh,
        post_register,
    )
    from stores_api_client.models import ItemCreate, Login, PlainStore, Register

    anonymous = Client(base_url=server)
    name = f"mobile_{uuid.uuid4().hex[:8]}"
    password = "correct horse battery"
    registered = post_register.sync_detailed(
        client=anonymous, body=Register(username=name, password=password)
    )
    assert registered.status_code == 201
    tokens = post_login.sync(
        client=anonymous, body=Login(username=name, password=password)
    )
    app = AuthenticatedClient(base_url=server, token=tokens.access_token)

    store = post_store.sync_detailed(
        client=app,
        body=PlainStore(name=f"Store {name}"),
        idempotency_key=str(uuid.uuid4()),
    )
    assert store.status_code == 201
    key = str(uuid.uuid4())
    body = ItemCreate(name="Chair", price=17.99, store_id=store.parsed.id)
    created = post_item.sync_detailed(client=app, body=body, idempotency_key=key)
    retried = post_item.sync_detailed(client=app, body=body, idempotency_key=key)
    assert created.status_code == retried.status_code == 201
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.content == created.content
    assert retried.parsed.id == created.parsed.id

    for n in range(3):
        post_item.sync(
            client=app,
            body=ItemCreate(name=f"Stool {n}", price=n, store_id=store.parsed.id),
        )
    first_page = get_item.sync_detailed(
        client=app, store_id=store.parsed.id, page=1, page_size=2
    )
    assert [item.name for item in first_page.parsed] == ["Chair", "Stool 0"]
    assert 'rel="next"' in first_page.headers["Link"]

    feed = get_changes.sync(client=app, limit=1000)
    rows = {(c.type_, c.id): c for c in feed.changes}
    assert feed.has_more is False
    assert ("item", created.parsed.id) in rows
    assert ("store", store.parsed.id) in rows

    refresher = AuthenticatedClient(base_url=server, token=tokens.refresh_token)
    refreshed = post_refresh.sync(client=refresher)
    app = AuthenticatedClient(base_url=server, token=refreshed.access_token)
    assert get_me.sync(client=app).username == name
    assert post_logout.sync_detailed(client=app).status_code == 200
    assert get_me.sync_detailed(client=app).status_code == 401


def test_tsc_refuses_code_that_misuses_the_generated_types(generated, tmp_path):
    wrong = tmp_path / "wrong.ts"
    wrong.write_text(
        'import type { components } from "stores-api";\n'
        'const item: components["schemas"]["Item"] = '
        '{ name: "Chair", price: "free", store_id: 1 };\n'
        "export { item };\n"
    )
    config = tmp_path / "tsconfig.json"
    config.write_text(
        json.dumps(
            {
                "extends": str(ROOT / "clients" / "typescript" / "tsconfig.json"),
                "compilerOptions": {
                    "paths": {
                        "stores-api": [str(generated / "typescript" / "api.d.ts")]
                    }
                },
                "files": ["wrong.ts"],
            }
        )
    )

    checked = subprocess.run(
        ["npx", "--no-install", "tsc", "-p", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )

    assert checked.returncode != 0
    assert "wrong.ts(2," in checked.stdout, checked.stdout
    assert "not assignable to type 'number'" in checked.stdout, checked.stdout
