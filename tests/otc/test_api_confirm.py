"""POST otc-exchanges (confirm): the 201 bodies of a buy and a sell, what moves and what does
not, every confirm error code, and idempotency (byte-for-byte replay, key reuse, per-customer
keys, 5xx not stored)."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.ledger import external_account, held_balance, post_entry, transfer_legs, withdraw
from accounts.models import FiatAccount, JournalEntry, LedgerAccount
from otc.models import IdempotencyRecord, Order, Status
from otc.services import quotes_expire
from wallets.models import Wallet
from wallets.providers import custody

from .. import factories
from .test_api_support import (
    ORDERS,
    TOKEN,
    assert_error,
    buy_quote_id,
    cancel_url,
    confirm,
    new_key,
    order_url,
    quote,
    sell_body,
    sell_quote_id,
)

pytestmark = pytest.mark.django_db


def balance(resource) -> Decimal:
    return LedgerAccount.objects.get(pk=resource.ledger_account_id).balance


def entries(order_id) -> list[str]:
    return list(
        JournalEntry.objects.filter(reference_id=order_id)
        .order_by("created_at")
        .values_list("kind", flat=True)
    )


def status_of(order_id) -> str:
    return Order.objects.get(pk=order_id).status


# --- success --------------------------------------------------------------------------------


def test_buy_confirm_debits_the_eur_at_once(acme, desk):
    quote_id = buy_quote_id(acme)
    response = confirm(acme, quote_id)
    assert response.status_code == 201, response.content
    assert response.json() == {"data": {"orderId": quote_id, "status": "debit_pending"}}
    assert not response.has_header("Idempotent-Replayed")
    assert balance(acme.eur_master) == Decimal("249900.00")
    assert entries(quote_id) == [JournalEntry.Kind.ORDER_DEBIT]
    assert status_of(quote_id) == Status.DEBIT_PENDING
    detail = acme.client().get(order_url(quote_id)).json()["data"]
    assert detail["status"] == "debit_pending" and detail["confirmedAt"]


def test_buy_confirm_reaches_pending_approval_once_the_bank_settles(
    acme, desk, django_capture_on_commit_callbacks
):
    quote_id = buy_quote_id(acme)
    treasury_before = balance(desk["eur"])
    with django_capture_on_commit_callbacks(execute=True):
        assert confirm(acme, quote_id).status_code == 201
    assert acme.client().get(order_url(quote_id)).json()["data"]["status"] == "pending_approval"
    assert balance(desk["eur"]) == treasury_before + Decimal("100.00")
    assert balance(acme.eur_master) == Decimal("249900.00")
    assert entries(quote_id) == [JournalEntry.Kind.ORDER_DEBIT, JournalEntry.Kind.DEBIT_SETTLED]


def test_sell_confirm_holds_the_usdc_and_sends_nothing(acme, desk):
    quote_id = sell_quote_id(acme)
    response = confirm(acme, quote_id, side="sell")
    assert response.status_code == 201, response.content
    assert response.json() == {"data": {"orderId": quote_id, "status": "pending_approval"}}
    # Held in the ledger (available -> held), still in the wallet on chain.
    assert balance(acme.wallet) == Decimal("99900.000000")
    assert held_balance(acme.wallet.ledger_account) == Decimal("100.000000")
    assert custody().balance(acme.wallet) == Decimal("100000.000000")
    assert balance(acme.eur_master) == Decimal("250000.00")
    assert entries(quote_id) == [JournalEntry.Kind.HOLD]


def test_confirm_side_defaults_to_buy(acme):
    quote_id = buy_quote_id(acme)
    response = acme.client().post(
        ORDERS, {"quoteId": quote_id}, format="json", HTTP_IDEMPOTENCY_KEY=new_key()
    )
    assert response.status_code == 201
    sell_id = sell_quote_id(acme)
    response = acme.client().post(
        ORDERS, {"quoteId": sell_id}, format="json", HTTP_IDEMPOTENCY_KEY=new_key()
    )
    err = assert_error(response, 422, "SIDE_MISMATCH")
    assert err["details"] == {"quoteSide": "sell"}


# --- the Idempotency-Key header -------------------------------------------------------------


@pytest.mark.parametrize("header", [None, ""])
def test_confirm_without_idempotency_key(acme, header):
    quote_id = buy_quote_id(acme)
    extra = {} if header is None else {"HTTP_IDEMPOTENCY_KEY": header}
    response = acme.client().post(ORDERS, {"quoteId": quote_id}, format="json", **extra)
    assert_error(response, 400, "IDEMPOTENCY_KEY_REQUIRED")
    assert status_of(quote_id) == Status.QUOTED
    assert balance(acme.eur_master) == Decimal("250000.00")
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize(
    "key",
    [
        "not-a-uuid",
        str(uuid.uuid1()),
        str(uuid.uuid3(uuid.NAMESPACE_DNS, "acme")),
        str(uuid.uuid5(uuid.NAMESPACE_DNS, "acme")),
        uuid.uuid4().hex,
        "{" + str(uuid.uuid4()) + "}",
        "00000000-0000-0000-0000-000000000000",
        str(uuid.uuid4()) + "x",
    ],
    ids=["garbage", "v1", "v3", "v5", "no-hyphens", "braces", "nil", "trailing-junk"],
)
def test_confirm_with_a_key_that_is_not_a_uuid4(acme, key):
    quote_id = buy_quote_id(acme)
    assert_error(confirm(acme, quote_id, key=key), 400, "IDEMPOTENCY_KEY_INVALID")
    assert status_of(quote_id) == Status.QUOTED
    assert not IdempotencyRecord.objects.exists()


def test_uppercase_uuid4_key_is_accepted(acme):
    quote_id = buy_quote_id(acme)
    assert confirm(acme, quote_id, key=new_key().upper()).status_code == 201


# --- body validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"quoteId"}),
        ({"quoteId": "abc"}, {"quoteId"}),
        ({"quoteId": 7}, {"quoteId"}),
        ({"quoteId": None}, {"quoteId"}),
        ({"quoteId": str(uuid.uuid4()), "side": "swap"}, {"side"}),
        ({"side": "swap"}, {"side", "quoteId"}),
    ],
)
def test_malformed_confirm_body(acme, body, fields):
    response = acme.client().post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    err = assert_error(response, 400, "VALIDATION_ERROR")
    assert set(err["details"]) == fields
    assert not IdempotencyRecord.objects.exists()


# --- expired quotes -------------------------------------------------------------------------


def test_confirm_after_the_sweeper_expired_the_quote(acme):
    quote_id = buy_quote_id(acme)
    assert quotes_expire(now=timezone.now() + timedelta(minutes=2)) == 1
    assert_error(confirm(acme, quote_id), 400, "QUOTE_EXPIRED")
    assert status_of(quote_id) == Status.EXPIRED
    assert balance(acme.eur_master) == Decimal("250000.00")
    assert entries(quote_id) == []


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_confirm_after_the_ttl_before_the_sweeper_ran(acme, side):
    quote_id = buy_quote_id(acme) if side == "buy" else sell_quote_id(acme)
    Order.objects.filter(pk=quote_id).update(
        ttl_expires_at=timezone.now() - timedelta(milliseconds=1)
    )
    assert_error(confirm(acme, quote_id, side=side), 400, "QUOTE_EXPIRED")
    # Nothing moved and the confirm did not change the order (the sweeper will expire it).
    assert status_of(quote_id) == Status.QUOTED
    assert balance(acme.eur_master) == Decimal("250000.00")
    assert entries(quote_id) == []


def test_confirm_when_the_ttl_passes_by_the_clock(acme, settings):
    settings.OTC_QUOTE_TTL_SECONDS = 0
    quote_id = buy_quote_id(acme)
    assert_error(confirm(acme, quote_id), 400, "QUOTE_EXPIRED")
    assert entries(quote_id) == []


# --- not found, side, state -----------------------------------------------------------------


def test_confirm_an_unknown_order(acme):
    assert_error(confirm(acme, uuid.uuid4()), 404, "ORDER_NOT_FOUND")


def test_confirm_another_customers_quote_is_not_found(acme, globex):
    quote_id = buy_quote_id(globex)
    assert_error(confirm(acme, quote_id), 404, "ORDER_NOT_FOUND")
    assert status_of(quote_id) == Status.QUOTED
    assert balance(globex.eur_master) == Decimal("250000.00")


def test_confirm_with_the_wrong_side(acme):
    quote_id = buy_quote_id(acme)
    err = assert_error(confirm(acme, quote_id, side="sell"), 422, "SIDE_MISMATCH")
    assert err["details"] == {"quoteSide": "buy"}
    assert status_of(quote_id) == Status.QUOTED
    sell_id = sell_quote_id(acme)
    assert_error(confirm(acme, sell_id, side="buy"), 422, "SIDE_MISMATCH")
    assert status_of(sell_id) == Status.QUOTED


def test_confirm_twice_with_two_keys(acme):
    quote_id = buy_quote_id(acme)
    assert confirm(acme, quote_id).status_code == 201
    err = assert_error(confirm(acme, quote_id), 409, "ORDER_NOT_CONFIRMABLE")
    assert err["details"] == {"status": "debit_pending"}
    assert balance(acme.eur_master) == Decimal("249900.00")
    assert entries(quote_id) == [JournalEntry.Kind.ORDER_DEBIT]


def test_confirm_a_cancelled_quote(acme):
    quote_id = buy_quote_id(acme)
    assert acme.client().post(cancel_url(quote_id)).status_code == 200
    err = assert_error(confirm(acme, quote_id), 409, "ORDER_NOT_CONFIRMABLE")
    assert err["details"] == {"status": "cancelled"}


def test_confirm_a_sell_already_pending_approval(acme):
    sell_id = sell_quote_id(acme)
    assert confirm(acme, sell_id, side="sell").status_code == 201
    err = assert_error(confirm(acme, sell_id, side="sell"), 409, "ORDER_NOT_CONFIRMABLE")
    assert err["details"] == {"status": "pending_approval"}


# --- funds and resources that changed since the quote ---------------------------------------


def test_buy_confirm_without_enough_eur_moves_nothing(acme, desk):
    quote_id = buy_quote_id(acme, "250000.01")
    key = new_key()
    err = assert_error(confirm(acme, quote_id, key=key), 422, "SOURCE_INSUFFICIENT_FUNDS")
    assert err["details"] == {"available": "250000.00"}
    assert status_of(quote_id) == Status.QUOTED
    assert balance(acme.eur_master) == Decimal("250000.00")
    assert entries(quote_id) == []
    # Topped up, a fresh key goes through; the old key keeps its stored answer.
    post_entry(
        legs=transfer_legs(
            external_account("EUR"),
            FiatAccount.objects.get(pk=acme.eur_master.pk).ledger_account,
            Decimal("0.01"),
        ),
        kind=JournalEntry.Kind.DEPOSIT,
        description="top up",
    )
    replay = confirm(acme, quote_id, key=key)
    assert replay.status_code == 422 and replay["Idempotent-Replayed"] == "true"
    assert confirm(acme, quote_id).status_code == 201
    assert balance(acme.eur_master) == Decimal("0.00")


def test_buy_confirm_when_the_source_account_was_deactivated(acme):
    quote_id = buy_quote_id(acme)
    FiatAccount.objects.filter(pk=acme.eur_master.pk).update(is_active=False)
    assert_error(confirm(acme, quote_id), 422, "SOURCE_INACTIVE")
    assert status_of(quote_id) == Status.QUOTED
    assert balance(acme.eur_master) == Decimal("250000.00")


def test_buy_confirm_when_the_wallet_lost_its_usdc_address(acme):
    quote_id = buy_quote_id(acme)
    Wallet.objects.filter(pk=acme.wallet.pk).update(usdc_address="")
    assert_error(confirm(acme, quote_id), 422, "DESTINATION_NO_USDC_ADDRESS")
    assert entries(quote_id) == []


def test_buy_confirm_when_the_wallet_became_a_treasury_wallet(acme):
    quote_id = buy_quote_id(acme)
    Wallet.objects.filter(pk=acme.wallet.pk).update(is_treasury=True)
    assert_error(confirm(acme, quote_id), 422, "DESTINATION_NOT_FOUND")
    assert entries(quote_id) == []


def test_sell_confirm_when_the_destination_account_was_deactivated(acme):
    quote_id = sell_quote_id(acme)
    FiatAccount.objects.filter(pk=acme.eur_master.pk).update(is_active=False)
    assert_error(confirm(acme, quote_id, side="sell"), 422, "DESTINATION_ACCOUNT_INACTIVE")
    assert status_of(quote_id) == Status.QUOTED


def test_sell_confirm_when_the_wallet_no_longer_covers_the_amount(acme, desk):
    # The secondary wallet holds 500.000000 USDC at quote time.
    response = quote(
        acme, sell_body(acme, "400.000000", sourceUtilaWalletId=str(acme.wallet_secondary.pk))
    )
    quote_id = response.json()["data"]["quoteId"]
    withdraw(  # on chain and in the books
        Wallet.objects.get(pk=acme.wallet_secondary.pk).ledger_account,
        Decimal("100.000001"),
        description="withdrawn elsewhere",
    )
    err = assert_error(confirm(acme, quote_id, side="sell"), 422, "SOURCE_WALLET_INSUFFICIENT")
    assert err["details"] == {"available": "399.999999"}
    assert status_of(quote_id) == Status.QUOTED


def test_sell_confirm_during_a_custody_outage_is_not_stored(acme, settings):
    quote_id = sell_quote_id(acme)
    key = new_key()
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
    assert_error(confirm(acme, quote_id, side="sell", key=key), 502, "QUOTE_UNAVAILABLE")
    assert status_of(quote_id) == Status.QUOTED
    assert not IdempotencyRecord.objects.exists()
    # The same key may be retried once custody is back, and it runs for real.
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = False
    response = confirm(acme, quote_id, side="sell", key=key)
    assert response.status_code == 201
    assert not response.has_header("Idempotent-Replayed")
    assert status_of(quote_id) == Status.PENDING_APPROVAL


# --- idempotency ----------------------------------------------------------------------------


def test_repeat_with_the_same_key_replays_byte_for_byte(acme, django_capture_on_commit_callbacks):
    quote_id = buy_quote_id(acme)
    key = new_key()
    with django_capture_on_commit_callbacks(execute=True):
        first = confirm(acme, quote_id, key=key)
    assert first.status_code == 201
    assert status_of(quote_id) == Status.PENDING_APPROVAL
    for _ in range(2):
        again = confirm(acme, quote_id, key=key)
        assert again.status_code == 201
        assert again.content == first.content  # still "debit_pending", as first answered
        assert again["Idempotent-Replayed"] == "true"
        assert again["Content-Type"] == first["Content-Type"]
    # Sending the default side explicitly is the same request.
    same = acme.client().post(
        ORDERS, {"quoteId": quote_id}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert same.content == first.content and same["Idempotent-Replayed"] == "true"
    assert balance(acme.eur_master) == Decimal("249900.00")
    assert entries(quote_id) == [JournalEntry.Kind.ORDER_DEBIT, JournalEntry.Kind.DEBIT_SETTLED]
    assert IdempotencyRecord.objects.count() == 1


def test_a_stored_error_is_replayed_too(acme):
    quote_id = buy_quote_id(acme)
    Order.objects.filter(pk=quote_id).update(ttl_expires_at=timezone.now() - timedelta(seconds=1))
    key = new_key()
    first = confirm(acme, quote_id, key=key)
    assert_error(first, 400, "QUOTE_EXPIRED")
    again = confirm(acme, quote_id, key=key)
    assert again.status_code == 400
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"


def test_same_key_with_another_quote_is_key_reused(acme):
    first_id, second_id = buy_quote_id(acme), buy_quote_id(acme)
    key = new_key()
    assert confirm(acme, first_id, key=key).status_code == 201
    assert_error(confirm(acme, second_id, key=key), 422, "IDEMPOTENCY_KEY_REUSED")
    assert status_of(second_id) == Status.QUOTED
    assert balance(acme.eur_master) == Decimal("249900.00")


def test_same_key_with_another_side_is_key_reused(acme):
    quote_id = buy_quote_id(acme)
    key = new_key()
    assert confirm(acme, quote_id, key=key).status_code == 201
    assert_error(confirm(acme, quote_id, side="sell", key=key), 422, "IDEMPOTENCY_KEY_REUSED")


def test_keys_are_scoped_to_the_customer(acme, globex):
    key = new_key()
    acme_quote, globex_quote = buy_quote_id(acme), buy_quote_id(globex)
    first = confirm(acme, acme_quote, key=key)
    second = confirm(globex, globex_quote, key=key)
    assert first.status_code == second.status_code == 201
    assert not second.has_header("Idempotent-Replayed")
    assert second.json()["data"]["orderId"] == globex_quote
    assert status_of(acme_quote) == status_of(globex_quote) == Status.DEBIT_PENDING
    # Globex replaying acme's exact request does not see acme's order.
    assert_error(confirm(globex, acme_quote, key=new_key()), 404, "ORDER_NOT_FOUND")


def test_a_key_is_shared_by_every_credential_of_the_customer(acme):
    quote_id = buy_quote_id(acme)
    key = new_key()
    first = confirm(acme, quote_id, key=key)
    other_key = factories.make_key(acme.customer)
    by_other_key = confirm(acme, quote_id, key=key, client=acme.client(other_key))
    assert by_other_key.content == first.content
    assert by_other_key["Idempotent-Replayed"] == "true"
    token = (
        APIClient()
        .post(
            TOKEN,
            {"username": acme.user.username, "password": factories.PASSWORD},
            format="json",
        )
        .json()["data"]["accessToken"]
    )
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    by_user = confirm(acme, quote_id, key=key, client=bearer)
    assert by_user.content == first.content and by_user["Idempotent-Replayed"] == "true"
    assert entries(quote_id) == [JournalEntry.Kind.ORDER_DEBIT]
