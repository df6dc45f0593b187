"""Items: priced products that belong to one store and carry any of its tags."""

from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db import Model
from models.item_tag import items_tags

if TYPE_CHECKING:
    from models.store import StoreModel
    from models.tag import TagModel


class ItemModel(Model):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("store_id", "name"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    # Numeric, not Float: 17.99 in is 17.99 out on every database.
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    description: Mapped[str | None] = mapped_column(String(1000))
    store_id: Mapped[int] = mapped_column(
        ForeignKey("stores.id", ondelete="CASCADE"), index=True
    )

    store: Mapped["StoreModel"] = relationship(back_populates="items")
    tags: Mapped[list["TagModel"]] = relationship(
        secondary=items_tags,
        back_populates="items",
        passive_deletes=True,
        order_by="TagModel.id",
    )
