"""Marshmallow shapes of requests and responses.

"Plain" schemas carry a resource's own fields; the full ones add its relations.
Ids and relations are dump-only, passwords load-only. Unknown fields are
refused (marshmallow's default), names are trimmed before they are checked.
"""

import re
from decimal import Decimal
from functools import cache, partial
from typing import Any, ClassVar

import marshmallow
import orjson
from marshmallow import (
    ValidationError,
    fields,
    missing,
    pre_load,
    validate,
    validates_schema,
)

from db import MAX_ID


class Schema(marshmallow.Schema):
    """The base of every schema here: marshmallow's, with a faster dump.

    A value that is already what its field makes of it (an int for an
    Integer, a str for a String, a float for a Price or a Float, or None) is
    copied as it is; a nested value is dumped by the nested schema, as
    marshmallow's Nested does (through the field's public `schema` and
    `many`); every other value goes through its field's public `serialize`.
    The output is marshmallow's own
    (tests/test_schemas.py compares the two) in a fraction of the time, which
    a list of 1,000 nested items notices. Dump hooks (pre_dump, post_dump)
    are not run: no schema here has one, and the test says so.

    A `Dumped` dict of this very schema is its own dump, returned as it is,
    and so is a `DumpedText` of it (one or many, as asked).
    """

    def dump(self, obj, *, many=None):
        many = self.many if many is None else bool(many)
        kind = type(self)
        if isinstance(obj, DumpedText):
            if obj.schema is kind and obj.many is many:
                return obj
            obj = orjson.loads(obj.text)
        plan = self._dump_plan()
        if many:
            return [
                each
                if isinstance(each, Dumped) and each.schema is kind
                else self._dump_one(each, plan)
                for each in obj
            ]
        if isinstance(obj, Dumped) and obj.schema is kind:
            return obj
        return self._dump_one(obj, plan)

    @staticmethod
    def _dump_one(obj, plan) -> dict:
        read = obj.get if isinstance(obj, dict) else partial(getattr, obj)
        result = {}
        for key, attribute, field, dumps_as, nested in plan:
            value = read(attribute, missing)
            if dumps_as is not None and (value is None or type(value) is dumps_as):
                result[key] = value
                continue
            if nested is not None and value is not missing:
                schema, many = nested
                result[key] = None if value is None else schema.dump(value, many=many)
                continue
            value = field.serialize(attribute, obj)
            if value is not missing:
                result[key] = value
        return result

    def _dump_plan(self) -> list:
        """(output key, attribute, field, the type it dumps unchanged, and a
        nested field's (schema, many)) for each dumped field, in order."""
        try:
            return self.__dict__["_plan"]
        except KeyError:
            pass
        plan = [
            (
                field.data_key if field.data_key is not None else name,
                field.attribute or name,
                field,
                dumps_as(field),
                _nested(field),
            )
            for name, field in self.dump_fields.items()
        ]
        self.__dict__["_plan"] = plan
        return plan


class Dumped(dict[str, Any]):
    """A dict that already is what its `schema` dumps: its fields, with the
    values they dump as, its nested values too (queries.py builds them from
    columns named after those fields). `schema`'s dump returns it unchanged;
    any other schema dumps it as it would any dict.

    Each schema has its class (`dumped_as`), the schema a class attribute:
    made like any dict, with no constructor of its own to run, as a page of
    stores makes a thousand of them."""

    __slots__ = ()
    schema: ClassVar[type[marshmallow.Schema]]


class DumpedText:
    """JSON text that already is what `schema` dumps (a list of its dumps
    when `many`), written by the database (sqljson.py). `schema`'s dump
    returns it unchanged and jsonio writes it as it is; any other schema
    dumps the value it holds."""

    __slots__ = ("schema", "many", "text")

    def __init__(self, schema: type[marshmallow.Schema], many: bool, text: str):
        self.schema, self.many, self.text = schema, many, text


@cache
def dumped_as(schema: type[marshmallow.Schema]) -> type[Dumped]:
    """The Dumped class of `schema`'s dumps."""
    return type(
        f"Dumped{schema.__name__}", (Dumped,), {"__slots__": (), "schema": schema}
    )


