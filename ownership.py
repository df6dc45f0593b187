"""Ownership: only a store's owner, or an admin, may change the store or anything in it.

A store's owner is the user who created it, or whom an admin handed it to
(`PUT /store/<id>/owner`). A store whose owner was deleted, or that was made
before stores had owners, has none: only admins may change it. Reads are
open to any valid access token.

Every write to a store, its items, its tags or their links is guarded by
`@blp.owner_required(...)` (`guard` here), which also documents the 403 on
the operation. The guard reads the row the write changes together with its
store's owner in one query, under the write's lock when it takes one (see
db.get_for_update), and hands the row to the view: a write is judged by the
owner its own read saw, and is made whole or not at all. An admin's write to
a store they do not own is audited once the write has succeeded.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Response, after_this_request, g, request
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from audit import audit
from auth import current_user
from db import db, first_for_update
from errors import abort
from models import StoreModel

if TYPE_CHECKING:
    from api import Blueprint

FORBIDDEN = "Only the store's owner or an admin may change it."
View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Owned:
    """A kind of row that belongs to a store, as writes find it.

    `name` is the view's argument it is handed over as (from the path's
    `<name>_id`), `not_found` the 404's message, `model` its table; rows of
    any table but `stores` reach their store by `store_id`.
    """

    model: Any
    name: str
    not_found: str

    def read(self, ident: int, lock: str | None) -> Any:
        """(the row, its store's owner id), or None; locked as `lock` says.

        A row of another table comes with its store loaded in the same query,
        so the answer and the ETag check show the store the owner was read
        from, not one read again after a hand-over."""
        if self.model is StoreModel:
            statement = select(StoreModel, StoreModel.owner_id)
        else:
            statement = (
                select(self.model, StoreModel.owner_id)
                .join(self.model.store)
                .options(contains_eager(self.model.store))
            )
        statement = statement.where(self.model.id == ident)
        if lock is None:
            return db.session.execute(statement).first()
        return first_for_update(statement, self.model, key_share=lock == "update")


def may_change(owner_id: int | None) -> bool:
    """Whether the request's user may change a store owned by `owner_id`."""
    return bool(current_user.is_admin) or (
        owner_id is not None and owner_id == current_user.id
    )


def guard(
    blp: "Blueprint",
    owned: Owned,
    *,
    lock: str | None = None,
    from_body: str | None = None,
    audited_as: str = "admin_changed_store",
) -> Callable[[View], View]:
    """Let through only the owner of the store of the row a write changes, or
    an admin; hand the view that row; and document the 403 on `blp`.

    The row's id is the path's `<owned.name>_id`, or with `from_body` that
    field of the request body, where a row that does not exist is a 422 (the
    body named it) rather than a 404. `lock` ("update" or "delete") locks the
    row until the commit, as get_or_404 does. An admin's successful write to
    a store they do not own is audited as `audited_as`. Place it below
    `arguments`.
    """

    def decorator(func: View) -> View:
        @wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if from_body is None:
                ident = kwargs.pop(f"{owned.name}_id")
            else:
                ident = args[-1][from_body]  # the body, parsed by `arguments`
            found = owned.read(ident, lock)
            if found is None and from_body is not None:
                abort(
                    422,
                    message="The request is invalid.",
                    errors={"json": {from_body: [owned.not_found]}},
                )
            if found is None:
                abort(404, message=owned.not_found)
            row, owner_id = found
            if not may_change(owner_id):
                abort(403, message=FORBIDDEN, error="forbidden")
            if owner_id != current_user.id:
                _audit_when_done(audited_as, owned, row, owner_id)
            kwargs[owned.name] = row
            return func(*args, **kwargs)

        documented = blp.alt_response(
            403,
            description="Not the store's owner, nor an admin (`error`: "
            "`forbidden`). A store without an owner is changed by admins only.",
        )(checked)
        return cast(View, documented)

    return decorator


def _audit_when_done(event: str, owned: Owned, row: Any, owner_id: int | None) -> None:
    """Audit an admin's write to a store they do not own, once it succeeded.

    A view run again after a transient failure (faults.retried_once) audits
    once: only the last run's record is written."""
    store_id = row.id if owned.model is StoreModel else row.store_id
    run = g.ownership_audit = object()
    admin_id = current_user.id
    action = f"{request.method} {request.path}"

    @after_this_request
    def audited(response: Response) -> Response:
        if response.status_code < 400 and g.get("ownership_audit") is run:
            audit(
                event,
                admin_id,
                target_id=row.id,
                store_id=store_id,
                owner_id=owner_id,
                action=action,
            )
        return response
