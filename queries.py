"""The read queries of the hot paths: stores, items and tags as their schemas show them.

They select plain rows rather than ORM objects, which cost several times as
much to build, by statements built once, with only their parameters changing
from request to request. Each shape is derived from its schema: a `Shape`
labels one column per field the schema dumps with that field's name (or a
prefix and the name, beside another shape's columns), rows are read by those
labels, and a schema field without a column (or a column without a field)
stops the app at import. The full schemas' relations are checked the same
way (`expect_relations`). A field added to PlainItemSchema so fails at
start-up until its column is here, and from then on shows in every answer.
What they build is already its schema's dump (a `Dumped` dict), which the
schema returns as it is instead of copying it field by field.

Lists are paged by the database (`QueryPage`): it counts the rows and returns
only the page's, whose relations come in one more query per relation for
the whole page (a page of items or tags: count, page, tags or items; a page
of stores: count, page, items, tags). On PostgreSQL a page of stores is its
count and its JSON, and one store is its JSON, which the database writes
(sqljson.py) from the same shapes (`Shape.json`).
"""

from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any

from flask_smorest import Page
from marshmallow import Schema, fields
from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.engine import Row as SQLRow
from sqlalchemy.sql.elements import Cast

import auth
import sqljson
from db import db
from models import ItemModel, StoreModel, TagModel, items_tags
from prebuilt import Prebuilt, PrebuiltColumn
from schemas import (
    Dumped,
    DumpedText,
    ItemSchema,
    PlainItemSchema,
    PlainStoreSchema,
    PlainTagSchema,
    StoreSchema,
    TagSchema,
    dumped_as,
    dumps_as,
)

Row = SQLRow[Any]


def dumped(schema: type[Schema]) -> dict[str, fields.Field]:
    """The fields `schema` dumps, by name, in its order."""
    return dict(schema().dump_fields)


def plain_fields(schema: type[Schema]) -> tuple[str, ...]:
    return tuple(
        name
        for name, field in dumped(schema).items()
        if not isinstance(field, fields.Nested)
    )


def expect_relations(
    schema: type[Schema], plain: type[Schema], **expected: type[Schema]
) -> None:
    """Refuse to start unless `schema` has `plain`'s fields and nests exactly
    these schemas, by field name."""
    if plain_fields(schema) != plain_fields(plain):
        raise TypeError(
            f"{schema.__name__} dumps {plain_fields(schema)}, but queries.py "
            f"builds {plain.__name__}'s {plain_fields(plain)} and its relations"
        )
    found = {
        name: type(field.schema)
        for name, field in dumped(schema).items()
        if isinstance(field, fields.Nested)
    }
    if found != expected:
        raise TypeError(
            f"{schema.__name__} nests {found}, but queries.py builds {expected}"
        )


class Shape:
    """The columns a query selects for `schema`, and how a row becomes its dict."""

    def __init__(self, schema: type[Schema], prefix: str = "", **sources: Any):
        names = plain_fields(schema)
        if set(sources) != set(names):
            raise TypeError(
                f"{schema.__name__} dumps {sorted(names)}, "
                f"but queries.py reads {sorted(sources)}"
            )
        self.schema = schema
        self.sources = sources
        self.fields = tuple((name, prefix + name) for name in names)
        self.columns = tuple(sources[name].label(label) for name, label in self.fields)

    def reader(
        self, statement: Any, schema: type[Schema] | None = None
    ) -> Callable[[Row], Dumped]:
        """How a row of `statement` becomes this shape's dict, the dump of
        `schema` (this shape's own by default, or a full schema whose
        relations the caller adds): each field is read where its label stands
        among the statement's columns, found by name once, here, rather than
        on every row."""
        kind = dumped_as(schema or self.schema)
        names = tuple(name for name, _ in self.fields)
        places = [place(statement, label) for _, label in self.fields]
        if len(places) == 1:
            (only,) = places
            return lambda row: kind({names[0]: row[only]})
        get = itemgetter(*places)
        # As many places as names, by construction: not checked on every row.
        return lambda row: kind(zip(names, get(row), strict=False))

    def json(self, **relations: ColumnElement[str]) -> ColumnElement[str]:
        """This shape's dump as JSON text written by the database (sqljson),
        its `relations` (JSON text too) beside its fields."""
        schema_fields = dumped(self.schema)
        members = {}
        for name, _ in self.fields:
            write = sqljson.WRITERS.get(dumps_as(schema_fields[name]))
            if write is None:
                raise TypeError(
                    f"{self.schema.__name__}.{name}: sqljson.py writes no "
                    f"{type(schema_fields[name]).__name__}"
                )
            source = self.sources[name]
            written = write(source)
            # `null` where the value may be NULL; a NOT NULL column is
            # written as it is (a coalesce per field of 1,300 objects cost
            # a page of stores some 5% of the database's time).
            members[name] = (
                sqljson.nullable(written) if may_be_null(source) else written
            )
        return sqljson.object_of({**members, **relations})

    def columns_of(self, names: Iterable[str]) -> list[ColumnElement[Any]]:
        """A column for each of `names`: this shape's, or NULL (for a UNION)."""
        return [self.sources.get(name, null()).label(name) for name in names]


