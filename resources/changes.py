"""The changes feed: what an offline-first client needs to catch up."""

from flask.views import MethodView

import changes
from api import Blueprint
from schemas import ChangesQuerySchema, ChangesSchema

blp = Blueprint(
    "changes", __name__, description="What changed, for clients that keep a copy."
)


@blp.route("/changes")
class Changes(MethodView):
    @blp.auth_required()
    @blp.arguments(ChangesQuerySchema, location="query", as_kwargs=True)
    @blp.response(200, ChangesSchema)
    @blp.alt_response(
        410,
        description="The cursor is older than the kept deletes (`error`: "
        "`cursor_expired`): sync again without `since`.",
    )
    def get(self, limit, since=None):
        """Follow the changes feed

        Without `since`: every store, item and tag there is, as upserts,
        `limit` at a time (1 to 1000, default 500); then send the answer's
        `cursor` as `since` while `has_more` is true, and again whenever you
        sync. Each change is `{type, id, op, data}`: `op` is `upsert` (with
        the row as it is now: a PlainStore; a PlainItem with `store_id` and
        `tag_ids`; a PlainTag with `store_id`) or `delete` (`data` null).
        Linking or unlinking a tag is an upsert of the item; a store's delete
        comes with the deletes of its items and tags. Changes come in the
        order they were committed, so a client that applies them in order
        ends with exactly the server's data, and misses none even while
        writes commit concurrently. Deletes are kept 30 days
        (`CHANGES_RETENTION_DAYS`); a cursor older than that is a 410.
        """
        return changes.page(since, limit)
