"""A sell's confirm asks custody for the live balance before any transaction is open (the
idempotency claim's row lock included): no provider call while a row is held. A refusal the
custody answer leads to is still stored under the key and replayed."""

from decimal import Decimal

import pytest
from django.db import connection

from accounts.ledger import deposit, withdraw
from otc.models import Order, Status
from tests import factories
from tests.holds.test_sell_holds import sell_quote
from tests.otc.test_api_support import new_key
from wallets.models import Wallet
from wallets.providers import SimulatedCustody

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS = "/api/v1/otc-exchanges"


@pytest.fixture
def asked_in_transaction(monkeypatch):
    """Each custody balance call, as whether a transaction was open when it was made."""
    calls: list[bool] = []
    real = SimulatedCustody.balance

    def balance(self, *args, **kwargs):
        calls.append(connection.in_atomic_block)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SimulatedCustody, "balance", balance)
    return calls


def confirm(world, quote_id: str, key: str):
    return world.client().post(
        ORDERS, {"side": "sell", "quoteId": quote_id}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def test_a_sell_confirm_asks_custody_with_no_transaction_open(acme, desk, asked_in_transaction):
    wallet = factories.make_wallet(acme.customer, label="Ops", balance="2000.000000")
    quote_id = sell_quote(acme, wallet, "1000.000000")
    asked_in_transaction.clear()
    response = confirm(acme, quote_id, new_key())
    assert response.status_code == 201, response.content
    assert asked_in_transaction == [False]
    assert Order.objects.get(pk=quote_id).status == Status.PENDING_APPROVAL


def test_a_refusal_after_asking_custody_is_stored_under_the_key(acme, desk, asked_in_transaction):
    wallet = factories.make_wallet(acme.customer, label="Ops", balance="2000.000000")
    quote_id = sell_quote(acme, wallet, "1500.000000")
    # Most of the wallet leaves after the quote (on chain and in the books).
    ledger = Wallet.objects.get(pk=wallet.pk).ledger_account
    withdraw(ledger, Decimal("1900.000000"), description="withdrawn elsewhere")
    key = new_key()
    first = confirm(acme, quote_id, key)
    assert first.status_code == 422, first.content
    assert first.json()["error"]["code"] == "SOURCE_WALLET_INSUFFICIENT"
    assert asked_in_transaction == [False] * len(asked_in_transaction)
    # The same key replays the refusal byte for byte, whatever custody says now.
    deposit(ledger, Decimal("1900.000000"), description="back again")
    again = confirm(acme, quote_id, key)
    assert again.status_code == 422
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.get(pk=quote_id).status == Status.QUOTED
