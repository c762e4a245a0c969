"""POST otc-exchanges/{id}/cancel and the requote extension: bodies, the states each allows,
NOT_CANCELLABLE / NOT_REQUOTABLE, other customers' orders, and requote's fresh rate and TTL
on the same quote id."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import FiatAccount, LedgerAccount
from otc.models import Order, OrderTransition, Status
from otc.services import quotes_expire

from .test_api_support import (
    FRESH_LIMITS,
    QUOTE_FIELDS_COMMON,
    assert_error,
    buy_body,
    buy_quote_id,
    cancel_url,
    confirm,
    order_url,
    parse_iso,
    quote,
    requote_url,
    sell_quote_id,
)

pytestmark = pytest.mark.django_db


def status_of(order_id) -> str:
    return Order.objects.get(pk=order_id).status


def expire_by_sweeper() -> None:
    quotes_expire(now=timezone.now() + timedelta(minutes=5))


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_a_quote(acme):
    quote_id = buy_quote_id(acme)
    response = acme.client().post(cancel_url(quote_id))
    assert response.status_code == 200
    assert response.json() == {"data": {"orderId": quote_id, "status": "cancelled"}}
    assert acme.client().get(order_url(quote_id)).json()["data"]["status"] == "cancelled"
    log = OrderTransition.objects.filter(order_id=quote_id).order_by("created_at", "id").last()
    assert (log.from_status, log.to_status, log.channel) == ("quoted", "cancelled", "api")


def test_cancel_a_requoted_sell(acme):
    quote_id = sell_quote_id(acme)
    assert acme.client().post(requote_url(quote_id)).status_code == 200
    response = acme.client().post(cancel_url(quote_id), {}, format="json")
    assert response.json() == {"data": {"orderId": quote_id, "status": "cancelled"}}


def _advance(acme, state: str) -> str:
    if state == "cancelled":
        quote_id = buy_quote_id(acme)
        acme.client().post(cancel_url(quote_id))
    elif state == "expired":
        quote_id = buy_quote_id(acme)
        expire_by_sweeper()
    elif state == "debit_pending":
        quote_id = buy_quote_id(acme)
        confirm(acme, quote_id)
    else:  # a sell awaiting approval
        quote_id = sell_quote_id(acme)
        confirm(acme, quote_id, side="sell")
    assert status_of(quote_id) == state
    return quote_id


@pytest.mark.parametrize("state", ["cancelled", "expired", "debit_pending", "pending_approval"])
def test_cancel_is_refused_once_the_quote_is_no_longer_open(acme, state):
    quote_id = _advance(acme, state)
    eur = LedgerAccount.objects.get(pk=acme.eur_master.ledger_account_id).balance
    err = assert_error(acme.client().post(cancel_url(quote_id)), 409, "NOT_CANCELLABLE")
    assert err["details"] == {"status": state}
    assert status_of(quote_id) == state
    assert LedgerAccount.objects.get(pk=acme.eur_master.ledger_account_id).balance == eur


@pytest.mark.parametrize("which", ["globex", "unknown", "not-a-uuid"])
def test_cancel_an_order_that_is_not_the_callers(acme, globex, which):
    globex_quote = buy_quote_id(globex)
    order_id = {"globex": globex_quote, "unknown": str(uuid.uuid4()), "not-a-uuid": "abc"}[which]
    assert_error(acme.client().post(cancel_url(order_id)), 404, "ORDER_NOT_FOUND")
    assert status_of(globex_quote) == Status.QUOTED


# --- requote --------------------------------------------------------------------------------


def test_requote_gives_a_fresh_rate_and_ttl_on_the_same_quote_id(acme, settings):
    first = quote(acme, buy_body(acme)).json()["data"]
    quote_id = first["quoteId"]
    # Time passes and the market moves: 1.10 * 0.995 = 1.094500; 100 EUR -> 109.450000.
    Order.objects.filter(pk=quote_id).update(ttl_expires_at=timezone.now() + timedelta(seconds=5))
    settings.OTC_PRICE_FEED = "static:1.100000"
    before = timezone.now()
    response = acme.client().post(requote_url(quote_id))
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert set(data) == QUOTE_FIELDS_COMMON | {"sourceAmountEur"}
    ttl = parse_iso(data.pop("ttlExpiresAt"))
    assert before + timedelta(seconds=59) <= ttl <= timezone.now() + timedelta(seconds=60)
    assert data == {
        "quoteId": quote_id,
        "side": "buy",
        "status": "requoted",
        "rate": "1.094500",
        "destinationAmount": "109.450000",
        "sourceAmountEur": "100.00",
        "sourceCurrency": "EUR",
        "destinationCurrency": "USDC",
        "ttlSeconds": 60,
        "indicative": True,
        "pair": "EUR/USDC",
        "fixedSide": "source",
        "referenceRate": "1.100000",
        "sourceAmount": "100.00",
        "fees": {
            "currency": "EUR",
            "total": "0.00",
            "lines": [{"type": "fx_markup", "description": "Desk FX markup", "bps": 50}],
        },
        "limits": FRESH_LIMITS,
    }
    detail = acme.client().get(order_url(quote_id)).json()["data"]
    assert detail["status"] == "requoted" and detail["indicativeRate"] == "1.094500"
    assert Order.objects.count() == 1


def test_requote_a_sell(acme, settings):
    quote_id = sell_quote_id(acme)
    settings.OTC_PRICE_FEED = "static:1.100000"
    data = acme.client().post(requote_url(quote_id)).json()["data"]
    # 1 / 1.1 * 0.995 = 0.904545...; 100 USDC -> 90.4545 -> 90.45
    assert data["quoteId"] == quote_id
    assert data["rate"] == "0.904545" and data["destinationAmount"] == "90.45"
    assert data["sourceAmountUsdc"] == "100.000000" and "sourceAmountEur" not in data


def test_requote_an_expired_quote_then_confirm_it(acme):
    quote_id = buy_quote_id(acme)
    expire_by_sweeper()
    assert status_of(quote_id) == Status.EXPIRED
    assert_error(acme.client().post(cancel_url(quote_id)), 409, "NOT_CANCELLABLE")
    response = acme.client().post(requote_url(quote_id))
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "requoted"
    confirmed = confirm(acme, quote_id)
    assert confirmed.status_code == 201
    assert confirmed.json() == {"data": {"orderId": quote_id, "status": "debit_pending"}}


def test_requote_a_quote_past_its_ttl_before_the_sweeper_ran(acme):
    quote_id = buy_quote_id(acme)
    Order.objects.filter(pk=quote_id).update(ttl_expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(confirm(acme, quote_id), 400, "QUOTE_EXPIRED")
    assert acme.client().post(requote_url(quote_id)).status_code == 200
    assert confirm(acme, quote_id).status_code == 201


def test_requote_twice(acme):
    quote_id = buy_quote_id(acme)
    assert acme.client().post(requote_url(quote_id)).status_code == 200
    assert acme.client().post(requote_url(quote_id)).status_code == 200
    steps = list(
        OrderTransition.objects.filter(order_id=quote_id)
        .order_by("created_at", "id")
        .values_list("from_status", "to_status")
    )
    assert steps == [("", "quoted"), ("quoted", "requoted"), ("requoted", "requoted")]


@pytest.mark.parametrize("state", ["cancelled", "debit_pending", "pending_approval"])
def test_requote_is_refused_after_the_quote_stage(acme, state):
    quote_id = _advance(acme, state)
    before = Order.objects.get(pk=quote_id)
    err = assert_error(acme.client().post(requote_url(quote_id)), 409, "NOT_REQUOTABLE")
    assert err["details"] == {"status": state}
    after = Order.objects.get(pk=quote_id)
    assert (after.status, after.indicative_rate, after.ttl_expires_at) == (
        before.status,
        before.indicative_rate,
        before.ttl_expires_at,
    )


@pytest.mark.parametrize("which", ["globex", "unknown", "not-a-uuid"])
def test_requote_an_order_that_is_not_the_callers(acme, globex, which):
    globex_quote = buy_quote_id(globex)
    order_id = {"globex": globex_quote, "unknown": str(uuid.uuid4()), "not-a-uuid": "abc"}[which]
    assert_error(acme.client().post(requote_url(order_id)), 404, "ORDER_NOT_FOUND")
    assert status_of(globex_quote) == Status.QUOTED


def test_requote_rechecks_the_resources(acme):
    quote_id = buy_quote_id(acme)
    FiatAccount.objects.filter(pk=acme.eur_master.pk).update(is_active=False)
    assert_error(acme.client().post(requote_url(quote_id)), 422, "SOURCE_INACTIVE")
    assert status_of(quote_id) == Status.QUOTED


def test_requote_a_sell_during_a_custody_outage_changes_nothing(acme, settings):
    quote_id = sell_quote_id(acme)
    before = Order.objects.get(pk=quote_id)
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
    assert_error(acme.client().post(requote_url(quote_id)), 502, "QUOTE_UNAVAILABLE")
    after = Order.objects.get(pk=quote_id)
    assert (after.status, after.ttl_expires_at) == (Status.QUOTED, before.ttl_expires_at)
    assert OrderTransition.objects.filter(order_id=quote_id).count() == 1


def test_requote_keeps_the_amount(acme):
    quote_id = buy_quote_id(acme, "1234.56")
    data = acme.client().post(requote_url(quote_id)).json()["data"]
    assert data["sourceAmountEur"] == "1234.56"
    # 1234.56 * 1.0746 = 1326.658176
    assert data["destinationAmount"] == "1326.658176"
    assert Order.objects.get(pk=quote_id).source_amount == Decimal("1234.56")
