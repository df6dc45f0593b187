"""The audit log: one JSON line per security event, on the `stores.audit` logger.

Each line has the event, the user id and the client address; never a password
or a token.
"""

import json
import logging

from flask import request

logger = logging.getLogger("stores.audit")


def audit(event: str, user_id: int | None, **details) -> None:
    record = {
        "event": event,
        "user_id": user_id,
        "client": request.remote_addr,
        **details,
    }
    logger.info(json.dumps(record, sort_keys=True))
