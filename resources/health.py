"""Health: whether this instance can serve, for load balancers and monitors."""

from flask import current_app
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import Blueprint
from db import db

blp = Blueprint("health", __name__, description="Service health.")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


def _database_answers() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


def _redis_answers() -> bool:
    redis = current_app.extensions.get("redis")
    if redis is None:
        return True  # not configured, so not needed
    try:
        return bool(redis.ping())
    except RedisError:
        return False


@blp.route("/health")
@blp.etag
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(
        503, description="The database, or Redis when configured, does not answer."
    )
    def get(self):
        """Check health

        200 when the database answers a query and, when `REDIS_URL` is set,
        Redis answers a ping. 503 otherwise; the message names what failed.
        """
        down = [
            name
            for name, answers in (
                ("database", _database_answers),
                ("Redis", _redis_answers),
            )
            if not answers()
        ]
        if down:
            abort(503, message=f"Unavailable: {' and '.join(down)}.")
        return {"status": "ok"}
