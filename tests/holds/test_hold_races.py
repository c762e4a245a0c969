"""Sell confirms racing on one wallet, with real threads on PostgreSQL (each its own
connection, released together by a barrier, in real transactions): the holds they place can
never together exceed the wallet, and the ledger adds up afterwards."""

import json
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.ledger import held_balance
from accounts.models import JournalEntry, LedgerAccount
from otc import services
from otc.models import Channel, Order, Side, Status
from tests.conftest import assert_ledger_invariants
from wallets.providers import custody

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the races are run against PostgreSQL")


def sell_quote(world, wallet, amount: str) -> Order:
    return services.quote_create(
        customer=world.customer,
        side=Side.SELL,
        fiat_account_id=world.eur_master.pk,
        wallet_id=wallet.pk,
        amount=Decimal(amount),
        actor=services.Actor(label="test", channel=Channel.API),
    )


def post_confirm(world, order):
    def call():
        api = APIClient()
        api.credentials(HTTP_X_API_KEY=world.write_key)
        response = api.post(
            "/api/v1/otc-exchanges",
            {"quoteId": str(order.pk), "side": "sell"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        body = json.loads(response.content)
        return response.status_code, body.get("error", {}).get("code")

    return call


@pytest.mark.parametrize(("amount", "winners"), [("300.000000", 1), ("100.000000", 5)])
def test_racing_sell_confirms_never_hold_more_than_the_wallet(
    acme, desk, run_concurrently, amount, winners
):
    wallet = acme.wallet_secondary  # 500 USDC
    orders = [sell_quote(acme, wallet, amount) for _ in range(THREADS)]

    results = run_concurrently([post_confirm(acme, order) for order in orders])

    assert all(kind == "ok" for kind, _ in results), results
    outcomes = sorted(value for _, value in results)
    assert outcomes == [(201, None)] * winners + [(422, "SOURCE_INSUFFICIENT_FUNDS")] * (
        THREADS - winners
    ), outcomes
    account = LedgerAccount.objects.get(pk=wallet.ledger_account_id)
    assert held_balance(account) == Decimal(amount) * winners
    assert account.balance == Decimal("500.000000") - Decimal(amount) * winners
    assert custody().balance(wallet) == Decimal("500.000000")  # nothing left the wallet
    confirmed = Order.objects.filter(pk__in=[o.pk for o in orders], status=Status.PENDING_APPROVAL)
    assert confirmed.count() == winners
    assert (
        JournalEntry.objects.filter(
            reference_id__in=[o.pk for o in orders], kind=JournalEntry.Kind.HOLD
        ).count()
        == winners
    )
    assert_ledger_invariants()
