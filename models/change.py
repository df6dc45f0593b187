"""The changes feed's log: the last change of each store, item and tag, in commit order.

Written by the database's own triggers (migration a4c7e9f1b2d5), never by
the application: every insert, update and delete of a store, item, tag or
link, cascades included, leaves the row's latest change here with a number
(`seq`) taken from `change_clock` as its transaction commits, so numbers
follow the order of commits (changes.py says how).
"""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db import Model


class ChangeModel(Model):
    __tablename__ = "changes"

    # "store", "item" or "tag", and the row's id.
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    row_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "upsert" or "delete" (a tombstone, kept CHANGES_RETENTION_DAYS).
    op: Mapped[str] = mapped_column(String(8))
    # Its place in commit order; empty only inside the writing transaction.
    seq: Mapped[int | None] = mapped_column(BigInteger, index=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChangeClockModel(Model):
    __tablename__ = "change_clock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The last number handed out, and the highest one whose tombstone was pruned.
    seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    pruned_through: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default="0"
    )
