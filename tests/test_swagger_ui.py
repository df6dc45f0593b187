"""Swagger UI in a real browser (Debian's Chromium, driven by Playwright): it loads
with no request leaving the machine, lists every blueprint's operations, takes a
bearer token in Authorize, and "Try it out" on GET /item answers 200."""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import PASSWORD
from tests.servers import ROOT, call

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "artifacts"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required under CI=true (.ci/run installs it)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, gunicorn_server):
    """A page that records every request, and lets none leave this machine."""
    base_url, _ = gunicorn_server
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.requests_elsewhere = []

    def guard(route):
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            page.requests_elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    yield page
    context.close()


def access_token(base_url: str) -> str:
    credentials = {"username": "swagger", "password": PASSWORD}
    assert call("POST", f"{base_url}/register", credentials)[0] == 201
    status, tokens = call("POST", f"{base_url}/login", credentials)
    assert status == 200
    return tokens["access_token"]


def test_swagger_ui_loads_offline_and_lists_every_blueprint(page):
    page.goto("/swagger-ui")
    page.wait_for_selector(".opblock-tag-section")

    sections = page.locator(".opblock-tag").all_inner_texts()
    assert {"stores", "items", "tags", "users"} <= {s.split()[0] for s in sections}
    assert page.locator(".opblock").count() >= 20
    assert page.requests_elsewhere == []


def test_authorize_with_a_token_then_try_get_item(page, gunicorn_server):
    base_url, _ = gunicorn_server
    token = access_token(base_url)
    page.goto("/swagger-ui")
    page.wait_for_selector(".opblock-tag-section")

    page.click("button.authorize")
    page.fill(".auth-container input[type=text]", token)
    page.click(".auth-btn-wrapper button.authorize")
    page.click(".auth-btn-wrapper button.btn-done")
    operation = page.locator("#operations-items-get_item")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status")
    status.wait_for()

    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "swagger-ui-get-item.png"), full_page=True)
    assert status.inner_text().strip() == "200"
    assert page.requests_elsewhere == []
