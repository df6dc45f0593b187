"""smorest_adapter.py: the private flask-smorest methods it overrides still exist
as overridden, and each override has its effect (a new flask-smorest release
that renames or reshapes one fails here, by name)."""

import inspect
import warnings
from importlib.metadata import version

import pytest
from flask import Flask
from flask.views import MethodView
from flask_smorest.etag import EtagMixin, _get_etag_ctx
from flask_smorest.pagination import PaginationMixin
from flask_smorest.spec import APISpecMixin

import smorest_adapter
from api import Api, Blueprint
from schemas import StoreSchema
from tests.helpers import create_store


@pytest.fixture
def backend():
    """What is tested here cannot differ between databases."""
    return "sqlite"


OVERRIDES = (
    [
        (smorest_adapter.OptionalIfMatch, EtagMixin, Blueprint, name)
        for name in smorest_adapter.BLUEPRINT_OVERRIDES
    ]
    + [
        (smorest_adapter.PagingLinks, PaginationMixin, Blueprint, name)
        for name in smorest_adapter.PAGING_OVERRIDES
    ]
    + [
        (smorest_adapter.DocumentedHeaders, APISpecMixin, Api, name)
        for name in smorest_adapter.API_OVERRIDES
    ]
)


@pytest.mark.parametrize(("mixin", "library", "used_by", "name"), OVERRIDES)
def test_each_override_replaces_a_method_of_flask_smorest(
    mixin, library, used_by, name
):
    ours = getattr(mixin, name)
    theirs = getattr(library, name, None)
    assert theirs is not None, f"flask-smorest no longer has {library.__name__}.{name}"
    assert inspect.signature(ours) == inspect.signature(theirs), name
    assert getattr(used_by, name) is ours


@pytest.mark.parametrize("name", smorest_adapter.BLUEPRINT_USES)
def test_each_private_method_the_adapter_calls_is_flask_smorests(name):
    """check_etag makes a tag as flask-smorest's own ETag of an answer is made."""
    theirs = getattr(EtagMixin, name, None)
    assert theirs is not None, f"flask-smorest no longer has EtagMixin.{name}"
    assert list(inspect.signature(theirs).parameters)[:1] == ["etag_data"]
    assert getattr(Blueprint, name) is theirs


def test_the_etag_bookkeeping_is_where_the_adapter_marks_it():
    """flask-smorest's guard reads the key the adapter writes, in the
    context the adapter writes it to."""
    source = inspect.getsource(EtagMixin._verify_check_etag)
    assert f'_get_etag_ctx().get("{smorest_adapter.ETAG_CHECKED}")' in source
    assert smorest_adapter.etag_context is _get_etag_ctx


def forgetful_app():
    """An app with one write under @etag that never calls check_etag."""
    blp = Blueprint("forgetful", __name__)

    @blp.route("/forgetful")
    @blp.etag
    class Forgetful(MethodView):
        @blp.response(200, StoreSchema)
        def put(self):
            return {"id": 1, "name": "x", "items": [], "tags": []}

        @blp.response(200, StoreSchema)
        def delete(self):
            blp.check_etag({"id": 1}, StoreSchema)
            return {"id": 1, "name": "x", "items": [], "tags": []}

    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    Api(app).register_blueprint(blp)
    return app


def test_a_write_that_forgets_check_etag_is_warned_about():
    """The guard that keeps every write honest: under the suite's
    warnings-as-errors this fails any test that reaches such a write."""
    client = forgetful_app().test_client()
    with pytest.warns(UserWarning, match="ETag not checked in endpoint"):
        client.put("/forgetful")


def test_a_write_that_checks_its_etag_without_if_match_proceeds():
    client = forgetful_app().test_client()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        response = client.delete("/forgetful")
    assert response.status_code == 200


def test_no_write_of_the_api_asks_for_if_match(client, user_headers):
    store = create_store(client, user_headers, "Corner Shop")
    response = client.put(
        f"/store/{store['id']}", json={"name": "Renamed"}, headers=user_headers
    )
    assert response.status_code == 200


def test_a_stale_if_match_is_412_in_the_envelope(client, user_headers):
    store = create_store(client, user_headers, "Corner Shop")
    response = client.put(
        f"/store/{store['id']}",
        json={"name": "Renamed"},
        headers={**user_headers, "If-Match": '"stale"'},
    )
    assert response.status_code == 412
    assert response.get_json()["message"].startswith("The resource has changed")


def test_a_304_carries_the_etag(client, user_headers):
    store = create_store(client, user_headers, "Corner Shop")
    first = client.get(f"/store/{store['id']}", headers=user_headers)
    again = client.get(
        f"/store/{store['id']}",
        headers={**user_headers, "If-None-Match": first.headers["ETag"]},
    )
    assert again.status_code == 304
    assert again.headers["ETag"] == first.headers["ETag"]


def test_the_document_has_no_428_and_an_optional_if_match(spec):
    operations = [
        operation
        for path in spec["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict)
    ]
    assert any("412" in operation["responses"] for operation in operations)
    assert all("428" not in operation["responses"] for operation in operations)
    assert spec["components"]["parameters"]["IF_MATCH"]["required"] is False
    assert "content" in spec["components"]["headers"]["PAGINATION"]


def test_flask_smorest_is_the_release_the_adapter_was_written_for():
    """A new release passes the tests above or fails them; this says which
    release they were last read against."""
    assert version("flask-smorest") == "0.47.0"
