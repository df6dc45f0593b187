"""HTTPS through the shipped nginx site file, with Debian's nginx in front of a
real gunicorn (2 workers, rate limits in a Redis of the test's own) and a
certificate made on the spot: what a client sees, and what the API sees of it."""

import gzip
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deploy.https import (
    main_config,
    make_certificate,
    nginx_binary,
    render,
    running_nginx,
)
from tests.conftest import served_env, sqlite_copy
from tests.helpers import PASSWORD
from tests.servers import ROOT, Answer, PrivateRedis, free_port, gunicorn
from tests.test_readme import run_walkthrough

pytestmark = pytest.mark.slow

HSTS_MAX_AGE = 63072000  # two years, the shipped file's


def require(tool: str, found: str | None) -> None:
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is required under CI=true (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    require("nginx", nginx_binary())
    require("openssl", shutil.which("openssl"))
    return make_certificate(tmp_path_factory.mktemp("tls"))


@dataclass
class Proxied:
    port: int  # HTTPS
    http_port: int
    certificate: Path
    log: Path  # gunicorn's: access and audit lines

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, headers=None, source="127.0.0.1"):
        """One request over TLS from the loopback address `source`, its body
        as sent (no decompression)."""
        context = ssl.create_default_context(cafile=str(self.certificate))
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=context, source_address=(source, 0)
        )
        data = body if isinstance(body, bytes) or body is None else json.dumps(body)
        sent = {"Content-Type": "application/json"} if data is not None else {}
        try:
            connection.request(method, path, data, {**sent, **(headers or {})})
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def token(self, username: str, source: str) -> str:
        body = {"username": username, "password": PASSWORD}
        assert self.request("POST", "/register", body, source=source).status == 201
        answer = self.request("POST", "/login", body, source=source)
        assert answer.status == 200, answer.raw
        return answer.body["access_token"]


def https_settings(certificate, upstream: str, **more: str) -> dict[str, str]:
    cert, key = certificate
    return {
        "HTTPS_PORT": str(free_port()),
        "HTTP_PORT": str(free_port()),
        "UPSTREAM": upstream,
        "TLS_CERTIFICATE": str(cert),
        "TLS_CERTIFICATE_KEY": str(key),
        **more,
    }


ACME_TOKEN = "a-challenge-token"


@pytest.fixture(scope="module")
def acme_root():
    """A webroot holding one ACME challenge, readable by nginx's workers
    (nobody, when the tests run as root)."""
    root = Path(tempfile.mkdtemp(prefix="stores-api-acme-"))
    challenges = root / ".well-known" / "acme-challenge"
    challenges.mkdir(parents=True)
    (challenges / ACME_TOKEN).write_text("the key authorization")
    for path in (root, root / ".well-known", challenges):
        path.chmod(0o755)
    (challenges / ACME_TOKEN).chmod(0o644)
    yield root
    shutil.rmtree(root)


@pytest.fixture(scope="module")
def proxied(migrated_sqlite, tmp_path_factory, certificate, acme_root):
    folder = tmp_path_factory.mktemp("https")
    redis = PrivateRedis(folder)
    log = folder / "gunicorn.log"
    env = served_env(
        sqlite_copy(migrated_sqlite, folder),
        TRUSTED_PROXIES="1",
        RATELIMIT_ENABLED="true",
        REDIS_URL=redis.url,
        PYTHONUNBUFFERED="1",  # audit lines in the log as they are written
    )
    try:
        with gunicorn(env, log, workers=2) as base_url:
            upstream = base_url.removeprefix("http://")
            settings = https_settings(certificate, upstream, ACME_ROOT=str(acme_root))
            with running_nginx(settings) as nginx:
                yield Proxied(
                    int(nginx.values["HTTPS_PORT"]),
                    int(nginx.values["HTTP_PORT"]),
                    certificate[0],
                    log,
                )
    finally:
        redis.close()


def is_envelope(answer: Answer, status: int) -> bool:
    return answer.status == status and answer.is_envelope()


# --- The shipped file ---------------------------------------------------------------


