"""Health: whether this instance can serve, for load balancers and monitors."""

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import Blueprint
from db import db

blp = Blueprint("health", __name__, description="Service health.")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, description="The database does not answer.")
    def get(self):
        """Check health

        200 when the database answers a query; 503 when it does not.
        """
        try:
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError:
            db.session.rollback()
            abort(503, message="The database is unavailable.")
        return {"status": "ok"}
