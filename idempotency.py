"""Idempotency keys (the IETF draft's `Idempotency-Key` header) on creates.

A client that did not get the answer to a create sends it again with the
same key; it gets the first answer, byte for byte, with
`Idempotent-Replayed: true`, and nothing is created twice. Keys are the
user's own, 1 to 255 printable ASCII characters, and kept 24 hours.

The record of a key lives in the database, beside what it protects:

1. **Claim**: before the view runs, a row for (user, key) is inserted in
   the request's own transaction. It commits with the create, or rolls back
   with it: no create is ever committed without its key, and no key claimed
   for a create that did not happen. A second request with the key waits on
   the unique index while the first is under way (PostgreSQL) or on the
   write lock (SQLite), then finds the row.
2. **Keep**: once the answer is made (after_request), its status, `Location`,
   `ETag` and body are written to the row, in a transaction of their own. An answer
   of 500 or more is not kept: the row goes, and the key may be tried again.
   A 4xx whose transaction rolled the claim back is kept as a new row.
3. **Replay**: a key whose row has an answer replays it; one whose row has
   none yet is in flight (409 with `Retry-After`); one sent with another
   method, path or body is a 422 on the header.

Between the create's commit and the answer's, a server killed leaves a row
without an answer: the create happened, its answer is lost. Its key then
answers 409 until it expires, never a second create. Redis would not do: a
Redis that restarts without its data would let a retried create happen twice.
"""

import contextlib
import hashlib
import logging
import re
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, cast
from uuid import uuid4

import orjson
from flask import Flask, Response, g, request
from sqlalchemy import CursorResult, Table, delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import abort as werkzeug_abort

from auth import current_user
from db import db, insert_unless_present, write_lock_on_sqlite
from errors import abort
from models import IdempotencyKeyModel

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")
LIFETIME = timedelta(hours=24)
# A key without an answer for this long belongs to a request that died after
# its commit (a request is stopped by gunicorn's timeout well before).
INTERRUPTED_AFTER = timedelta(minutes=5)
RETRY_AFTER_SECONDS = "1"

KEYS = cast(Table, IdempotencyKeyModel.__table__)
logger = logging.getLogger(__name__)

HEADER_DOC = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[ -~]{1,255}$",
    },
    "description": "Optional. A key of your own (1 to 255 printable ASCII "
    "characters, such as a UUID) for this create: sent again with the same "
    "body, it answers the first answer again, byte for byte, with "
    "`Idempotent-Replayed: true`, and creates nothing. Kept 24 hours, per user. "
    "The same key with another body or path is a 422; while the first request "
    "runs, a 409 with `Retry-After`. Answers of 500 and above are not kept.",
}


RETRY_AFTER_DOC = {
    "Retry-After": {
        "description": "Seconds to wait before sending the key again (while its "
        "first request runs).",
        "schema": {"type": "integer"},
    }
}


def init_app(app: Flask) -> None:
    app.after_request(keep_answer)


def idempotent(view: Any) -> Any:
    """Make a create view honour `Idempotency-Key` (it runs after the token
    check and the body's validation)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not KEY_PATTERN.fullmatch(key):
            abort(
                422,
                message="The request is invalid.",
                errors={"headers": {HEADER: ["1 to 255 printable ASCII characters."]}},
            )
        claim(current_user.id, key, fingerprint())
        return view(*args, **kwargs)

    return wrapper


def fingerprint() -> str:
    """The request as the key must see it again: method, path and body (as
    JSON where it is, so that spacing and key order do not count)."""
    data = request.get_data()
    # No body, or one the view does not read: as sent.
    with contextlib.suppress(orjson.JSONDecodeError):
        data = orjson.dumps(orjson.loads(data), option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(data)
    return digest.hexdigest()


def _row(user_id: int, key: str) -> Any:
    return (KEYS.c.user_id == user_id) & (KEYS.c.key == key)


def claim(user_id: int, key: str, print_: str) -> None:
    """Claim `key` for this request, or answer what it already has (raised)."""
    now = datetime.now(UTC)
    write_lock_on_sqlite()
    # An expired key is free again.
    db.session.execute(delete(KEYS).where(_row(user_id, key), KEYS.c.expires_at <= now))
    request_id = uuid4().hex
    claimed = insert_unless_present(
        KEYS,
        user_id=user_id,
        key=key,
        fingerprint=print_,
        request_id=request_id,
        created_at=now,
        expires_at=now + LIFETIME,
    )
    if claimed:
        g.idempotency_claim = (user_id, key, request_id)
        return None
    kept = db.session.execute(select(KEYS).where(_row(user_id, key))).first()
    db.session.rollback()
    if kept is None:  # its first request failed (5xx) just now: try again
        abort(409, message=IN_FLIGHT, headers={"Retry-After": RETRY_AFTER_SECONDS})
    if kept.fingerprint != print_:
        abort(
            422,
            message="The request is invalid.",
            errors={
                "headers": {
                    HEADER: ["Already used for another request (method, path or body)."]
                }
            },
        )
    if kept.status is None:
        created = kept.created_at.replace(tzinfo=kept.created_at.tzinfo or UTC)
        if now - created > INTERRUPTED_AFTER:
            abort(409, message=INTERRUPTED)
        abort(409, message=IN_FLIGHT, headers={"Retry-After": RETRY_AFTER_SECONDS})
    headers = {REPLAYED: "true"}
    if kept.location:
        headers["Location"] = kept.location
    if kept.etag:
        headers["ETag"] = kept.etag
    # Raised (werkzeug's abort with a whole response, which Flask answers as
    # it is), past the ETag that flask-smorest would compute for a new answer.
    werkzeug_abort(
        Response(
            kept.body, status=kept.status, headers=headers, mimetype="application/json"
        )
    )


IN_FLIGHT = "A request with this Idempotency-Key is still being processed."
INTERRUPTED = (
    "The request first sent with this Idempotency-Key was interrupted after it "
    "was carried out, and its answer is lost; look for what it created."
)


def keep_answer(response: Response) -> Response:
    """Write the answer of a request that claimed a key (see the module's steps)."""
    claimed = g.pop("idempotency_claim", None)
    if claimed is None:
        return response
    user_id, key, request_id = claimed
    ours = _row(user_id, key) & (KEYS.c.request_id == request_id)
    try:
        db.session.rollback()  # whatever the view left open
        if response.status_code >= 500:
            db.session.execute(delete(KEYS).where(ours))
        else:
            answer = {
                "status": response.status_code,
                "location": response.headers.get("Location"),
                "etag": response.headers.get("ETag"),
                "body": response.get_data(),
            }
            kept = cast(
                CursorResult[Any],
                db.session.execute(
                    update(KEYS).where(ours, KEYS.c.status.is_(None)).values(**answer)
                ),
            )
            if not kept.rowcount:  # the claim was rolled back with the view's work
                now = datetime.now(UTC)
                insert_unless_present(
                    KEYS,
                    user_id=user_id,
                    key=key,
                    fingerprint=fingerprint(),
                    request_id=request_id,
                    created_at=now,
                    expires_at=now + LIFETIME,
                    **answer,
                )
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        logger.exception("The answer of idempotency key %r was not kept", key)
    return response


def prune(now: datetime) -> int:
    """Delete the keys that have expired; how many went."""
    result = cast(
        CursorResult[Any],
        db.session.execute(delete(KEYS).where(KEYS.c.expires_at <= now)),
    )
    db.session.commit()
    return result.rowcount