def test_nginx_t_passes_on_the_shipped_site_file_with_its_defaults(
    certificate, tmp_path
):
    """Production's defaults (ports 443 and 80, the API on 127.0.0.1:8000);
    only the certificate's paths are this test's."""
    site = tmp_path / "stores-api.conf"
    cert, key = certificate
    site.write_text(
        render({"TLS_CERTIFICATE": str(cert), "TLS_CERTIFICATE_KEY": str(key)})
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(main_config(tmp_path, site))
    (tmp_path / "temp").mkdir()

    checked = subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp_path), "-e", "stderr", "-c", str(conf)],
        capture_output=True,
        text=True,
    )

    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    assert "[warn]" not in checked.stderr and "[emerg]" not in checked.stderr
    directives = [line for line in site.read_text().splitlines() if "#" not in line]
    assert not [line for line in directives if "${" in line]  # all filled in


# --- What a client sees -------------------------------------------------------------


def test_the_readme_walkthrough_works_over_https(proxied):
    require("curl", shutil.which("curl"))
    trust = {**os.environ, "CURL_CA_BUNDLE": str(proxied.certificate)}

    result = run_walkthrough(proxied.url, trust)

    assert result.returncode == 0, result.stderr
    assert '"name":"Chair"' in result.stdout and '"price":17.99' in result.stdout
    assert '"error":"token_revoked"' in result.stdout.splitlines()[-1]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_plain_http_is_sent_to_https_with_a_301(proxied, method):
    connection = http.client.HTTPConnection("127.0.0.1", proxied.http_port)
    connection.request(method, "/store?page=2&sort=-name", body=b"{}")
    response = connection.getresponse()
    connection.close()

    assert response.status == 301
    assert response.headers["Location"] == f"{proxied.url}/store?page=2&sort=-name"


def test_every_https_answer_carries_hsts(proxied):
    answers = [
        proxied.request("GET", "/health"),  # the API's 200
        proxied.request("GET", "/no-such-path"),  # the API's 404
        proxied.request("POST", "/store", b"x" * (64 * 1024 + 1)),  # nginx's 413
    ]

    assert [answer.status for answer in answers] == [200, 404, 413]
    for answer in answers:
        hsts = answer.headers["Strict-Transport-Security"]
        assert hsts == f"max-age={HSTS_MAX_AGE}; includeSubDomains"


@pytest.mark.parametrize(
    ("flag", "accepted"),
    [("-tls1", False), ("-tls1_1", False), ("-tls1_2", True), ("-tls1_3", True)],
)
def test_only_tls_1_2_and_1_3_are_spoken(proxied, flag, accepted):
    # @SECLEVEL=0 lets the client offer the old protocols at all, so a
    # refusal is the server's.
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{proxied.port}", flag]
        + ["-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", str(proxied.certificate)],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )

    if accepted:
        assert result.returncode == 0, result.stderr
        assert f"New, TLSv1.{flag[-1]}, Cipher is " in result.stdout
        assert "Verify return code: 0 (ok)" in result.stdout
    else:
        assert result.returncode != 0
        assert "alert protocol version" in result.stderr, result.stderr


@pytest.fixture(scope="module")
def large_store(proxied):
    """A store of 30 items (its answer and its items' list over 1 KiB), and
    its owner's Authorization header."""
    token = proxied.token("gzip-user", "127.0.0.5")
    auth = {"Authorization": f"Bearer {token}"}
    store = proxied.request("POST", "/store", {"name": "Gzip Shop"}, auth).body
    for number in range(30):
        body = {"name": f"Item {number}", "price": 1.5, "store_id": store["id"]}
        assert proxied.request("POST", "/item", body, auth).status == 201
    return store, auth


def test_a_large_list_arrives_gzip_encoded(proxied, large_store):
    store, auth = large_store
    path = f"/item?store_id={store['id']}"

    plain = proxied.request("GET", path, headers=auth)
    zipped = proxied.request("GET", path, headers={**auth, "Accept-Encoding": "gzip"})

    assert "Content-Encoding" not in plain.headers and len(plain.body) == 30
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(zipped.raw) == plain.raw
    assert len(zipped.raw) < len(plain.raw) / 3
    # nginx marks a compressed answer's ETag weak; the API takes it back.
    weak = zipped.headers["ETag"]
    assert weak == f"W/{plain.headers['ETag']}"
    unchanged = proxied.request("GET", path, headers={**auth, "If-None-Match": weak})
    assert unchanged.status == 304


