"""Authentication: a bearer token from its issue to every check of it.

1. **Issue** (`issue_tokens`): a login answers an access token and a refresh
   token that name each other, the user's token generation (`gen`) and the
   login's family (`fam`); each refresh continues the family.
2. **Check** (`verify`): the bearer token is decoded and verified once
   (signature, expiry, type) with PyJWT, which flask-jwt-extended issues it
   with; then the token's user and the token's revocation are read in one
   query. A revoked token, a token of an older generation (logout
   everywhere, a new password) and a rotated refresh token sent again (which revokes its
   whole family) are all answered `token_revoked`; a token whose user is
   gone, `user_not_found`. Revocation records and families are blocklist.py's.
   A read (GET or HEAD, no admin or fresh token needed) defers that query:
   its first statement selects the user and revocation beside its own rows
   (`read`), one round trip instead of two, and is checked before any of
   those rows is used; whatever comes first (`current_user`, an error, the
   end of the view) makes the check on its own.
3. **Guard** (`guard`, used as `@blp.auth_required(...)`): which token a view
   needs (access, fresh access or refresh) and whether its user must be an
   admin, with the matching 401/403 documented on the operation.
4. **Answers**: every failure is a 401 (or 403) in the error envelope with an
   `error` code a client can branch on (errors.py).

`current_user` is a read-only `TokenUser` and `token_claims()` the verified
claims; a view that changes the user locks its row with `locked_user()`.

flask-jwt-extended issues the tokens and answers their failures (through the
loaders `init_app` registers, which its error handlers call), but does not
check them: its `verify_jwt_in_request` decodes each token four times (the
claims and the header unverified, for its key callback; the claims verified;
the header again), and PyJWT (2.15, as pinned) checks every character of
each segment in Python on each decode. One verified decode here costs 44 µs
where those cost 156 µs (on a 2-core machine whose authenticated read took
about 500 µs in the process). Upstream, `_decode_jwt_from_config` would
decode once with `jwt.decode_complete` when no `decode_key_loader` is set,
and hand its header to `_decode_jwt_from_request`.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import uuid4

import jwt
from flask import Flask, Response, current_app, g, request
from flask_jwt_extended import JWTManager, create_access_token, create_refresh_token
from flask_jwt_extended.exceptions import (
    FreshTokenRequired,
    InvalidHeaderError,
    JWTDecodeError,
    NoAuthorizationError,
    RevokedTokenError,
    UserLookupError,
    WrongTokenError,
)
from sqlalchemy import Integer, Select, bindparam, select, true
from sqlalchemy import cast as sql_cast
from werkzeug.local import LocalProxy

import blocklist
import errors
from db import READ_METHODS, db, get_for_update
from errors import abort
from models import UserModel
from prebuilt import Prebuilt

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
    email: str | None
    email_verified: bool
    is_admin: bool
    token_generation: int


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What `verify` found in a request: the token's header, claims and user."""

    header: dict[str, Any]
    claims: Claims
    user: TokenUser


def _verified() -> VerifiedToken:
    settle()
    token = g.get("verified_token")
    if token is None:
        raise RuntimeError("no verified token: the view is not guarded")
    return cast(VerifiedToken, token)


current_user = cast(TokenUser, LocalProxy(lambda: _verified().user))


def token_claims() -> Claims:
    """The verified claims of the request's token."""
    return _verified().claims


@dataclass(frozen=True, slots=True)
class PendingCheck:
    """A verified token whose user and revocation are still to be read: by
    the request's first statement (`read`), or on its own (`settle`)."""

    header: dict[str, Any]
    claims: Claims
    params: dict[str, Any]  # of _USER_AND_REVOCATION


# The token's user and revocation, in one row also when the user is gone:
# TokenUser's fields, by name (all NULL without a user), then `revoked`.
_TOKEN = select(sql_cast(bindparam("user_id"), Integer).label("user_id")).subquery(
    "token"
)
_CHECK_COLUMNS = (
    *(getattr(UserModel, field.name) for field in fields(TokenUser)),
    blocklist.IS_REVOKED.label("revoked"),
)
_CHECKED = _TOKEN.outerjoin(UserModel, UserModel.id == _TOKEN.c.user_id)
# Run on every authenticated request that does not defer it; built once,
# with only the parameters changing from request to request.
_USER_AND_REVOCATION = Prebuilt(select(*_CHECK_COLUMNS).select_from(_CHECKED))
_WIDTH = len(_CHECK_COLUMNS)


def with_token_check(statement: Any, order: tuple[str, ...] = ()) -> Select[Any]:
    """`statement` (a SELECT or UNION), with the token's user and revocation
    in the first columns of each row, and in one row of their own (the rest
    NULL) when `statement` has none. Its ORDER BY is given again as `order`,
    labels of its columns: a subquery's order does not carry outside it.
    Built once per statement, as `read` runs it on every request.

    A row of `statement` must not start with NULL (an id, a count): `read`
    tells the rows apart by that.
    """
    data = statement.order_by(None).subquery("data")
    return (
        select(*_CHECK_COLUMNS, *data.c)
        .select_from(_CHECKED.outerjoin(data, true()))
        .order_by(*(data.c[label] for label in order))
    )


def read(
    statement: Any,
    params: dict[str, Any],
    checked: Select[Any] | Prebuilt | None = None,
) -> list[Any]:
    """The rows of `statement`. A pending token check is made first: by
    `checked` (`statement` with `with_token_check`, prebuilt where it is
    built once) in the same round trip, or without it on its own."""
    check = None if checked is None else g.pop("pending_check", None)
    if checked is None or check is None:
        settle()
        return _rows(statement, params)
    found = _rows(checked, {**params, **check.params})
    _checked(check, found[0])
    return [row[_WIDTH:] for row in found if row[_WIDTH] is not None]