def may_be_null(source: Any) -> bool:
    """Whether `source` (a model's column, or a CAST of one) may be NULL."""
    column = getattr(source, "expression", source)
    if isinstance(column, Cast):
        column = column.clause
    return bool(getattr(column, "nullable", True))


# An item's price as answers show it: the float it is dumped as (a price has
# at most 10 significant digits, so the float is exactly the stored value),
# without a Decimal made for every row on the way. Cast by the database, so
# it is a float whatever SQLite stored (a whole price is an INTEGER there).
PRICE = cast(ItemModel.price, Float)

STORE = Shape(
    PlainStoreSchema,
    id=StoreModel.id,
    name=StoreModel.name,
    owner_id=StoreModel.owner_id,
)
ITEM = Shape(
    PlainItemSchema,
    id=ItemModel.id,
    name=ItemModel.name,
    price=PRICE,
    description=ItemModel.description,
)
TAG = Shape(PlainTagSchema, id=TagModel.id, name=TagModel.name)
# The same, beside another shape's columns in one row.
STORE_OF = Shape(
    PlainStoreSchema,
    "store.",
    id=StoreModel.id,
    name=StoreModel.name,
    owner_id=StoreModel.owner_id,
)
TAG_OF = Shape(PlainTagSchema, "tag.", id=TagModel.id, name=TagModel.name)

expect_relations(
    StoreSchema, PlainStoreSchema, items=PlainItemSchema, tags=PlainTagSchema
)
expect_relations(
    ItemSchema, PlainItemSchema, store=PlainStoreSchema, tags=PlainTagSchema
)
expect_relations(
    TagSchema, PlainTagSchema, store=PlainStoreSchema, items=PlainItemSchema
)
# The full shapes, built here from their plain shape and relations.
_STORE_SHOWN, _TAG_SHOWN = dumped_as(StoreSchema), dumped_as(TagSchema)


def place(statement: Any, label: str) -> int:
    """Where the column labelled `label` stands in `statement`'s rows."""
    return list(statement.selected_columns.keys()).index(label)


def rows(
    statement: Any, checked: Select[Any] | Prebuilt | None = None, **params: Any
) -> list[Row]:
    """The rows of `statement`; the first read of a request that defers its
    token check passes `checked`, the same with the check (auth.read)."""
    return auth.read(statement, params, checked)


class QueryPage(Page):
    """A page of a SELECT: the database counts the rows and returns only this page.

    Two queries, not one with `count(*) OVER ()` on each row: that window
    makes the database build every row of the list (joins and all) to count
    them, where COUNT alone does not; it measured 3.6 times slower on SQLite
    for a page of 50 of 1,000 items.
    """

    @property
    def item_count(self) -> int:
        counted = select(func.count()).select_from(
            self.collection.order_by(None).subquery()
        )
        # The list's first statement: the token's check comes with it.
        return int(rows(counted, auth.with_token_check(counted))[0][0])

    def page_statement(self) -> Select[Any] | None:
        """The collection's SELECT limited to this page; None past the end."""
        params = self.page_params
        if params.first_item >= params.item_count:
            return None  # past the end; also keeps absurd offsets out of SQL
        return self.collection.limit(params.page_size).offset(params.first_item)

    @property
    def items(self) -> list[Any]:
        page = self.page_statement()
        return [] if page is None else self.load(rows(page))

    def load(self, page: list[Row]) -> list[Any]:
        """The page's rows as its schema shows them."""
        raise NotImplementedError


