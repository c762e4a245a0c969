"""How the OpenAPI schema states the API's rules (drf-spectacular extensions and hooks).

- Request bodies are closed (``additionalProperties: false``): ``StrictInput`` refuses
  unknown fields.
- A quote body is one of eight shapes: per side, which resource ids it needs and exactly one
  amount (fixed source or fixed destination, by its seed name or the generic extension name).
- Amounts and rates carry the regular expression their field checks (``decimal_pattern``).
- Path ids are UUIDs, and links say which response gives the id the next operation needs.
- Error responses carry an example per code, from the one table in ``otc.api.examples``.

Imported by ``otc.api.views`` (drf-spectacular finds extensions once they are imported).
"""

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

from accounts import money

from . import examples as ex
from .inputs import decimal_pattern

# --- fields -------------------------------------------------------------------------------


class MoneyFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "otc.api.serializers.MoneyField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction) -> dict:
        decimals = money.PRECISION[self.target.currency]
        return {
            "type": "string",
            "pattern": decimal_pattern(decimals),
            "example": f"100.{'0' * decimals}",
        }


class DecimalStringFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "otc.api.inputs.DecimalStringField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction) -> dict:
        return {
            "type": "string",
            "pattern": decimal_pattern(self.target.decimals),
            "example": "1.074600",
        }


# --- bodies -------------------------------------------------------------------------------


NO_NUL = "^[^\\u0000]*$"
# Not blank once trimmed: DRF's CharField strips surrounding whitespace before its checks.
NO_NUL_NOT_BLANK = "^[^\\u0000]*[^\\u0000\\s][^\\u0000]*$"


def _mapped(auto_schema, serializer, direction) -> dict:
    """The serializer's own mapping, plus what DRF's text fields refuse that drf-spectacular
    does not say: NUL characters, and (when trimmed and not blank-able) whitespace alone."""
    schema = auto_schema._map_basic_serializer(serializer, direction)
    for name, prop in schema.get("properties", {}).items():
        field = serializer.fields.get(name)
        if not isinstance(field, serializers.CharField) or prop.get("pattern") or "enum" in prop:
            continue
        blank_ok = field.allow_blank or not field.trim_whitespace
        prop["pattern"] = NO_NUL if blank_ok else NO_NUL_NOT_BLANK
    return schema


class StrictInputSchema(OpenApiSerializerExtension):
    target_class = "otc.api.inputs.StrictInput"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction) -> dict:
        schema = _mapped(auto_schema, self.target, direction)
        schema["additionalProperties"] = False
        return schema


SIDE_MARK = "x-otc-side"


class QuoteInputSchema(OpenApiSerializerExtension):
    """``oneOf`` the eight shapes a quote body can take, built from ``QUOTE_SIDES``."""

    target_class = "otc.api.serializers.QuoteInput"
    priority = 1

    def map_serializer(self, auto_schema, direction) -> dict:
        from .serializers import QUOTE_SIDES, pair_currency

        base = _mapped(auto_schema, self.target, direction)["properties"]
        default_side = self.target.fields["side"].default
        default_pair = self.target.fields["pair"].default
        variants = []
        for side, spec in QUOTE_SIDES.items():
            for fixed in ("source", "destination"):
                currency = pair_currency(default_pair, side, fixed)
                for name in (spec[fixed], f"{fixed}Amount"):
                    # The side's own enum is set by ``postprocess``, after drf-spectacular's
                    # enum hook (which would turn it back into the two-valued SideEnum).
                    side_schema: dict[str, Any] = {SIDE_MARK: side}
                    if side == default_side:
                        side_schema["default"] = side
                    amount = {
                        **base[name],
                        "pattern": decimal_pattern(money.PRECISION[currency]),
                    }
                    properties = {
                        "side": side_schema,
                        "pair": base["pair"],
                        **{resource: base[resource] for resource in spec["resources"]},
                        name: amount,
                    }
                    required = [*spec["resources"], name]
                    if side != default_side:
                        required.insert(0, "side")
                    generic = "" if name == spec[fixed] else ", any pair"
                    variants.append(
                        {
                            "title": f"{side.capitalize()}, fixed {fixed} ({name}{generic})",
                            "type": "object",
                            "properties": properties,
                            "required": required,
                            "additionalProperties": False,
                        }
                    )
        return {
            "description": (
                "Per side its two resource ids and exactly one amount: the source to spend or "
                "the destination to receive exactly (by its seed name, or `sourceAmount` / "
                "`destinationAmount` for any pair). `side` defaults to buy."
            ),
            "oneOf": variants,
        }


# --- error responses ----------------------------------------------------------------------


