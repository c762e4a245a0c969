"""The API documentation's examples, as data: one table of every error code the API answers
(status, message, details as the server words them) and the request and response bodies the
operations show. ``otc.api.schema`` turns them into OpenAPI examples; tests check each one
against the schema and against the code that raises it."""

from typing import Any, NamedTuple

from otc.representations import error_envelope

# Ids the examples share, so that a reader can follow one exchange from quote to completion.
ACCOUNT_ID = "550e8400-e29b-41d4-a716-446655440000"
WALLET_ID = "660e8400-e29b-41d4-a716-446655440001"
ORDER_ID = "770e8400-e29b-41d4-a716-446655440002"
SELL_ORDER_ID = "770e8400-e29b-41d4-a716-446655440003"
ENDPOINT_ID = "880e8400-e29b-41d4-a716-446655440004"
EVENT_ID = "990e8400-e29b-41d4-a716-446655440005"
DELIVERY_ID = "aa0e8400-e29b-41d4-a716-446655440006"
IDEMPOTENCY_KEY = "3f1e9c6a-2b7d-4e8f-9a1c-5d6e7f8a9b0c"


class ErrorExample(NamedTuple):
    status: int
    message: str
    details: dict[str, Any] | None = None


ERRORS: dict[str, ErrorExample] = {
    # --- every route ----------------------------------------------------------------------
    "VALIDATION_ERROR": ErrorExample(
        400,
        "The request is not valid.",
        {"side": {"message": "Not one of buy, sell.", "validValues": ["buy", "sell"]}},
    ),
    "UNAUTHENTICATED": ErrorExample(401, "Send an x-api-key header or a Bearer session token."),
    "INSUFFICIENT_SCOPE": ErrorExample(403, "This route needs the otc-exchanges:write scope."),
    "RATE_LIMITED": ErrorExample(429, "Too many requests; slow down.", {"retry_after_ms": 2000}),
    # --- sign-in --------------------------------------------------------------------------
    "INVALID_CREDENTIALS": ErrorExample(401, "Wrong username or password."),
    # --- resources ------------------------------------------------------------------------
    "WALLET_NOT_FOUND": ErrorExample(404, "No such wallet."),
    "BALANCE_UNAVAILABLE": ErrorExample(
        502, "The live balance could not be fetched from the custodian; try again shortly."
    ),
    # --- quote: the buy's resources -------------------------------------------------------
    "SOURCE_NOT_FOUND": ErrorExample(422, "The source account does not exist or is not yours."),
    "SOURCE_WRONG_CURRENCY": ErrorExample(422, "The source account is not a EUR account."),
    "SOURCE_INACTIVE": ErrorExample(422, "The source account is not active."),
    "DESTINATION_NOT_FOUND": ErrorExample(
        422, "The destination wallet does not exist or is not yours."
    ),
    "DESTINATION_NO_USDC_ADDRESS": ErrorExample(422, "The destination wallet has no USDC address."),
    # --- quote: the sell's resources ------------------------------------------------------
    "SOURCE_WALLET_NOT_FOUND": ErrorExample(
        422, "The source wallet does not exist or is not yours."
    ),
    "SOURCE_WALLET_NO_USDC": ErrorExample(422, "The source wallet has no USDC address."),
    "SOURCE_WALLET_INSUFFICIENT": ErrorExample(
        422,
        "The source wallet's USDC balance is too low for this amount.",
        {"available": "250.000000"},
    ),
    "DESTINATION_ACCOUNT_NOT_FOUND": ErrorExample(
        422, "The destination account does not exist or is not yours."
    ),
    "DESTINATION_ACCOUNT_WRONG_CURRENCY": ErrorExample(
        422, "The destination account is not a EUR account."
    ),
    "DESTINATION_ACCOUNT_INACTIVE": ErrorExample(422, "The destination account is not active."),
    # --- quote: amounts, pairs, the customer ---------------------------------------------
    "AMOUNT_OUT_OF_RANGE": ErrorExample(
        422,
        "The amount must be between 10.00 and 1000000.00 EUR.",
        {"min": "10.00", "max": "1000000.00", "currency": "EUR"},
    ),
    "CURRENCY_PAIR_NOT_ENABLED": ErrorExample(
        422,
        "The currency pair EUR/USDT is not enabled.",
        {"pair": "EUR/USDT", "validValues": ["EUR/USDC"]},
    ),
    "FEES_EXCEED_AMOUNT": ErrorExample(
        409,
        "The fees are as large as the amount; send a larger amount.",
        {"amount": "10.00", "totalFees": "12.50"},
    ),
    "INVALID_CALCULATED_AMOUNT": ErrorExample(
        400,
        "The amount is too small to deliver anything at this rate.",
        {"requestedAmount": "0.01"},
    ),
    "KYC_NOT_VERIFIED": ErrorExample(
        403,
        "Your company's verification (KYC) is not complete, so it cannot trade yet; "
        "contact the desk to finish it.",
        {"kycStatus": "pending"},
    ),
    "DAILY_LIMIT_EXCEEDED": ErrorExample(
        422,
        "This order (250000.00 EUR) is more than the 100000.00 EUR left of your daily limit; "
        "try a smaller amount or tomorrow.",
        {"dailyMax": "500000.00", "dailyUsed": "400000.00", "dailyRemaining": "100000.00"},
    ),
    "QUOTE_UNAVAILABLE": ErrorExample(
        502, "A quote cannot be given right now: the live balance or price is unavailable."
    ),
    # --- confirm ------------------------------------------------------------------------
    "IDEMPOTENCY_KEY_REQUIRED": ErrorExample(400, "Send an Idempotency-Key header (UUID v4)."),
    "IDEMPOTENCY_KEY_INVALID": ErrorExample(400, "The Idempotency-Key must be a UUID v4."),
    "IDEMPOTENCY_KEY_REUSED": ErrorExample(
        422, "This Idempotency-Key was used with a different request; use a fresh key per confirm."
    ),
    "IDEMPOTENCY_KEY_IN_PROGRESS": ErrorExample(
        409, "A request with this Idempotency-Key is still being processed; retry shortly."
    ),
    "QUOTE_EXPIRED": ErrorExample(400, "The quote has expired; request a new one."),
    "ORDER_NOT_FOUND": ErrorExample(404, "No such order."),
    "SIDE_MISMATCH": ErrorExample(422, "This quote is a buy, not a sell.", {"quoteSide": "buy"}),
    "ORDER_NOT_CONFIRMABLE": ErrorExample(
        409, "An order in status cancelled cannot be confirmed.", {"status": "cancelled"}
    ),
    "SOURCE_INSUFFICIENT_FUNDS": ErrorExample(
        422, "The source account's balance is too low for this amount.", {"available": "500.00"}
    ),
    "RECEIPT_NOT_FOUND": ErrorExample(
        404, "This order has no receipt: a receipt is made once an order is completed."
    ),
    # --- an order's life ------------------------------------------------------------------
    "NOT_CANCELLABLE": ErrorExample(
        409, "An order in status completed cannot be cancelled.", {"status": "completed"}
    ),
    "NOT_REQUOTABLE": ErrorExample(
        409, "An order in status debit_pending cannot be requoted.", {"status": "debit_pending"}
    ),
    "REVIEW_NOT_FOUND": ErrorExample(404, "This order has no price awaiting your review."),
    "REVIEW_CHANGED": ErrorExample(
        409,
        "These figures are not the price under review; read the review again.",
        {"rate": "1.071200", "destinationAmount": "1071.200000"},
    ),
    "REVIEW_EXPIRED": ErrorExample(
        400,
        "The review price has expired; wait for the desk's next price or cancel.",
        {"expiresAt": "2026-05-30T00:03:00+00:00"},
    ),
    "TREASURY_INSUFFICIENT": ErrorExample(
        409,
        "The treasury holds 500.000000 USDC, less than this order pays out; top it up before "
        "approving, or reject the order.",
        {"available": "500.000000"},
    ),
    # --- webhooks -------------------------------------------------------------------------
    "WEBHOOK_ENDPOINT_NOT_FOUND": ErrorExample(404, "No such webhook endpoint."),
    "URL_NOT_ALLOWED": ErrorExample(
        422,
        "The host hooks.internal resolves to 10.0.0.7, a private, loopback, link-local or "
        "reserved address.",
        {"url": "https://hooks.internal/otc"},
    ),
    "ENDPOINT_LIMIT_REACHED": ErrorExample(
        422, "A customer can register at most 20 endpoints.", {"max": 20}
    ),
    "ENDPOINT_DISABLED": ErrorExample(409, "Enable the endpoint before sending a test event."),
    "EVENT_NOT_FOUND": ErrorExample(404, "No such event."),
    # --- market exchanges (/exchanges) ----------------------------------------------------
    "EXCHANGE_NOT_FOUND": ErrorExample(404, "No such exchange."),
    "EXCHANGE_NOT_ACCEPTABLE": ErrorExample(
        409,
        "The exchange is EXECUTED; only a QUOTED exchange can be accepted.",
        {"status": "EXECUTED"},
    ),
    "EXCHANGE_NOT_CANCELLABLE": ErrorExample(
        409,
        "The exchange is EXECUTED; only a QUOTED exchange can be cancelled.",
        {"status": "EXECUTED"},
    ),
}

