"""JSON in and out: how request bodies and query strings are read, and how
answers are encoded."""

import json
from decimal import Decimal

import marshmallow as ma
import orjson
from flask.json.provider import DefaultJSONProvider
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from schemas import DumpedText


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class Parser(FlaskParser):
    """Reads JSON bodies exactly (decimals stay decimals, NaN and Infinity are
    refused) and refuses unknown query parameters as it refuses unknown fields."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }

    def load_json(self, req, schema):
        body = req.get_data(cache=True)
        if not is_json_request(req):
            if body:
                abort(
                    415,
                    message="Send the request body as JSON "
                    "with 'Content-Type: application/json'.",
                )
            return core.missing
        if not body:
            return core.missing
        try:
            return json.loads(
                body.decode("utf-8"),
                parse_float=Decimal,
                parse_constant=_reject_constant,
            )
        except (ValueError, RecursionError):
            abort(
                400,
                message="The request body is not valid JSON.",
                errors={"json": ["Invalid JSON body."]},
            )

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        abort(
            error_status_code or self.DEFAULT_VALIDATION_STATUS,
            exc=error,
            message="The request is invalid: see 'errors' for each field.",
            messages=error.messages,
            headers=error_headers,
        )


class JSONProvider(DefaultJSONProvider):
    """JSON out by orjson, several times faster than the standard library's on
    a long list; prices leave as JSON numbers, never strings."""

    @staticmethod
    def default(o):
        if isinstance(o, DumpedText):
            return orjson.Fragment(o.text)  # already this encoder's bytes
        # A price has at most 10 significant digits, so the float's shortest
        # representation is exactly the stored decimal.
        if isinstance(o, Decimal):
            return float(o)
        return DefaultJSONProvider.default(o)

    def dumps(self, obj, **kwargs) -> str:
        # Keys are sorted as Flask sorts them, so equal data has equal bytes
        # (and ETags); non-string keys are marshmallow's list indexes in errors.
        option = orjson.OPT_NON_STR_KEYS
        if kwargs.get("sort_keys", self.sort_keys):
            option |= orjson.OPT_SORT_KEYS
        if kwargs.get("indent"):
            option |= orjson.OPT_INDENT_2
        try:
            return orjson.dumps(obj, default=self.default, option=option).decode()
        except orjson.JSONEncodeError:
            # orjson refuses what is not UTF-8, such as a lone surrogate a
            # client sent as a JSON escape (echoed in an error); the standard
            # library escapes it.
            return super().dumps(obj, **kwargs)