def error_responses(*codes: str | tuple[int, str], validation: str | None = None) -> dict:
    """OpenAPI responses for the listed error codes (``"CODE"``, or ``(status, "CODE")`` as
    the older call sites write them), each status with its codes in the description and one
    example per code. ``validation`` picks the route's ``VALIDATION_ERROR`` details."""
    by_status: dict[int, list[str]] = {}
    for item in codes:
        status, code = item if isinstance(item, tuple) else (ex.ERRORS[item].status, item)
        if code not in by_status.setdefault(status, []):
            by_status[status].append(code)
    from .serializers import ErrorOutput

    responses = {}
    for status, listed in sorted(by_status.items()):
        examples = []
        for code in listed:
            details = (
                ex.VALIDATION_DETAILS[validation]
                if code == "VALIDATION_ERROR" and validation
                else None
            )
            if code in ex.ERRORS:
                value = ex.error_body(code, details)
            else:  # a code without a documented example (a newer route's): its name at least
                value = {"error": {"code": code, "message": code.replace("_", " ").capitalize()}}
            examples.append(OpenApiExample(code, value=value, response_only=True))
        responses[status] = OpenApiResponse(
            ErrorOutput, description="Error codes: " + ", ".join(listed), examples=examples
        )
    return responses


def example(name: str, value: Any, *, summary: str | None = None, **kwargs) -> OpenApiExample:
    return OpenApiExample(name, value=value, summary=summary, **kwargs)


# --- the whole schema ---------------------------------------------------------------------

# Where an operation finds the id it needs: (operation, status) -> {link name: (target
# operation, parameters, request body)}.
_ORDER_OPERATIONS = (
    "otc_order_detail",
    "otc_order_cancel",
    "otc_order_requote",
    "otc_order_review",
    "otc_order_accept_price",
)
_ENDPOINT_OPERATIONS = (
    "webhook_endpoints_detail",
    "webhook_endpoints_update",
    "webhook_endpoints_delete",
    "webhook_endpoints_rotate_secret",
    "webhook_endpoints_test",
    "webhook_endpoints_deliveries",
    "webhook_endpoints_redeliver",
)


def _links() -> dict[tuple[str, str], dict[str, dict]]:
    def to(operation: str, parameters: dict | None = None, body: Any = None) -> dict:
        link: dict[str, Any] = {"operationId": operation}
        if parameters:
            link["parameters"] = parameters
        if body is not None:
            link["requestBody"] = body
        return link

    quote = "$response.body#/data/quoteId"
    confirmed = "$response.body#/data/orderId"
    created_endpoint = "$response.body#/data/id"
    return {
        ("otc_wallets_list", "200"): {
            "walletBalance": to("otc_wallet_balance", {"wallet_id": "$response.body#/data/0/id"})
        },
        ("otc_quote_create", "200"): {
            "confirm": to(
                "otc_order_confirm",
                body={"quoteId": quote, "side": "$response.body#/data/side"},
            ),
            **{
                op.removeprefix("otc_order_"): to(op, {"order_id": quote})
                for op in _ORDER_OPERATIONS
            },
        },
        ("otc_order_requote", "200"): {
            "confirm": to(
                "otc_order_confirm",
                body={"quoteId": quote, "side": "$response.body#/data/side"},
            ),
            "detail": to("otc_order_detail", {"order_id": quote}),
        },
        ("otc_order_confirm", "201"): {
            op.removeprefix("otc_order_"): to(op, {"order_id": confirmed})
            for op in _ORDER_OPERATIONS
        },
        ("otc_orders_list", "200"): {
            "detail": to("otc_order_detail", {"order_id": "$response.body#/data/0/id"})
        },
        ("webhook_endpoints_create", "201"): {
            op.removeprefix("webhook_endpoints_"): to(op, {"endpoint_id": created_endpoint})
            for op in _ENDPOINT_OPERATIONS
        },
        ("webhook_endpoints_list", "200"): {
            "detail": to("webhook_endpoints_detail", {"endpoint_id": "$response.body#/data/0/id"})
        },
        ("webhook_endpoints_test", "202"): {
            "redeliver": to(
                "webhook_endpoints_redeliver",
                {"endpoint_id": "$response.body#/data/endpointId"},
                {"eventId": "$response.body#/data/eventId"},
            ),
            "event": to("events_detail", {"event_id": "$response.body#/data/eventId"}),
        },
        ("events_list", "200"): {
            "detail": to("events_detail", {"event_id": "$response.body#/data/0/id"})
        },
    }


def postprocess(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: path ids are UUIDs; links between operations."""
    links = _links()
    for component in result.get("components", {}).get("schemas", {}).values():
        for variant in component.get("oneOf", []):
            side = variant.get("properties", {}).get("side", {})
            if SIDE_MARK in side:
                side.update({"type": "string", "enum": [side.pop(SIDE_MARK)]})
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"].endswith("_id"):
                    parameter["schema"] = {"type": "string", "format": "uuid"}
            for status, response in operation.get("responses", {}).items():
                extra = links.get((operation.get("operationId"), status))
                if extra:
                    response["links"] = extra
    return result