# A validation error's details per route, where the generic one above would mislead.
VALIDATION_DETAILS: dict[str, dict[str, Any]] = {
    "quote": {
        "sourceAmountEur": ["Send exactly one amount: sourceAmountEur or destinationAmountUsdc."],
        "destinationAmountUsdc": [
            "Send exactly one amount: sourceAmountEur or destinationAmountUsdc."
        ],
    },
    "confirm": {"quoteId": ["Must be a valid UUID."]},
    "page": {"limit": ["Ensure this value is less than or equal to 100."]},
    "token": {"password": ["This field is required."]},
    "accept_price": {"rate": ['Send the rate as a decimal string, e.g. "1.074600".']},
    "webhook": {"events": ["This list may not be empty."]},
    "unknown_field": {
        "destinationAmountUsdcc": [
            "Unknown field. This body takes: side, pair, sourceFrAccountId, ..."
        ]
    },
    "statement": {"to": ["to (2026-06-01) is before from (2026-06-30)."]},
    "events": {"type": ["Unknown event type otc_order.shipped. Valid: otc_order.quoted, ..."]},
}


def error_body(code: str, details: dict[str, Any] | None = None) -> dict:
    example = ERRORS[code]
    return error_envelope(code, example.message, details or example.details)


# --- success bodies -------------------------------------------------------------------------

