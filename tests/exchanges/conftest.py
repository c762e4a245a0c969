"""Fixtures for the market exchange tests: an API client with the exchanges scopes, helpers
to create and accept over HTTP, a way to move the market, and the shared race runner."""

import uuid
from decimal import Decimal

import pytest

from accounts.models import SCOPE_EXCHANGES_READ, SCOPE_EXCHANGES_WRITE, LedgerAccount
from tests import factories
from tests.otc.conftest import run_concurrently  # noqa: F401  (the shared race runner)

BASE = "/api/v1/exchanges"
QUOTED_MID = Decimal("1.080000")  # tests/conftest.py pins the feed here; the desk's markup is
# 50 bps, so a buy is quoted at 1.074600 USDC per EUR and a sell at 0.921296 EUR per USDC.


def exchange_key(world) -> str:
    return factories.make_key(world.customer, [SCOPE_EXCHANGES_READ, SCOPE_EXCHANGES_WRITE])


def balance(owner) -> Decimal:
    """The ledger balance of a fiat account or wallet, fresh from the database."""
    return LedgerAccount.objects.get(pk=owner.ledger_account_id).balance


def new_key() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def api(acme):
    """acme's client with ``exchanges:read`` and ``exchanges:write``."""
    return acme.client(exchange_key(acme))


@pytest.fixture
def market(settings):
    """``market(mid)`` moves the live mid every process reads (the static feed)."""

    def move(mid) -> None:
        settings.OTC_PRICE_FEED = f"static:{mid}"

    return move


def exchange_body(source, destination, amount: str, action: str) -> dict:
    return {
        "source_account_id": str(source.pk),
        "destination_account_id": str(destination.pk),
        "action": action,
        "amount": amount,
    }


def buy_body(world, amount="1000.00", action="FIX_SOURCE") -> dict:
    """EUR account -> USDC wallet."""
    return exchange_body(world.eur_master, world.wallet, amount, action)


def sell_body(world, amount="1000.000000", action="FIX_SOURCE") -> dict:
    """USDC wallet -> EUR account."""
    return exchange_body(world.wallet, world.eur_master, amount, action)


# The seed's fields of an exchange, in the seed's order.
SEED_FIELDS = [
    "id",
    "source_account_id",
    "destination_account_id",
    "action",
    "source_amount",
    "source_currency",
    "destination_amount",
    "destination_currency",
    "rate",
    "fee",
    "status",
    "quote_expires_at",
    "created_at",
]
SEED_EXECUTED_FIELDS = [
    *SEED_FIELDS,
    "accepted_at",
    "executed_at",
    "source_transaction_id",
    "destination_transaction_id",
]


@pytest.fixture
def create(api):
    """``create(body, key=None, client=api)`` -> the response of POST /exchanges."""

    def post(body: dict, key: str | None = None, client=None):
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
        return (client or api).post(BASE, body, format="json", **headers)

    return post


@pytest.fixture
def accept(api):
    """``accept(exchange_id, body=None, key=None, client=api)`` -> POST …/accept."""

    def post(exchange_id, body: dict | None = None, key: str | None = None, client=None):
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
        return (client or api).post(
            f"{BASE}/{exchange_id}/accept", body or {}, format="json", **headers
        )

    return post


@pytest.fixture
def quoted(create):
    """``quoted(body)`` -> the exchange id of a fresh QUOTED exchange."""

    def make(body: dict) -> str:
        response = create(body)
        assert response.status_code == 201, response.content
        return response.json()["id"]

    return make
