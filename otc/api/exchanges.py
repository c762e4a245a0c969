"""The market exchanges API (seed 001's legacy ``/exchanges``), in the seed's own style:
snake_case fields, upper-case statuses, bodies without the ``data`` wrapper; errors in the
contract's envelope. Scopes ``exchanges:read`` / ``exchanges:write``. The domain is
``otc.exchanges``; these classes parse, call it and render."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.errors import error
from accounts.models import SCOPE_EXCHANGES_READ, SCOPE_EXCHANGES_WRITE
from otc import exchanges, idempotency
from otc.representations import exchange_representation

from . import serializers as s
from .inputs import PageQuery, StrictInput
from .views import AUTH_ERRORS, BODY_ERRORS, UUID4_PATTERN, _actor, _errors, _uuid_or_404

EXCHANGE_SCOPES = {
    "GET": SCOPE_EXCHANGES_READ,
    "HEAD": SCOPE_EXCHANGES_READ,
    "OPTIONS": SCOPE_EXCHANGES_READ,
    "POST": SCOPE_EXCHANGES_WRITE,
}
TAG = "exchanges"
IDEMPOTENCY_ERRORS = (
    (400, "IDEMPOTENCY_KEY_INVALID"),
    (409, "IDEMPOTENCY_KEY_IN_PROGRESS"),
    (422, "IDEMPOTENCY_KEY_REUSED"),
)
EXCHANGE_ID = OpenApiParameter(
    "exchange_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The exchange's id."
)
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "format": "uuid", "pattern": UUID4_PATTERN},  # as the OTC confirm's
    OpenApiParameter.HEADER,
    required=False,
    description="Optional UUID v4: a repeat with the same key and body replays the stored "
    "answer byte for byte (`Idempotent-Replayed: true`) and acts on nothing; the key with "
    "another body is 422 IDEMPOTENCY_KEY_REUSED.",
)


# --- inputs -----------------------------------------------------------------------------------


class AmountStringField(s.AnyAmountField):
    """The seed's ``amount``: a JSON string, never a number."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError('Send the amount as a decimal string, e.g. "100.00".')
        return super().to_internal_value(data)


class ExchangeCreateInput(StrictInput):
    source_account_id = s.UUIDStringField(
        help_text="Your EUR account (to buy USDC) or your wallet (to sell USDC): funds leave it."
    )
    destination_account_id = s.UUIDStringField(
        help_text="Your wallet (buy) or EUR account (sell): funds arrive in it."
    )
    action = s.ChoiceField(
        choices=list(exchanges.ACTIONS),
        help_text="FIX_SOURCE: `amount` is what leaves the source; FIX_DESTINATION: `amount` is "
        "exactly what arrives.",
    )
    amount = AmountStringField(help_text="A decimal string with at most the currency's decimals.")


class ExchangeAcceptInput(StrictInput):
    maximum_slippage = serializers.IntegerField(
        min_value=0,
        max_value=exchanges.MAX_SLIPPAGE_BPS,
        default=exchanges.DEFAULT_SLIPPAGE_BPS,
        help_text="Basis points (default 100 = 1%) the live price may be worse than quoted.",
    )


class ExchangeListQuery(PageQuery):
    """``?page`` (from 1) and ``?limit`` (1-100, default 50)."""


# --- outputs (the schema; the bodies come from ``exchange_representation``) ----------------------


class ExchangeTransactionOutput(serializers.Serializer):
    id = serializers.UUIDField(help_text="The ledger entry.")
    type = serializers.ChoiceField(choices=["SOURCE", "DESTINATION", "MARKET_ADJUSTMENT"])
    account_id = serializers.UUIDField(help_text="Your account or wallet it moved.")
    amount = serializers.CharField(help_text="Signed: negative leaves your account.")
    currency = serializers.CharField()
    provider_status = serializers.ChoiceField(
        choices=["pending", "sent", "settled", "failed", "cancelled"],
        help_text="Whether the bank or custodian has done its part yet.",
    )
    created_at = serializers.CharField()