FEES_BUY = {
    "currency": "EUR",
    "total": "2.50",
    "lines": [
        {"type": "platform_fixed", "description": "Platform fee", "amount": "2.50"},
        {"type": "fx_markup", "description": "Desk FX markup", "bps": 50},
    ],
}
FEES_SELL = {
    "currency": "USDC",
    "total": "1.000000",
    "lines": [
        {"type": "network", "description": "Network fee (ethereum)", "amount": "1.000000"},
        {"type": "fx_markup", "description": "Desk FX markup", "bps": 50},
    ],
}
LIMITS = {"dailyMax": "500000.00", "dailyUsed": "0.00", "dailyRemaining": "500000.00"}


def _quote(side: str, fixed: str, **amounts: str) -> dict:
    buy = side == "buy"
    body = {
        "quoteId": ORDER_ID if buy else SELL_ORDER_ID,
        "side": side,
        "pair": "EUR/USDC",
        "status": "quoted",
        "fixedSide": fixed,
        "referenceRate": "1.080000" if buy else "0.925926",
        "rate": "1.074600" if buy else "0.921296",
        **amounts,
        "sourceCurrency": "EUR" if buy else "USDC",
        "destinationCurrency": "USDC" if buy else "EUR",
        "fees": FEES_BUY if buy else FEES_SELL,
        "limits": LIMITS,
        "ttlExpiresAt": "2026-05-30T00:01:00.000Z",
        "ttlSeconds": 60,
        "indicative": True,
    }
    return {"data": body}


