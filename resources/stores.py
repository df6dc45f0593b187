"""Stores: list, create, read, rename and (admins) delete."""

from flask.views import MethodView
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api import Blueprint
from db import db
from models import StoreModel
from resources.common import (
    LOCATION_HEADER,
    commit_or_abort,
    delete_and_commit,
    get_or_404,
    location,
)
from schemas import MessageSchema, PlainStoreSchema, StoreSchema

blp = Blueprint("stores", __name__, description="Stores, with their items and tags.")

STORE_TAKEN = "A store with that name already exists."


def get_store_or_404(store_id: int) -> StoreModel:
    return get_or_404(StoreModel, store_id, "Store not found.")


@blp.route("/store")
class StoreList(MethodView):
    @blp.auth_required()
    @blp.response(200, StoreSchema(many=True))
    def get(self):
        """List stores

        Every store with its items and tags, ordered by id.
        """
        query = (
            select(StoreModel)
            .options(selectinload(StoreModel.items), selectinload(StoreModel.tags))
            .order_by(StoreModel.id)
        )
        return db.session.scalars(query).all()

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
class StoreView(MethodView):
    @blp.auth_required()
    @blp.response(200, StoreSchema)
    @blp.alt_response(404, description="Store not found.")
    def get(self, store_id):
        """Get a store

        The store with its items and tags.
        """
        return get_store_or_404(store_id)

    @blp.auth_required()
    @blp.arguments(PlainStoreSchema, example={"name": "Corner Shop"})
    @blp.response(200, StoreSchema)
    @blp.alt_response(404, description="Store not found.")
    @blp.alt_response(409, description=STORE_TAKEN)
    def put(self, store_data, store_id):
        """Rename a store

        Renaming a store to its current name is not a conflict.
        """
        store = get_store_or_404(store_id)
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
        delete_and_commit(get_store_or_404(store_id))
        return {"message": "Store deleted."}
