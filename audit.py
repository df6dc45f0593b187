"""The audit log: one JSON line per security event, on the `stores.audit` logger.

Each line is a JSON object (python-json-logger) with the event, the user id,
the client address, any details, and a `timestamp`; never a password or a
token.
"""

import logging
import sys

from flask import request
from pythonjsonlogger.json import JsonFormatter

logger = logging.getLogger("stores.audit")

# {"event": "login", "user_id": 7, "client": "203.0.113.7", "timestamp": "…"}
FORMATTER = JsonFormatter(
    "%(message)s", rename_fields={"message": "event"}, timestamp=True
)


def init_app(app) -> None:
    """Audit lines go to stdout, one per event, beside gunicorn's access log."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(FORMATTER)
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def audit(event: str, user_id: int | None, **details) -> None:
    logger.info(
        event, extra={"user_id": user_id, "client": request.remote_addr, **details}
    )
