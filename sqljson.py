"""JSON text written by PostgreSQL, byte for byte what jsonio's encoder
writes for the same values: objects with their keys sorted, no spaces,
strings escaped as orjson escapes them (to_json: `"`, `\\` and control
characters, the short forms where JSON has one), integers in digits and
floats in their shortest form with `.0` when whole.

A list of 50 stores with their items and tags is 1,300 objects: built by the
database, they cost the worker one string instead of 1,300 rows to read and
dicts to encode (queries.StorePage). PostgreSQL only: SQLite orders an
aggregate's input only from 3.44 on, newer than many Pythons ship.
"""

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    Text,
    case,
    cast,
    func,
    literal_column,
    select,
)


def _literal(text: str) -> ColumnElement[str]:
    """`text` as an SQL string literal, written into the statement."""
    return literal_column("'" + text.replace("'", "''") + "'", String)


def _joined(*parts: ColumnElement[str]) -> ColumnElement[str]:
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.concat(part)
    return joined


def string(column: Any) -> ColumnElement[str]:
    return cast(func.to_json(column), Text)


def integer(column: Any) -> ColumnElement[str]:
    return cast(column, Text)


def number(column: Any) -> ColumnElement[str]:
    """A float (a price: at most 10 significant digits, so never written
    with an exponent) as orjson writes it: PostgreSQL's shortest form, which
    leaves `.0` off a whole number."""
    return case(
        (
            column == func.trunc(column),
            cast(cast(column, BigInteger), Text).concat(_literal(".0")),
        ),
        else_=cast(column, Text),
    )


# How a value of each type a schema field dumps as (schemas.dumps_as) is written.
WRITERS: dict[type | None, Callable[[Any], ColumnElement[str]]] = {
    str: string,
    int: integer,
    float: number,
}


def nullable(text: ColumnElement[str]) -> ColumnElement[str]:
    return func.coalesce(text, _literal("null"))


def object_of(members: dict[str, ColumnElement[str]]) -> ColumnElement[str]:
    """The object of these members (each the JSON text of its value), its
    keys sorted as jsonio sorts them."""
    parts: list[ColumnElement[str]] = []
    for place, key in enumerate(sorted(members)):
        opening = "{" if place == 0 else ","
        parts.append(_literal(opening + orjson.dumps(key).decode() + ":"))
        parts.append(members[key])
    parts.append(_literal("}" if members else "{}"))
    return _joined(*parts)


def array_of(element: ColumnElement[str], where: Any, order: Any) -> Any:
    """The array of `element` (JSON text) over the rows `where` selects, in
    `order`; `[]` when there are none. A subquery, correlated with the
    statement it is placed in."""
    listed = (
        # string_agg with its separator written into the SQL (SQLAlchemy's
        # aggregate_strings binds it as a value rendered at each execution).
        select(func.string_agg(element, _literal(",")).aggregate_order_by(order))
        .where(where)
        .scalar_subquery()
    )
    return _joined(_literal("["), func.coalesce(listed, _literal("")), _literal("]"))
