"""Authentication: a bearer token from its issue to every check of it.

1. **Issue** (`issue_tokens`): a login answers an access token and a refresh
   token that name each other, the user's token generation (`gen`) and the
   login's family (`fam`); each refresh continues the family.
2. **Check**: flask-jwt-extended verifies the signature, expiry and type;
   then `load_user` reads the token's user and the token's revocation in one
   query. A revoked token, a token of an older generation (logout everywhere,
   a new password) and a rotated refresh token sent again (which revokes its
   whole family) are all answered `token_revoked`; a token whose user is
   gone, `user_not_found`. Revocation records and families are blocklist.py's.
3. **Guard** (`guard`, used as `@blp.auth_required(...)`): which token a view
   needs (access, fresh access or refresh) and whether its user must be an
   admin, with the matching 401/403 documented on the operation.
4. **Answers**: every failure is a 401 (or 403) in the error envelope with an
   `error` code a client can branch on (errors.py).

`current_user` is a read-only `TokenUser`; a view that changes the user
locks its row with `locked_user()`.
"""

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import uuid4

from flask import Flask, Response
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    current_user,
    get_jwt,
    get_jwt_header,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import FreshTokenRequired, RevokedTokenError
from sqlalchemy import bindparam, select

import blocklist
import errors
from db import db, get_for_update
from errors import abort
from models import UserModel

if TYPE_CHECKING:
    from api import Blueprint

BEARER_SCHEME = "bearerAuth"

Claims = blocklist.Claims
View = TypeVar("View", bound=Callable[..., Any])
Answer = tuple[Response, int, errors.Headers]


@dataclass(frozen=True, slots=True)
class TokenUser:
    """The user a request's token names (`current_user`), read as a plain row
    with the token's revocation on every request. A read-only snapshot: a
    view that changes the user loads its UserModel (`locked_user`)."""

    id: int
    username: str
    is_admin: bool
    token_generation: int


# Run on every authenticated request; built once, with only the parameters
# changing from request to request. Its columns are TokenUser's fields, by
# name, then the revocation.
_USER_AND_REVOCATION = select(
    *(getattr(UserModel, field.name) for field in fields(TokenUser)),
    blocklist.IS_REVOKED.label("revoked"),
).where(UserModel.id == bindparam("user_id"))


def issue_tokens(
    user: UserModel | TokenUser, *, fresh: bool, family: str | None = None
) -> dict[str, str]:
    """A new access token and refresh token that know each other's id.

    The access token carries the refresh token's id, so logging out with it
    can revoke both, and only those: other logins stay valid. Both carry the
    user's token generation, so raising it revokes them, and their family: a
    login starts one (`family` None), its refreshes continue it.
    """
    identity = str(user.id)
    refresh_jti = str(uuid4())
    shared = {"gen": user.token_generation, "fam": family or str(uuid4())}
    return {
        "access_token": create_access_token(
            identity,
            fresh=fresh,
            additional_claims={"refresh_jti": refresh_jti, **shared},
        ),
        "refresh_token": create_refresh_token(
            identity, additional_claims={"jti": refresh_jti, **shared}
        ),
    }


def rotate(claims: Claims) -> dict[str, str]:
    """The token pair that replaces the refresh token behind `claims`, which
    is revoked; its family continues.

    Of two refreshes racing with one token, one wins the revocation; the other
    is a reuse, answered `token_revoked`, and revokes the family. A token
    revoked meanwhile by a logout of its login is refused without that.
    """
    if not blocklist.revoke(
        claims["jti"], blocklist.expiry_of(claims), blocklist.ROTATED
    ):
        if blocklist.was_rotated(claims["jti"]):
            blocklist.revoke_family(claims)
        abort(401, message="The token has been revoked.", error="token_revoked")
    family = blocklist.family_of(claims)
    return issue_tokens(current_user, fresh=False, family=family)


def load_user(header: dict[str, Any], claims: Claims) -> TokenUser | None:
    """The token's user, if the token still stands (flask-jwt-extended's user
    loader, run on every request with a token after its signature checks).

    Raises RevokedTokenError for a revoked token, which flask-jwt-extended
    answers through `revoked_token_loader` as it does its own revocation
    check (this app registers none: the user and the revocation are read in
    one query here, so `verify_jwt_in_request(skip_revocation_check=True)`
    would not skip it). Returns None, answered `user_not_found`, when the user
    is gone (tests/test_tokens.py holds both answers).
    """
    params = blocklist.revocation_params(claims)
    params["user_id"] = int(claims["sub"])
    row = db.session.connection().execute(_USER_AND_REVOCATION, params).first()
    revoked = blocklist.is_revoked(params) if row is None else bool(row.revoked)
    user = None if row is None else TokenUser(*row[:-1])
    if user is not None and claims.get("gen", 0) != user.token_generation:
        revoked = True  # logged out everywhere, or the password changed
    elif (
        revoked and claims["type"] == "refresh" and blocklist.was_rotated(claims["jti"])
    ):
        blocklist.revoke_family(claims)  # a rotated refresh token came back
    if revoked:
        raise RevokedTokenError(header, claims)
    return user