class ExchangeOutput(serializers.Serializer):
    id = serializers.UUIDField()
    source_account_id = serializers.UUIDField()
    destination_account_id = serializers.UUIDField()
    action = serializers.ChoiceField(choices=list(exchanges.ACTIONS))
    source_amount = serializers.CharField()
    source_currency = serializers.CharField()
    destination_amount = serializers.CharField()
    destination_currency = serializers.CharField()
    rate = serializers.CharField(help_text="Destination units per source unit, after markups.")
    fee = serializers.CharField(help_text="Fees in the source currency, off the source amount.")
    status = serializers.ChoiceField(choices=exchanges.EXCHANGE_STATUSES)
    quote_expires_at = serializers.CharField()
    created_at = serializers.CharField()
    accepted_at = serializers.CharField(allow_null=True)
    executed_at = serializers.CharField(allow_null=True)
    source_transaction_id = serializers.UUIDField(allow_null=True)
    destination_transaction_id = serializers.UUIDField(allow_null=True)
    pair = serializers.CharField(help_text="(extension)")
    reference_rate = serializers.CharField(help_text="(extension) the market mid it came from.")
    fee_currency = serializers.CharField(help_text="(extension)")
    fees = s.FeesOutput(help_text="(extension) the fee lines.")
    maximum_slippage = serializers.IntegerField(help_text="(extension) bps, as accepted.")
    failure_code = serializers.ChoiceField(
        choices=exchanges.FAILURE_CODES,
        allow_null=True,
        help_text="(extension) why a FAILED exchange did not execute.",
    )
    failure_reason = serializers.CharField(allow_null=True, help_text="(extension)")
    transactions = ExchangeTransactionOutput(many=True, help_text="(extension)")
    updated_at = serializers.CharField(help_text="(extension)")


class ExchangeListOutput(serializers.Serializer):
    data = ExchangeOutput(many=True)
    meta = serializers.DictField(help_text='{"pagination": {"page", "limit", "total"}}')


EXAMPLE = {
    "id": "8f1c4a3e-5b7d-4e2a-9c61-0a2b3c4d5e6f",
    "source_account_id": "550e8400-e29b-41d4-a716-446655440000",
    "destination_account_id": "660e8400-e29b-41d4-a716-446655440001",
    "action": "FIX_SOURCE",
    "source_amount": "1000.00",
    "source_currency": "EUR",
    "destination_amount": "1074.600000",
    "destination_currency": "USDC",
    "rate": "1.074600",
    "fee": "0.00",
    "status": "QUOTED",
    "quote_expires_at": "2026-01-15T10:31:00.000Z",
    "created_at": "2026-01-15T10:30:00.000Z",
    "accepted_at": None,
    "executed_at": None,
    "source_transaction_id": None,
    "destination_transaction_id": None,
    "pair": "EUR/USDC",
    "reference_rate": "1.080000",
    "fee_currency": "EUR",
    "fees": {
        "currency": "EUR",
        "total": "0.00",
        "lines": [{"type": "fx_markup", "description": "Desk FX markup", "bps": 50}],
    },
    "maximum_slippage": 100,
    "failure_code": None,
    "failure_reason": None,
    "transactions": [],
    "updated_at": "2026-01-15T10:30:00.000Z",
}


