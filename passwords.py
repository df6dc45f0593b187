"""Password hashing: argon2 for new hashes; older pbkdf2_sha256 hashes still verify,
and are rehashed with argon2 at the user's next successful login."""

from flask import Flask, current_app
from passlib.context import CryptContext


def init_app(app: Flask) -> None:
    context = CryptContext(
        schemes=["argon2", "pbkdf2_sha256"],
        deprecated=["pbkdf2_sha256"],
        argon2__memory_cost=app.config["ARGON2_MEMORY_COST"],
        argon2__time_cost=app.config["ARGON2_TIME_COST"],
        argon2__parallelism=app.config["ARGON2_PARALLELISM"],
    )
    app.extensions["passwords"] = Passwords(context)


class Passwords:
    def __init__(self, context: CryptContext):
        self.context = context
        self._dummy_hash = None

    def hash(self, password: str) -> str:
        return self.context.hash(password)

    def verify(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        """Whether the password matches, and a new hash when the stored one is outdated."""
        return self.context.verify_and_update(password, stored_hash)

    def verify_nothing(self, password: str) -> None:
        """The work of verifying a password, for a user who does not exist, so that
        an unknown username takes as long as a wrong password."""
        if self._dummy_hash is None:
            self._dummy_hash = self.context.hash("no user has this password")
        self.context.verify(password, self._dummy_hash)


def passwords() -> Passwords:
    return current_app.extensions["passwords"]