def test_a_compressed_answers_weak_etag_serves_if_match(proxied, large_store):
    store, auth = large_store
    path = f"/store/{store['id']}"
    zipped = proxied.request("GET", path, headers={**auth, "Accept-Encoding": "gzip"})
    weak = zipped.headers["ETag"]
    assert zipped.headers["Content-Encoding"] == "gzip" and weak.startswith("W/")

    renamed = proxied.request(
        "PUT", path, {"name": "Gzip Shop 2"}, {**auth, "If-Match": weak}
    )
    stale = proxied.request("PUT", path, {"name": "Lost"}, {**auth, "If-Match": weak})

    assert renamed.status == 200, renamed.raw
    assert is_envelope(stale, 412)
    assert proxied.request("GET", path, headers=auth).body["name"] == "Gzip Shop 2"


def test_paging_links_name_the_https_address_the_client_used(proxied):
    """X-Forwarded-Proto and the client's Host, believed from nginx."""
    token = proxied.token("link-user", "127.0.0.6")
    auth = {"Authorization": f"Bearer {token}"}
    for name in ("Link One", "Link Two"):
        assert proxied.request("POST", "/store", {"name": name}, auth).status == 201

    answer = proxied.request("GET", "/store?page_size=1&sort=name", headers=auth)

    assert answer.status == 200
    assert (
        f'<{proxied.url}/store?sort=name&page=2&page_size=1>; rel="next"'
        in (answer.headers["Link"])
    )


def test_a_body_over_the_limit_is_nginxs_413_in_the_envelope(proxied):
    answer = proxied.request("POST", "/store", b"{" + b" " * (64 * 1024) + b"}")

    assert is_envelope(answer, 413)
    assert answer.body["message"] == (
        "The data value transmitted exceeds the capacity limit."
    )
    # nginx's own: the API adds this header to every answer it makes.
    assert "X-Content-Type-Options" not in answer.headers


def test_a_body_at_the_limit_reaches_the_api(proxied):
    answer = proxied.request("POST", "/store", b"{" + b" " * (64 * 1024 - 2) + b"}")

    assert is_envelope(answer, 401)  # the API's answer: no token
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_acme_challenges_are_served_over_plain_http(proxied):
    connection = http.client.HTTPConnection("127.0.0.1", proxied.http_port)
    connection.request("GET", f"/.well-known/acme-challenge/{ACME_TOKEN}")
    response = connection.getresponse()
    body = response.read()
    connection.close()

    assert response.status == 200
    assert body == b"the key authorization"


def test_without_gunicorn_nginx_answers_503_in_the_envelope(certificate, tmp_path):
    dead = f"unix:{tmp_path}/nothing-listens.sock"
    with running_nginx(https_settings(certificate, dead)) as nginx:
        proxied = Proxied(int(nginx.values["HTTPS_PORT"]), 0, certificate[0], Path())

        answer = proxied.request("GET", "/health")

    assert is_envelope(answer, 503)
    assert answer.headers["Retry-After"] == "5"
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


# --- What the API sees --------------------------------------------------------------


def audit_lines(log: Path, event: str) -> list[dict]:
    lines = [
        json.loads(line) for line in log.read_text().splitlines() if line[:1] == "{"
    ]
    return [line for line in lines if line.get("event") == event]


def test_the_audit_log_has_the_address_nginx_saw_not_a_forged_one(proxied):
    body = {"username": "audited", "password": PASSWORD}
    forged = {"X-Forwarded-For": "203.0.113.9"}
    assert proxied.request("POST", "/register", body, source="127.0.0.7").status == 201

    login = proxied.request("POST", "/login", body, forged, source="127.0.0.7")

    assert login.status == 200
    auth = {"Authorization": f"Bearer {login.body['access_token']}"}
    me = proxied.request("GET", "/me", headers=auth).body
    logins = audit_lines(proxied.log, "login")
    assert [line["client"] for line in logins if line["user_id"] == me["id"]] == [
        "127.0.0.7"
    ]


