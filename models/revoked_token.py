"""Revoked JWTs and token families, shared by every worker and kept across restarts."""

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from db import Model


class RevokedTokenModel(Model):
    __tablename__ = "revoked_tokens"

    # A token's `jti`, or a family's `fam` when the whole family is revoked.
    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Once the token itself has expired its entry is useless: `flask tokens
    # prune` deletes entries past this instant.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Why: "logout", "rotated" (a refresh token used once) or "reused" (a
    # family). Only a rotated refresh token coming back is reuse.
    reason: Mapped[str] = mapped_column(String(16), server_default="logout")
