"""Token revocation: what logout, refresh rotation and reuse write, and what every request checks.

The database's `revoked_tokens` table is the one record of revocations, so a
restart of any server (an API host, PostgreSQL, a Redis that keeps nothing on
disk) forgets none, and every worker on every host sees the same list. It is
read in the same query as the token's user, so it costs no extra round trip.
`flask tokens prune` deletes entries whose tokens have expired anyway.

Families (RFC 9700, section 4.14.2): the tokens of one login and of every
refresh after it carry the same `fam` claim. Presenting a refresh token that
was already rotated revokes the whole family, by a record keyed by the family
id. Each record keeps why it was written, so a refresh token revoked by a
logout is told apart from one that was rotated (only the latter is reuse).

If the database cannot be reached, the check raises and the request is
answered 503 (see faults.py): a token is never accepted because its revocation
could not be read.
"""

from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID, uuid5

from flask import current_app
from sqlalchemy import CursorResult, Table, bindparam, delete, exists, select

import audit
from db import db, insert_unless_present
from models import RevokedTokenModel

REVOKED_TOKENS = cast(Table, RevokedTokenModel.__table__)

# A token's decoded claims, as flask-jwt-extended hands them over.
Claims = dict[str, Any]

# Namespace of the families derived for tokens issued before families.
LEGACY_FAMILIES = UUID("6f1d7c4e-2b1a-4d5e-9c3f-8a7b6e5d4c3b")

# Why a record was written (`revoked_tokens.reason`).
LOGOUT = "logout"  # logout, of this token or of the login it came with
ROTATED = "rotated"  # a refresh token that was used once
REUSED = "reused"  # a whole family, after one of its rotated tokens came back

# Whether a token is revoked: its own id or its family's id has a record
# (`family` is NULL for tokens issued without one). auth.py reads it in the
# same query as the token's user, on every authenticated request.
IS_REVOKED = exists().where(
    RevokedTokenModel.jti.in_([bindparam("jti"), bindparam("family")])
)
_REASON = select(RevokedTokenModel.reason).where(
    RevokedTokenModel.jti == bindparam("jti")
)


def revoke(
    jti: str, expires_at: datetime, reason: str = LOGOUT, *, commit: bool = True
) -> bool:
    """Revoke a token (or family) id; False when it was already revoked.

    The insert is atomic, so of two requests racing to rotate the same
    refresh token exactly one wins. `commit=False` leaves the commit to the
    caller, to revoke several ids in one transaction.
    """
    inserted = insert_unless_present(
        REVOKED_TOKENS, jti=jti, expires_at=expires_at, reason=reason
    )
    if commit:
        db.session.commit()
    return inserted


def family_of(claims: Claims) -> str:
    """The id of the family of the token behind `claims`.

    Tokens issued before families carry none; a refresh token of those is
    given one derived from its own id, which the tokens it is refreshed into
    carry, so that its reuse revokes them too.
    """
    family = claims.get("fam")
    return family if family else str(uuid5(LEGACY_FAMILIES, claims["jti"]))


def revocation_params(claims: Claims) -> dict[str, Any]:
    """The parameters of IS_REVOKED for the token behind `claims`."""
    return {"jti": claims["jti"], "family": family_of(claims)}


def was_rotated(jti: str) -> bool:
    """Whether this (revoked) token id was revoked by being used to refresh."""
    return db.session.connection().scalar(_REASON, {"jti": jti}) == ROTATED


def revoke_family(claims: Claims) -> None:
    """Revoke every token of the family of `claims`: one of its refresh tokens
    came back after it had been rotated, so a copy is in someone else's hands."""
    # No token of the family outlives a refresh token issued now.
    lifetime = current_app.config["JWT_REFRESH_TOKEN_EXPIRES"] + timedelta(minutes=1)
    newly = revoke(family_of(claims), datetime.now(UTC) + lifetime, REUSED)
    # Every reuse is audited; `family_revoked` is false when an earlier reuse
    # of the family had revoked it already.
    audit.audit("refresh_token_reused", int(claims["sub"]), family_revoked=newly)


def prune(now: datetime) -> int:
    """Delete the records of tokens that have expired anyway; how many went."""
    result = cast(
        CursorResult[Any],
        db.session.execute(
            delete(RevokedTokenModel).where(RevokedTokenModel.expires_at < now)
        ),
    )
    db.session.commit()
    return result.rowcount


def expiry_of(claims: Claims) -> datetime:
    """When the token behind these claims expires."""
    return datetime.fromtimestamp(claims["exp"], tz=UTC)
