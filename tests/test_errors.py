"""Every error a client can cause is the contract's JSON envelope, never a 500."""

import logging

import pytest

from tests.helpers import assert_error


def test_unknown_url_is_a_404_envelope(client):
    assert_error(client.get("/no/such/thing"), 404)


def test_non_integer_id_is_a_404_envelope(client, user_headers):
    assert_error(client.get("/store/abc", headers=user_headers), 404)


@pytest.mark.parametrize(
    "path", ["/store/0", "/store/2147483648", "/item/99999999999999999999", "/tag/-1"]
)
def test_id_outside_the_id_range_is_a_404_envelope(client, user_headers, path):
    assert_error(client.get(path, headers=user_headers), 404)


def test_store_id_outside_the_id_range_is_a_422(client, user_headers):
    body = {"name": "Chair", "price": 1, "store_id": 2**63}

    response = client.post("/item", json=body, headers=user_headers)

    assert "store_id" in assert_error(response, 422)["errors"]["json"]


def test_wrong_method_is_a_405_envelope_with_allow(client):
    response = client.delete("/store")

    assert_error(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize(
    "body",
    [
        b"{bad json",
        b"",
        b'{"name": NaN}',
        b'{"name": Infinity}',
        b"\xff\xfe\xfd",
        b"[" * 100_000,
    ],
    ids=["syntax", "empty", "nan", "infinity", "not utf-8", "deeply nested"],
)
def test_body_that_is_not_valid_json_is_a_4xx_envelope(client, user_headers, body):
    response = client.post(
        "/store", data=body, content_type="application/json", headers=user_headers
    )

    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)


def test_invalid_json_body_is_a_400(client, user_headers):
    response = client.post(
        "/store", data=b"{bad", content_type="application/json", headers=user_headers
    )

    body = assert_error(response, 400)
    assert body["errors"] == {"json": ["Invalid JSON body."]}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded"]
)
def test_body_of_another_content_type_is_a_415(client, user_headers, content_type):
    response = client.post(
        "/store", data='{"name": "x"}', content_type=content_type, headers=user_headers
    )

    assert_error(response, 415)


@pytest.mark.parametrize("body", [[], ["name"], "name", 42, None])
def test_body_that_is_not_an_object_is_a_422(client, user_headers, body):
    response = client.post("/store", json=body, headers=user_headers)

    body = assert_error(response, 422)
    assert "json" in body["errors"]


def test_unknown_field_is_a_422(client, user_headers):
    response = client.post(
        "/store", json={"name": "A", "owner": "me"}, headers=user_headers
    )

    body = assert_error(response, 422)
    assert body["errors"] == {"json": {"owner": ["Unknown field."]}}


def test_nul_character_in_a_name_is_a_422(client, user_headers):
    response = client.post("/store", json={"name": "a\x00b"}, headers=user_headers)

    assert_error(response, 422)


@pytest.fixture
def failing_app(make_app):
    """An app with a route that fails unexpectedly, as production runs it."""
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.get("/explode")
    def explode():
        raise RuntimeError("secret internal detail")

    return app


def test_unexpected_exception_is_a_500_envelope_without_detail(failing_app, caplog):
    with caplog.at_level(logging.ERROR):
        response = failing_app.test_client().get("/explode")

    body = assert_error(response, 500)
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert set(body) == {"code", "status", "message"}
    assert "secret internal detail" in caplog.text
