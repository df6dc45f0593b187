"""The changes feed: what changed since a cursor, in the order it was committed.

The database logs every change itself (models/change.py and its
migration's triggers): the latest change of each store, item and tag, with
a number in commit order. A transaction that commits later always has a
larger number, so once a client has read every change up to number N it
has seen every commit that any later reader could find at or below N: no
change that commits late, out of the order its rows were written in, is
skipped. (On SQLite writes are serialized; on PostgreSQL the numbers are
taken as each transaction commits, one transaction at a time.)

The cursor is that N, opaque to clients. A page holds the changes after it,
oldest first, each with the row as it is now: a row changed again since
shows its newer state, and comes again at its newer number. Deletes are
kept as tombstones for `CHANGES_RETENTION_DAYS`, then pruned; a cursor from
before the newest pruned tombstone has missed one, and is expired (410).
"""

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import selectinload

from db import db
from errors import abort
from models import (
    ChangeClockModel,
    ChangeModel,
    ItemModel,
    StoreModel,
    TagModel,
)
from schemas import ChangedItemSchema, ChangedStoreSchema, ChangedTagSchema

PREFIX = "c1."


def encode(seq: int) -> str:
    return PREFIX + base64.urlsafe_b64encode(str(seq).encode()).decode().rstrip("=")


def decode(cursor: str) -> int:
    """The number behind `cursor`; a 422 on `since` when it is none of ours."""
    try:
        if not cursor.startswith(PREFIX):
            raise ValueError(cursor)
        text = cursor.removeprefix(PREFIX)
        digits = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        if not digits.isdigit() or encode(int(digits)) != cursor:
            raise ValueError(cursor)
        return int(digits)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        abort(
            422,
            message="The request is invalid.",
            errors={"query": {"since": ["Not a cursor of this feed."]}},
        )


def _clock() -> tuple[int, int]:
    row = db.session.execute(
        select(ChangeClockModel.seq, ChangeClockModel.pruned_through).where(
            ChangeClockModel.id == 1
        )
    ).first()
    return (row.seq, row.pruned_through) if row else (0, 0)


def _data(kind: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The current rows of `kind`, dumped as the feed shows them, by id."""
    if not ids:
        return {}
    if kind == "store":
        stores = db.session.scalars(select(StoreModel).where(StoreModel.id.in_(ids)))
        return {s.id: ChangedStoreSchema().dump(s) for s in stores}
    if kind == "tag":
        tags = db.session.scalars(select(TagModel).where(TagModel.id.in_(ids)))
        return {t.id: ChangedTagSchema().dump(t) for t in tags}
    items = db.session.scalars(
        select(ItemModel)
        .where(ItemModel.id.in_(ids))
        .options(selectinload(ItemModel.tags))
    )
    schema = ChangedItemSchema()
    return {
        i.id: schema.dump({**_fields(i), "tag_ids": [t.id for t in i.tags]})
        for i in items
    }


def _fields(item: ItemModel) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "price": item.price,
        "description": item.description,
        "store_id": item.store_id,
    }


def page(since: str | None, limit: int) -> dict[str, Any]:
    """The changes after `since` (every live row without it), `limit` at most."""
    newest, pruned_through = _clock()
    after = 0
    if since is not None:
        after = decode(since)
        if after < pruned_through:
            abort(
                410,
                message="The cursor is older than the kept deletes; sync again "
                "without `since`.",
                error="cursor_expired",
            )
    query = (
        select(ChangeModel.kind, ChangeModel.row_id, ChangeModel.op, ChangeModel.seq)
        .where(ChangeModel.seq > after)
        .order_by(ChangeModel.seq)
        .limit(limit + 1)
    )
    if since is None:
        query = query.where(ChangeModel.op == "upsert")
    rows = db.session.execute(query).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    data = {
        kind: _data(
            kind, [r.row_id for r in rows if r.kind == kind and r.op == "upsert"]
        )
        for kind in ("store", "item", "tag")
    }
    changes = []
    for row in rows:
        if row.op == "delete":
            changes.append(
                {"type": row.kind, "id": row.row_id, "op": "delete", "data": None}
            )
        elif row.row_id in data[row.kind]:
            shown = data[row.kind][row.row_id]
            changes.append(
                {"type": row.kind, "id": row.row_id, "op": "upsert", "data": shown}
            )
        # else: deleted since, a tombstone further on says so.
    # With nothing new, a first sync may start from `newest`: every change
    # numbered up to it had committed before this page was read.
    cursor = rows[-1].seq if rows else (newest if since is None else after)
    return {"changes": changes, "cursor": encode(cursor), "has_more": has_more}


def prune(now: datetime) -> int:
    """Delete the tombstones older than the retention; how many went."""
    days = current_app.config["CHANGES_RETENTION_DAYS"]
    old = (ChangeModel.op == "delete") & (
        ChangeModel.changed_at < now - timedelta(days=days)
    )
    highest = db.session.scalar(select(func.max(ChangeModel.seq)).where(old))
    if highest is None:
        db.session.rollback()
        return 0
    db.session.execute(
        update(ChangeClockModel)
        .where(ChangeClockModel.id == 1, ChangeClockModel.pruned_through < highest)
        .values(pruned_through=highest)
    )
    result = cast(
        CursorResult[Any],
        db.session.execute(delete(ChangeModel).where(old, ChangeModel.seq <= highest)),
    )
    db.session.commit()
    return result.rowcount
