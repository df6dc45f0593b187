"""Accounts by email: an address to verify, and a password to recover through it.

Every email is sent by a background job (jobs.py), never while the request
waits; the tokens in them are email_tokens.py's.
"""

from flask.views import MethodView
from flask_smorest import abort

import email_tokens
import jobs
from api import Blueprint
from audit import audit
from auth import locked_user
from db import db
from mail import masked
from passwords import passwords
from ratelimit import RETRY_AFTER
from resources.common import commit_or_abort
from schemas import (
    EmailSchema,
    MessageSchema,
    PasswordResetSchema,
    UserSchema,
    VerificationSchema,
)

blp = Blueprint(
    "accounts",
    __name__,
    description="Email addresses, and passwords recovered by email.",
)

EMAIL_TAKEN = "A user with that email address already exists."
FORGOT_ANSWER = (
    "If that address belongs to a verified account, a reset email is on its way."
)
BAD_TOKEN = "The link is invalid, used or expired; ask for a new one."


def rate_limited(description: str):
    return blp.alt_response(429, description=description, headers=RETRY_AFTER)


def bad_token() -> None:
    abort(
        422, message="The request is invalid.", errors={"json": {"token": [BAD_TOKEN]}}
    )


@blp.route("/me/email")
class MyEmail(MethodView):
    @blp.auth_required(fresh=True)
    @blp.arguments(EmailSchema, example={"email": "jane@example.com"})
    @blp.response(200, UserSchema)
    @blp.alt_response(409, description=EMAIL_TAKEN + " (In any letter case.)")
    def put(self, data):
        """Set or change my email address (fresh token)

        The address is saved unverified, and a verification email is sent
        to it (its link works for 24 hours, and no longer once the address
        changes again). Sending the address already set and verified
        changes nothing.
        """
        user = locked_user()
        if user.email == data["email"] and user.email_verified:
            db.session.commit()
            return user
        user.email, user.email_verified = data["email"], False
        commit_or_abort(user, conflict=EMAIL_TAKEN)
        audit("email_changed", user.id, email=masked(data["email"]))
        jobs.send_soon("send_verification", user_id=user.id, address=data["email"])
        return user


@blp.route("/email/verify")
class EmailVerify(MethodView):
    @blp.arguments(VerificationSchema, example={"token": "<token from the email>"})
    @blp.response(200, UserSchema)
    @blp.alt_response(
        422, description="The token is invalid, used or expired (`errors.json.token`)."
    )
    @rate_limited("Too many verifications from this address; see Retry-After.")
    def post(self, data):
        """Verify an email address

        Send the token of the link in the verification email. No bearer
        token is needed: this token is the proof. It works once.
        """
        user = email_tokens.user_for(data["token"], email_tokens.VERIFY_EMAIL)
        if user is None:
            db.session.rollback()
            bad_token()
        user.email_verified = True
        commit_or_abort(user)
        audit("email_verified", user.id, email=masked(user.email or ""))
        return user


@blp.route("/password/forgot")
class PasswordForgot(MethodView):
    @blp.arguments(EmailSchema, example={"email": "jane@example.com"})
    @blp.response(202, MessageSchema, example={"message": FORGOT_ANSWER})
    @blp.alt_response(503, description="The job queue cannot be reached; try again.")
    @rate_limited(
        "Too many requests from this address, or for this email address; "
        "see Retry-After."
    )
    def post(self, data):
        """Ask for a password reset email

        Always 202 with the same answer, known address or not: the lookup
        and the email are the work of a background job, so neither the
        answer nor its timing tells which addresses have accounts. Only a
        verified address gets the email; its link works for 30 minutes, and
        no longer once the password changes.
        """
        try:
            jobs.enqueue("send_password_reset", address=data["email"])
        except jobs.Unavailable:
            abort(503, message="The service is unavailable; try again shortly.")
        audit("password_reset_requested", None, email=masked(data["email"]))
        return {"message": FORGOT_ANSWER}, 202


@blp.route("/password/reset")
class PasswordReset(MethodView):
    @blp.arguments(
        PasswordResetSchema,
        example={"token": "<token from the email>", "new_password": "a new passphrase"},
    )
    @blp.response(200, MessageSchema, example={"message": "Password changed."})
    @blp.alt_response(
        422, description="The token is invalid, used or expired (`errors.json.token`)."
    )
    @rate_limited("Too many resets from this address; see Retry-After.")
    def post(self, data):
        """Reset a password

        Send the token of the link in the reset email and the new password.
        Every token the user held, on every device, is revoked: log in with
        the new password. The reset token works once. A notice is emailed.
        """
        # Hashed before the lock, which would hold up other writes.
        new_hash = passwords().hash(data["new_password"])
        user = email_tokens.user_for(data["token"], email_tokens.RESET_PASSWORD)
        if user is None:
            db.session.rollback()
            bad_token()
        user.password_hash = new_hash
        user.revoke_all_tokens()
        commit_or_abort(user)
        audit("password_reset", user.id)
        jobs.send_soon("send_password_changed", user_id=user.id)
        return {"message": "Password changed."}
