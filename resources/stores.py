"""Stores: list, create and read; rename and delete (owner or admin); hand over (admin)."""

from flask.views import MethodView

import queries
from api import Blueprint
from audit import audit
from auth import current_user
from db import db
from models import StoreModel
from ownership import Owned
from resources.common import (
    LOCATION_HEADER,
    commit_or_abort,
    delete_and_commit,
    found_or_404,
    get_or_404,
    location,
)
from schemas import (
    MessageSchema,
    OwnerSchema,
    PlainStoreSchema,
    StoreQuerySchema,
    StoreSchema,
)

blp = Blueprint("stores", __name__, description="Stores, with their items and tags.")

STORE_TAKEN = "A store with that name already exists."
STORE_NOT_FOUND = "Store not found."


# A store, as the writes that change it (or what is in it) find it.
OWNED_STORE = Owned(StoreModel, "store", STORE_NOT_FOUND)


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
        `owner_id` keeps the stores of that owner; `q` keeps stores whose
        name contains it, in any letter case; `sort` orders them (default:
        by id). Filters combine.
        """
        return queries.stores(query)

    @blp.auth_required()
    @blp.arguments(PlainStoreSchema, example={"name": "Corner Shop"})
    @blp.response(201, StoreSchema, headers=LOCATION_HEADER)
    @blp.alt_response(409, description=STORE_TAKEN)
    @blp.idempotent
    def post(self, store_data):
        """Create a store

        The caller becomes its owner: only they, or an admin, may change it
        and what is in it. Store names are unique, after surrounding white
        space is trimmed.
        """
        store = StoreModel(**store_data, owner_id=current_user.id)
        db.session.add(store)
        commit_or_abort(store, conflict=STORE_TAKEN, creator_gone=True)
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
    @blp.owner_required(OWNED_STORE, lock="update")
    def put(self, store_data, store):
        """Rename a store (owner or admin)

        Renaming a store to its current name is not a conflict.
        """
        blp.check_etag(store, StoreSchema)
        store.name = store_data["name"]
        commit_or_abort(store, conflict=STORE_TAKEN)
        return store

    @blp.auth_required()
    @blp.response(200, MessageSchema, example={"message": "Store deleted."})
    @blp.alt_response(404, description="Store not found.")
    @blp.owner_required(OWNED_STORE, lock="delete", audited_as="admin_deleted_store")
    def delete(self, store):
        """Delete a store (owner or admin)

        Deletes its items, its tags and every link between them.
        """
        blp.check_etag(store, StoreSchema)
        delete_and_commit(store)
        return {"message": "Store deleted."}


@blp.route("/store/<int:store_id>/owner")
@blp.etag
class StoreOwner(MethodView):
    @blp.auth_required(admin=True)
    @blp.arguments(OwnerSchema, example={"user_id": 2})
    @blp.response(200, StoreSchema)
    @blp.alt_response(404, description="Store not found.")
    def put(self, owner_data, store_id):
        """Hand a store to another user (admin)

        The user becomes the store's owner, who may change it and what is in
        it. An unknown `user_id` is a 422 with `errors.json.user_id`.
        """
        store = get_store_or_404(store_id, lock="update")
        blp.check_etag(store, StoreSchema)
        previous = store.owner_id
        store.owner_id = owner_data["user_id"]
        commit_or_abort(
            store, missing_parent={"json": {"user_id": ["User not found."]}}
        )
        if store.owner_id == previous:
            return store  # already theirs: nothing was handed over
        audit(
            "store_owner_changed",
            current_user.id,
            store_id=store.id,
            from_owner_id=previous,
            to_owner_id=store.owner_id,
        )
        return store
