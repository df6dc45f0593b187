"""Token revocation: what logout and refresh rotation write, and what every request checks.

Two stores, one behaviour. With `REDIS_URL` set, revoked token ids live in
Redis, each key expiring with the token it revokes; otherwise they live in the
database's `revoked_tokens` table, and `flask tokens prune` deletes entries
whose tokens have expired anyway. Either way every worker on every host sees
the same list, and it outlives restarts of the API.

If the store cannot be reached, the check raises and the request is answered
503 (see app.py): a token is never accepted because its revocation could not
be read.
"""

import math
from datetime import UTC, datetime

from flask import current_app
from redis import Redis
from sqlalchemy import bindparam, delete, exists, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from db import db
from models import USER_COLUMNS, RevokedTokenModel, TokenUser, UserModel

_INSERT_BY_DIALECT = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}


# Run on every authenticated request; built once, with only the parameters
# changing from request to request.
_IS_REVOKED = exists().where(RevokedTokenModel.jti == bindparam("jti"))
_REVOKED = select(_IS_REVOKED)
_USER = select(*USER_COLUMNS).where(UserModel.id == bindparam("user_id"))
_USER_AND_REVOCATION = select(*USER_COLUMNS, _IS_REVOKED.label("revoked")).where(
    UserModel.id == bindparam("user_id")
)


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
            .returning(RevokedTokenModel.jti)
        )
        inserted = db.session.scalar(statement) is not None
        db.session.commit()
        return inserted

    def is_revoked(self, jti: str) -> bool:
        return bool(db.session.connection().scalar(_REVOKED, {"jti": jti}))

    def user_and_revocation(
        self, user_id: int, jti: str
    ) -> tuple[TokenUser | None, bool]:
        """The token's user and whether the token id is revoked, in one query."""
        row = (
            db.session.connection()
            .execute(_USER_AND_REVOCATION, {"user_id": user_id, "jti": jti})
            .first()
        )
        if row is None:
            return None, self.is_revoked(jti)
        return TokenUser(*row[:-1]), bool(row.revoked)

    def prune(self, now: datetime) -> int:
        result = db.session.execute(
            delete(RevokedTokenModel).where(RevokedTokenModel.expires_at < now)
        )
        db.session.commit()
        return result.rowcount


class RedisBlocklist:
    """Revoked token ids as Redis keys that expire with their tokens."""

    def __init__(self, client: Redis, prefix: str):
        self.client = client
        self.prefix = f"{prefix}revoked:"

    def revoke(self, jti: str, expires_at: datetime) -> bool:
        """Revoke a token id; False when it was already revoked (SET NX is atomic)."""
        seconds = math.ceil((expires_at - datetime.now(UTC)).total_seconds())
        return bool(self.client.set(self.prefix + jti, 1, ex=max(seconds, 1), nx=True))

    def is_revoked(self, jti: str) -> bool:
        return self.client.exists(self.prefix + jti) == 1

    def user_and_revocation(
        self, user_id: int, jti: str
    ) -> tuple[TokenUser | None, bool]:
        """The token's user (one query) and whether the token id is revoked (one command)."""
        return token_user(user_id), self.is_revoked(jti)


def token_user(user_id: int) -> TokenUser | None:
    row = db.session.connection().execute(_USER, {"user_id": user_id}).first()
    return None if row is None else TokenUser(*row)


def get_blocklist() -> DatabaseBlocklist | RedisBlocklist:
    return current_app.extensions["blocklist"]


def init_app(app) -> None:
    redis = app.extensions.get("redis")
    app.extensions["blocklist"] = (
        RedisBlocklist(redis, app.config["REDIS_KEY_PREFIX"])
        if redis is not None
        else DatabaseBlocklist()
    )


def expiry_of(claims: dict) -> datetime:
    """When the token behind these claims expires."""
    return datetime.fromtimestamp(claims["exp"], tz=UTC)
