"""Gunicorn settings for serving the API; each can be set from the environment."""

import gc
import os

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
