"""Token revocation: what logout and refresh rotation write, and what every request checks.

Entries live in the database, so a revoked token stays revoked in every worker
on every host and across restarts. Each entry is kept until the token it
revokes would have expired anyway; `flask tokens prune` deletes older ones.
"""

from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from db import db
from models import RevokedTokenModel

_INSERT_BY_DIALECT = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}


class DatabaseBlocklist:
    """Revoked token ids in the `revoked_tokens` table."""

    def revoke(self, jti: str, expires_at: datetime) -> bool:
        """Revoke a token id; False when it was already revoked.

        The insert is atomic, so of two requests racing to rotate the same
        refresh token exactly one wins.
        """
        insert = _INSERT_BY_DIALECT[db.session.get_bind().dialect.name]
        statement = (
            insert(RevokedTokenModel)
            .values(jti=jti, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=["jti"])
        )
        inserted = db.session.execute(statement).rowcount == 1
        db.session.commit()
        return inserted

    def is_revoked(self, jti: str) -> bool:
        found = db.session.scalar(
            select(RevokedTokenModel.jti).where(RevokedTokenModel.jti == jti)
        )
        return found is not None

    def prune(self, now: datetime) -> int:
        result = db.session.execute(
            delete(RevokedTokenModel).where(RevokedTokenModel.expires_at < now)
        )
        db.session.commit()
        return result.rowcount


def get_blocklist() -> DatabaseBlocklist:
    return current_app.extensions["blocklist"]


def init_app(app) -> None:
    app.extensions["blocklist"] = DatabaseBlocklist()


def expiry_of(claims: dict) -> datetime:
    """When the token behind these claims expires."""
    return datetime.fromtimestamp(claims["exp"], tz=UTC)
