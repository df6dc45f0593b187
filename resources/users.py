"""Users and their tokens: register, login, refresh, logout, and account access."""

from datetime import UTC, datetime, timedelta

from flask import current_app
from flask.views import MethodView
from flask_smorest import abort

import blocklist
import jobs
from api import Blueprint
from audit import audit
from auth import current_user, issue_tokens, locked_user, rotate, token_claims
from blocklist import expiry_of
from db import db
from mail import masked
from models import UserModel
from passwords import passwords
from ratelimit import RETRY_AFTER
from resources.common import (
    LOCATION_HEADER,
    commit_or_abort,
    delete_and_commit,
    get_or_404,
    location,
)
from schemas import (
    LoginSchema,
    MessageSchema,
    PasswordChangeSchema,
    RegisterSchema,
    TokenSchema,
    UserSchema,
)

blp = Blueprint("users", __name__, description="Accounts and their tokens.")

CREDENTIALS_EXAMPLE = {"username": "jane.doe", "password": "correct horse battery"}
REGISTER_EXAMPLE = {**CREDENTIALS_EXAMPLE, "email": "jane@example.com"}
# Which of the users' unique indexes a register broke.
TAKEN = {
    "uq_users_username_lower": "A user with that username already exists.",
    "uq_users_email_lower": "A user with that email address already exists.",
}
# Token answers must not be kept by browsers or proxies.
NO_STORE = {"Cache-Control": "no-store"}
NO_STORE_HEADER = {
    "Cache-Control": {"description": "`no-store`", "schema": {"type": "string"}}
}


def rate_limited(description: str):
    return blp.alt_response(429, description=description, headers=RETRY_AFTER)


def get_user_for(user_id: int, *, lock: str | None = None) -> UserModel:
    """The user `user_id`, if the caller is that user or an admin."""
    if user_id != current_user.id and not current_user.is_admin:
        abort(403, message="You may only access your own account.", error="forbidden")
    return get_or_404(UserModel, user_id, "User not found.", lock=lock)


@blp.route("/register")
class Register(MethodView):
    @blp.arguments(RegisterSchema, example=REGISTER_EXAMPLE)
    @blp.response(201, UserSchema, headers=LOCATION_HEADER)
    @blp.alt_response(
        409,
        description="That username, or that email address, is taken (in any "
        "letter case).",
    )
    @rate_limited("Too many registrations from this address; see Retry-After.")
    def post(self, user_data):
        """Register a user

        Usernames are 3 to 80 letters, digits, `_`, `.` or `-`, kept as
        given but unique without regard to case. Passwords are 8 to 128
        characters. The email address is optional; when given, a
        verification email is sent to it. A taken address answers 409, as a
        taken username does: registering tells whether an address has an
        account, as it must to keep addresses unique (the rate limit bounds
        such probing; `POST /password/forgot` tells nothing).
        """
        user = UserModel(username=user_data["username"], email=user_data.get("email"))
        user.set_password(user_data["password"])
        db.session.add(user)
        commit_or_abort(user, conflict=TAKEN)
        if user.email is not None:
            audit("email_changed", user.id, email=masked(user.email))
            jobs.send_soon("send_verification", user_id=user.id, address=user.email)
        return user, 201, location("users.UserView", user_id=user.id)


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginSchema, example=CREDENTIALS_EXAMPLE)
    @blp.response(200, TokenSchema, headers=NO_STORE_HEADER)
    @blp.alt_response(
        401,
        description="Unknown username or wrong password; the two are not told apart "
        "(`error`: `invalid_credentials`).",
    )
    @rate_limited(
        "Too many logins from this address, or failed logins for this username; "
        "see Retry-After."
    )
    def post(self, credentials):
        """Log in

        Returns a fresh access token and a refresh token. Send the access
        token as `Authorization: Bearer <access_token>`.
        """
        user = UserModel.authenticate(credentials["username"], credentials["password"])
        if user is None:
            audit("login_failed", None, username=credentials["username"])
            abort(401, message="Invalid credentials.", error="invalid_credentials")
        db.session.commit()  # keeps a password hash upgraded on the way
        audit("login", user.id)
        return issue_tokens(user, fresh=True), 200, NO_STORE


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.auth_required(refresh=True)
    @blp.response(200, TokenSchema, headers=NO_STORE_HEADER)
    @rate_limited("Too many refreshes from this address; see Retry-After.")
    def post(self):
        """Refresh tokens

        Send the refresh token as the bearer token. Returns a new non-fresh
        access token and a new refresh token; the refresh token sent is
        revoked. Sending it again (or twice at once) is taken for a stolen
        copy: 401 `token_revoked`, and every token of that login and of its
        refreshes is revoked, so whoever holds them logs in again. A refresh
        token revoked by a logout answers 401 `token_revoked` only.
        """
        return rotate(token_claims()), 200, NO_STORE


