"""Idempotency keys: the answer to a create, kept for 24 hours under the key its client sent."""

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from db import Model


class IdempotencyKeyModel(Model):
    __tablename__ = "idempotency_keys"

    # Keys are the user's own: two users may send the same one.
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # A hash of the method, path and body the key was first sent with.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Which request holds the key while it runs, so that only it keeps its answer.
    request_id: Mapped[str] = mapped_column(String(32))
    # The kept answer; no status while the first request still runs.
    status: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(String(2048))
    etag: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
