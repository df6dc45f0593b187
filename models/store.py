"""Stores: the root of the catalogue; deleting one deletes its items and tags."""

from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db import Model

if TYPE_CHECKING:
    from models.item import ItemModel
    from models.tag import TagModel


class StoreModel(Model):
    __tablename__ = "stores"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    # Who may change the store and what is in it, besides admins. None for a
    # store whose owner was deleted, or made before stores had owners.
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )

    # passive_deletes: the database's ON DELETE CASCADE removes children and
    # their links in one statement instead of the ORM loading them first.
    items: Mapped[list["ItemModel"]] = relationship(
        back_populates="store",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ItemModel.id",
    )
    tags: Mapped[list["TagModel"]] = relationship(
        back_populates="store",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="TagModel.id",
    )