def name_contains(column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match; `%` and `_` in `text` match themselves."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def sorted_by(statement: Select[Any], sort: str, columns: dict[str, Any]) -> Any:
    """Order by `sort` (a key of `columns`, `-` first for descending), then by id."""
    column = columns[sort.removeprefix("-")]
    order = column.desc() if sort.startswith("-") else column.asc()
    if column is columns["id"]:
        return statement.order_by(order)
    return statement.order_by(order, columns["id"].asc())


# Items (ItemSchema): each with its store, and its tags apart.

ITEMS = select(*ITEM.columns, *STORE_OF.columns).join(
    StoreModel, StoreModel.id == ItemModel.store_id
)
# One item in one query, a row per tag. Plain LEFT JOINs: SQLAlchemy's joined
# eager load nests the many-to-many join, which SQLite answers by scanning
# every link of every item. Its few tags are put in order here rather than by
# the database, whose sort set up memory for them on every read (6 µs of
# PostgreSQL's 78 for this statement, and more in a session whose memory the
# sort pushes past glibc's trim threshold).
ITEM_BY_ID = (
    ITEMS.add_columns(*TAG_OF.columns)
    .outerjoin(items_tags, items_tags.c.item_id == ItemModel.id)
    .outerjoin(TagModel, TagModel.id == items_tags.c.tag_id)
    .where(ItemModel.id == bindparam("item_id"))
)
ITEM_BY_ID_CHECKED = Prebuilt(auth.with_token_check(ITEM_BY_ID))
TAGS_OF_ITEMS = (
    select(items_tags.c.item_id.label("of"), *TAG.columns)
    .join(TagModel, TagModel.id == items_tags.c.tag_id)
    .where(items_tags.c.item_id.in_(bindparam("ids", expanding=True)))
    .order_by(TagModel.id)
)
ITEM_SORTS = {"id": ItemModel.id, "name": ItemModel.name, "price": ItemModel.price}
# ITEM_BY_ID begins with the columns of ITEMS.
_ITEM, _ITEM_STORE = ITEM.reader(ITEMS, ItemSchema), STORE_OF.reader(ITEMS)
_ITEM_TAG, _ITEM_TAG_ID = TAG_OF.reader(ITEM_BY_ID), place(ITEM_BY_ID, "tag.id")
_TAG_OF_ITEM, _OF_ITEM = TAG.reader(TAGS_OF_ITEMS), place(TAGS_OF_ITEMS, "of")


def _item(row: Row) -> dict[str, Any]:
    shown = _ITEM(row)
    shown["store"] = _ITEM_STORE(row)
    shown["tags"] = []
    return shown


def item(item_id: int) -> dict[str, Any] | None:
    """The item, with its store and tags; None when there is none."""
    found = rows(ITEM_BY_ID, ITEM_BY_ID_CHECKED, item_id=item_id)
    if not found:
        return None
    shown = _item(found[0])
    tagged = sorted(
        (row for row in found if row[_ITEM_TAG_ID] is not None),
        key=itemgetter(_ITEM_TAG_ID),
    )
    shown["tags"] = [_ITEM_TAG(row) for row in tagged]
    return shown


def items(query: dict[str, Any]) -> Any:
    """The SELECT of the items `query` asks for (its filters and sort)."""
    statement = ITEMS
    if "store_id" in query:
        statement = statement.where(ItemModel.store_id == query["store_id"])
    if "tag_id" in query:
        statement = statement.where(ItemModel.tags.any(TagModel.id == query["tag_id"]))
    if "q" in query:
        statement = statement.where(name_contains(ItemModel.name, query["q"]))
    if "min_price" in query:
        statement = statement.where(ItemModel.price >= query["min_price"])
    if "max_price" in query:
        statement = statement.where(ItemModel.price <= query["max_price"])
    return sorted_by(statement, query["sort"], ITEM_SORTS)


class ItemPage(QueryPage):
    """A page of items, each with its store and tags: three queries (count included)."""

    def load(self, page: list[Row]) -> list[dict[str, Any]]:
        shown = [_item(row) for row in page]
        by_id = {each["id"]: each for each in shown}
        for row in rows(TAGS_OF_ITEMS, ids=list(by_id)):
            by_id[row[_OF_ITEM]]["tags"].append(_TAG_OF_ITEM(row))
        return shown


# Stores (StoreSchema): each with its items and tags.

ITEMS_OF_STORES = (
    select(ItemModel.store_id.label("of"), *ITEM.columns)
    .where(ItemModel.store_id.in_(bindparam("ids", expanding=True)))
    .order_by(ItemModel.id)
)
TAGS_OF_STORES = (
    select(TagModel.store_id.label("of"), *TAG.columns)
    .where(TagModel.store_id.in_(bindparam("ids", expanding=True)))
    .order_by(TagModel.id)
)
STORE_SORTS = {"id": StoreModel.id, "name": StoreModel.name}

# One store, its items and its tags in one round trip: the rows of the three
# shapes in the columns of them all, told apart by `kind`. The items come
# first, as the first SELECT of a UNION types its columns (the price as a
# float).
_KINDS = (ITEM, STORE, TAG)
_UNION_FIELDS = tuple(dict.fromkeys(name for s in _KINDS for name, _ in s.fields))
_OF_THE_STORE = {
    ITEM: ItemModel.store_id == bindparam("store_id"),
    STORE: StoreModel.id == bindparam("store_id"),
    TAG: TagModel.store_id == bindparam("store_id"),
}
STORE_WITH_CONTENTS = union_all(
    *(
        select(*shape.columns_of(_UNION_FIELDS), literal(kind).label("kind")).where(
            _OF_THE_STORE[shape]
        )
        for kind, shape in enumerate(_KINDS)
    )
).order_by("kind", "id")
STORE_WITH_CONTENTS_CHECKED = Prebuilt(
    auth.with_token_check(STORE_WITH_CONTENTS, order=("kind", "id"))
)
_KIND = place(STORE_WITH_CONTENTS, "kind")
_ITEM_KIND, _STORE_KIND = _KINDS.index(ITEM), _KINDS.index(STORE)
_READ_KIND = tuple(shape.reader(STORE_WITH_CONTENTS) for shape in _KINDS)


# A store with its items and tags, as PostgreSQL writes it (sqljson).
STORE_JSON = STORE.json(
    items=sqljson.array_of(
        ITEM.json(), ItemModel.store_id == StoreModel.id, ItemModel.id
    ),
    tags=sqljson.array_of(TAG.json(), TagModel.store_id == StoreModel.id, TagModel.id),
)
# The same as text, in the SELECT of a page of stores, built per request.
STORE_JSON_TEXT = PrebuiltColumn(STORE_JSON, StoreModel.__table__)
STORE_JSON_BY_ID = select(STORE_JSON.label("store")).where(
    StoreModel.id == bindparam("store_id")
)
STORE_JSON_BY_ID_CHECKED = Prebuilt(auth.with_token_check(STORE_JSON_BY_ID))


def store(store_id: int) -> Dumped | DumpedText | None:
    """The store, with its items and tags; None when there is none. On
    PostgreSQL the database writes its JSON (one row, one column)."""
    if db.engine.dialect.name == "postgresql":
        written = rows(STORE_JSON_BY_ID, STORE_JSON_BY_ID_CHECKED, store_id=store_id)
        return DumpedText(StoreSchema, False, written[0][0]) if written else None
    items: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    shown: dict[str, Any] | None = None
    for row in rows(
        STORE_WITH_CONTENTS, STORE_WITH_CONTENTS_CHECKED, store_id=store_id
    ):
        kind = row[_KIND]
        if kind == _STORE_KIND:
            shown = _READ_KIND[kind](row)
        else:
            (items if kind == _ITEM_KIND else tags).append(_READ_KIND[kind](row))
    if shown is None:
        return None
    return _STORE_SHOWN(shown, items=items, tags=tags)


STORES = select(*STORE.columns)
_STORE = STORE.reader(STORES)
_ITEMS_STORE, _TAGS_STORE = place(ITEMS_OF_STORES, "of"), place(TAGS_OF_STORES, "of")
_ITEM_OF_STORE, _TAG_OF_STORE = ITEM.reader(ITEMS_OF_STORES), TAG.reader(TAGS_OF_STORES)


def stores(query: dict[str, Any]) -> Any:
    """The SELECT of the stores `query` asks for (its filter and sort)."""
    statement = STORES
    if "owner_id" in query:
        statement = statement.where(StoreModel.owner_id == query["owner_id"])
    if "q" in query:
        statement = statement.where(name_contains(StoreModel.name, query["q"]))
    return sorted_by(statement, query["sort"], STORE_SORTS)


class StorePage(QueryPage):
    """A page of stores, each with its items and tags. PostgreSQL writes
    the page's JSON (two queries, count included); elsewhere the rows are
    read and dumped (four)."""

    @property
    def items(self) -> Any:
        page = self.page_statement()
        if page is None or db.engine.dialect.name != "postgresql":
            return super().items
        json = STORE_JSON_TEXT.column(db.engine.dialect)
        written = rows(page.with_only_columns(json, maintain_column_froms=True))
        return DumpedText(
            StoreSchema, True, "[" + ",".join(row[0] for row in written) + "]"
        )

    def load(self, page: list[Row]) -> list[Dumped]:
        shown = [_STORE_SHOWN(_STORE(row), items=[], tags=[]) for row in page]
        by_id = {each["id"]: each for each in shown}
        for row in rows(ITEMS_OF_STORES, ids=list(by_id)):
            by_id[row[_ITEMS_STORE]]["items"].append(_ITEM_OF_STORE(row))
        for row in rows(TAGS_OF_STORES, ids=list(by_id)):
            by_id[row[_TAGS_STORE]]["tags"].append(_TAG_OF_STORE(row))
        return shown


# Tags (TagSchema): each with its store and the items it is linked to.

TAGS = select(*TAG.columns, *STORE_OF.columns).join(
    StoreModel, StoreModel.id == TagModel.store_id
)
TAG_BY_ID = TAGS.where(TagModel.id == bindparam("tag_id"))
TAG_BY_ID_CHECKED = Prebuilt(auth.with_token_check(TAG_BY_ID))
ITEMS_OF_TAGS = (
    select(items_tags.c.tag_id.label("of"), *ITEM.columns)
    .join(ItemModel, ItemModel.id == items_tags.c.item_id)
    .where(items_tags.c.tag_id.in_(bindparam("ids", expanding=True)))
    .order_by(ItemModel.id)
)


_TAG, _TAG_STORE = TAG.reader(TAGS), STORE_OF.reader(TAGS)
_ITEM_OF_TAG, _OF_TAG = ITEM.reader(ITEMS_OF_TAGS), place(ITEMS_OF_TAGS, "of")


def _with_items(tag_rows: list[Row]) -> list[Dumped]:
    shown = [_TAG_SHOWN(_TAG(row), store=_TAG_STORE(row), items=[]) for row in tag_rows]
    by_id = {each["id"]: each for each in shown}
    for row in rows(ITEMS_OF_TAGS, ids=list(by_id)):
        by_id[row[_OF_TAG]]["items"].append(_ITEM_OF_TAG(row))
    return shown


def tag(tag_id: int) -> dict[str, Any] | None:
    """The tag, with its store and items; None when there is none."""
    found = rows(TAG_BY_ID, TAG_BY_ID_CHECKED, tag_id=tag_id)
    return _with_items(found)[0] if found else None


def tags_of(store_id: int) -> Any:
    """The SELECT of a store's tags, by id."""
    return TAGS.where(TagModel.store_id == store_id).order_by(TagModel.id)


class TagPage(QueryPage):
    """A page of tags, each with its store and items: three queries (count included)."""

    def load(self, page: list[Row]) -> list[Dumped]:
        return _with_items(page)
