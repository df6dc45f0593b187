"""Items: list, read; create (fresh token), update and delete by the store's owner or an admin."""

from flask.views import MethodView

import queries
from api import Blueprint
from db import db
from models import ItemModel
from ownership import Owned
from resources.common import (
    LOCATION_HEADER,
    commit_or_abort,
    delete_and_commit,
    found_or_404,
    location,
)
from resources.stores import OWNED_STORE
from schemas import (
    ItemCreateSchema,
    ItemQuerySchema,
    ItemSchema,
    ItemUpdateSchema,
    MessageSchema,
)

blp = Blueprint("items", __name__, description="Items, each in one store.")

ITEM_TAKEN = "An item with that name already exists in this store."
ITEM_NOT_FOUND = "Item not found."


# An item, as the writes that change it find it.
OWNED_ITEM = Owned(ItemModel, "item", ITEM_NOT_FOUND)


@blp.route("/item")
@blp.etag
class ItemList(MethodView):
    @blp.auth_required()
    @blp.arguments(ItemQuerySchema, location="query")
    @blp.response(200, ItemSchema(many=True))
    @blp.paginate(queries.ItemPage)
    def get(self, query):
        """List items

        Items with their store and tags, a page at a time (`page`,
        `page_size`; the `X-Pagination` header says where this page is).
        Filters combine: `store_id`, `tag_id`, `q` (part of the name, any
        letter case), `min_price` and `max_price` (inclusive). `sort` orders
        them (default: by id).
        """
        return queries.items(query)

    @blp.auth_required(fresh=True)
    @blp.arguments(
        ItemCreateSchema,
        example={"name": "Chair", "price": 17.99, "store_id": 1},
    )
    @blp.response(201, ItemSchema, headers=LOCATION_HEADER)
    @blp.alt_response(409, description=ITEM_TAKEN)
    @blp.idempotent
    @blp.owner_required(OWNED_STORE, from_body="store_id")
    def post(self, item_data, store):
        """Create an item (fresh token; the store's owner or an admin)

        Needs a fresh access token, straight from `POST /login`, of the
        store's owner or an admin. An unknown `store_id` is a 422 with
        `errors.json.store_id`.
        """
        item = ItemModel(**item_data)
        db.session.add(item)
        commit_or_abort(
            item,
            conflict=ITEM_TAKEN,
            missing_parent={"json": {"store_id": ["Store not found."]}},
        )
        return item, 201, location("items.ItemView", item_id=item.id)


@blp.route("/item/<int:item_id>")
@blp.etag
class ItemView(MethodView):
    @blp.auth_required()
    @blp.response(200, ItemSchema)
    @blp.alt_response(404, description="Item not found.")
    def get(self, item_id):
        """Get an item

        The item with its store and tags.
        """
        return found_or_404(queries.item(item_id), ITEM_NOT_FOUND)

    @blp.auth_required()
    @blp.arguments(ItemUpdateSchema, example={"price": 19.5})
    @blp.response(200, ItemSchema)
    @blp.alt_response(404, description="Item not found. PUT never creates.")
    @blp.alt_response(409, description=ITEM_TAKEN)
    @blp.owner_required(OWNED_ITEM, lock="update")
    def put(self, item_data, item):
        """Update an item (the store's owner or an admin)

        Changes any of `name`, `price` and `description` (at least one).
        An item cannot move to another store: `store_id` in the body is a 422.
        """
        blp.check_etag(item, ItemSchema)
        for field, value in item_data.items():
            setattr(item, field, value)
        commit_or_abort(item, conflict=ITEM_TAKEN)
        return item

    @blp.auth_required()
    @blp.response(200, MessageSchema, example={"message": "Item deleted."})
    @blp.alt_response(404, description="Item not found.")
    @blp.owner_required(OWNED_ITEM, lock="delete", audited_as="admin_deleted_item")
    def delete(self, item):
        """Delete an item (the store's owner or an admin)

        Also removes its links to tags.
        """
        blp.check_etag(item, ItemSchema)
        delete_and_commit(item)
        return {"message": "Item deleted."}