def locked_user() -> UserModel:
    """The token's user as a model, to change it (`current_user` is a
    read-only snapshot), locked until the commit (see db.get_for_update).

    Checked again under the lock: a user deleted, or whose tokens were all
    revoked, since the token was checked answers as if that came first.
    """
    user = get_for_update(UserModel, current_user.id)
    if user is None:
        abort(
            401,
            message="The user of this token no longer exists.",
            error="user_not_found",
        )
    if user.token_generation != current_user.token_generation:
        abort(401, message="The token has been revoked.", error="token_revoked")
    return user


def guard(
    blp: "Blueprint", *, fresh: bool = False, refresh: bool = False, admin: bool = False
) -> Callable[[View], View]:
    """Guard a view with a bearer token, and document that guard on `blp`.

    It must be the outermost decorator: a missing or bad token is answered
    401 before the body or the path is looked at. The user is loaded from the
    database on every request, so a deleted user's token fails with
    `user_not_found` even where a fresh token is required, and a demotion
    takes effect at once.
    """

    def decorator(func: View) -> View:
        @wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            verify_jwt_in_request(refresh=refresh)
            if fresh and not get_jwt()["fresh"]:
                raise FreshTokenRequired(
                    "Fresh token required.", get_jwt_header(), get_jwt()
                )
            if admin and not current_user.is_admin:
                abort(403, message="Admin rights required.", error="forbidden")
            return func(*args, **kwargs)

        token = "refresh" if refresh else ("fresh access" if fresh else "access")
        codes = ["authorization_required", "invalid_token", "token_expired"]
        codes += ["token_revoked", "user_not_found"]
        if fresh:
            codes.append("fresh_token_required")
        documented = blp.doc(security=[{BEARER_SCHEME: []}])(guarded)
        documented = blp.alt_response(
            401,
            description=f"No valid {token} token. `error` is one of: "
            + ", ".join(f"`{code}`" for code in codes)
            + ".",
        )(documented)
        if admin:
            documented = blp.alt_response(
                403,
                description="The token is valid, but its user is not an "
                "admin (`error`: `forbidden`).",
            )(documented)
        return cast(View, documented)

    return decorator


BEARER_SECURITY_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "The `access_token` from `POST /login` "
    "(`POST /refresh` takes the `refresh_token`).",
}


def init_app(app: Flask) -> None:
    """Token checks on `app`, and the envelope of each way a token fails."""
    jwt = JWTManager(app)
    jwt.user_lookup_loader(load_user)

    @jwt.unauthorized_loader
    def missing_token(_reason: str) -> Answer:
        return errors.answer(
            401,
            "Request does not contain a bearer token "
            "('Authorization: Bearer <token>').",
            "authorization_required",
        )

    @jwt.invalid_token_loader
    def invalid_token(reason: str) -> Answer:
        return errors.answer(401, f"Invalid token: {reason}.", "invalid_token")

    @jwt.expired_token_loader
    def expired_token(_header: dict[str, Any], _claims: Claims) -> Answer:
        return errors.answer(401, "The token has expired.", "token_expired")

    @jwt.revoked_token_loader
    def revoked_token(_header: dict[str, Any], _claims: Claims) -> Answer:
        return errors.answer(401, "The token has been revoked.", "token_revoked")

    @jwt.needs_fresh_token_loader
    def stale_token(_header: dict[str, Any], _claims: Claims) -> Answer:
        return errors.answer(
            401, "A fresh token is required: log in again.", "fresh_token_required"
        )

    @jwt.user_lookup_error_loader
    def user_gone(_header: dict[str, Any], _claims: Claims) -> Answer:
        return errors.answer(
            401, "The user of this token no longer exists.", "user_not_found"
        )

    @jwt.token_verification_failed_loader
    def claims_rejected(_header: dict[str, Any], _claims: Claims) -> Answer:
        return errors.answer(401, "Invalid token: claims rejected.", "invalid_token")