@blp.route("/logout")
class Logout(MethodView):
    @blp.auth_required()
    @blp.response(200, MessageSchema, example={"message": "Successfully logged out."})
    def post(self):
        """Log out

        Revokes the access token sent and the refresh token issued with it.
        The user's other logins (other devices) stay valid.
        """
        claims = token_claims()
        blocklist.revoke(claims["jti"], expiry_of(claims), commit=False)
        # The refresh token was issued with this token; a minute's margin
        # covers the two clock readings and the rounding of `iat`.
        refresh_expires = datetime.fromtimestamp(claims["iat"], tz=UTC)
        refresh_expires += current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
        refresh_expires += timedelta(minutes=1)
        # Both in one transaction: a logout never ends half done.
        blocklist.revoke(claims["refresh_jti"], refresh_expires, commit=False)
        db.session.commit()
        audit("logout", current_user.id)
        return {"message": "Successfully logged out."}


@blp.route("/logout/all")
class LogoutEverywhere(MethodView):
    @blp.auth_required()
    @blp.response(
        200, MessageSchema, example={"message": "Logged out on every device."}
    )
    def post(self):
        """Log out on every device

        Revokes every access and refresh token the user holds, this one
        included, on every device.
        """
        locked_user().revoke_all_tokens()
        db.session.commit()
        audit("logout_all", current_user.id)
        return {"message": "Logged out on every device."}


@blp.route("/me")
@blp.etag
class Me(MethodView):
    @blp.auth_required()
    @blp.response(200, UserSchema)
    def get(self):
        """Get the current user

        The user the access token was issued to.
        """
        return current_user


@blp.route("/me/password")
class MyPassword(MethodView):
    @blp.auth_required(fresh=True)
    @blp.arguments(
        PasswordChangeSchema,
        example={
            "current_password": "correct horse battery",
            "new_password": "battery staple horse",
        },
    )
    @blp.response(200, TokenSchema, headers=NO_STORE_HEADER)
    @blp.alt_response(
        403,
        description="`current_password` is wrong (`error`: `invalid_credentials`).",
    )
    def put(self, change):
        """Change my password (fresh token)

        Needs the current password and a fresh token. Every token the user
        held, on every device (the one sent included), is revoked; the answer
        is a new fresh token pair for this device. A notice is emailed to
        the verified address, if any.
        """
        # Both hashings before the lock, which would hold up other writes. A
        # user deleted meanwhile is answered by locked_user(), under the lock.
        unlocked = db.session.get(UserModel, current_user.id)
        current = change["current_password"]
        if unlocked is not None and not unlocked.check_password(current):
            abort(
                403,
                message="The current password is wrong.",
                error="invalid_credentials",
            )
        new_hash = passwords().hash(change["new_password"])
        user = locked_user()
        user.password_hash = new_hash
        user.revoke_all_tokens()
        db.session.commit()
        audit("password_changed", user.id)
        jobs.send_soon("send_password_changed", user_id=user.id)
        return issue_tokens(user, fresh=True), 200, NO_STORE


@blp.route("/user/<int:user_id>")
@blp.etag
class UserView(MethodView):
    @blp.auth_required()
    @blp.response(200, UserSchema)
    @blp.alt_response(403, description="Not your account, and you are not an admin.")
    @blp.alt_response(404, description="User not found.")
    def get(self, user_id):
        """Get a user

        Your own account, or any account for an admin.
        """
        return get_user_for(user_id)

    @blp.auth_required(fresh=True)
    @blp.response(200, MessageSchema, example={"message": "User deleted."})
    @blp.alt_response(403, description="Not your account, and you are not an admin.")
    @blp.alt_response(404, description="User not found.")
    def delete(self, user_id):
        """Delete a user (fresh token)

        Your own account, or any account for an admin. Every token of the
        deleted user then fails with 401 `user_not_found`. The user's stores
        stay, ownerless (`owner_id` null): only admins may change them.
        """
        user = get_user_for(user_id, lock="delete")
        blp.check_etag(user, UserSchema)
        delete_and_commit(user)
        if user_id != current_user.id:
            audit("admin_deleted_user", current_user.id, target_id=user_id)
        return {"message": "User deleted."}
