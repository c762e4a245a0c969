"""The customer API (seed 000). One thin class per route: parse, call a service or selector,
render. Errors are raised and turned into the envelope by ``otc.api.errors``."""

import uuid

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import money
from accounts.authentication import signin_locked_error, signin_locked_out, signin_succeeded
from accounts.errors import DomainError, ProviderUnavailable, error
from accounts.selectors import eligible_fiat_accounts
from accounts.services import session_token_issue
from otc import idempotency, selectors, services
from otc.models import Channel
from otc.representations import RESOURCE_FIELDS
from otc.services import Actor
from wallets.providers import custody
from wallets.selectors import available_after_holds, eligible_wallets, wallet_held_balances

from . import serializers as s
from .serializers import iso_ms
from .throttling import TokenRateThrottle


def _errors(*codes: tuple[int, str]) -> dict:
    """OpenAPI responses for the listed (status, code) pairs, all in the error envelope."""
    by_status: dict[int, list[str]] = {}
    for status, code in codes:
        by_status.setdefault(status, []).append(code)
    return {
        status: OpenApiResponse(s.ErrorOutput, description="Error codes: " + ", ".join(c))
        for status, c in by_status.items()
    }


AUTH_ERRORS = ((401, "UNAUTHENTICATED"), (403, "INSUFFICIENT_SCOPE"), (429, "RATE_LIMITED"))
BODY_ERRORS = ((400, "VALIDATION_ERROR"),)


def _actor(request) -> Actor:
    caller = request.user
    channel = Channel.PORTAL if caller.channel == "portal" else Channel.API
    return Actor(label=caller.label, channel=channel, user=caller.user)


