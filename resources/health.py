"""Health: whether this instance can serve, for load balancers and monitors."""

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import Blueprint
from db import db
from faults import RETRY_AFTER_SECONDS

blp = Blueprint("health", __name__, description="Service health.")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


def _database_answers() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


@blp.route("/health")
@blp.etag
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """Check health

        200 when the database answers a query, 503 otherwise. Redis is not
        checked: the API serves without it (rate limits are then counted in
        each worker's memory until it answers again), so a Redis outage must
        not take every instance out of a load balancer.
        """
        if not _database_answers():
            retry = {"Retry-After": RETRY_AFTER_SECONDS}
            abort(503, message="Unavailable: database.", headers=retry)
        return {"status": "ok"}
