"""HTTPS in front of gunicorn: the shipped nginx site file, filled in, and nginx run with it.

    python -m deploy.https render   # the site file for this host, on stdout
    python -m deploy.https serve    # `make https`: a certificate, gunicorn, nginx

`render` fills deploy/nginx/stores-api.conf.template from the environment
(names as in SETTINGS). `serve` is the same topology on a developer's machine:
a throwaway certificate, gunicorn behind nginx, HTTPS on HTTPS_PORT and HTTP on
HTTP_PORT redirecting to it, until Ctrl-C stops both. The tests run nginx
through `running_nginx` as `serve` does.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from string import Template

from dotenv import load_dotenv

from config import DEFAULTS
from faults import RETRY_AFTER_SECONDS

ROOT = Path(__file__).resolve().parent.parent
SITE_TEMPLATE = ROOT / "deploy" / "nginx" / "stores-api.conf.template"

# Each placeholder of the template and its value when the environment sets
# none. The limits are the API's and gunicorn's own defaults, read from the
# same variables as theirs, so nginx's match theirs.
SETTINGS = {
    "SERVER_NAME": "_",
    "HTTPS_PORT": "443",
    "HTTP_PORT": "80",
    "TLS_CERTIFICATE": "/etc/ssl/stores-api/fullchain.pem",
    "TLS_CERTIFICATE_KEY": "/etc/ssl/stores-api/privkey.pem",
    "UPSTREAM": "127.0.0.1:8000",
    "ACME_ROOT": "/var/www/acme",  # certbot certonly --webroot -w /var/www/acme
    "HSTS_MAX_AGE": "63072000",  # two years
    "MAX_BODY_BYTES": str(DEFAULTS["MAX_CONTENT_LENGTH"]),
    "GUNICORN_TIMEOUT": "30",  # gunicorn.conf.py's default
    "RETRY_AFTER": RETRY_AFTER_SECONDS,
}

# `make https`: unprivileged ports, the API where `make run` serves it.
# No HSTS for localhost: a browser would hold it for every port of localhost.
LOCAL = {
    "HTTPS_PORT": "8443",
    "HTTP_PORT": "8080",
    "UPSTREAM": "127.0.0.1:5000",
    "HSTS_MAX_AGE": "0",
}


def settings(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """SETTINGS, then the environment's values of them, then `overrides`."""
    values = {name: os.environ.get(name, default) for name, default in SETTINGS.items()}
    values.update(overrides or {})
    unknown = set(values) - set(SETTINGS)
    if unknown:
        raise ValueError(f"not a setting of the site file: {sorted(unknown)}")
    return values


def render(overrides: Mapping[str, str] | None = None) -> str:
    """The site file, its placeholders filled."""
    values = settings(overrides)
    port = values["HTTPS_PORT"]
    # The redirect names the HTTPS port unless it is HTTPS's own.
    values["HTTPS_PORT_SUFFIX"] = "" if port == "443" else f":{port}"
    # nginx's own $variables are lower case: not placeholders, left as they are.
    return Template(SITE_TEMPLATE.read_text()).safe_substitute(values)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key:
    the ones in `folder` while they hold for another day, else new ones."""
    folder.mkdir(parents=True, exist_ok=True)
    certificate, key = folder / "localhost.pem", folder / "localhost-key.pem"
    if key.exists() and certificate.exists():
        valid = ["openssl", "x509", "-checkend", "86400", "-noout", "-in"]
        if (
            subprocess.run(valid + [str(certificate)], capture_output=True).returncode
            == 0
        ):
            return certificate, key
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt"]
        + ["ec_paramgen_curve:prime256v1", "-nodes", "-days", "30"]
        + ["-subj", "/CN=localhost", "-addext"]
        + ["subjectAltName=DNS:localhost,IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
    )
    return certificate, key


def nginx_binary() -> str | None:
    """nginx on PATH or where Debian puts it (/usr/sbin, not on every PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


def main_config(prefix: Path, site: Path) -> str:
    """An nginx.conf of its own for an nginx run in `prefix`, holding `site`."""
    # Run by root, nginx's workers are nobody, who must reach the temp paths.
    user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix}/temp/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log warn;\n"
        "events { worker_connections 512; }\n"
        f"http {{\n    access_log {prefix}/access.log;\n{temp}\n"
        f"    include {site};\n}}\n"
    )


@dataclass
class Nginx:
    prefix: Path
    process: subprocess.Popen
    values: dict[str, str]

    @property
    def error_log(self) -> Path:
        return self.prefix / "error.log"


@contextmanager
def running_nginx(overrides: Mapping[str, str]) -> Iterator[Nginx]:
    """nginx with the rendered site file, in a folder of its own, until the
    block ends; `nginx -t` first, so a bad file fails with nginx's message."""
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed")
    values = settings(overrides)
    prefix = Path(tempfile.mkdtemp(prefix="stores-api-nginx-"))
    prefix.chmod(0o755)
    (prefix / "temp").mkdir()
    site = prefix / "stores-api.conf"
    site.write_text(render(values))
    conf = prefix / "nginx.conf"
    conf.write_text(main_config(prefix, site))
    command = [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c"]
    command.append(str(conf))
    checked = subprocess.run(command + ["-t"], capture_output=True, text=True)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t refused the site file:\n{checked.stderr}")
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        try:
            for port in (values["HTTPS_PORT"], values["HTTP_PORT"]):
                _wait_for_port(int(port), process)
        except RuntimeError as error:
            log = (prefix / "error.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{error}; its error log:\n{log}") from None
        yield Nginx(prefix, process, values)
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(prefix, ignore_errors=True)


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)  # polling for start-up, not waiting out a race
    raise RuntimeError(f"nginx did not listen on {port} in {timeout}s")


def serve() -> None:
    """gunicorn behind nginx on this machine until Ctrl-C, then both stop."""
    if nginx_binary() is None:
        sys.exit("make https needs nginx (Debian and Ubuntu: apt-get install nginx)")
    load_dotenv(ROOT / ".env")
    values = settings({name: os.environ.get(name, v) for name, v in LOCAL.items()})
    certificate, key = make_certificate(
        Path(os.environ.get("HTTPS_DIR", ROOT / ".https"))
    )
    values.update(TLS_CERTIFICATE=str(certificate), TLS_CERTIFICATE_KEY=str(key))
    environment = {
        **os.environ,
        "GUNICORN_BIND": values["UPSTREAM"],
        "TRUSTED_PROXIES": "1",
        "APP_URL": f"https://localhost:{values['HTTPS_PORT']}",
    }
    gunicorn = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=environment,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with running_nginx(values):
            print(
                f"\nHTTPS: https://localhost:{values['HTTPS_PORT']}/swagger-ui\n"
                f"HTTP (redirects): http://localhost:{values['HTTP_PORT']}/\n"
                f"Certificate (trust it, e.g. curl --cacert): {certificate}\n"
                "Ctrl-C stops nginx and gunicorn.",
                flush=True,
            )
            status = gunicorn.wait()
            sys.exit(f"gunicorn stopped (exit status {status}); so did nginx")
    except KeyboardInterrupt:
        pass
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=60)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.https",
        description="nginx in front of gunicorn. Settings (environment) and "
        "their defaults: " + ", ".join(f"{k}={v}" for k, v in SETTINGS.items()),
    )
    parser.add_argument("command", choices=["render", "serve"])
    command = parser.parse_args(argv).command
    if command == "render":
        sys.stdout.write(render())
    else:
        serve()


if __name__ == "__main__":
    main()