def _nested(field: fields.Field) -> tuple[marshmallow.Schema, bool] | None:
    """A plain Nested field's schema and whether it holds a list."""
    if type(field) is not fields.Nested or (field.attribute and "." in field.attribute):
        return None
    schema = field.schema
    return schema, bool(schema.many or field.many)


def dumps_as(field: fields.Field) -> type | None:
    """The type whose values, and None, `field` dumps unchanged; None when
    every value goes through the field."""
    if field.attribute and "." in field.attribute:
        return None  # a dotted path, which marshmallow follows
    kind = type(field)
    if kind in (fields.String, Text, Trimmed, Name):
        return str
    if kind is fields.Integer and not field.as_string:  # type: ignore[attr-defined]
        return int
    if kind is fields.Float and not field.as_string:  # type: ignore[attr-defined]
        return float
    if kind is Price:
        return float
    return None


MAX_PRICE = Decimal("99999999.99")
CENT = Decimal("0.01")

# The white space str.strip() trims (Python's), as regular-expression classes,
# so that the patterns in the OpenAPI document accept exactly what the API does.
SPACE = (
    r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
VISIBLE = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
NOT_CONTROL = r"[^\x00-\x1f\x7f-\x9f]"
# 1 to 80 characters, no control characters, once surrounding space is trimmed.
NAME_PATTERN = rf"^[{SPACE}]*{VISIBLE}(?:{NOT_CONTROL}{{0,78}}{VISIBLE})?[{SPACE}]*$"
USERNAME_PATTERN = rf"^[{SPACE}]*[A-Za-z0-9_.-]{{3,80}}[{SPACE}]*$"


class Text(fields.String):
    """A string that refuses NUL characters, which no database stores faithfully,
    and lone surrogates, which are not text at all."""

    def __init__(self, **kwargs):
        metadata = {"pattern": r"^[^\x00]*$", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate, such as the JSON escape "\ud800" alone.
            raise ValidationError("Must be valid Unicode text.") from None
        return text


class Trimmed(Text):
    """A string checked as sent against `pattern` (which allows surrounding white
    space), then trimmed of that white space before it is stored."""

    def __init__(self, pattern: str | None = None, error: str = "", **kwargs):
        self.pattern = re.compile(pattern) if pattern else None
        self.error = error
        metadata = kwargs.pop("metadata", {})
        if pattern:
            metadata = {"pattern": pattern, **metadata}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.pattern and not self.pattern.fullmatch(text):
            raise ValidationError(self.error)
        return text.strip()


class Name(Trimmed):
    """The name of a store, an item or a tag."""

    def __init__(self, **kwargs):
        kwargs["metadata"] = {
            "description": "1 to 80 characters, no control characters; surrounding "
            "white space is trimmed first.",
            **kwargs.get("metadata", {}),
        }
        super().__init__(
            NAME_PATTERN,
            "1 to 80 characters without control characters, once surrounding "
            "white space is trimmed.",
            **kwargs,
        )


class Price(fields.Decimal):
    """A price: a JSON number with at most 2 decimal places, kept exact."""

    def __init__(self, **kwargs):
        super().__init__(
            places=None,
            allow_nan=False,
            validate=validate.Range(min=0, max=MAX_PRICE),
            metadata={
                "description": "A JSON number, 0 to 99,999,999.99, "
                "with at most 2 decimal places.",
                "example": 17.99,
                "multipleOf": 0.01,
            },
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs):
        # Strings such as "17.99" are not numbers, whatever marshmallow allows.
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise ValidationError("Not a valid number.")
        price = super()._deserialize(value, attr, data, **kwargs)
        if abs(price) > MAX_PRICE:
            return price  # the range validator explains the rest
        if price != price.quantize(CENT):
            raise ValidationError("Must have at most 2 decimal places.")
        return price.quantize(CENT)

    def _serialize(self, value, attr, obj, **kwargs):
        # Out as a float, which JSON encoders write natively: a price has at
        # most 10 significant digits, so the float's shortest representation
        # is exactly the stored decimal.
        return None if value is None else float(value)


class PlainStoreSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = Name(required=True, metadata={"example": "Corner Shop"})
    owner_id = fields.Integer(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The user who owns the store (its creator, unless an "
            "admin handed it over); null when the owner was deleted, or for a "
            "store made before stores had owners.",
            "example": 1,
        },
    )


class PlainItemSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = Name(required=True, metadata={"example": "Chair"})
    price = Price(required=True)
    description = Text(
        allow_none=True,
        validate=validate.Length(max=1000),
        metadata={"example": "Oak, with a padded seat."},
    )


class PlainTagSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = Name(required=True, metadata={"example": "furniture"})


class StoreSchema(PlainStoreSchema):
    items = fields.Nested(PlainItemSchema, many=True, dump_only=True)
    tags = fields.Nested(PlainTagSchema, many=True, dump_only=True)


class ItemSchema(PlainItemSchema):
    store = fields.Nested(PlainStoreSchema, dump_only=True)
    tags = fields.Nested(PlainTagSchema, many=True, dump_only=True)


class ItemCreateSchema(ItemSchema):
    """The body of `POST /item`: an Item, and the store it goes in. (A shape
    of its own, so that the answer's Item has no field it lacks: generated
    clients read `required` for both.)"""

    store_id = fields.Integer(
        required=True,
        load_only=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"example": 1},
    )


class ItemUpdateSchema(Schema):
    OPENAPI = {"minProperties": 1}  # "at least one of", as require_a_field says
    name = Name(metadata={"example": "Chair"})
    price = Price()
    description = Text(allow_none=True, validate=validate.Length(max=1000))

    @pre_load
    def refuse_store_change(self, data, **kwargs):
        if isinstance(data, dict) and "store_id" in data:
            raise ValidationError(
                "An item cannot be moved to another store.", "store_id"
            )
        return data

    @validates_schema
    def require_a_field(self, data, **kwargs):
        if not data:
            raise ValidationError(
                "Send at least one of name, price, description.", "_schema"
            )


class TagSchema(PlainTagSchema):
    store = fields.Nested(PlainStoreSchema, dump_only=True)
    items = fields.Nested(PlainItemSchema, many=True, dump_only=True)


class OwnerSchema(Schema):
    user_id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "The user who is to own the store.", "example": 2},
    )


