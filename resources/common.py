"""What every resource shares: lookups that 404 and writes that map constraint violations."""

from collections.abc import Mapping

from flask import url_for
from flask_smorest import abort
from sqlalchemy import delete, inspect
from sqlalchemy.exc import IntegrityError

from db import constraint_of, db, error_code, get_for_update

# SQLSTATE classes (PostgreSQL) and extended result codes (SQLite) of the
# violations a client can cause.
_UNIQUE = {"23505", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
_FOREIGN_KEY = {"23503", "SQLITE_CONSTRAINT_FOREIGNKEY"}


def get_or_404(model, ident: int, message: str, *, lock: str | None = None):
    """The row `ident` of `model`, or a 404 with `message`.

    `lock` ("update" or "delete") locks it until the commit (see
    db.get_for_update): every update and delete reads what it changes that
    way, so what it checked still holds when it commits.
    """
    if lock is not None:
        instance = get_for_update(model, ident, key_share=lock == "update")
    else:
        instance = db.session.get(model, ident)
    if instance is None:
        abort(404, message=message)
    return instance


def found_or_404(shown, message: str):
    """`shown` (a read of queries.py), or a 404 with `message` when it is None."""
    if shown is None:
        abort(404, message=message)
    return shown


def violation(error: IntegrityError) -> str | None:
    """Which kind of constraint `error` broke: "unique", "foreign_key" or None."""
    code = error_code(error)
    if code in _UNIQUE:
        return "unique"
    if code in _FOREIGN_KEY:
        return "foreign_key"
    return None


def read_before_commit(*shown) -> None:
    """Load every relationship of `shown` that is not loaded yet.

    The answer then shows the rows as this transaction wrote them, read
    inside it: after the commit another request may already have changed or
    deleted them (and objects are not reloaded after a commit; see db.py).
    """
    for instance in shown:
        for name in inspect(instance).unloaded:
            getattr(instance, name)


def commit_or_abort(
    *shown,
    conflict: str | Mapping[str, str] | None = None,
    missing_parent: dict | None = None,
    parent_not_found: str | None = None,
    creator_gone: bool = False,
) -> None:
    """Read what the answer shows of `shown`, commit, or roll back and answer
    what the client got wrong.

    A unique constraint answers 409 with `conflict` (or, where a table has
    several, with the message `conflict` gives the constraint's name). A foreign key that points
    nowhere (a parent deleted meanwhile included) answers 422 with
    `missing_parent` as the `errors` when the parent was named in the body,
    or 404 with `parent_not_found` when it was named in the path, or 401
    `user_not_found` with `creator_gone` when it is the request's own user
    (deleted since its token was checked). Anything
    else is a server fault and propagates (a 500 whose detail goes to the log).
    """
    try:
        db.session.flush()
        read_before_commit(*shown)
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        kind = violation(error)
        if kind == "unique" and isinstance(conflict, Mapping):
            conflict = conflict.get(constraint_of(error) or "")
        if kind == "unique" and conflict is not None:
            abort(409, message=conflict)
        if kind == "foreign_key" and missing_parent is not None:
            abort(422, message="The request is invalid.", errors=missing_parent)
        if kind == "foreign_key" and parent_not_found is not None:
            abort(404, message=parent_not_found)
        if kind == "foreign_key" and creator_gone:
            abort(
                401,
                message="The user of this token no longer exists.",
                error="user_not_found",
            )
        raise


def delete_and_commit(instance, *, in_use: str | None = None) -> None:
    """Delete `instance`'s row in one statement, and commit.

    The database removes what depends on it (ON DELETE CASCADE), all or
    nothing; where the schema refuses instead (a tag still linked), the
    refusal answers 409 with `in_use`.
    """
    model = type(instance)
    statement = delete(model).where(model.id == instance.id)
    try:
        db.session.execute(statement, execution_options={"synchronize_session": False})
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        if in_use is not None and violation(error) == "foreign_key":
            abort(409, message=in_use)
        raise


def location(endpoint: str, **values) -> dict:
    """The `Location` header of a 201, pointing at the created resource."""
    return {"Location": url_for(endpoint, **values)}


LOCATION_HEADER = {
    "Location": {
        "description": "Path of the created resource.",
        "schema": {"type": "string"},
    }
}
