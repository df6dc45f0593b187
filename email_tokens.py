"""The tokens in account emails: signed, timed, single use, and void once what they prove changes.

A token is the user's id and a fingerprint of the user's state, signed with
the app's secret (itsdangerous) and stamped with its time of issue. Nothing
of it is stored. It works while:

- it is younger than its purpose's lifetime (24 hours to verify an address,
  30 minutes to reset a password);
- the fingerprint still matches: for verification the address and whether
  it is verified, for a reset the password hash. Verifying the address, or
  changing the password by any route, changes the state, so a token works
  once and a newer address or password voids every older token.

The fingerprint is an HMAC of the state, so a token shows neither the
address nor the hash. Each purpose signs with its own salt: a verification
token is no reset token.
"""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from db import get_for_update
from models import UserModel


@dataclass(frozen=True)
class Purpose:
    name: str
    lifetime: timedelta


VERIFY_EMAIL = Purpose("verify-email", timedelta(hours=24))
RESET_PASSWORD = Purpose("reset-password", timedelta(minutes=30))


def _state(user: UserModel, purpose: Purpose) -> str:
    if purpose is VERIFY_EMAIL:
        return f"{user.email}\0{user.email_verified}"
    return user.password_hash


def _fingerprint(user: UserModel, purpose: Purpose) -> str:
    key = current_app.config["JWT_SECRET_KEY"].encode()
    message = f"{purpose.name}\0{_state(user, purpose)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["JWT_SECRET_KEY"], salt=f"stores.{purpose.name}"
    )


def issue(user: UserModel, purpose: Purpose) -> str:
    """A URL-safe token for `user`, good for `purpose` until its state changes."""
    return _serializer(purpose).dumps([user.id, _fingerprint(user, purpose)])


def user_for(token: str, purpose: Purpose) -> UserModel | None:
    """The user `token` was issued to, locked until the commit (so that a
    token used twice at once works once); None when it is bad, expired or
    void."""
    max_age = int(purpose.lifetime.total_seconds())
    try:
        user_id, fingerprint = _serializer(purpose).loads(token, max_age=max_age)
    except (BadData, TypeError, ValueError):
        return None
    if not isinstance(user_id, int) or not isinstance(fingerprint, str):
        return None
    user = get_for_update(UserModel, user_id)
    if user is None or not hmac.compare_digest(
        fingerprint, _fingerprint(user, purpose)
    ):
        return None
    return user
