"""The audit log: one JSON line per security event, on the `stores.audit` logger.

Each line has the event, the user id and the client address; never a password
or a token.
"""

import json
import logging
import sys

from flask import request

logger = logging.getLogger("stores.audit")


def init_app(app) -> None:
    """Audit lines go to stdout, one per event, beside gunicorn's access log."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s audit %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def audit(event: str, user_id: int | None, **details) -> None:
    record = {
        "event": event,
        "user_id": user_id,
        "client": request.remote_addr,
        **details,
    }
    logger.info(json.dumps(record, sort_keys=True))