def _rows(statement: Any, params: dict[str, Any]) -> list[Any]:
    connection = db.session.connection()
    if isinstance(statement, Prebuilt):
        return statement.rows(connection, params)
    # All at once (the cursor's fetchall), not a fetch per row as iterating
    # the result would: a page of stores has a thousand items.
    return list(connection.execute(statement, params).all())


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


def verify(*, refresh: bool = False, defer: bool = False) -> PendingCheck:
    """The request's bearer token, verified (its header and claims); or the
    exception flask-jwt-extended raises for what is wrong with it, which its
    error handlers answer, with the same messages.

    It checks what `verify_jwt_in_request` does for this app's tokens (in
    the Authorization header, signed with JWT_SECRET_KEY): the header's form,
    the signature, `exp`, `nbf` and `iat`, a `sub` that is a string, the
    token's type; then the token's user and revocation (`settle`), unless
    `defer`: then the request's first read makes that check (`read`).
    """
    encoded = _bearer_token()
    config = current_app.config
    try:
        decoded = jwt.decode_complete(
            encoded,
            config["JWT_SECRET_KEY"],
            # flask-jwt-extended's settings, with the defaults it sets.
            algorithms=config["JWT_DECODE_ALGORITHMS"] or [config["JWT_ALGORITHM"]],
            leeway=config["JWT_DECODE_LEEWAY"],
            # No audience is configured, so none is checked (as there).
            options={"verify_sub": True, "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as error:
        # The expired-token loader is handed the header and claims.
        error.jwt_header = jwt.get_unverified_header(encoded)  # type: ignore[attr-defined]
        error.jwt_data = jwt.decode(encoded, options={"verify_signature": False})  # type: ignore[attr-defined]
        raise
    header, claims = decoded["header"], decoded["payload"]
    if "sub" not in claims:
        raise JWTDecodeError("Missing claim: sub")
    claims.setdefault("type", "access")
    claims.setdefault("fresh", False)
    claims.setdefault("jti", None)
    if refresh and claims["type"] != "refresh":
        raise WrongTokenError("Only refresh tokens are allowed")
    if not refresh and claims["type"] == "refresh":
        raise WrongTokenError("Only non-refresh tokens are allowed")
    params = blocklist.revocation_params(claims)
    params["user_id"] = int(claims["sub"])
    check = g.pending_check = PendingCheck(header, claims, params)
    if not defer:
        settle()
    return check


def settle() -> None:
    """Make the request's pending token check, on its own, if there is one."""
    check = g.pop("pending_check", None)
    if check is not None:
        (row,) = _USER_AND_REVOCATION.rows(db.session.connection(), check.params)
        _checked(check, row)


_EXPECTED = "Expected 'Authorization: Bearer <JWT>'"


def _bearer_token() -> str:
    """The token of the request's `Authorization: Bearer` header, as
    flask-jwt-extended finds it (of several credentials, the Bearer one)."""
    field = request.headers.get("Authorization", "").strip().strip(",")
    if not field:
        raise NoAuthorizationError("Missing Authorization Header")
    bearers = [
        value
        for value in re.split(r",\s*", field)
        if value and value.split()[0] == "Bearer"
    ]
    if len(bearers) != 1:
        raise NoAuthorizationError(
            f"Missing 'Bearer' type in 'Authorization' header. {_EXPECTED}"
        )
    parts = bearers[0].split()
    if len(parts) != 2:
        raise InvalidHeaderError(f"Bad Authorization header. {_EXPECTED}")
    return parts[1]


def _checked(check: PendingCheck, row: Sequence[Any]) -> None:
    """The token's check, from `row` (its user's fields, then `revoked`):
    the token becomes the request's `current_user`, or fails.

    Raises RevokedTokenError for a revoked token, answered through
    flask-jwt-extended's `revoked_token_loader`, and UserLookupError when the
    user is gone, answered `user_not_found` (tests/test_tokens.py holds both
    answers).
    """
    header, claims = check.header, check.claims
    user = None if row[0] is None else TokenUser(*row[: _WIDTH - 1])
    revoked = bool(row[_WIDTH - 1])
    if user is not None and claims.get("gen", 0) != user.token_generation:
        revoked = True  # logged out everywhere, or the password changed
    elif (
        revoked and claims["type"] == "refresh" and blocklist.was_rotated(claims["jti"])
    ):
        blocklist.revoke_family(claims)  # a rotated refresh token came back
    if revoked:
        raise RevokedTokenError(header, claims)
    if user is None:
        raise UserLookupError(
            f"user_lookup returned None for {claims['sub']}", header, claims
        )
    g.verified_token = VerifiedToken(header, claims, user)


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
            if defers and request.method in READ_METHODS:
                verify(defer=True)
                try:
                    answer = func(*args, **kwargs)
                except Exception:
                    settle()  # a bad token's 401 comes before the view's error
                    raise
                settle()  # the view read nothing, or not by `read`
                return answer
            token = verify(refresh=refresh)
            if fresh and not token.claims["fresh"]:
                raise FreshTokenRequired(
                    "Fresh token required.", token.header, token.claims
                )
            if admin and not current_user.is_admin:
                abort(403, message="Admin rights required.", error="forbidden")
            return func(*args, **kwargs)

        # Rights that must hold before the view starts cannot wait for its
        # first read.
        defers = not (fresh or refresh or admin)

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