class TagUnlinkSchema(Schema):
    message = fields.String()
    item = fields.Nested(ItemSchema)
    tag = fields.Nested(TagSchema)


def email_field(**kwargs) -> Trimmed:
    """An email address: at most 254 characters, valid in syntax (nothing is
    sent to check it here), trimmed of surrounding white space."""
    metadata = {
        "format": "email",
        "example": "jane@example.com",
        **kwargs.pop("metadata", {}),
    }
    return Trimmed(
        validate=[validate.Length(max=254), validate.Email()],
        metadata=metadata,
        **kwargs,
    )


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    username = Trimmed(
        USERNAME_PATTERN,
        "3 to 80 letters, digits, '_', '.' or '-'.",
        required=True,
        metadata={"example": "jane.doe"},
    )
    email = email_field(
        allow_none=True,
        metadata={
            "description": "Optional at register (absent or null: none); unique "
            "without regard to case. Setting it sends a verification email.",
        },
    )
    email_verified = fields.Boolean(dump_only=True)
    is_admin = fields.Boolean(dump_only=True)


class RegisterSchema(UserSchema):
    """The body of `POST /register`: a User, and its password (a shape of its
    own, so that the answer's User has no field it lacks)."""

    password = Text(
        required=True,
        load_only=True,
        validate=validate.Length(min=8, max=128),
        metadata={"example": "correct horse battery"},
    )


class EmailSchema(Schema):
    email = email_field(required=True)


class VerificationSchema(Schema):
    token = Text(
        required=True,
        validate=validate.Length(max=1000),
        metadata={"description": "The token of the link in the verification email."},
    )


class PasswordResetSchema(Schema):
    token = Text(
        required=True,
        validate=validate.Length(max=1000),
        metadata={"description": "The token of the link in the reset email."},
    )
    new_password = Text(
        required=True, load_only=True, validate=validate.Length(min=8, max=128)
    )


