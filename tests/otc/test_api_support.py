"""Helpers shared by the customer API's HTTP contract tests (``test_api_*.py``). No tests here.

Expected figures are worked out by hand from the pinned feed (mid 1.080000) and acme's
50 bps spread:
- buy:  rate = 1.08 * 0.995 = 1.074600 USDC/EUR; 100.00 EUR -> 107.460000 USDC
- sell: rate = 1 / 1.08 * 0.995 = 0.921296296... -> 0.921296 EUR/USDC (rounded down);
        100.000000 USDC -> 92.1296 -> 92.12 EUR (rounded down, not 92.13)
"""

import re
import uuid
from datetime import UTC, datetime

API = "/api/v1"
ACCOUNTS = f"{API}/otc-exchanges/accounts"
WALLETS = f"{API}/otc-exchanges/wallets"
QUOTE = f"{API}/otc-exchanges/quote"
ORDERS = f"{API}/otc-exchanges"
TOKEN = f"{API}/auth/token"

BUY_RATE = "1.074600"
BUY_DESTINATION_FOR_100 = "107.460000"
SELL_RATE = "0.921296"
SELL_DESTINATION_FOR_100 = "92.12"

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

ORDER_FIELDS_COMMON = {
    "id",
    "status",
    "side",
    "sourceCurrency",
    "sourceAmount",
    "destinationCurrency",
    "destinationAmount",
    "rate",
    "indicativeRate",
    "indicativeDestinationAmount",
    "rateFinal",
    "ttlExpiresAt",
    "createdAt",
    "updatedAt",
    "confirmedAt",
    "approvedAt",
    "completedAt",
    "rejectionReason",
    "failureReason",
    "pair",
    "fixedSide",
    "referenceRate",
    "fees",
    "rejection",
    "cancellationCode",
    "maxSlippageBps",
    "approvalDeadlineAt",
    "reviewExpiresAt",
    "limits",
    "sourceTransactionId",
    "destinationTransactionId",
}
BUY_ORDER_FIELDS = ORDER_FIELDS_COMMON | {"sourceFrAccountId", "destinationUtilaWalletId"}
SELL_ORDER_FIELDS = ORDER_FIELDS_COMMON | {"sourceUtilaWalletId", "destinationFrAccountId"}
QUOTE_FIELDS_COMMON = {
    "quoteId",
    "side",
    "status",
    "rate",
    "destinationAmount",
    "sourceCurrency",
    "destinationCurrency",
    "ttlExpiresAt",
    "ttlSeconds",
    "indicative",
    "pair",
    "fixedSide",
    "referenceRate",
    "sourceAmount",
    "fees",
    "limits",
}


def order_url(order_id) -> str:
    return f"{ORDERS}/{order_id}"


def cancel_url(order_id) -> str:
    return f"{ORDERS}/{order_id}/cancel"


def requote_url(order_id) -> str:
    return f"{ORDERS}/{order_id}/requote"


def balance_url(wallet_id) -> str:
    return f"{WALLETS}/{wallet_id}/balance"


def new_key() -> str:
    return str(uuid.uuid4())


def parse_iso(value: str) -> datetime:
    assert ISO_MS.match(value), f"{value!r} is not ISO 8601 UTC with milliseconds and Z"
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def buy_body(world, amount="100.00", **overrides) -> dict:
    body = {
        "side": "buy",
        "sourceFrAccountId": str(world.eur_master.pk),
        "destinationUtilaWalletId": str(world.wallet.pk),
        "sourceAmountEur": amount,
    }
    body.update(overrides)
    return body


def sell_body(world, amount="100.000000", **overrides) -> dict:
    body = {
        "side": "sell",
        "sourceUtilaWalletId": str(world.wallet.pk),
        "destinationFrAccountId": str(world.eur_master.pk),
        "sourceAmountUsdc": amount,
    }
    body.update(overrides)
    return body


def quote(world, body: dict, client=None):
    return (client or world.client()).post(QUOTE, body, format="json")


def buy_quote_id(world, amount="100.00", client=None) -> str:
    response = quote(world, buy_body(world, amount), client)
    assert response.status_code == 200, response.content
    return response.json()["data"]["quoteId"]


def sell_quote_id(world, amount="100.000000", client=None) -> str:
    response = quote(world, sell_body(world, amount), client)
    assert response.status_code == 200, response.content
    return response.json()["data"]["quoteId"]


def confirm(world, quote_id, side="buy", key: str | None = None, client=None, **extra):
    headers = {} if key is False else {"HTTP_IDEMPOTENCY_KEY": key or new_key()}
    body = {"side": side, "quoteId": str(quote_id)}
    return (client or world.client()).post(ORDERS, body, format="json", **headers, **extra)


def assert_error(response, status: int, code: str) -> dict:
    """The response is the contract's error envelope with this status and code; returns the
    inner ``error`` object."""
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) <= {"code", "message", "details"}, err
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"], err
    if "details" in err:
        assert isinstance(err["details"], dict), err
    return err


FRESH_LIMITS = {"dailyMax": "5000000.00", "dailyUsed": "0.00", "dailyRemaining": "5000000.00"}
