"""The OpenAPI document tells the truth about auth and errors; Swagger UI is self-hosted."""

import re

import pytest
from openapi_spec_validator import validate


@pytest.fixture
def backend():
    """The document cannot differ between databases: these tests run once."""
    return "sqlite"


PUBLIC = {
    ("post", "/register"),
    ("post", "/login"),
    ("get", "/health"),
    ("post", "/email/verify"),
    ("post", "/password/forgot"),
    ("post", "/password/reset"),
}
ERROR_REF = "#/components/schemas/Error"


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "delete", "patch"}:
                yield method, path, operation


def test_document_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_bearer_security_scheme_is_declared(spec):
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]

    assert scheme == {
        **scheme,
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_protected_operations_declare_bearer_and_public_ones_none(spec):
    for method, path, operation in operations(spec):
        if (method, path) in PUBLIC:
            assert "security" not in operation, (method, path)
        else:
            assert operation["security"] == [{"bearerAuth": []}], (method, path)
            assert "401" in operation["responses"], (method, path)


def test_every_operation_has_a_summary_and_description(spec):
    for method, path, operation in operations(spec):
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)


def test_error_responses_use_the_error_envelope(spec):
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) or status == "default":
                if "$ref" in response:
                    response = spec["components"]["responses"][
                        response["$ref"].split("/")[-1]
                    ]
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, (method, path, status)


def test_path_ids_and_bodies_document_their_errors(spec):
    for method, path, operation in operations(spec):
        codes = set(operation["responses"])
        if "{" in path:
            assert "404" in codes, (method, path)
        if "requestBody" in operation:
            assert {"400", "415", "422"} <= codes, (method, path)


def test_error_schema_lists_the_envelope_fields(spec):
    properties = spec["components"]["schemas"]["Error"]["properties"]

    assert {"code", "status", "message", "errors", "error"} <= set(properties)


def test_swagger_ui_page_loads_only_local_assets(client):
    response = client.get("/swagger-ui")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(asset.startswith("/swagger-ui/") for asset in assets)
    assert "http://" not in html and "https://" not in html


@pytest.mark.parametrize(
    ("asset", "mimetype"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui-standalone-preset.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
    ],
)
def test_swagger_ui_assets_are_served_by_this_server(client, asset, mimetype):
    response = client.get(f"/swagger-ui/assets/{asset}")

    assert response.status_code == 200
    assert response.mimetype == mimetype
    assert len(response.data) > 1000
    response.close()


def test_every_request_body_has_an_example(spec):
    for method, path, operation in operations(spec):
        if "requestBody" in operation:
            content = operation["requestBody"]["content"]["application/json"]
            assert "example" in content or "examples" in content, (method, path)


def test_lists_document_paging_and_its_header(spec):
    for path in ("/store", "/item", "/store/{store_id}/tag"):
        operation = spec["paths"][path]["get"]
        names = {parameter.get("name") for parameter in operation["parameters"]}
        assert {"page", "page_size"} <= names, path
        assert "X-Pagination" in operation["responses"]["200"]["headers"], path
        assert "422" in operation["responses"], path