def test_rate_limits_count_the_address_nginx_saw_whatever_it_was_told(proxied):
    """POST /register: 10 a minute per address, counted in Redis across both
    workers. Each request forges another X-Forwarded-For."""

    def register(number: int, source: str) -> Answer:
        body = {"username": f"limited{source[-1]}-{number}", "password": PASSWORD}
        forged = {"X-Forwarded-For": f"198.51.100.{number}"}
        return proxied.request("POST", "/register", body, forged, source=source)

    answers = [register(number, "127.0.0.8") for number in range(11)]

    assert [answer.status for answer in answers] == [201] * 10 + [429]
    assert is_envelope(answers[-1], 429)
    assert register(0, "127.0.0.9").status == 201  # another client is not held


# --- make https ---------------------------------------------------------------------


def test_make_https_serves_through_nginx_and_stops_both_on_ctrl_c(
    certificate, migrated_sqlite, tmp_path
):
    ports = {"HTTPS_PORT": str(free_port()), "HTTP_PORT": str(free_port())}
    upstream = f"127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        **served_env(sqlite_copy(migrated_sqlite, tmp_path)),
        **ports,
        "UPSTREAM": upstream,
        "HTTPS_DIR": str(tmp_path / "tls"),
    }
    serving = subprocess.Popen(
        [sys.executable, "-m", "deploy.https", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        printed = []
        while not any("Ctrl-C" in line for line in printed):
            line = serving.stdout.readline()
            assert line, "".join(printed)
            printed.append(line)
        text = "".join(printed)
        assert f"https://localhost:{ports['HTTPS_PORT']}/swagger-ui" in text
        cert = Path(text.split("curl --cacert): ", 1)[1].split()[0])
        proxied = Proxied(int(ports["HTTPS_PORT"]), 0, cert, Path())
        deadline = time.monotonic() + 60
        answer = None
        while answer is None or answer.status != 200:
            assert time.monotonic() < deadline, answer
            time.sleep(0.1)  # polling for gunicorn's start, not a race
            answer = proxied.request("GET", "/health")
        # No HSTS for localhost, which would hold for every port of it.
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=0;")
    finally:
        serving.send_signal(signal.SIGINT)
        serving.wait(timeout=90)
        serving.stdout.close()

    for address in (upstream, f"127.0.0.1:{ports['HTTPS_PORT']}"):
        host, port = address.split(":")
        with pytest.raises(OSError):
            http.client.HTTPConnection(host, int(port), timeout=5).connect()


class RecordingUpstream(ThreadingHTTPServer):
    """An upstream that answers 200 and keeps each request's headers; a GET of
    /hold waits until `release` is set."""

    def __init__(self):
        self.seen: list[dict[str, str]] = []
        self.release = threading.Event()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                upstream.seen.append(dict(self.headers))
                if self.path == "/hold":
                    upstream.release.wait(timeout=30)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.shutdown()
        self.server_close()


@pytest.fixture
def recording(certificate):
    upstream = RecordingUpstream()
    address = f"127.0.0.1:{upstream.server_address[1]}"
    try:
        settings = https_settings(certificate, address, GUNICORN_TIMEOUT="1")
        with running_nginx(settings) as nginx:
            port = int(nginx.values["HTTPS_PORT"])
            yield Proxied(port, 0, certificate[0], Path()), upstream
    finally:
        upstream.close()


def test_x_forwarded_for_is_replaced_with_the_address_nginx_saw(recording):
    proxied, upstream = recording
    forged = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}

    answer = proxied.request("GET", "/", headers=forged, source="127.0.0.10")

    assert answer.status == 200
    [headers] = upstream.seen
    assert headers["X-Forwarded-For"] == "127.0.0.10"
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["Host"] == f"127.0.0.1:{proxied.port}"


def test_a_timed_out_request_is_a_504_envelope_without_retry_after(recording):
    """It may have been carried out: a client must not be told to retry."""
    proxied, _ = recording

    answer = proxied.request("GET", "/hold")  # nginx waits GUNICORN_TIMEOUT, 1 s

    assert is_envelope(answer, 504)
    assert "Retry-After" not in answer.headers