def _uuid_or_404(raw: str, code: str, message: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise error(code, 404, message) from None


def _data(payload, status: int = 200, **meta) -> Response:
    body = {"data": payload}
    if meta:
        body["meta"] = meta
    return Response(body, status=status)


_ENVELOPES: dict = {}


def _envelope(inner):
    """``{"data": inner}`` for the schema; one component per inner shape."""
    name = f"{inner.__class__.__name__}{'List' if getattr(inner, 'many', False) else ''}Envelope"
    if isinstance(inner, serializers.ListSerializer):
        name = f"{inner.child.__class__.__name__}ListEnvelope"
    if name not in _ENVELOPES:
        _ENVELOPES[name] = inline_serializer(name=name, fields={"data": inner})
    return _ENVELOPES[name]


class TokenCreateApi(APIView):
    """Exchange a portal user's credentials for a short-lived session JWT. Failed attempts
    count towards the sign-in lockout every way in shares (django-axes, keyed on username
    and client address; see README)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenRateThrottle]

    @extend_schema(
        operation_id="auth_token_create",
        summary="Exchange a portal user's credentials for a session token",
        description=(
            "A short-lived signed JWT (send it as `Authorization: Bearer <accessToken>`) carrying "
            "the user's customer and scopes. Wrong credentials are 401 INVALID_CREDENTIALS; "
            "repeated failures for one username from one address lock that pair (429 RATE_LIMITED "
            "with Retry-After)."
        ),
        tags=["auth"],
        request=s.TokenInput,
        responses={
            200: _envelope(s.TokenOutput()),
            **_errors(
                (400, "VALIDATION_ERROR"), (401, "INVALID_CREDENTIALS"), (429, "RATE_LIMITED")
            ),
        },
        auth=[],
    )
    def post(self, request):
        body = s.TokenInput(data=request.data)
        body.is_valid(raise_exception=True)
        username = body.validated_data["username"]
        try:
            token, expires_at = session_token_issue(
                username=username,
                password=body.validated_data["password"],
                request=request._request,
            )
        except DomainError:
            if signin_locked_out(request._request):
                raise signin_locked_error(request._request, {"username": username}) from None
            raise
        signin_succeeded(request._request, username=username)
        return _data({"accessToken": token, "tokenType": "Bearer", "expiresAt": iso_ms(expires_at)})


class AccountListApi(APIView):
    @extend_schema(
        operation_id="otc_accounts_list",
        summary="Your active EUR accounts",
        description=(
            "The accounts you can buy from (a buy's source) and sell into (a sell's destination), "
            "with their balance."
        ),
        tags=["otc-exchanges"],
        responses={200: _envelope(s.AccountOutput(many=True)), **_errors(*AUTH_ERRORS)},
    )
    def get(self, request):
        accounts = eligible_fiat_accounts(request.user.customer)
        return _data(s.AccountOutput(accounts, many=True).data)


class WalletListApi(APIView):
    @extend_schema(
        operation_id="otc_wallets_list",
        summary="Your wallets with a USDC address",
        description=(
            "The custodial wallets you can receive USDC into (buy) or sell from (sell). Treasury "
            "wallets are never listed."
        ),
        tags=["otc-exchanges"],
        responses={200: _envelope(s.WalletOutput(many=True)), **_errors(*AUTH_ERRORS)},
    )
    def get(self, request):
        wallets = eligible_wallets(request.user.customer)
        return _data(s.WalletOutput(wallets, many=True).data)


class WalletBalanceApi(APIView):
    @extend_schema(
        operation_id="otc_wallet_balance",
        summary="A wallet's live USDC balance, available and held",
        description=(
            "`usdcBalance` is asked of the custodian now (502 BALANCE_UNAVAILABLE when it cannot "
            "answer): everything the wallet holds on chain. `held` (extension) is the part that "
            "confirmed sells not yet settled have reserved; `available` (extension) = "
            "`usdcBalance` - `held`, what a new sell can use."
        ),
        tags=["otc-exchanges"],
        responses={
            200: _envelope(s.WalletBalanceOutput()),
            **_errors(*AUTH_ERRORS, (404, "WALLET_NOT_FOUND"), (502, "BALANCE_UNAVAILABLE")),
        },
    )
    def get(self, request, wallet_id: str):
        pk = _uuid_or_404(wallet_id, "WALLET_NOT_FOUND", "No such wallet.")
        wallet = eligible_wallets(request.user.customer).filter(pk=pk).first()
        if wallet is None:
            raise error("WALLET_NOT_FOUND", 404, "No such wallet.")
        try:
            balance = custody().balance(wallet)
        except ProviderUnavailable:
            raise error(
                "BALANCE_UNAVAILABLE",
                502,
                "The live balance could not be fetched from the custodian; try again shortly.",
            ) from None
        held = wallet_held_balances([wallet])[wallet.pk]
        return _data(
            {
                "walletId": str(wallet.pk),
                "network": wallet.network,
                "usdcBalance": money.format_amount(balance, money.USDC),
                "available": money.format_amount(available_after_holds(balance, held), money.USDC),
                "held": money.format_amount(held, money.USDC),
            }
        )


class PairListApi(APIView):
    @extend_schema(
        operation_id="otc_pairs_list",
        tags=["otc-exchanges"],
        summary="The pairs you can trade, with your limits, fees and the off-hours calendar",
        description=(
            "Per enabled pair: per side the source/destination currency and your per-order "
            "minimum and maximum (in the side's source currency), the networks with their "
            "network fee (in the base currency), your fee schedule (the platform's and your "
            "own markup) and the off-hours windows, upcoming holidays and their penalty."
        ),
        responses={200: _envelope(s.PairOutput(many=True)), **_errors(*AUTH_ERRORS)},
    )
    def get(self, request):
        return _data(selectors.pairs_for_customer(request.user.customer))


QUOTE_ERRORS = (
    *BODY_ERRORS,
    *AUTH_ERRORS,
    (422, "SOURCE_NOT_FOUND"),
    (422, "SOURCE_WRONG_CURRENCY"),
    (422, "SOURCE_INACTIVE"),
    (422, "DESTINATION_NOT_FOUND"),
    (422, "DESTINATION_NO_USDC_ADDRESS"),
    (422, "SOURCE_WALLET_NOT_FOUND"),
    (422, "SOURCE_WALLET_NO_USDC"),
    (422, "SOURCE_WALLET_INSUFFICIENT"),
    (422, "DESTINATION_ACCOUNT_NOT_FOUND"),
    (422, "DESTINATION_ACCOUNT_WRONG_CURRENCY"),
    (422, "DESTINATION_ACCOUNT_INACTIVE"),
    (422, "AMOUNT_OUT_OF_RANGE"),
    (422, "CURRENCY_PAIR_NOT_ENABLED"),
    (403, "KYC_NOT_VERIFIED"),
    (409, "FEES_EXCEED_AMOUNT"),
    (400, "INVALID_CALCULATED_AMOUNT"),
    (502, "QUOTE_UNAVAILABLE"),
)


class QuoteCreateApi(APIView):
    @extend_schema(
        operation_id="otc_quote_create",
        summary="Get an indicative quote (buy or sell, either amount fixed)",
        description=(
            "Prices the exchange now: the market mid (`referenceRate`), your rate after FX "
            "markups (`rate`), every fee line, and both amounts. Send exactly one amount: the "
            "source (`sourceAmountEur` for a buy, `sourceAmountUsdc` for a sell) or the "
            "destination you want to receive exactly (`destinationAmountUsdc` / "
            "`destinationAmountEur`). The quote is valid `ttlSeconds`; its `quoteId` is the order "
            "id you confirm."
        ),
        tags=["otc-exchanges"],
        request=s.QuoteInput,
        responses={200: _envelope(s.QuoteOutput()), **_errors(*QUOTE_ERRORS)},
        examples=[
            OpenApiExample(
                "Buy",
                request_only=True,
                value={
                    "side": "buy",
                    "sourceFrAccountId": "550e8400-e29b-41d4-a716-446655440000",
                    "destinationUtilaWalletId": "660e8400-e29b-41d4-a716-446655440001",
                    "sourceAmountEur": "100.00",
                },
            ),
            OpenApiExample(
                "Buy, exact USDC to receive",
                request_only=True,
                value={
                    "side": "buy",
                    "sourceFrAccountId": "550e8400-e29b-41d4-a716-446655440000",
                    "destinationUtilaWalletId": "660e8400-e29b-41d4-a716-446655440001",
                    "destinationAmountUsdc": "1000.000000",
                },
            ),
            OpenApiExample(
                "Buy quote",
                response_only=True,
                status_codes=["200"],
                value={
                    "data": {
                        "quoteId": "770e8400-e29b-41d4-a716-446655440002",
                        "side": "buy",
                        "pair": "EUR/USDC",
                        "status": "quoted",
                        "fixedSide": "source",
                        "referenceRate": "1.080000",
                        "rate": "1.074600",
                        "sourceAmount": "100.00",
                        "destinationAmount": "107.460000",
                        "sourceAmountEur": "100.00",
                        "sourceCurrency": "EUR",
                        "destinationCurrency": "USDC",
                        "fees": {
                            "currency": "EUR",
                            "total": "0.00",
                            "lines": [
                                {"type": "fx_markup", "description": "Desk FX markup", "bps": 50}
                            ],
                        },
                        "limits": {
                            "dailyMax": "5000000.00",
                            "dailyUsed": "0.00",
                            "dailyRemaining": "5000000.00",
                        },
                        "ttlExpiresAt": "2026-05-30T00:01:00.000Z",
                        "ttlSeconds": 60,
                        "indicative": True,
                    }
                },
            ),
            OpenApiExample(
                "Amount out of range",
                response_only=True,
                status_codes=["422"],
                value={
                    "error": {
                        "code": "AMOUNT_OUT_OF_RANGE",
                        "message": "The amount must be between 10.00 and 1000000.00 EUR.",
                        "details": {"min": "10.00", "max": "1000000.00", "currency": "EUR"},
                    }
                },
            ),
            OpenApiExample(
                "Invalid body",
                response_only=True,
                status_codes=["400"],
                value={
                    "error": {
                        "code": "VALIDATION_ERROR",
                        "message": "The request is not valid.",
                        "details": {
                            "side": {
                                "message": "Not one of buy, sell.",
                                "validValues": ["buy", "sell"],
                            }
                        },
                    }
                },
            ),
            OpenApiExample(
                "Sell",
                request_only=True,
                value={
                    "side": "sell",
                    "sourceUtilaWalletId": "660e8400-e29b-41d4-a716-446655440001",
                    "destinationFrAccountId": "550e8400-e29b-41d4-a716-446655440000",
                    "sourceAmountUsdc": "100.000000",
                },
            ),
        ],
    )
    def post(self, request):
        body = s.QuoteInput(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        account_field, wallet_field = RESOURCE_FIELDS[data["side"]]
        order = services.quote_create(
            customer=request.user.customer,
            side=data["side"],
            pair_code=data["pair"],
            fiat_account_id=data[account_field],
            wallet_id=data[wallet_field],
            amount=data["amount"],
            fixed_side=data["fixed_side"],
            actor=_actor(request),
        )
        return _data(s.quote_representation(order, order.daily_limits))


CONFIRM_ERRORS = (
    (400, "IDEMPOTENCY_KEY_REQUIRED"),
    (400, "IDEMPOTENCY_KEY_INVALID"),
    (400, "QUOTE_EXPIRED"),
    *BODY_ERRORS,
    *AUTH_ERRORS,
    (404, "ORDER_NOT_FOUND"),
    (409, "ORDER_NOT_CONFIRMABLE"),
    (409, "IDEMPOTENCY_KEY_IN_PROGRESS"),
    (422, "SIDE_MISMATCH"),
    (422, "SOURCE_INSUFFICIENT_FUNDS"),
    (422, "DAILY_LIMIT_EXCEEDED"),
    (403, "KYC_NOT_VERIFIED"),
    (422, "IDEMPOTENCY_KEY_REUSED"),
    *[
        (status, code)
        for status, code in QUOTE_ERRORS
        if status == 422 and code not in ("AMOUNT_OUT_OF_RANGE",)
    ],
    (502, "QUOTE_UNAVAILABLE"),
)


class OrderListCreateApi(APIView):
    @extend_schema(
        operation_id="otc_orders_list",
        summary="Your orders, newest first",
        description=(
            "Paginated with `page` (from 1) and `limit` (1-100, default 50); filter with `status` "
            "and `side`."
        ),
        tags=["otc-exchanges"],
        parameters=[
            OpenApiParameter("page", int, description="From 1."),
            OpenApiParameter("limit", int, description="Default 50, max 100."),
            OpenApiParameter("status", str, description="(extension) filter"),
            OpenApiParameter("side", str, description="(extension) buy or sell"),
        ],
        responses={
            200: inline_serializer(
                "OrderListEnvelope",
                fields={
                    "data": s.OrderOutput(many=True),
                    "meta": inline_serializer(
                        "OrderListMeta", fields={"pagination": s.PaginationMeta()}
                    ),
                },
            ),
            **_errors(*BODY_ERRORS, *AUTH_ERRORS),
        },
    )
    def get(self, request):
        query = s.OrderListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        orders, total = selectors.order_page(
            customer=request.user.customer,
            page=params["page"],
            limit=params["limit"],
            status=params.get("status"),
            side=params.get("side"),
        )
        limits = services.daily_limits(request.user.customer)
        return _data(
            [s.order_representation(o, limits) for o in orders],
            pagination={"page": params["page"], "limit": params["limit"], "total": total},
        )

    @extend_schema(
        operation_id="otc_order_confirm",
        summary="Confirm a quote into an order",
        description=(
            "Requires an `Idempotency-Key` (UUID v4): a repeat with the same key and body replays "
            "the stored answer byte for byte (`Idempotent-Replayed: true`), another body with the "
            "key is 422 IDEMPOTENCY_KEY_REUSED. A buy moves your EUR to the desk at once "
            "(`debit_pending`); a sell holds its USDC in your wallet (the wallet balance's "
            "`held`), sent only when the approved order settles and released if it ends "
            "otherwise. Not enough EUR (buy) or available USDC (sell, details `available`, "
            "`held`): 422 SOURCE_INSUFFICIENT_FUNDS, nothing moves. `maxSlippageBps` (default "
            "100) is how much worse than quoted you accept when the desk approves."
        ),
        tags=["otc-exchanges"],
        request=s.ConfirmInput,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.UUID,
                OpenApiParameter.HEADER,
                required=True,
                description="UUID v4, fresh per confirm.",
            )
        ],
        responses={201: _envelope(s.OrderStatusOutput()), **_errors(*CONFIRM_ERRORS)},
    )
    def post(self, request):
        key = idempotency.parse_key(request.headers.get("Idempotency-Key"))
        body = s.ConfirmInput(data=request.data)
        body.is_valid(raise_exception=True)
        stored = idempotency.order_confirm_once(
            customer=request.user.customer,
            key=key,
            order_id=body.validated_data["quoteId"],
            side=body.validated_data["side"],
            max_slippage_bps=body.validated_data["maxSlippageBps"],
            actor=_actor(request),
        )
        response = HttpResponse(stored.body, status=stored.status, content_type="application/json")
        if stored.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


def _order_of(request, order_id: str) -> uuid.UUID:
    return _uuid_or_404(order_id, "ORDER_NOT_FOUND", "No such order.")


class OrderDetailApi(APIView):
    @extend_schema(
        operation_id="otc_order_detail",
        summary="One order",
        description=(
            "Final `rate` and `destinationAmount` once approved (`rateFinal`), the indicative "
            "ones before; fee lines, limits, deadline and any rejection with its remediation."
        ),
        tags=["otc-exchanges"],
        responses={
            200: _envelope(s.OrderOutput()),
            **_errors(*AUTH_ERRORS, (404, "ORDER_NOT_FOUND")),
        },
    )
    def get(self, request, order_id: str):
        order = selectors.order_get(
            customer=request.user.customer, order_id=_order_of(request, order_id)
        )
        return _data(s.order_representation(order, services.daily_limits(request.user.customer)))


class OrderCancelApi(APIView):
    @extend_schema(
        operation_id="otc_order_cancel",
        summary="Cancel a quote, or an order in price review",
        description=(
            "An unconfirmed quote, or an order waiting for your consent to a new price (a buy's "
            "EUR is refunded). Anything else is 409 NOT_CANCELLABLE."
        ),
        tags=["otc-exchanges"],
        request=None,
        responses={
            200: _envelope(s.OrderStatusOutput()),
            **_errors(*AUTH_ERRORS, (404, "ORDER_NOT_FOUND"), (409, "NOT_CANCELLABLE")),
        },
    )
    def post(self, request, order_id: str):
        order = services.order_cancel(
            order_id=_order_of(request, order_id),
            customer=request.user.customer,
            actor=_actor(request),
        )
        return _data({"orderId": str(order.pk), "status": order.status})


class OrderRequoteApi(APIView):
    @extend_schema(
        operation_id="otc_order_requote",
        summary="Refresh a quote's price",
        description=(
            "(extension) A fresh rate and TTL on the same quote id, from quoted, requoted or "
            "expired."
        ),
        tags=["otc-exchanges"],
        request=None,
        responses={
            200: _envelope(s.QuoteOutput()),
            **_errors(
                *AUTH_ERRORS,
                (404, "ORDER_NOT_FOUND"),
                (409, "NOT_REQUOTABLE"),
                *[c for c in QUOTE_ERRORS if c[0] in (422, 502)],
            ),
        },
    )
    def post(self, request, order_id: str):
        order = services.order_requote(
            order_id=_order_of(request, order_id),
            customer=request.user.customer,
            actor=_actor(request),
        )
        return _data(s.quote_representation(order, services.daily_limits(request.user.customer)))


class OrderReviewApi(APIView):
    @extend_schema(
        operation_id="otc_order_review",
        tags=["otc-exchanges"],
        summary="The new price awaiting your consent",
        description=(
            "When the live rate at approval is worse than your quote by more than the order's "
            "maxSlippageBps, nothing executes: the order waits in price_review with a firm "
            "price until expiresAt. Accept it with accept-price or cancel the order."
        ),
        responses={
            200: _envelope(s.ReviewOutput()),
            **_errors(*AUTH_ERRORS, (404, "ORDER_NOT_FOUND"), (404, "REVIEW_NOT_FOUND")),
        },
    )
    def get(self, request, order_id: str):
        order = services.order_review_get(
            order_id=_order_of(request, order_id), customer=request.user.customer
        )
        return _data(s.review_representation(order))


class OrderAcceptPriceApi(APIView):
    @extend_schema(
        operation_id="otc_order_accept_price",
        tags=["otc-exchanges"],
        summary="Accept the reviewed price: the order executes at exactly that price",
        request=s.AcceptPriceInput,
        responses={
            200: _envelope(s.OrderStatusOutput()),
            **_errors(
                *BODY_ERRORS,
                *AUTH_ERRORS,
                (400, "REVIEW_EXPIRED"),
                (403, "KYC_NOT_VERIFIED"),
                (404, "ORDER_NOT_FOUND"),
                (404, "REVIEW_NOT_FOUND"),
                (409, "REVIEW_CHANGED"),
                (409, "TREASURY_INSUFFICIENT"),
            ),
        },
    )
    def post(self, request, order_id: str):
        body = s.AcceptPriceInput(data=request.data)
        body.is_valid(raise_exception=True)
        order = services.order_accept_price(
            order_id=_order_of(request, order_id),
            customer=request.user.customer,
            rate=body.validated_data["rate"],
            destination_amount=body.validated_data["destinationAmount"],
            actor=_actor(request),
        )
        return _data({"orderId": str(order.pk), "status": order.status})


class UnknownRouteApi(APIView):
    """Any other path under /api/v1/: the envelope's 404, never an HTML page."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    schema = None  # not part of the documented API

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise error("NOT_FOUND", 404, "No such route.")

    get = post = put = patch = delete = http_method_not_allowed
