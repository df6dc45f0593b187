"""Stores: list, create, read, rename and (admins) delete."""

from collections.abc import Sequence

from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import abort
from sqlalchemy import Integer, bindparam, literal_column, null, select, union_all

from api import Blueprint
from audit import audit
from db import db
from models import ItemModel, StoreModel, TagModel
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
from schemas import MessageSchema, PlainStoreSchema, StoreQuerySchema, StoreSchema

blp = Blueprint("stores", __name__, description="Stores, with their items and tags.")

STORE_TAKEN = "A store with that name already exists."


STORE_NOT_FOUND = "Store not found."

# Reads of stores as StoreSchema shows them. They select plain rows, made
# into dicts by position, rather than ORM objects, which cost several times
# as much to build; and each is built once, with only its parameters
# changing from request to request.
ITEM_FIELDS = ("id", "name", "price", "description")
TAG_FIELDS = ("id", "name")

ITEMS_OF_STORES = (
    select(
        ItemModel.id, ItemModel.name, PRICE, ItemModel.description, ItemModel.store_id
    )
    .where(ItemModel.store_id.in_(bindparam("store_ids", expanding=True)))
    .order_by(ItemModel.id)
)
TAGS_OF_STORES = (
    select(TagModel.id, TagModel.name, TagModel.store_id)
    .where(TagModel.store_id.in_(bindparam("store_ids", expanding=True)))
    .order_by(TagModel.id)
)


def with_items_and_tags(stores: Sequence) -> list[dict]:
    """`stores` (rows with `id` and `name`) as dicts with their items and
    tags: two queries, whatever the number of stores."""
    shown = [
        {"id": store.id, "name": store.name, "items": [], "tags": []}
        for store in stores
    ]
    by_id = {store["id"]: store for store in shown}
    connection = db.session.connection()
    params = {"store_ids": list(by_id)}
    for *item, store_id in connection.execute(ITEMS_OF_STORES, params):
        by_id[store_id]["items"].append(dict(zip(ITEM_FIELDS, item, strict=True)))
    for *tag, store_id in connection.execute(TAGS_OF_STORES, params):
        by_id[store_id]["tags"].append(dict(zip(TAG_FIELDS, tag, strict=True)))
    return shown


# One store, its items and its tags in one round trip: rows of one shape,
# told apart by `kind`. The items come first, as the first SELECT of a UNION
# types its columns (the price as a float).
STORE, ITEM, TAG = 0, 1, 2
STORE_WITH_CONTENTS = union_all(
    select(
        ItemModel.id,
        ItemModel.name,
        PRICE,
        ItemModel.description,
        literal_column(str(ITEM), Integer).label("kind"),
    ).where(ItemModel.store_id == bindparam("store_id")),
    select(
        StoreModel.id,
        StoreModel.name,
        null(),
        null(),
        literal_column(str(STORE), Integer),
    ).where(StoreModel.id == bindparam("store_id")),
    select(
        TagModel.id, TagModel.name, null(), null(), literal_column(str(TAG), Integer)
    ).where(TagModel.store_id == bindparam("store_id")),
).order_by("kind", "id")


def read_store_or_404(store_id: int) -> dict:
    """The store as StoreSchema shows it, with its items and tags."""
    rows = db.session.connection().execute(STORE_WITH_CONTENTS, {"store_id": store_id})
    store: dict | None = None
    items: list[dict] = []
    tags: list[dict] = []
    for *values, kind in rows:
        if kind == ITEM:
            items.append(dict(zip(ITEM_FIELDS, values, strict=True)))
        elif kind == TAG:
            tags.append({"id": values[0], "name": values[1]})
        else:
            store = {"id": values[0], "name": values[1], "items": items, "tags": tags}
    if store is None:
        abort(404, message=STORE_NOT_FOUND)
    assert store is not None  # abort raised
    return store


class StorePage(QueryPage):
    """A page of stores, each with its items and tags: three queries."""

    def load(self, page) -> list[dict]:
        return with_items_and_tags(db.session.connection().execute(page).all())


def get_store_or_404(store_id: int, *, lock: str | None = None) -> StoreModel:
    return get_or_404(StoreModel, store_id, STORE_NOT_FOUND, lock=lock)


SORTABLE = {"id": StoreModel.id, "name": StoreModel.name}


@blp.route("/store")
@blp.etag
class StoreList(MethodView):
    @blp.auth_required()
    @blp.arguments(StoreQuerySchema, location="query")
    @blp.response(200, StoreSchema(many=True))
    @blp.paginate(StorePage)
    def get(self, query):
        """List stores

        Stores with their items and tags, a page at a time (`page`,
        `page_size`; the `X-Pagination` header says where this page is).
        `q` keeps stores whose name contains it, in any letter case; `sort`
        orders them (default: by id).
        """
        stores = select(StoreModel.id, StoreModel.name)
        if "q" in query:
            stores = stores.where(name_contains(StoreModel.name, query["q"]))
        return sorted_by(stores, query["sort"], SORTABLE)

    @blp.auth_required()
    @blp.arguments(PlainStoreSchema, example={"name": "Corner Shop"})
    @blp.response(201, StoreSchema, headers=LOCATION_HEADER)
    @blp.alt_response(409, description=STORE_TAKEN)
    def post(self, store_data):
        """Create a store

        Store names are unique, after surrounding white space is trimmed.
        """
        store = StoreModel(**store_data)
        db.session.add(store)
        commit_or_abort(store, conflict=STORE_TAKEN)
        return store, 201, location("stores.StoreView", store_id=store.id)


@blp.route("/store/<int:store_id>")
@blp.etag
class StoreView(MethodView):
    @blp.auth_required()
    @blp.response(200, StoreSchema)
    @blp.alt_response(404, description="Store not found.")
    def get(self, store_id):
        """Get a store

        The store with its items and tags.
        """
        return read_store_or_404(store_id)

    @blp.auth_required()
    @blp.arguments(PlainStoreSchema, example={"name": "Corner Shop"})
    @blp.response(200, StoreSchema)
    @blp.alt_response(404, description="Store not found.")
    @blp.alt_response(409, description=STORE_TAKEN)
    def put(self, store_data, store_id):
        """Rename a store

        Renaming a store to its current name is not a conflict.
        """
        store = get_store_or_404(store_id, lock="update")
        blp.check_etag(store, StoreSchema)
        store.name = store_data["name"]
        commit_or_abort(store, conflict=STORE_TAKEN)
        return store

    @blp.auth_required(admin=True)
    @blp.response(200, MessageSchema, example={"message": "Store deleted."})
    @blp.alt_response(404, description="Store not found.")
    def delete(self, store_id):
        """Delete a store (admin)

        Deletes its items, its tags and every link between them.
        """
        store = get_store_or_404(store_id, lock="delete")
        blp.check_etag(store, StoreSchema)
        delete_and_commit(store)
        audit("admin_deleted_store", current_user.id, target_id=store_id)
        return {"message": "Store deleted."}
