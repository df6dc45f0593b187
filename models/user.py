"""Users: accounts that log in for tokens, with an optional email address; admins may delete anything."""

from sqlalchemy import Index, String, false, func, select
from sqlalchemy.orm import Mapped, mapped_column

from db import Model, db
from passwords import passwords


class UserModel(Model):
    __tablename__ = "users"
    # Ids are never reused, on SQLite too: a deleted user's tokens name an id
    # that no later account can get.
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Tokens carry the generation they were issued in; raising it (logout from
    # every device, a new password) revokes every token issued before.
    token_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # An address for account emails (verification, password reset, notices);
    # unique without regard to case, as usernames are.
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(default=False, server_default=false())

    def set_password(self, password: str) -> None:
        self.password_hash = passwords().hash(password)

    def check_password(self, password: str) -> bool:
        """Whether `password` is this user's; an outdated hash is replaced (commit to keep it)."""
        matches, new_hash = passwords().verify(password, self.password_hash)
        if matches and new_hash:
            self.password_hash = new_hash
        return matches

    def revoke_all_tokens(self) -> None:
        self.token_generation += 1

    @classmethod
    def find_by_username(cls, username: str) -> "UserModel | None":
        return db.session.scalar(
            select(cls).where(func.lower(cls.username) == username.lower())
        )

    @classmethod
    def find_by_email(cls, email: str) -> "UserModel | None":
        return db.session.scalar(
            select(cls).where(func.lower(cls.email) == email.lower())
        )

    @classmethod
    def authenticate(cls, username: str, password: str) -> "UserModel | None":
        """The user whose credentials these are, or None.

        An unknown username costs the same hashing work as a wrong password,
        so response times do not reveal which usernames exist.
        """
        user = cls.find_by_username(username)
        if user is None:
            passwords().verify_nothing(password)
            return None
        return user if user.check_password(password) else None


# Usernames keep the case they were registered with, but are unique and matched
# without regard to it.
Index("uq_users_username_lower", func.lower(UserModel.username), unique=True)
Index("uq_users_email_lower", func.lower(UserModel.email), unique=True)