EXECUTED = EXAMPLE | {
    "status": "EXECUTED",
    "accepted_at": "2026-01-15T10:30:20.000Z",
    "executed_at": "2026-01-15T10:30:20.000Z",
    "source_transaction_id": "0b8f3a52-3f0e-4c59-8c1e-4b2f7e9d1a10",
    "destination_transaction_id": "1c9e4b63-4a1f-4d6a-9d2f-5c3a8f0e2b21",
    "maximum_slippage": 50,
    "transactions": [
        {
            "id": "0b8f3a52-3f0e-4c59-8c1e-4b2f7e9d1a10",
            "type": "SOURCE",
            "account_id": "550e8400-e29b-41d4-a716-446655440000",
            "amount": "-1000.00",
            "currency": "EUR",
            "provider_status": "settled",
            "created_at": "2026-01-15T10:30:20.000Z",
        },
        {
            "id": "1c9e4b63-4a1f-4d6a-9d2f-5c3a8f0e2b21",
            "type": "DESTINATION",
            "account_id": "660e8400-e29b-41d4-a716-446655440001",
            "amount": "1074.600000",
            "currency": "USDC",
            "provider_status": "settled",
            "created_at": "2026-01-15T10:30:20.000Z",
        },
    ],
    "updated_at": "2026-01-15T10:30:20.000Z",
}


def _create_example(name: str, action: str, amount: str) -> OpenApiExample:
    body = {
        "source_account_id": EXAMPLE["source_account_id"],
        "destination_account_id": EXAMPLE["destination_account_id"],
        "action": action,
        "amount": amount,
    }
    return OpenApiExample(name, request_only=True, value=body)


# --- routes -----------------------------------------------------------------------------------


def _exchange_id(raw: str):
    return _uuid_or_404(raw, "EXCHANGE_NOT_FOUND", "No such exchange.")


