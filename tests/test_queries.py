"""Lists cost a constant number of SQL queries, however many rows they return."""

import json
from contextlib import contextmanager
from decimal import Decimal

import pytest
from marshmallow import fields
from sqlalchemy import event, insert

import queries
from db import db, engines
from models import ItemModel, StoreModel, TagModel, UserModel
from schemas import (
    ItemSchema,
    PlainItemSchema,
    PlainStoreSchema,
    PlainTagSchema,
    StoreSchema,
    TagSchema,
)
from tests.helpers import create_item, create_store, create_tag, link


@contextmanager
def count_queries(app):
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        used = engines()  # reads have an engine of their own on PostgreSQL
    for engine in used:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in used:
            event.remove(engine, "before_cursor_execute", record)


class Catalogue:
    """Grows a catalogue through the API: stores, and in the first one tagged items."""

    def __init__(self, client, headers):
        self.client, self.headers = client, headers
        self.stores = 0
        self.first_store = create_store(client, headers, "first")["id"]
        self.tags = []

    def grow_to(self, rows: int) -> None:
        client, headers = self.client, self.headers
        while self.stores < rows:
            self.stores += 1
            store = create_store(client, headers, f"store {self.stores}")
            create_item(client, headers, store["id"], "solo", 2)
            tag = create_tag(client, headers, self.first_store, f"tag {self.stores}")
            self.tags.append(tag["id"])
            item = create_item(
                client, headers, self.first_store, f"item {self.stores}", 1
            )
            for tag_id in self.tags[-2:]:
                assert link(client, headers, item["id"], tag_id).status_code == 201


def queries_for(app, client, headers, url: str) -> int:
    with count_queries(app) as statements:
        response = client.get(url, headers=headers)
    assert response.status_code == 200
    return len(statements)


@pytest.mark.parametrize("url", ["/store", "/item", "/store/{store_id}/tag"])
def test_list_query_count_does_not_grow_with_rows(app, client, user_headers, url):
    catalogue = Catalogue(client, user_headers)
    url = url.format(store_id=catalogue.first_store)

    catalogue.grow_to(2)
    with_2 = queries_for(app, client, user_headers, url)
    catalogue.grow_to(30)
    with_30 = queries_for(app, client, user_headers, url)

    assert len(client.get(url, headers=user_headers).get_json()) >= 30
    assert with_30 == with_2


@pytest.fixture
def ten_thousand_items(app, client, user_headers):
    store = create_store(client, user_headers, "warehouse")
    rows = [
        {"name": f"item {n:05}", "price": n % 500, "store_id": store["id"]}
        for n in range(10_000)
    ]
    with app.app_context():
        db.session.execute(insert(ItemModel), rows)
        db.session.commit()


def test_a_late_page_of_10000_items_costs_what_the_first_does(
    app, client, user_headers, ten_thousand_items
):
    url = "/item?page_size=25&page={page}"

    with count_queries(app) as first_page:
        first = client.get(url.format(page=1), headers=user_headers)
    with count_queries(app) as late_page:
        late = client.get(url.format(page=400), headers=user_headers)

    assert len(first.get_json()) == len(late.get_json()) == 25
    assert late.get_json()[-1]["name"] == "item 09999"
    assert json.loads(late.headers["X-Pagination"])["total"] == 10_000
    assert len(late_page) == len(first_page)
    # The count and the page come from the database: one COUNT, one LIMIT query.
    item_rows = [sql for sql in late_page if sql.startswith("SELECT items.")]
    assert len(item_rows) == 1 and "LIMIT" in item_rows[0]
    assert any("SELECT count(*)" in sql for sql in late_page)


@pytest.mark.parametrize("page", [5, 10**12])
def test_a_page_past_the_end_is_counted_alone(app, client, user_headers, item, page):
    with count_queries(app) as sent:
        answer = client.get(f"/item?page={page}", headers=user_headers)

    assert answer.status_code == 200
    assert answer.get_json() == []
    assert json.loads(answer.headers["X-Pagination"])["total"] == 1
    # Counted, and not asked for: an absurd offset never reaches SQL.
    assert not [sql for sql in sent if "LIMIT" in sql]
    assert any("SELECT count(*)" in sql for sql in sent)


