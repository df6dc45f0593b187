"""Gunicorn settings for serving the API; each can be set from the environment."""

import gc
import os
import re

from dotenv import load_dotenv

# JWT_SECRET_KEY, DATABASE_URL and the rest may come from .env. Variables
# already set in the environment win.
load_dotenv()

wsgi_app = "app:create_app()"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM, requests in flight get this long to finish.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))


def _control_socket(address: str) -> str:
    """The control socket (for `gunicornc -s PATH`) of the server on `address`.

    gunicorn's default is one path per user, so two servers started by one
    user (blue/green releases, several instances on a host) would share it,
    and stopping either would delete the other's. Named after the address it
    serves, each server has its own; no two can serve one address anyway.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not (runtime and os.path.isdir(runtime)):
        runtime = os.path.join(os.path.expanduser("~"), ".gunicorn")
    name = re.sub(r"[^A-Za-z0-9.]+", "-", address).strip("-")
    return os.path.join(runtime, f"gunicorn-{name}.ctl")


# GUNICORN_CONTROL_SOCKET names it outright (gunicorn creates its folder);
# otherwise on_starting names it after the address served.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]


def on_starting(server):
    """In the master, before it listens: a control socket of this server's own,
    unless one was named. The address is the one served, which a command-line
    `-b` may have changed from this file's."""
    setting = server.cfg.settings["control_socket"]
    if setting.get() == setting.default:
        server.cfg.set("control_socket", _control_socket(server.cfg.bind[0]))


# One line per request on stdout: client, request line, status, bytes,
# duration in milliseconds and the worker that served it.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms %(p)s'

# Import the app once in the master: a configuration error stops the start
# with its message instead of failing every worker, and workers are ready the
# moment they fork. No connection is opened before the fork.
preload_app = True


def when_ready(server):
    """In the master, once the app is loaded and before any worker is forked.

    Everything loaded so far (the app, its routes, schemas and OpenAPI
    document: some 120,000 objects) lives as long as the process. Frozen, the
    workers' garbage collector stops scanning it again and again: on a list of
    stores that was a quarter of the request's time. Its memory pages are then
    also left unwritten, so they stay shared between the workers.
    """
    gc.collect()
    gc.freeze()
