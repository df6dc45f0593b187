"""Tags: per-store labels, and the links between tags and items."""

from flask.views import MethodView
from flask_smorest import abort
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

import queries
from api import Blueprint
from db import db, insert_unless_present
from models import ItemModel, TagModel, items_tags
from ownership import Owned
from resources.common import (
    LOCATION_HEADER,
    commit_or_abort,
    delete_and_commit,
    found_or_404,
    get_or_404,
    location,
    read_before_commit,
    violation,
)
from resources.items import ITEM_NOT_FOUND, OWNED_ITEM
from resources.stores import OWNED_STORE, STORE_NOT_FOUND, get_store_or_404
from schemas import (
    MessageSchema,
    PagedQuerySchema,
    PlainTagSchema,
    TagSchema,
    TagUnlinkSchema,
)

blp = Blueprint("tags", __name__, description="Tags of a store, linked to its items.")

TAG_TAKEN = "A tag with that name already exists in this store."
TAG_NOT_FOUND = "Tag not found."
TAG_LINKED = "The tag is linked to items; unlink them first."


# A tag, as the writes that change it find it.
OWNED_TAG = Owned(TagModel, "tag", TAG_NOT_FOUND)


def get_tag_or_404(tag_id: int, *, lock: str | None = None) -> TagModel:
    return get_or_404(TagModel, tag_id, TAG_NOT_FOUND, lock=lock)


def item_exists(item_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(ItemModel.id == item_id))))


@blp.route("/store/<int:store_id>/tag")
@blp.etag
class TagsInStore(MethodView):
    @blp.auth_required()
    @blp.arguments(PagedQuerySchema, location="query")
    @blp.response(200, TagSchema(many=True))
    @blp.alt_response(404, description="Store not found.")
    @blp.paginate(queries.TagPage)
    def get(self, _query, store_id):
        """List a store's tags

        Each tag with its store and items, ordered by id, a page at a time
        (`page`, `page_size`; the `X-Pagination` header says where this page is).
        """
        return queries.tags_of(get_store_or_404(store_id).id)

    @blp.auth_required()
    @blp.arguments(PlainTagSchema, example={"name": "furniture"})
    @blp.response(201, TagSchema, headers=LOCATION_HEADER)
    @blp.alt_response(404, description="Store not found.")
    @blp.alt_response(409, description=TAG_TAKEN)
    @blp.idempotent
    @blp.owner_required(OWNED_STORE)
    def post(self, tag_data, store):
        """Create a tag in a store (the store's owner or an admin)

        Tag names are unique within their store.
        """
        tag = TagModel(**tag_data, store=store)
        db.session.add(tag)
        # The store may be deleted between the lookup and the commit.
        commit_or_abort(tag, conflict=TAG_TAKEN, parent_not_found=STORE_NOT_FOUND)
        return tag, 201, location("tags.TagView", tag_id=tag.id)


@blp.route("/tag/<int:tag_id>")
@blp.etag
class TagView(MethodView):
    @blp.auth_required()
    @blp.response(200, TagSchema)
    @blp.alt_response(404, description="Tag not found.")
    def get(self, tag_id):
        """Get a tag

        The tag with its store and the items it is linked to.
        """
        return found_or_404(queries.tag(tag_id), TAG_NOT_FOUND)

    @blp.auth_required()
    @blp.response(200, MessageSchema, example={"message": "Tag deleted."})
    @blp.alt_response(404, description="Tag not found.")
    @blp.alt_response(409, description=TAG_LINKED)
    @blp.owner_required(OWNED_TAG, lock="delete", audited_as="admin_deleted_tag")
    def delete(self, tag):
        """Delete a tag (the store's owner or an admin)

        Only a tag linked to no item can be deleted: unlink it first.
        """
        blp.check_etag(tag, TagSchema)
        # The links' foreign key refuses the delete while any remains, also
        # one committed by a request racing this one.
        delete_and_commit(tag, in_use=TAG_LINKED)
        return {"message": "Tag deleted."}


@blp.route("/item/<int:item_id>/tag/<int:tag_id>")
class LinkTagToItem(MethodView):
    @blp.auth_required()
    @blp.response(201, TagSchema, headers=LOCATION_HEADER)
    @blp.alt_response(
        200,
        schema=TagSchema,
        description="Already linked: nothing changed.",
        success=True,
    )
    @blp.alt_response(404, description="Item not found, or tag not found.")
    @blp.alt_response(
        422, description="The tag belongs to another store than the item."
    )
    @blp.idempotent
    @blp.owner_required(OWNED_ITEM)
    def post(self, item, tag_id):
        """Link a tag to an item (the store's owner or an admin)

        201 when the link is new, 200 when it already existed; there is never
        a duplicate link. The tag must belong to the item's store. `Location`
        points at the tag, which is what the body shows.
        """
        tag = get_tag_or_404(tag_id)
        if tag.store_id != item.store_id:
            abort(
                422,
                message="The tag belongs to another store than the item.",
                errors={"path": {"tag_id": ["Tag belongs to another store."]}},
            )
        try:
            # The pair's primary key decides between racing links.
            created = insert_unless_present(items_tags, item_id=item.id, tag_id=tag.id)
            read_before_commit(tag)
            db.session.commit()
        except IntegrityError as error:
            # The item or the tag was deleted since it was read.
            db.session.rollback()
            if violation(error) != "foreign_key":
                raise
            abort(
                404, message=TAG_NOT_FOUND if item_exists(item.id) else ITEM_NOT_FOUND
            )
        if not created:
            return tag, 200
        return tag, 201, location("tags.TagView", tag_id=tag.id)

    @blp.auth_required()
    @blp.response(
        200,
        TagUnlinkSchema,
        description="The link is gone; `item` and `tag` show both after the removal.",
    )
    @blp.alt_response(404, description="Item not found, tag not found, or not linked.")
    @blp.owner_required(OWNED_ITEM)
    def delete(self, item, tag_id):
        """Unlink a tag from an item (the store's owner or an admin)

        Removes the link only; the item and the tag remain.
        """
        tag = get_tag_or_404(tag_id)
        # One DELETE decides, so two racing unlinks cannot both succeed.
        link = items_tags.delete().where(
            items_tags.c.item_id == item.id, items_tags.c.tag_id == tag.id
        )
        if db.session.execute(link).rowcount == 0:
            abort(404, message="The item is not linked to this tag.")
        read_before_commit(item, tag)
        db.session.commit()
        return {"message": "Item removed from tag.", "item": item, "tag": tag}
