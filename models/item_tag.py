"""The many-to-many link between items and tags; one row per pair, never two.

Deleting an item removes its links (CASCADE); a tag cannot be deleted while it
has any (no ON DELETE action, checked at the end of the statement, so deleting
a store still removes its items, tags and links in one statement).
"""

from sqlalchemy import Column, ForeignKey, Table

from db import db

items_tags = Table(
    "items_tags",
    db.metadata,
    Column("item_id", ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    # Indexed on its own: the primary key only serves lookups by item first.
    Column("tag_id", ForeignKey("tags.id"), primary_key=True, index=True),
)
