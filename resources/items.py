"""Items: list, create (fresh token), read, update and (admins) delete."""

from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import abort
from sqlalchemy import bindparam, select

from api import Blueprint
from audit import audit
from db import db
from models import ItemModel, StoreModel, TagModel, items_tags
from resources.common import (
    LOCATION_HEADER,
    PRICE,
    QueryPage,
    commit_or_abort,
    delete_and_commit,
    get_or_404,
    location,
    name_contains,
    sorted_by,
)
from schemas import ItemQuerySchema, ItemSchema, ItemUpdateSchema, MessageSchema

blp = Blueprint("items", __name__, description="Items, each in one store.")

ITEM_TAKEN = "An item with that name already exists in this store."


ITEM_NOT_FOUND = "Item not found."

# Items as ItemSchema shows them are read as plain rows, by statements built
# once with only their parameters changing: an item's columns with its
# store's, and its tags apart.
ITEM_ROWS = select(
    ItemModel.id,
    ItemModel.name,
    PRICE,
    ItemModel.description,
    StoreModel.id.label("store_id"),
    StoreModel.name.label("store_name"),
).join(StoreModel, StoreModel.id == ItemModel.store_id)

# One item in one query, a row per tag. Plain LEFT JOINs: SQLAlchemy's joined
# eager load nests the many-to-many join, which SQLite answers by scanning
# every link of every item.
ITEM_BY_ID = (
    ITEM_ROWS.add_columns(TagModel.id.label("tag_id"), TagModel.name.label("tag_name"))
    .outerjoin(items_tags, items_tags.c.item_id == ItemModel.id)
    .outerjoin(TagModel, TagModel.id == items_tags.c.tag_id)
    .where(ItemModel.id == bindparam("item_id"))
    .order_by(TagModel.id)
)

# The tags of a page of items, in one query.
TAGS_OF_ITEMS = (
    select(items_tags.c.item_id, TagModel.id, TagModel.name)
    .join(TagModel, TagModel.id == items_tags.c.tag_id)
    .where(items_tags.c.item_id.in_(bindparam("item_ids", expanding=True)))
    .order_by(TagModel.id)
)


def shown_item(item_id, name, price, description, store_id, store_name, *_tag):
    """The columns of ITEM_ROWS (and of ITEM_BY_ID, whose tag columns are
    left out) as ItemSchema shows them; the tags are the caller's to add."""
    return {
        "id": item_id,
        "name": name,
        "price": price,
        "description": description,
        "store": {"id": store_id, "name": store_name},
        "tags": [],
    }


def read_item_or_404(item_id: int) -> dict:
    """The item as ItemSchema shows it, with its store and tags."""
    rows = db.session.connection().execute(ITEM_BY_ID, {"item_id": item_id}).all()
    if not rows:
        abort(404, message=ITEM_NOT_FOUND)
    item = shown_item(*rows[0])
    item["tags"] = [
        {"id": row.tag_id, "name": row.tag_name}
        for row in rows
        if row.tag_id is not None
    ]
    return item


class ItemPage(QueryPage):
    """A page of items (ITEM_ROWS), each with its store and tags: three queries."""

    def load(self, page) -> list[dict]:
        connection = db.session.connection()
        shown = [shown_item(*row) for row in connection.execute(page)]
        by_id = {item["id"]: item for item in shown}
        tags = connection.execute(TAGS_OF_ITEMS, {"item_ids": list(by_id)})
        for item_id, tag_id, tag_name in tags:
            by_id[item_id]["tags"].append({"id": tag_id, "name": tag_name})
        return shown


def get_item_or_404(item_id: int, *, lock: str | None = None) -> ItemModel:
    return get_or_404(ItemModel, item_id, ITEM_NOT_FOUND, lock=lock)


SORTABLE = {"id": ItemModel.id, "name": ItemModel.name, "price": ItemModel.price}


def filtered(items, query: dict):
    """`items` narrowed by the filters present in `query`."""
    if "store_id" in query:
        items = items.where(ItemModel.store_id == query["store_id"])
    if "tag_id" in query:
        items = items.where(ItemModel.tags.any(TagModel.id == query["tag_id"]))
    if "q" in query:
        items = items.where(name_contains(ItemModel.name, query["q"]))
    if "min_price" in query:
        items = items.where(ItemModel.price >= query["min_price"])
    if "max_price" in query:
        items = items.where(ItemModel.price <= query["max_price"])
    return items


@blp.route("/item")
@blp.etag
class ItemList(MethodView):
    @blp.auth_required()
    @blp.arguments(ItemQuerySchema, location="query")
    @blp.response(200, ItemSchema(many=True))
    @blp.paginate(ItemPage)
    def get(self, query):
        """List items

        Items with their store and tags, a page at a time (`page`,
        `page_size`; the `X-Pagination` header says where this page is).
        Filters combine: `store_id`, `tag_id`, `q` (part of the name, any
        letter case), `min_price` and `max_price` (inclusive). `sort` orders
        them (default: by id).
        """
        return sorted_by(filtered(ITEM_ROWS, query), query["sort"], SORTABLE)

    @blp.auth_required(fresh=True)
    @blp.arguments(
        ItemSchema,
        example={"name": "Chair", "price": 17.99, "store_id": 1},
    )
    @blp.response(201, ItemSchema, headers=LOCATION_HEADER)
    @blp.alt_response(409, description=ITEM_TAKEN)
    def post(self, item_data):
        """Create an item (fresh token)

        Needs a fresh access token, straight from `POST /login`. An unknown
        `store_id` is a 422 with `errors.json.store_id`.
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
        return read_item_or_404(item_id)

    @blp.auth_required()
    @blp.arguments(ItemUpdateSchema, example={"price": 19.5})
    @blp.response(200, ItemSchema)
    @blp.alt_response(404, description="Item not found. PUT never creates.")
    @blp.alt_response(409, description=ITEM_TAKEN)
    def put(self, item_data, item_id):
        """Update an item

        Changes any of `name`, `price` and `description` (at least one).
        An item cannot move to another store: `store_id` in the body is a 422.
        """
        item = get_item_or_404(item_id, lock="update")
        blp.check_etag(item, ItemSchema)
        for field, value in item_data.items():
            setattr(item, field, value)
        commit_or_abort(item, conflict=ITEM_TAKEN)
        return item

    @blp.auth_required(admin=True)
    @blp.response(200, MessageSchema, example={"message": "Item deleted."})
    @blp.alt_response(404, description="Item not found.")
    def delete(self, item_id):
        """Delete an item (admin)

        Also removes its links to tags.
        """
        item = get_item_or_404(item_id, lock="delete")
        blp.check_etag(item, ItemSchema)
        delete_and_commit(item)
        audit("admin_deleted_item", current_user.id, target_id=item_id)
        return {"message": "Item deleted."}