class PasswordChangeSchema(Schema):
    current_password = Text(
        required=True, load_only=True, validate=validate.Length(max=1000)
    )
    new_password = Text(
        required=True, load_only=True, validate=validate.Length(min=8, max=128)
    )


class LoginSchema(Schema):
    # No format rules here: a malformed username is just one that does not exist.
    username = Trimmed(
        required=True,
        validate=validate.Length(max=200),
        metadata={"example": "jane.doe"},
    )
    password = Text(
        required=True,
        load_only=True,
        validate=validate.Length(max=1000),
        metadata={"example": "correct horse battery"},
    )


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)


class MessageSchema(Schema):
    message = fields.String(required=True)


def sort_field(*fields_: str, default: str = "id") -> fields.String:
    choices = [order for name in fields_ for order in (name, f"-{name}")]
    return fields.String(
        load_default=default,
        validate=validate.OneOf(choices),
        metadata={
            "description": "Sort by this field; a leading `-` sorts descending. "
            "Ties are broken by id.",
            "enum": choices,
        },
    )


class SearchFilter(Text):
    """`q`: part of a name, matched without regard to case."""

    def __init__(self, **kwargs):
        super().__init__(
            validate=validate.Length(min=1, max=80),
            metadata={"description": "Part of the name, any letter case."},
            **kwargs,
        )


class PagedQuerySchema(Schema):
    """Query parameters of a paged list. Unknown parameters are refused (a
    misspelt filter must not silently return everything); `page` and
    `page_size` are read by the pager (see Blueprint.paginate)."""

    @pre_load
    def leave_paging_to_the_pager(self, data, **kwargs):
        return {key: data[key] for key in data if key not in ("page", "page_size")}


class StoreQuerySchema(PagedQuerySchema):
    owner_id = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "Only stores this user owns."},
    )
    q = SearchFilter()
    sort = sort_field("id", "name")


class ItemQuerySchema(PagedQuerySchema):
    store_id = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "Only items of this store."},
    )
    tag_id = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "Only items with this tag."},
    )
    q = SearchFilter()
    min_price = fields.Decimal(
        allow_nan=False,
        validate=validate.Range(min=0, max=MAX_PRICE),
        metadata={"description": "Only items priced at least this."},
    )
    max_price = fields.Decimal(
        allow_nan=False,
        validate=validate.Range(min=0, max=MAX_PRICE),
        metadata={"description": "Only items priced at most this."},
    )
    sort = sort_field("id", "name", "price")


# The changes feed (changes.py, resources/changes.py).


class ChangedStoreSchema(PlainStoreSchema):
    pass


class ChangedItemSchema(PlainItemSchema):
    store_id = fields.Integer(dump_only=True)
    tag_ids = fields.List(fields.Integer(), dump_only=True)


class ChangedTagSchema(PlainTagSchema):
    store_id = fields.Integer(dump_only=True)


class ChangeSchema(Schema):
    type = fields.String(
        dump_only=True, metadata={"enum": ["store", "item", "tag"], "example": "item"}
    )
    id = fields.Integer(dump_only=True)
    op = fields.String(dump_only=True, metadata={"enum": ["upsert", "delete"]})
    data = fields.Dict(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "The row as it is now: a PlainStore; a PlainItem with "
            "`store_id` and `tag_ids`; or a PlainTag with `store_id`. Null for a "
            "delete."
        },
    )


class ChangesSchema(Schema):
    changes = fields.List(fields.Nested(ChangeSchema), dump_only=True)
    cursor = fields.String(
        dump_only=True,
        metadata={"description": "Send it as `since` to get what changed after."},
    )
    has_more = fields.Boolean(
        dump_only=True,
        metadata={"description": "More changes wait: ask again with `cursor` now."},
    )


class ChangesQuerySchema(Schema):
    since = Text(
        metadata={
            "description": "The `cursor` of the last answer. Without it: every "
            "store, item and tag there is, as upserts."
        }
    )
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=1000))