@pytest.fixture
def catalogue(client, user_headers):
    """Two stores; the first with four items (one without a description),
    two tags linked crosswise, prices with cents and a whole one."""
    first = create_store(client, user_headers, "first")["id"]
    create_store(client, user_headers, "second")
    items = [
        create_item(client, user_headers, first, name, price)["id"]
        for name, price in (("b", 17.99), ("a", 0.1), ("c", 99999999.99), ("d", 120))
    ]
    tags = [create_tag(client, user_headers, first, name)["id"] for name in "yx"]
    for item_id, tag_id in (
        (items[0], tags[1]),
        (items[0], tags[0]),
        (items[2], tags[0]),
    ):
        assert link(client, user_headers, item_id, tag_id).status_code == 201
    return first, items, tags


def test_the_fast_reads_answer_what_the_schemas_dump_of_the_models_is(
    app, client, user_headers, catalogue
):
    """Every read of queries.py, one and listed, equals the schema's own dump
    of the ORM objects: the same fields, nested lists in the same order, and
    the same JSON, value for value (120.0 for a whole price, not 120). What
    they build is answered without a dump (schemas.Dumped), so this is what
    holds it to the schema's."""

    first, items, tags = catalogue
    reads = {
        f"/store/{first}": (StoreSchema(), StoreModel, first),
        f"/item/{items[0]}": (ItemSchema(), ItemModel, items[0]),
        f"/tag/{tags[0]}": (TagSchema(), TagModel, tags[0]),
        "/store": (StoreSchema(many=True), StoreModel, None),
        "/item": (ItemSchema(many=True), ItemModel, None),
        f"/store/{first}/tag": (TagSchema(many=True), TagModel, None),
    }
    for path, (schema, model, ident) in reads.items():
        answer = client.get(path, headers=user_headers)
        assert answer.status_code == 200, path
        with app.app_context():
            if ident is not None:
                shown = schema.dump(db.session.get(model, ident))
            else:
                rows = db.session.scalars(db.select(model).order_by(model.id))
                shown = schema.dump(
                    [
                        row
                        for row in rows
                        if model is not TagModel or row.store_id == first
                    ]
                )
            expected = app.json.dumps(shown)
        assert app.json.dumps(answer.get_json()) == expected, path


# Text a JSON encoder must escape, or must not: quotes, backslashes, every
# control character, DEL, line and paragraph separators, accents, CJK and
# astral-plane characters, an SQL quote and a closing script tag.
AWKWARD_TEXTS = (
    'say "hi" \\ back\\slash',
    "".join(map(chr, range(1, 32))) + "\x7f",
    "\u2028 \u2029 é ü 漢字 😀",
    "it's </script>",
    "",
)


@pytest.fixture
def awkward_catalogue(app, user_headers):
    """Stores holding every awkward text, prices of every form (cents, one
    decimal, whole, zero, the largest), descriptions empty and absent, a
    store with no owner and one with nothing in it; written as the ORM
    writes them, past the schemas' checks on names."""
    prices = ("0.01", "0.10", "17.99", "120", "0", "99999999.99", "5.50")
    with app.app_context():
        owner = db.session.scalars(db.select(UserModel.id)).one()
        stores = [
            StoreModel(name=f"{n} {text}", owner_id=owner)
            for n, text in enumerate(AWKWARD_TEXTS)
        ]
        stores.append(StoreModel(name="empty"))
        db.session.add_all(stores)
        db.session.flush()
        for n, text in enumerate(AWKWARD_TEXTS):
            store = stores[n]
            tags = [TagModel(name=f"{text} {k}", store_id=store.id) for k in range(2)]
            db.session.add_all(tags)
            for k, price in enumerate(prices):
                description = (text, None, "")[k % 3]
                item = ItemModel(
                    name=f"{text} {k}",
                    price=Decimal(price),
                    description=description,
                    store_id=store.id,
                    tags=tags[: k % 3],
                )
                db.session.add(item)
        stores[1].owner_id = None
        db.session.commit()
        return len(stores)