QUOTE_REQUESTS = {
    "Buy, fixed source (spend exactly 1,000.00 EUR)": {
        "side": "buy",
        "sourceFrAccountId": ACCOUNT_ID,
        "destinationUtilaWalletId": WALLET_ID,
        "sourceAmountEur": "1000.00",
    },
    "Buy, fixed destination (receive exactly 1,000 USDC)": {
        "side": "buy",
        "sourceFrAccountId": ACCOUNT_ID,
        "destinationUtilaWalletId": WALLET_ID,
        "destinationAmountUsdc": "1000.000000",
    },
    "Sell, fixed source (sell exactly 250 USDC)": {
        "side": "sell",
        "sourceUtilaWalletId": WALLET_ID,
        "destinationFrAccountId": ACCOUNT_ID,
        "sourceAmountUsdc": "250.000000",
    },
    "Sell, fixed destination (receive exactly 500.00 EUR)": {
        "side": "sell",
        "sourceUtilaWalletId": WALLET_ID,
        "destinationFrAccountId": ACCOUNT_ID,
        "destinationAmountEur": "500.00",
    },
}
QUOTE_RESPONSES = {
    "Buy, fixed source": _quote(
        "buy",
        "source",
        sourceAmount="1000.00",
        destinationAmount="1071.913500",
        sourceAmountEur="1000.00",
    ),
    "Buy, fixed destination": _quote(
        "buy",
        "destination",
        sourceAmount="933.08",
        destinationAmount="1000.000000",
        sourceAmountEur="933.08",
        destinationAmountUsdc="1000.000000",
    ),
    "Sell, fixed source": _quote(
        "sell",
        "source",
        sourceAmount="250.000000",
        destinationAmount="229.402704",
        sourceAmountUsdc="250.000000",
    ),
    "Sell, fixed destination": _quote(
        "sell",
        "destination",
        sourceAmount="543.713743",
        destinationAmount="500.00",
        sourceAmountUsdc="543.713743",
        destinationAmountEur="500.00",
    ),
}


def _order(side: str, status: str, **changes: Any) -> dict:
    buy = side == "buy"
    body: dict[str, Any] = {
        "id": ORDER_ID if buy else SELL_ORDER_ID,
        "status": status,
        "side": side,
        "sourceCurrency": "EUR" if buy else "USDC",
        "sourceAmount": "1000.00" if buy else "250.000000",
        "destinationCurrency": "USDC" if buy else "EUR",
        "destinationAmount": "1071.913500" if buy else "229.402704",
        "rate": "1.074600" if buy else "0.921296",
        "pair": "EUR/USDC",
        "fixedSide": "source",
        "referenceRate": "1.080000" if buy else "0.925926",
        "fees": FEES_BUY if buy else FEES_SELL,
        "indicativeRate": "1.074600" if buy else "0.921296",
        "indicativeDestinationAmount": "1071.913500" if buy else "229.402704",
        "rateFinal": False,
        **(
            {"sourceFrAccountId": ACCOUNT_ID, "destinationUtilaWalletId": WALLET_ID}
            if buy
            else {"sourceUtilaWalletId": WALLET_ID, "destinationFrAccountId": ACCOUNT_ID}
        ),
        "ttlExpiresAt": "2026-05-30T00:01:00.000Z",
        "createdAt": "2026-05-30T00:00:00.000Z",
        "updatedAt": "2026-05-30T00:00:05.000Z",
        "confirmedAt": "2026-05-30T00:00:05.000Z",
        "approvedAt": None,
        "completedAt": None,
        "rejectionReason": None,
        "rejection": None,
        "cancellationCode": None,
        "failureReason": None,
        "maxSlippageBps": 100,
        "approvalDeadlineAt": "2026-05-30T04:00:05.000Z",
        "reviewExpiresAt": None,
        "limits": LIMITS,
        "sourceTransactionId": "bb0e8400-e29b-41d4-a716-446655440007" if buy else None,
        "destinationTransactionId": None,
    }
    body.update(changes)
    return body


ORDER_COMPLETED_BUY = _order(
    "buy",
    "completed",
    rate="1.075100",
    destinationAmount="1072.412250",
    rateFinal=True,
    referenceRate="1.080500",
    approvedAt="2026-05-30T00:10:00.000Z",
    completedAt="2026-05-30T00:10:02.000Z",
    updatedAt="2026-05-30T00:10:02.000Z",
    destinationTransactionId="cc0e8400-e29b-41d4-a716-446655440008",
)
ORDER_PENDING_SELL = _order("sell", "pending_approval")
ORDER_REJECTED_BUY = _order(
    "buy",
    "rejected",
    rejectionReason="Please complete the KYC refresh first.",
    rejection={
        "code": "KYC_REQUIRED",
        "message": "Please complete the KYC refresh first.",
        "remediation": "Upload the requested documents in the portal, then quote again.",
    },
)

REVIEW = {
    "orderId": ORDER_ID,
    "previousRate": "1.074600",
    "previousDestinationAmount": "1071.913500",
    "referenceRate": "1.066000",
    "rate": "1.060670",
    "sourceAmount": "1000.00",
    "sourceCurrency": "EUR",
    "destinationAmount": "1058.018325",
    "destinationCurrency": "USDC",
    "fees": FEES_BUY,
    "maxSlippageBps": 100,
    "expiresAt": "2026-05-30T00:12:00.000Z",
}

