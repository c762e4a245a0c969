"""GET otc-exchanges and GET otc-exchanges/{id}: the order representation exactly, newest
first, pagination and its meta, the status/side filters, their validation, and 404s."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from otc.models import Order
from otc.services import Actor, order_approve, order_reject

from .test_api_support import (
    BUY_ORDER_FIELDS,
    FRESH_LIMITS,
    ORDERS,
    SELL_ORDER_FIELDS,
    assert_error,
    buy_quote_id,
    confirm,
    order_url,
    parse_iso,
    sell_quote_id,
)

pytestmark = pytest.mark.django_db


def spread_creation_times(order_ids: list[str]) -> None:
    """Give the orders distinct creation times, one minute apart, in the given order."""
    start = timezone.now() - timedelta(hours=1)
    for n, order_id in enumerate(order_ids):
        Order.objects.filter(pk=order_id).update(created_at=start + timedelta(minutes=n))


def test_buy_order_representation(acme):
    before = timezone.now()
    quote_id = buy_quote_id(acme)
    response = acme.client(acme.read_key).get(order_url(quote_id))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data"}
    data = body["data"]
    assert set(data) == BUY_ORDER_FIELDS
    created = parse_iso(data.pop("createdAt"))
    updated = parse_iso(data.pop("updatedAt"))
    ttl = parse_iso(data.pop("ttlExpiresAt"))
    assert before - timedelta(milliseconds=1) <= created <= updated <= timezone.now()
    assert ttl - created == pytest.approx(timedelta(seconds=60), abs=timedelta(seconds=1))
    assert data == {
        "id": quote_id,
        "status": "quoted",
        "side": "buy",
        "sourceCurrency": "EUR",
        "sourceAmount": "100.00",
        "destinationCurrency": "USDC",
        "destinationAmount": "107.460000",
        "rate": "1.074600",
        "indicativeRate": "1.074600",
        "indicativeDestinationAmount": "107.460000",
        "rateFinal": False,
        "sourceFrAccountId": str(acme.eur_master.pk),
        "destinationUtilaWalletId": str(acme.wallet.pk),
        "confirmedAt": None,
        "approvedAt": None,
        "completedAt": None,
        "rejectionReason": None,
        "failureReason": None,
        "pair": "EUR/USDC",
        "fixedSide": "source",
        "referenceRate": "1.080000",
        "fees": {
            "currency": "EUR",
            "total": "0.00",
            "lines": [{"type": "fx_markup", "description": "Desk FX markup", "bps": 50}],
        },
        "rejection": None,
        "cancellationCode": None,
        "sourceTransactionId": None,
        "destinationTransactionId": None,
        "maxSlippageBps": 100,
        "approvalDeadlineAt": None,
        "reviewExpiresAt": None,
        "limits": FRESH_LIMITS,
    }


def test_sell_order_representation(acme):
    quote_id = sell_quote_id(acme)
    data = acme.client().get(order_url(quote_id)).json()["data"]
    assert set(data) == SELL_ORDER_FIELDS
    assert {k: data[k] for k in SELL_ORDER_FIELDS - {"createdAt", "updatedAt", "ttlExpiresAt"}} == {
        "id": quote_id,
        "status": "quoted",
        "side": "sell",
        "sourceCurrency": "USDC",
        "sourceAmount": "100.000000",
        "destinationCurrency": "EUR",
        "destinationAmount": "92.12",
        "rate": "0.921296",
        "indicativeRate": "0.921296",
        "indicativeDestinationAmount": "92.12",
        "rateFinal": False,
        "sourceUtilaWalletId": str(acme.wallet.pk),
        "destinationFrAccountId": str(acme.eur_master.pk),
        "confirmedAt": None,
        "approvedAt": None,
        "completedAt": None,
        "rejectionReason": None,
        "failureReason": None,
        "pair": "EUR/USDC",
        "fixedSide": "source",
        "referenceRate": "0.925925",
        "fees": {
            "currency": "USDC",
            "total": "0.000000",
            "lines": [{"type": "fx_markup", "description": "Desk FX markup", "bps": 50}],
        },
        "rejection": None,
        "cancellationCode": None,
        "maxSlippageBps": 100,
        "approvalDeadlineAt": None,
        "reviewExpiresAt": None,
        "limits": FRESH_LIMITS,
        "sourceTransactionId": None,
        "destinationTransactionId": None,
    }


def test_completed_buy_shows_the_final_rate_fixed_at_approval(
    acme, operator, settings, django_capture_on_commit_callbacks
):
    quote_id = buy_quote_id(acme)
    with django_capture_on_commit_callbacks(execute=True):
        assert confirm(acme, quote_id).status_code == 201
    # The market moved before the desk approved: 1.10 * 0.995 = 1.094500.
    settings.OTC_PRICE_FEED = "static:1.100000"
    with django_capture_on_commit_callbacks(execute=True):
        order_approve(order_id=quote_id, actor=Actor.for_user(operator, "ops"))
    data = acme.client().get(order_url(quote_id)).json()["data"]
    assert data["status"] == "completed"
    assert data["rateFinal"] is True
    assert data["rate"] == "1.094500" and data["destinationAmount"] == "109.450000"
    assert data["indicativeRate"] == "1.074600"
    assert data["indicativeDestinationAmount"] == "107.460000"
    confirmed, approved, completed = (
        parse_iso(data[k]) for k in ("confirmedAt", "approvedAt", "completedAt")
    )
    assert parse_iso(data["createdAt"]) <= confirmed <= approved <= completed
    assert data["rejectionReason"] is None


def test_rejected_buy_shows_the_reason(acme, operator, django_capture_on_commit_callbacks):
    quote_id = buy_quote_id(acme)
    with django_capture_on_commit_callbacks(execute=True):
        confirm(acme, quote_id)
    order_reject(order_id=quote_id, actor=Actor.for_user(operator, "ops"), reason="KYC pending")
    data = acme.client().get(order_url(quote_id)).json()["data"]
    assert data["status"] == "rejected"
    assert data["rejectionReason"] == "KYC pending"
    assert data["rateFinal"] is False and data["approvedAt"] is None


@pytest.mark.parametrize("which", ["globex", "unknown", "not-a-uuid"])
def test_detail_of_an_order_that_is_not_the_callers(acme, globex, which):
    order_id = {
        "globex": lambda: buy_quote_id(globex),
        "unknown": lambda: str(uuid.uuid4()),
        "not-a-uuid": lambda: "order-1",
    }[which]()
    assert_error(acme.client().get(order_url(order_id)), 404, "ORDER_NOT_FOUND")


# --- list -----------------------------------------------------------------------------------


def test_list_shape_newest_first(acme):
    ids = [buy_quote_id(acme), sell_quote_id(acme), buy_quote_id(acme, "20.00")]
    spread_creation_times(ids)
    response = acme.client(acme.read_key).get(ORDERS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "meta"}
    assert body["meta"] == {"pagination": {"page": 1, "limit": 50, "total": 3}}
    assert [row["id"] for row in body["data"]] == list(reversed(ids))
    # The list rows are the detail's representation.
    for row in body["data"]:
        assert row == acme.client().get(order_url(row["id"])).json()["data"]
    newest = body["data"][0]
    assert newest["sourceAmount"] == "20.00" and newest["destinationAmount"] == "21.492000"
    assert set(body["data"][1]) == SELL_ORDER_FIELDS


def test_list_of_a_customer_without_orders(acme, globex):
    buy_quote_id(globex)
    body = acme.client().get(ORDERS).json()
    assert body == {"data": [], "meta": {"pagination": {"page": 1, "limit": 50, "total": 0}}}


def test_list_shows_only_the_callers_orders(acme, globex):
    mine = {buy_quote_id(acme), sell_quote_id(acme)}
    buy_quote_id(globex)
    body = acme.client().get(ORDERS).json()
    assert {row["id"] for row in body["data"]} == mine
    assert body["meta"]["pagination"]["total"] == 2


def test_pagination(acme):
    ids = [buy_quote_id(acme, f"{10 + n}.00") for n in range(5)]
    spread_creation_times(ids)
    newest_first = list(reversed(ids))
    api = acme.client()
    pages = {}
    for page in (1, 2, 3, 4):
        body = api.get(ORDERS, {"page": page, "limit": 2}).json()
        assert body["meta"] == {"pagination": {"page": page, "limit": 2, "total": 5}}
        pages[page] = [row["id"] for row in body["data"]]
    assert pages == {
        1: newest_first[0:2],
        2: newest_first[2:4],
        3: newest_first[4:5],
        4: [],
    }


def test_limit_100_is_allowed(acme):
    body = acme.client().get(ORDERS, {"limit": 100}).json()
    assert body["meta"]["pagination"]["limit"] == 100


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": ""}, "page"),
        ({"limit": ""}, "limit"),
        ({"status": ""}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"status": "bogus"}, "status"),
        ({"status": "QUOTED"}, "status"),
        ({"side": "swap"}, "side"),
    ],
)
def test_bad_list_parameters_are_validation_errors(acme, params, field):
    err = assert_error(acme.client().get(ORDERS, params), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {field}


def test_status_and_side_filters(acme):
    buy_open = buy_quote_id(acme)
    buy_cancelled = buy_quote_id(acme)
    sell_open = sell_quote_id(acme)
    sell_confirmed = sell_quote_id(acme)
    assert acme.client().post(f"{ORDERS}/{buy_cancelled}/cancel").status_code == 200
    assert confirm(acme, sell_confirmed, side="sell").status_code == 201
    api = acme.client()

    def ids(**params):
        body = api.get(ORDERS, params).json()
        assert body["meta"]["pagination"]["total"] == len(body["data"])
        return {row["id"] for row in body["data"]}

    assert ids(status="quoted") == {buy_open, sell_open}
    assert ids(status="cancelled") == {buy_cancelled}
    assert ids(status="pending_approval") == {sell_confirmed}
    assert ids(status="completed") == set()
    assert ids(side="buy") == {buy_open, buy_cancelled}
    assert ids(side="sell") == {sell_open, sell_confirmed}
    assert ids(side="sell", status="quoted") == {sell_open}


def test_filters_paginate_with_their_own_total(acme):
    sells = [sell_quote_id(acme) for _ in range(3)]
    buy_quote_id(acme)
    spread_creation_times(sells)
    body = acme.client().get(ORDERS, {"side": "sell", "limit": 2, "page": 2}).json()
    assert body["meta"]["pagination"] == {"page": 2, "limit": 2, "total": 3}
    assert [row["id"] for row in body["data"]] == [sells[0]]


def test_amounts_in_the_list_are_fixed_decimal_strings(acme):
    buy_quote_id(acme, "1000")
    row = acme.client().get(ORDERS).json()["data"][0]
    assert row["sourceAmount"] == "1000.00"
    assert row["destinationAmount"] == "1074.600000"
    assert isinstance(row["rate"], str) and Decimal(row["rate"]) == Decimal("1.0746")