def _key(request):
    """The optional Idempotency-Key: absent is None; present, it must be a UUID v4 (a blank
    one is refused as IDEMPOTENCY_KEY_INVALID, not taken for no key)."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    if not raw.strip():
        raise error("IDEMPOTENCY_KEY_INVALID", 400, "The Idempotency-Key must be a UUID v4.")
    return idempotency.parse_key(raw)


def _stored(stored: idempotency.StoredResponse) -> HttpResponse:
    response = HttpResponse(stored.body, status=stored.status, content_type="application/json")
    if stored.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


RESOURCE_ERRORS = (  # the seed-000 codes of an account or wallet that cannot be used
    (422, "SOURCE_NOT_FOUND"),
    (422, "SOURCE_WRONG_CURRENCY"),
    (422, "SOURCE_INACTIVE"),
    (422, "DESTINATION_NOT_FOUND"),
    (422, "DESTINATION_NO_USDC_ADDRESS"),
    (422, "SOURCE_WALLET_NO_USDC"),
    (422, "SOURCE_WALLET_INSUFFICIENT"),
    (422, "DESTINATION_ACCOUNT_NOT_FOUND"),
    (422, "DESTINATION_ACCOUNT_WRONG_CURRENCY"),
    (422, "DESTINATION_ACCOUNT_INACTIVE"),
)
CREATE_ERRORS = (
    *BODY_ERRORS,
    *AUTH_ERRORS,
    *IDEMPOTENCY_ERRORS,
    (403, "KYC_NOT_VERIFIED"),
    *RESOURCE_ERRORS,
    (422, "AMOUNT_OUT_OF_RANGE"),
    (422, "CURRENCY_PAIR_NOT_ENABLED"),
    (409, "FEES_EXCEED_AMOUNT"),
    (400, "INVALID_CALCULATED_AMOUNT"),
    (502, "QUOTE_UNAVAILABLE"),
)
ACCEPT_ERRORS = (
    *BODY_ERRORS,
    *AUTH_ERRORS,
    *IDEMPOTENCY_ERRORS,
    (400, "QUOTE_EXPIRED"),
    (403, "KYC_NOT_VERIFIED"),
    (404, "EXCHANGE_NOT_FOUND"),
    (409, "EXCHANGE_NOT_ACCEPTABLE"),
    (422, "SOURCE_INSUFFICIENT_FUNDS"),
    (422, "DAILY_LIMIT_EXCEEDED"),
    # a resource that changed since the quote
    (422, "SOURCE_INACTIVE"),
    (422, "DESTINATION_NO_USDC_ADDRESS"),
    (422, "SOURCE_WALLET_NO_USDC"),
    (422, "SOURCE_WALLET_INSUFFICIENT"),
    (422, "DESTINATION_ACCOUNT_INACTIVE"),
    (502, "QUOTE_UNAVAILABLE"),
)


class ExchangeListCreateApi(APIView):
    required_scopes = EXCHANGE_SCOPES

    @extend_schema(
        operation_id="exchanges_create",
        summary="Create a market exchange (a quote you can accept at once)",
        description=(
            "Prices the trade now with the desk's pricing (the same fees, reference rate and "
            "markups as an OTC quote). `source_account_id` and `destination_account_id` are "
            "your EUR account and your USDC wallet, either way round. Instant execution is "
            "capped at `OTC_MARKET_MAX_EUR` (EUR equivalent, 10000.00 by default): above it, "
            "422 AMOUNT_OUT_OF_RANGE with a `hint` to use the OTC flow."
        ),
        tags=[TAG],
        request=ExchangeCreateInput,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: ExchangeOutput, **_errors(*CREATE_ERRORS)},
        examples=[
            _create_example("Buy USDC for 1000.00 EUR", "FIX_SOURCE", "1000.00"),
            _create_example("Receive exactly 500 USDC", "FIX_DESTINATION", "500.000000"),
            OpenApiExample("Quoted", response_only=True, status_codes=["201"], value=EXAMPLE),
            OpenApiExample(
                "Above the instant cap",
                response_only=True,
                status_codes=["422"],
                value={
                    "error": {
                        "code": "AMOUNT_OUT_OF_RANGE",
                        "message": "A market exchange executes at once up to 10000.00 EUR "
                        "(equivalent); this one is 25000.00 EUR. " + exchanges.OTC_HINT,
                        "details": {
                            "min": "10.00",
                            "max": "10000.00",
                            "currency": "EUR",
                            "maxEur": "10000.00",
                            "eurEquivalent": "25000.00",
                            "hint": exchanges.OTC_HINT,
                        },
                    }
                },
            ),
        ],
    )
    def post(self, request):
        key = _key(request)
        body = ExchangeCreateInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        return _stored(
            exchanges.exchange_create_once(
                customer=request.user.customer,
                key=key,
                source_account_id=data["source_account_id"],
                destination_account_id=data["destination_account_id"],
                action=data["action"],
                amount=data["amount"],
                actor=_actor(request),
            )
        )

    @extend_schema(
        operation_id="exchanges_list",
        summary="(extension) Your market exchanges, newest first",
        description="Paginated with `page` (from 1) and `limit` (1-100, default 50), in the "
        "`{data, meta: {pagination}}` list shape of the other lists.",
        tags=[TAG],
        examples=[
            OpenApiExample(
                "A page",
                response_only=True,
                status_codes=["200"],
                value={
                    "data": [EXAMPLE],
                    "meta": {"pagination": {"page": 1, "limit": 50, "total": 1}},
                },
            )
        ],
        parameters=[ExchangeListQuery],
        responses={200: ExchangeListOutput, **_errors(*BODY_ERRORS, *AUTH_ERRORS)},
    )
    def get(self, request):
        query = ExchangeListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        page, limit = query.validated_data["page"], query.validated_data["limit"]
        rows = exchanges.exchanges_for(request.user.customer)
        total = rows.count()
        start = (page - 1) * limit
        return Response(
            {
                "data": [exchange_representation(x) for x in rows[start : start + limit]],
                "meta": {"pagination": {"page": page, "limit": limit, "total": total}},
            }
        )


class ExchangeDetailApi(APIView):
    required_scopes = EXCHANGE_SCOPES

    @extend_schema(
        operation_id="exchanges_detail",
        summary="Retrieve an exchange",
        description="The exchange as created and, once executed, with `accepted_at`, "
        "`executed_at` and its ledger transactions; 404 EXCHANGE_NOT_FOUND for another "
        "customer's.",
        tags=[TAG],
        parameters=[EXCHANGE_ID],
        examples=[
            OpenApiExample("Executed", response_only=True, status_codes=["200"], value=EXECUTED)
        ],
        responses={200: ExchangeOutput, **_errors(*AUTH_ERRORS, (404, "EXCHANGE_NOT_FOUND"))},
    )
    def get(self, request, exchange_id: str):
        exchange = exchanges.exchange_get(
            exchange_id=_exchange_id(exchange_id), customer=request.user.customer
        )
        return Response(exchange_representation(exchange))


class ExchangeAcceptApi(APIView):
    required_scopes = EXCHANGE_SCOPES

    @extend_schema(
        operation_id="exchanges_accept",
        summary="Accept and execute an exchange at the live price",
        description=(
            "Executes at once: `EXECUTED` with `accepted_at`, `executed_at` and the ledger "
            "transactions. If the live price is worse than quoted by more than "
            "`maximum_slippage` (default 100 bps), or the desk's treasury cannot deliver, the "
            "answer is still 200, with status `FAILED`, its `failure_code` "
            "(`SLIPPAGE_EXCEEDED`, `TREASURY_INSUFFICIENT`) and reason: nothing moved. "
            "FIX_DESTINATION reserves the source plus the slippage buffer and credits the "
            "unused part back as a `MARKET_ADJUSTMENT` transaction."
        ),
        tags=[TAG],
        request=ExchangeAcceptInput,
        parameters=[EXCHANGE_ID, IDEMPOTENCY_HEADER],
        responses={200: ExchangeOutput, **_errors(*ACCEPT_ERRORS)},
        examples=[
            OpenApiExample("Accept", request_only=True, value={"maximum_slippage": 50}),
            OpenApiExample("Executed", response_only=True, status_codes=["200"], value=EXECUTED),
            OpenApiExample(
                "Failed: the price moved beyond maximum_slippage",
                response_only=True,
                status_codes=["200"],
                value=EXAMPLE
                | {
                    "status": "FAILED",
                    "accepted_at": "2026-01-15T10:30:20.000Z",
                    "failure_code": "SLIPPAGE_EXCEEDED",
                    "failure_reason": "The live price is 120.0 bps worse than quoted, beyond "
                    "your maximum_slippage of 50 bps; nothing was moved.",
                },
            ),
        ],
    )
    def post(self, request, exchange_id: str):
        key = _key(request)
        pk = _exchange_id(exchange_id)
        body = ExchangeAcceptInput(data=request.data)
        body.is_valid(raise_exception=True)
        return _stored(
            exchanges.exchange_accept_once(
                customer=request.user.customer,
                key=key,
                exchange_id=pk,
                maximum_slippage=body.validated_data["maximum_slippage"],
                actor=_actor(request),
            )
        )


class ExchangeCancelApi(APIView):
    required_scopes = EXCHANGE_SCOPES

    @extend_schema(
        operation_id="exchanges_cancel",
        summary="(extension) Cancel a quoted exchange",
        description="Withdraws a QUOTED exchange (status CANCELLED; nothing had moved). Any "
        "other status is 409 EXCHANGE_NOT_CANCELLABLE.",
        tags=[TAG],
        request=None,
        parameters=[EXCHANGE_ID],
        examples=[
            OpenApiExample(
                "Cancelled",
                response_only=True,
                status_codes=["200"],
                value=EXAMPLE | {"status": "CANCELLED"},
            )
        ],
        responses={
            200: ExchangeOutput,
            **_errors(*AUTH_ERRORS, (404, "EXCHANGE_NOT_FOUND"), (409, "EXCHANGE_NOT_CANCELLABLE")),
        },
    )
    def post(self, request, exchange_id: str):
        exchange = exchanges.exchange_cancel(
            exchange_id=_exchange_id(exchange_id),
            customer=request.user.customer,
            actor=_actor(request),
        )
        return Response(exchange_representation(exchange))
