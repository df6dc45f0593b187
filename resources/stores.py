"""Stores: list, create, read, rename and (admins) delete."""

from flask.views import MethodView
from flask_jwt_extended import current_user
from sqlalchemy import bindparam, select
from sqlalchemy.orm import contains_eager, selectinload

from api import Blueprint
from audit import audit
from db import db
from models import StoreModel, TagModel
from resources.common import (
    LOCATION_HEADER,
    QueryPage,
    commit_or_abort,
    delete_and_commit,
    get_or_404,
    location,
    name_contains,
    one_or_404,
    sorted_by,
)
from schemas import MessageSchema, PlainStoreSchema, StoreQuerySchema, StoreSchema

blp = Blueprint("stores", __name__, description="Stores, with their items and tags.")

STORE_TAKEN = "A store with that name already exists."


STORE_NOT_FOUND = "Store not found."

# A store with its tags (a few) joined to its row. Its items (any number)
# come from the relationship's own lazy load, a second query that costs less
# for one store than a selectin load.
STORE_WITH_ITEMS_AND_TAGS = (
    select(StoreModel)
    .outerjoin(TagModel, TagModel.store_id == StoreModel.id)
    .options(contains_eager(StoreModel.tags))
    .where(StoreModel.id == bindparam("store_id"))
    .order_by(TagModel.id)
)


def get_store_or_404(store_id: int) -> StoreModel:
    return get_or_404(StoreModel, store_id, STORE_NOT_FOUND)


def get_store_with_items_and_tags_or_404(store_id: int) -> StoreModel:
    return one_or_404(STORE_WITH_ITEMS_AND_TAGS, STORE_NOT_FOUND, store_id=store_id)


SORTABLE = {"id": StoreModel.id, "name": StoreModel.name}


@blp.route("/store")
@blp.etag
class StoreList(MethodView):
    @blp.auth_required()
    @blp.arguments(StoreQuerySchema, location="query")
    @blp.response(200, StoreSchema(many=True))
    @blp.paginate(QueryPage)
    def get(self, query):
        """List stores

        Stores with their items and tags, a page at a time (`page`,
        `page_size`; the `X-Pagination` header says where this page is).
        `q` keeps stores whose name contains it, in any letter case; `sort`
        orders them (default: by id).
        """
        stores = select(StoreModel).options(
            selectinload(StoreModel.items), selectinload(StoreModel.tags)
        )
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
        commit_or_abort(conflict=STORE_TAKEN)
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
        return get_store_with_items_and_tags_or_404(store_id)

    @blp.auth_required()
    @blp.arguments(PlainStoreSchema, example={"name": "Corner Shop"})
    @blp.response(200, StoreSchema)
    @blp.alt_response(404, description="Store not found.")
    @blp.alt_response(409, description=STORE_TAKEN)
    def put(self, store_data, store_id):
        """Rename a store

        Renaming a store to its current name is not a conflict.
        """
        store = get_store_with_items_and_tags_or_404(store_id)
        blp.check_etag(store, StoreSchema)
        store.name = store_data["name"]
        commit_or_abort(conflict=STORE_TAKEN)
        return store

    @blp.auth_required(admin=True)
    @blp.response(200, MessageSchema, example={"message": "Store deleted."})
    @blp.alt_response(404, description="Store not found.")
    def delete(self, store_id):
        """Delete a store (admin)

        Deletes its items, its tags and every link between them.
        """
        store = get_store_or_404(store_id)
        blp.check_etag(store, StoreSchema)
        delete_and_commit(store)
        audit("admin_deleted_store", current_user.id, target_id=store_id)
        return {"message": "Store deleted."}
