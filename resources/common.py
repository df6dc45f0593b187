"""What every resource shares: lookups that 404 and writes that map constraint violations."""

from flask import url_for
from flask_smorest import Page, abort
from sqlalchemy import Float, func, select, type_coerce
from sqlalchemy.exc import IntegrityError

from db import db
from models import ItemModel

# SQLSTATE classes (PostgreSQL) and extended result codes (SQLite) of the
# violations a client can cause.
_UNIQUE = {"23505", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
_FOREIGN_KEY = {"23503", "SQLITE_CONSTRAINT_FOREIGNKEY"}


def get_or_404(model, ident: int, message: str):
    instance = db.session.get(model, ident)
    if instance is None:
        abort(404, message=message)
    return instance


def _violation(error: IntegrityError) -> str | None:
    original = error.orig
    code = getattr(original, "sqlstate", None) or getattr(
        original, "sqlite_errorname", None
    )
    if code in _UNIQUE:
        return "unique"
    if code in _FOREIGN_KEY:
        return "foreign_key"
    return None


def commit_or_abort(*, conflict: str, missing_parent: dict | None = None) -> None:
    """Commit the session, or roll it back and answer what the client got wrong.

    A unique constraint answers 409 with `conflict`; a foreign key that points
    nowhere answers 422 with `missing_parent` as the `errors`. Anything else
    is a server fault and propagates (a 500 whose detail goes to the log).
    """
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        violation = _violation(error)
        if violation == "unique":
            abort(409, message=conflict)
        if violation == "foreign_key" and missing_parent is not None:
            abort(422, message="The request is invalid.", errors=missing_parent)
        raise


def delete_and_commit(instance) -> None:
    db.session.delete(instance)
    db.session.commit()


def location(endpoint: str, **values) -> dict:
    """The `Location` header of a 201, pointing at the created resource."""
    return {"Location": url_for(endpoint, **values)}


# An item's price as responses read it: the float it is dumped as (a price
# has at most 10 significant digits, so the float is exactly the stored
# value), without a Decimal made for every row on the way.
PRICE = type_coerce(ItemModel.price, Float).label("price")

LOCATION_HEADER = {
    "Location": {
        "description": "Path of the created resource.",
        "schema": {"type": "string"},
    }
}


class QueryPage(Page):
    """A page of a SELECT: the database counts the rows and returns only this page."""

    @property
    def item_count(self) -> int:
        counted = select(func.count()).select_from(
            self.collection.order_by(None).subquery()
        )
        return db.session.scalar(counted)

    def page_statement(self):
        """The collection's SELECT limited to this page; None past the end."""
        params = self.page_params
        if params.first_item >= params.item_count:
            return None  # past the end; also keeps absurd offsets out of SQL
        return self.collection.limit(params.page_size).offset(params.first_item)

    @property
    def items(self) -> list:
        page = self.page_statement()
        return [] if page is None else self.load(page)

    def load(self, page) -> list:
        """The rows of this page's SELECT, as ORM objects."""
        return db.session.scalars(page).all()


def name_contains(column, text: str):
    """Case-insensitive substring match; `%` and `_` in `text` match themselves."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def sorted_by(statement, sort: str, columns: dict):
    """Order by `sort` (a key of `columns`, `-` first for descending), then by id."""
    column = columns[sort.removeprefix("-")]
    order = column.desc() if sort.startswith("-") else column.asc()
    if column is columns["id"]:
        return statement.order_by(order)
    return statement.order_by(order, columns["id"].asc())