@pytest.mark.parametrize(
    "query", ["", "?sort=-name", "?page=2&page_size=2", "?q=%C3%A9", "?owner_id=1"]
)
def test_a_page_of_stores_is_the_bytes_of_its_schemas_dump(
    app, client, user_headers, awkward_catalogue, query
):
    """A page of stores, byte for byte the JSON of StoreSchema's dump of the
    ORM's stores: PostgreSQL writes it (sqljson.py), SQLite's rows are
    dumped, and both answers are what jsonio writes for the models (so
    their ETags are too)."""
    answer = client.get("/store" + query, headers=user_headers)
    assert answer.status_code == 200
    page = json.loads(answer.headers["X-Pagination"])
    with app.app_context():
        statement = db.select(StoreModel)
        if "-name" in query:
            statement = statement.order_by(StoreModel.name.desc(), StoreModel.id)
        else:
            statement = statement.order_by(StoreModel.id)
        stores = list(db.session.scalars(statement))
        if "q=" in query:
            stores = [store for store in stores if "é" in store.name]
        if "owner_id" in query:
            stores = [store for store in stores if store.owner_id == 1]
        assert page["total"] == len(stores)
        size = 2 if "page_size" in query else 10
        first = (2 - 1) * size if "page=2" in query else 0
        expected = app.json.dumps(
            StoreSchema(many=True).dump(stores[first : first + size])
        )
    assert answer.get_data(as_text=True) == expected + "\n"  # as Flask ends it
    assert len(json.loads(expected)) > 0
    again = client.get(
        "/store" + query,
        headers={**user_headers, "If-None-Match": answer.headers["ETag"]},
    )
    assert again.status_code == 304


def test_each_store_is_the_bytes_of_its_schemas_dump(
    app, client, user_headers, awkward_catalogue
):
    """Every store read alone, byte for byte the JSON of StoreSchema's dump
    of the ORM's store (PostgreSQL writes it, SQLite's rows are dumped), so
    its ETag is the one a write checks If-Match against."""
    with app.app_context():
        stores = list(db.session.scalars(db.select(StoreModel)))
        expected = {
            store.id: app.json.dumps(StoreSchema().dump(store)) for store in stores
        }
        owned = {store.id for store in stores if store.owner_id is not None}
    assert len(expected) == awkward_catalogue
    for store_id, text in expected.items():
        answer = client.get(f"/store/{store_id}", headers=user_headers)
        assert answer.status_code == 200
        assert answer.get_data(as_text=True) == text + "\n"
        if store_id in owned:
            renamed = client.put(
                f"/store/{store_id}",
                json={"name": f"renamed {store_id}"},
                headers={**user_headers, "If-Match": answer.headers["ETag"]},
            )
            assert renamed.status_code == 200, renamed.get_json()
    assert client.get("/store/999999", headers=user_headers).status_code == 404


def test_each_item_is_the_bytes_of_its_schemas_dump(
    app, client, user_headers, awkward_catalogue
):
    """Every item read alone, byte for byte the JSON of ItemSchema's dump of
    the ORM's item, tags and store within (PostgreSQL writes it, SQLite's
    rows are dumped), so its ETag is the one a write checks If-Match against."""
    with app.app_context():
        items = list(db.session.scalars(db.select(ItemModel)))
        expected = {item.id: app.json.dumps(ItemSchema().dump(item)) for item in items}
        owned = {item.id for item in items if item.store.owner_id is not None}
    assert len(expected) == 7 * (awkward_catalogue - 1)
    for item_id, text in expected.items():
        answer = client.get(f"/item/{item_id}", headers=user_headers)
        assert answer.status_code == 200
        assert answer.get_data(as_text=True) == text + "\n"
        if item_id in owned:
            changed = client.put(
                f"/item/{item_id}",
                json={"price": 1},
                headers={**user_headers, "If-Match": answer.headers["ETag"]},
            )
            assert changed.status_code == 200, changed.get_json()
    assert client.get("/item/999999", headers=user_headers).status_code == 404


class WiderItemSchema(PlainItemSchema):
    colour = fields.String()


class WiderFullItemSchema(ItemSchema):
    colour = fields.String()


def test_a_schema_field_the_queries_do_not_build_stops_the_app():
    columns = dict(queries.ITEM.sources)
    with pytest.raises(TypeError, match="queries.py reads"):
        queries.Shape(WiderItemSchema, **columns)
    with pytest.raises(TypeError, match="queries.py builds PlainItemSchema's"):
        queries.expect_relations(
            WiderFullItemSchema,
            PlainItemSchema,
            store=PlainStoreSchema,
            tags=PlainTagSchema,
        )
    with pytest.raises(TypeError, match="nests"):
        queries.expect_relations(ItemSchema, PlainItemSchema, store=PlainStoreSchema)
