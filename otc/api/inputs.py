"""The rules every API input follows, in one place.

- ``JsonParser`` (every JSON body): refuses what no serializer should ever see, i.e. nesting
  deeper than any of our bodies has (a thousand levels would crash the decoder) and lone
  surrogates (``"\\ud800"`` is valid JSON but not Unicode: it could be neither stored nor
  rendered back as UTF-8).
- ``StrictInput`` (every body): a field the route does not know is refused with
  ``VALIDATION_ERROR`` naming it, so a typo such as ``destinationAmountUsdcc`` cannot
  silently trade another amount.
- ``ListQuery`` / ``PageQuery`` (every list route's query string): a parameter sent blank or
  given twice is refused instead of quietly meaning its default or its last value, and a
  page is bounded by what the database can count to. Unknown query parameters are ignored,
  as HTTP caches, proxies and SDKs add their own (``?_=...``); a query only reads. Integers
  are digits only (DRF alone would also take ``1.0`` and `` 5``, which the schema does not
  describe).
- ``decimal_pattern`` (every amount and rate): the one regular expression that the field
  checks and the OpenAPI schema publishes, so the two cannot disagree.
"""

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from accounts import money

MAX_JSON_DEPTH = 32
MAX_LIMIT = 100
# A page becomes an SQL OFFSET of (page - 1) * limit, a PostgreSQL bigint.
MAX_PAGE = (2**63 - 1) // MAX_LIMIT


def decimal_pattern(decimals: int) -> str:
    """A positive decimal string with at most ``decimals`` decimals and at most
    ``money.MAX_INTEGER_DIGITS`` digits before the point (leading zeros aside): ``"100"``,
    ``"100.5"``, ``"0.01"``; not ``"0.00"``, ``"1e3"``, ``"+5"``, ``".5"``, ``"5."`` or
    ``" 5"``. Written without look-arounds, which not every JSON Schema tool supports."""
    whole = rf"0*[1-9][0-9]{{0,{money.MAX_INTEGER_DIGITS - 1}}}(?:\.[0-9]{{1,{decimals}}})?"
    fractions = "|".join(
        rf"0{{{zeros}}}[1-9][0-9]{{0,{decimals - 1 - zeros}}}" for zeros in range(decimals)
    )
    return rf"^(?:{whole}|0+\.(?:{fractions}))$"


def _refuse_unreadable(data: Any) -> None:
    """Walk the parsed body (without recursion: its depth is what is being checked)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ParseError(f"The body is nested more than {MAX_JSON_DEPTH} levels deep.")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    pending.append((key, depth))
                pending.append((item, depth + 1))
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ParseError(
                    "The body contains a lone UTF-16 surrogate (such as \\ud800), "
                    "which is not a Unicode character."
                ) from None


class JsonParser(JSONParser):
    """DRF's JSON parser, plus ``_refuse_unreadable``."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                f"The body is nested more than {MAX_JSON_DEPTH} levels deep."
            ) from None
        _refuse_unreadable(data)
        return data


# The JSON type each kind of DRF field must be sent as. DRF alone converts: ``0`` is false
# for a BooleanField, ``0`` becomes ``"0"`` for a CharField, ``"100"`` an IntegerField's 100;
# the schema promises the type, so the body must send it.
_JSON_TYPES: tuple[tuple[type, type | tuple[type, ...], str], ...] = (
    (serializers.BooleanField, bool, "true or false"),
    (serializers.IntegerField, int, "a JSON integer"),
    (serializers.ChoiceField, str, "a JSON string"),
    (serializers.CharField, str, "a JSON string"),
    (serializers.ListField, list, "a JSON array"),
    (serializers.DictField, dict, "a JSON object"),
)


def _wrong_type(field: serializers.Field, value: Any) -> str | None:
    if value is None:
        return None  # the field's own "may not be null"
    for kind, json_type, wording in _JSON_TYPES:
        if isinstance(field, kind):
            if not isinstance(value, json_type) or (json_type is int and isinstance(value, bool)):
                return f"Must be {wording}."
            return None
    return None


class StrictInput(serializers.Serializer):
    """Base of every request body: unknown fields are a ``VALIDATION_ERROR`` naming each of
    them (reported together with the other fields' errors), and a known field sent as another
    JSON type than its own is refused rather than converted."""

    def to_internal_value(self, data):
        unknown: dict[str, list[str]] = {}
        if isinstance(data, Mapping):
            known = ", ".join(self.fields)
            unknown = {
                str(name): [f"Unknown field. This body takes: {known}."]
                for name in data
                if name not in self.fields
            }
            for name, field in self.fields.items():
                problem = _wrong_type(field, data[name]) if name in data else None
                if problem:
                    unknown[name] = [problem]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class DecimalStringField(serializers.Field):
    """A positive decimal sent as a JSON string matching ``decimal_pattern(decimals)``."""

    def __init__(self, decimals: int = money.RATE_DECIMALS, **kwargs) -> None:
        self.decimals = decimals
        self.regex = re.compile(decimal_pattern(decimals))
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(
                'Send the value as a decimal string, for example "100.00".'
            )
        if not self.regex.fullmatch(data):
            raise serializers.ValidationError(
                f"Not a positive decimal with at most {self.decimals} decimals and "
                f"{money.MAX_INTEGER_DIGITS} digits before the point."
            )
        return Decimal(data)


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter written as digits (an optional minus sign, so that a
    negative number gets the minimum's message)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not re.fullmatch(r"-?[0-9]+", data):
            self.fail("invalid")
        return super().to_internal_value(data)


class ListQuery(serializers.Serializer):
    """Base of every list route's query parameters."""

    def to_internal_value(self, data):
        # DRF quietly falls back to a field's default when a query parameter is sent empty
        # (``?limit=``); an empty value is not a positive integer nor a known choice.
        blank = {
            name: ["This parameter may not be blank."]
            for name in self.fields
            if name in data and not str(data.get(name, "")).strip()
        }
        # ``?limit=10&limit=500`` would quietly mean the last one; say which one you mean.
        repeated = {
            name: ["Give this parameter once."]
            for name in self.fields
            if hasattr(data, "getlist") and len(data.getlist(name)) > 1
        }
        if blank or repeated:
            raise serializers.ValidationError({**repeated, **blank})
        return super().to_internal_value(data)

    def validate_page(self, value: int) -> int:
        # Also guards subclasses that declare their own ``page`` field.
        if value > MAX_PAGE:
            raise serializers.ValidationError(
                f"Ensure this value is less than or equal to {MAX_PAGE}."
            )
        return value


class PageQuery(ListQuery):
    """``?page`` (from 1) and ``?limit`` (default 50, at most 100)."""

    page = QueryIntegerField(min_value=1, max_value=MAX_PAGE, default=1, help_text="From 1.")
    limit = QueryIntegerField(
        min_value=1, max_value=MAX_LIMIT, default=50, help_text="Items per page, at most 100."
    )
