"""Stores: list, create, read, rename and (admins) delete."""

from flask.views import MethodView
from flask_jwt_extended import current_user

import queries
from api import Blueprint
from audit import audit
from db import db
from models import StoreModel
from resources.common import (
    LOCATION_HEADER,
    commit_or_abort,
    delete_and_commit,
    found_or_404,
    get_or_404,
    location,
)
from schemas import MessageSchema, PlainStoreSchema, StoreQuerySchema, StoreSchema

blp = Blueprint("stores", __name__, description="Stores, with their items and tags.")

STORE_TAKEN = "A store with that name already exists."
STORE_NOT_FOUND = "Store not found."


def get_store_or_404(store_id: int, *, lock: str | None = None) -> StoreModel:
    return get_or_404(StoreModel, store_id, STORE_NOT_FOUND, lock=lock)


@blp.route("/store")
@blp.etag
class StoreList(MethodView):
    @blp.auth_required()
    @blp.arguments(StoreQuerySchema, location="query")
    @blp.response(200, StoreSchema(many=True))
    @blp.paginate(queries.StorePage)
    def get(self, query):
        """List stores

        Stores with their items and tags, a page at a time (`page`,
        `page_size`; the `X-Pagination` header says where this page is).
        `q` keeps stores whose name contains it, in any letter case; `sort`
        orders them (default: by id).
        """
        return queries.stores(query)

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
        return found_or_404(queries.store(store_id), STORE_NOT_FOUND)

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
