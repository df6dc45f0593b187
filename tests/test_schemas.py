"""The schemas' fast dump gives exactly what marshmallow's own dump gives."""

from decimal import Decimal
from types import SimpleNamespace

import marshmallow
import pytest
from marshmallow import fields

import schemas


def marshmallows_dump(schema, obj):
    """`schema`'s dump by marshmallow's own loop, nested schemas included."""
    original = schemas.Schema.dump
    try:
        schemas.Schema.dump = marshmallow.Schema.dump
        return schema.dump(obj)
    finally:
        schemas.Schema.dump = original


TAG = SimpleNamespace(id=7, name="furniture", store_id=1)
STORE = SimpleNamespace(id=1, name="Corner Shop")
ITEM = SimpleNamespace(
    id=3,
    name="Chair",
    price=Decimal("17.99"),
    description=None,
    store_id=1,
    store=STORE,
    tags=[TAG],
)
STORE.items = [ITEM]
STORE.tags = [TAG]
TAG.store = STORE
TAG.items = [ITEM]
USER = SimpleNamespace(id=2, username="jane", is_admin=False, password_hash="x")

CASES = [
    pytest.param(schemas.StoreSchema(), STORE, id="store-object"),
    pytest.param(
        schemas.StoreSchema(),
        {"id": 1, "name": "Corner Shop", "items": [vars(ITEM)], "tags": [vars(TAG)]},
        id="store-dict",
    ),
    pytest.param(schemas.ItemSchema(), ITEM, id="item"),
    pytest.param(schemas.TagSchema(), TAG, id="tag"),
    pytest.param(schemas.UserSchema(), USER, id="user"),
    pytest.param(
        schemas.TagUnlinkSchema(),
        {"message": "Tag removed from item.", "item": ITEM, "tag": TAG},
        id="dict-with-nested-objects",
    ),
    pytest.param(
        schemas.ItemSchema(),
        SimpleNamespace(id=4, name="Stool", price=Decimal("5.00")),
        id="missing-attributes-are-left-out",
    ),
    pytest.param(schemas.MessageSchema(), {}, id="missing-key-is-left-out"),
]


@pytest.mark.parametrize(("schema", "obj"), CASES)
def test_dump_equals_marshmallows(schema, obj):
    assert schema.dump(obj) == marshmallows_dump(schema, obj)


def test_dump_of_many_equals_marshmallows():
    schema = schemas.StoreSchema(many=True)

    assert schema.dump([STORE, STORE]) == marshmallows_dump(schema, [STORE, STORE])


def test_prices_are_dumped_as_floats_equal_to_the_decimal():
    dumped = schemas.PlainItemSchema().dump(ITEM)

    assert type(dumped["price"]) is float
    assert Decimal(repr(dumped["price"])) == ITEM.price


class WithExtras(schemas.Schema):
    renamed = fields.String(data_key="shown", attribute="hidden")
    defaulted = fields.Integer(dump_default=5)
    computed = fields.Method("compute")

    def compute(self, obj):
        return "computed"


def test_data_keys_attributes_defaults_and_method_fields_dump_as_marshmallow_does():
    obj = SimpleNamespace(hidden="value")

    dumped = WithExtras().dump(obj)

    assert dumped == {"shown": "value", "defaulted": 5, "computed": "computed"}
    assert dumped == marshmallows_dump(WithExtras(), obj)


class Mixed(schemas.Schema):
    number = fields.Integer()
    as_text = fields.Integer(as_string=True)
    ratio = fields.Float()
    text = fields.String()
    price = schemas.Price()


class Label(str):
    pass


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(
            {"number": 3, "as_text": 3, "ratio": 2.5, "text": "a", "price": 1.5},
            id="values-already-of-the-dumped-type",
        ),
        pytest.param(
            {
                "number": None,
                "as_text": None,
                "ratio": None,
                "text": None,
                "price": None,
            },
            id="nones",
        ),
        pytest.param(
            {"number": True, "as_text": 4, "ratio": 2, "text": b"bytes", "price": 5},
            id="values-the-fields-convert",
        ),
        pytest.param(
            {
                "number": Decimal("7"),
                "as_text": Decimal("8"),
                "ratio": Decimal("0.5"),
                "text": Label("sub"),
                "price": Decimal("99999999.99"),
            },
            id="decimals-and-a-str-subclass",
        ),
    ],
)
def test_values_dump_as_marshmallows_whatever_their_type(values):
    for obj in (values, SimpleNamespace(**values)):
        dumped = Mixed().dump(obj)

        assert dumped == marshmallows_dump(Mixed(), obj)
        for key, value in dumped.items():
            assert type(value) is type(marshmallows_dump(Mixed(), obj)[key])


def test_no_schema_has_dump_hooks_which_the_fast_dump_would_skip():
    """marshmallow keeps a schema's hooks in `_hooks` (its decorators fill
    it); the fast dump runs none, so none may exist."""
    found = {
        name: sorted(
            hook
            for hook, registered in value._hooks.items()
            if hook.endswith("_dump") and registered
        )
        for name, value in vars(schemas).items()
        if isinstance(value, type) and issubclass(value, marshmallow.Schema)
    }
    assert "pre_load" in schemas.ItemUpdateSchema._hooks  # hooks are seen
    assert {name: hooks for name, hooks in found.items() if hooks} == {}


def test_a_dumped_dict_is_its_own_schemas_dump_and_no_other_schemas():
    fields = {"id": 1, "name": "Chair", "price": 17.99, "description": None}
    built = schemas.dumped_as(schemas.PlainItemSchema)(fields)

    assert schemas.PlainItemSchema().dump(built) is built
    assert schemas.PlainItemSchema(many=True).dump([built])[0] is built
    # Another schema dumps it as any dict: ItemSchema's relations are missing.
    by_another = schemas.ItemSchema().dump(built)
    assert by_another is not built
    assert by_another == fields