ACCOUNTS = [
    {
        "id": ACCOUNT_ID,
        "currency": "EUR",
        "isMaster": True,
        "label": "EUR master",
        "balance": "250000.00",
    }
]
WALLETS = [
    {
        "id": WALLET_ID,
        "label": "Treasury ops (Ethereum)",
        "network": "ethereum",
        "usdcAddress": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    }
]
WALLET_BALANCE = {
    "walletId": WALLET_ID,
    "network": "ethereum",
    "usdcBalance": "25000.000000",
    "available": "10000.000000",
    "held": "15000.000000",
}
PAIRS = [
    {
        "pair": "EUR/USDC",
        "baseCurrency": "EUR",
        "quoteCurrency": "USDC",
        "enabled": True,
        "sides": {
            "buy": {
                "sourceCurrency": "EUR",
                "destinationCurrency": "USDC",
                "minAmount": "10.00",
                "maxAmount": "1000000.00",
            },
            "sell": {
                "sourceCurrency": "USDC",
                "destinationCurrency": "EUR",
                "minAmount": "10.000000",
                "maxAmount": "1000000.000000",
            },
        },
        "networks": [{"network": "ethereum", "networkFee": "0.00"}],
        "fees": {
            "currency": "EUR",
            "platformFixedFee": "0.00",
            "platformPercentageBps": 0,
            "platformFxMarkupBps": 50,
            "clientFixedFee": "0.00",
            "clientPercentageBps": 0,
            "clientFxMarkupBps": 0,
        },
        "offHours": {
            "timezone": "Europe/Berlin",
            "windows": ["mon 20:00-tue 08:00", "fri 20:00-mon 08:00"],
            "holidayCalendar": "XECB",
            "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}],
            "penaltyBps": 25,
        },
    }
]
TOKEN = {
    "accessToken": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "tokenType": "Bearer",
    "expiresAt": "2026-05-30T01:00:00.000Z",
}

ENDPOINT = {
    "id": ENDPOINT_ID,
    "url": "https://erp.example.com/hooks/otc",
    "events": ["otc_order.completed", "otc_order.rejected"],
    "description": "ERP booking",
    "enabled": True,
    "disabledReason": None,
    "disabledAt": None,
    "consecutiveFailures": 0,
    "failingSince": None,
    "createdAt": "2026-05-30T00:00:00.000Z",
    "updatedAt": "2026-05-30T00:00:00.000Z",
}
ENDPOINT_WITH_SECRET = {**ENDPOINT, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
EVENT = {
    "id": EVENT_ID,
    "type": "otc_order.completed",
    "createdAt": "2026-05-30T00:10:02.000Z",
    "data": {**ORDER_COMPLETED_BUY, "previousStatus": "approved"},
}
DELIVERY = {
    "id": DELIVERY_ID,
    "endpointId": ENDPOINT_ID,
    "eventId": EVENT_ID,
    "eventType": "otc_order.completed",
    "status": "succeeded",
    "attemptCount": 1,
    "nextAttemptAt": None,
    "lastAttemptAt": "2026-05-30T00:10:02.500Z",
    "lastStatusCode": 200,
    "lastError": None,
    "createdAt": "2026-05-30T00:10:02.000Z",
    "attempts": [
        {
            "number": 1,
            "startedAt": "2026-05-30T00:10:02.400Z",
            "finishedAt": "2026-05-30T00:10:02.500Z",
            "statusCode": 200,
            "durationMs": 100,
            "succeeded": True,
            "error": None,
            "responseExcerpt": "ok",
        }
    ],
}
STATUS = {
    "status": "operational",
    "checkedAt": "2026-05-30T00:00:00.000Z",
    "components": [
        {"name": "api", "label": "API", "status": "operational", "detail": "Answering."},
        {
            "name": "database",
            "label": "Database",
            "status": "operational",
            "detail": "Answered in 2 ms.",
        },
    ],
}


def page(data: list, *, total: int | None = None, limit: int = 50) -> dict:
    return {
        "data": data,
        "meta": {
            "pagination": {
                "page": 1,
                "limit": limit,
                "total": len(data) if total is None else total,
            }
        },
    }
