"""One module per table; importing this package registers every table on db.metadata."""

from models.change import ChangeClockModel, ChangeModel
from models.idempotency_key import IdempotencyKeyModel
from models.item import ItemModel
from models.item_tag import items_tags
from models.revoked_token import RevokedTokenModel
from models.store import StoreModel
from models.tag import TagModel
from models.user import UserModel

__all__ = [
    "ChangeClockModel",
    "ChangeModel",
    "IdempotencyKeyModel",
    "ItemModel",
    "RevokedTokenModel",
    "StoreModel",
    "TagModel",
    "UserModel",
    "items_tags",
]
