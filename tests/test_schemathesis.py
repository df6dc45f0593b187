"""Property-based testing of the OpenAPI document with Schemathesis.

Every operation gets at least 100 generated requests, sent as an admin with a
fresh token (a refresh token for /refresh), and every response is checked
against the document: no 5xx, and status, content type, headers and body as
documented, plus Schemathesis's other default checks. schemathesis.toml lists
the two contractual outcomes its positive-data check is told about, and why.
"""

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from auth import issue_tokens
from db import db
from models import UserModel
from tests.helpers import (
    PASSWORD,
    create_item,
    create_store,
    create_tag,
    link,
)
from tests.servers import ROOT

pytestmark = pytest.mark.slow

schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def api_schema(app, client, admin_headers):
    """The app's own document, served in-process, over a few stores, items and tags."""
    for number in (1, 2):
        store = create_store(client, admin_headers, f"store {number}")
        item = create_item(client, admin_headers, store["id"], f"item {number}", 4.5)
        tag = create_tag(client, admin_headers, store["id"], f"tag {number}")
        link(client, admin_headers, item["id"], tag["id"])
    config = SchemathesisConfig.from_path(str(ROOT / "schemathesis.toml"))
    return schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)


@pytest.fixture
def cases_per_operation(api_schema):
    """Counts the requests sent per operation; at the end, each must have had 100."""
    counts = Counter()
    yield counts
    labels = {result.ok().label for result in api_schema.get_all_operations()}
    too_few = {label: counts[label] for label in labels if counts[label] < 100}
    assert not too_few, f"operations with fewer than 100 generated cases: {too_few}"


@schema.auth(refresh_interval=None, retry_on=[])
class FreshAdminToken:
    """Every request is an admin's, with a fresh token; /refresh gets a refresh token.

    Tokens are issued per request because cases log out, rotate and delete.
    """

    def get(self, case, context):
        tokens = admin_tokens(context.app)
        return tokens["refresh_token" if case.path == "/refresh" else "access_token"]

    def set(self, case, token, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}


def admin_tokens(app) -> dict:
    """A fresh token pair of an admin, who is recreated if a case deleted them."""
    with app.app_context():
        admin = UserModel.find_by_username("admin")
        if admin is None:
            admin = UserModel(username="admin", is_admin=True)
            admin.set_password(PASSWORD)
            db.session.add(admin)
            db.session.commit()
        return issue_tokens(admin, fresh=True)


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(app, case, cases_per_operation):
    cases_per_operation[case.operation.label] += 1

    case.call_and_validate()
