"""The seed's whole flow over HTTP, watched through the API's own balance routes: a buy and a
sell go quote -> confirm -> approve -> completed with balances moving by exactly the amounts
shown; a rejected buy gets its EUR back."""

import pytest

from otc.services import Actor, order_approve, order_reject

from .test_api_support import (
    ACCOUNTS,
    ORDERS,
    assert_error,
    balance_url,
    buy_body,
    cancel_url,
    confirm,
    order_url,
    quote,
    sell_body,
)

pytestmark = pytest.mark.django_db


def eur_balance(world, account) -> str:
    rows = world.client().get(ACCOUNTS).json()["data"]
    return next(row["balance"] for row in rows if row["id"] == str(account.pk))


def usdc_balance(world, wallet) -> str:
    return world.client().get(balance_url(wallet.pk)).json()["data"]["usdcBalance"]


def test_buy_end_to_end(acme, operator, django_capture_on_commit_callbacks):
    api = acme.client()
    assert eur_balance(acme, acme.eur_master) == "250000.00"
    assert usdc_balance(acme, acme.wallet) == "100000.000000"

    data = quote(acme, buy_body(acme, "1000.00")).json()["data"]
    assert (data["rate"], data["destinationAmount"]) == ("1.074600", "1074.600000")
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(acme, data["quoteId"])
    assert response.json()["data"]["status"] == "debit_pending"
    assert eur_balance(acme, acme.eur_master) == "249000.00"
    assert api.get(order_url(data["quoteId"])).json()["data"]["status"] == "pending_approval"
    assert_error(api.post(cancel_url(data["quoteId"])), 409, "NOT_CANCELLABLE")

    with django_capture_on_commit_callbacks(execute=True):
        order_approve(order_id=data["quoteId"], actor=Actor.for_user(operator, "ops"))
    order = api.get(order_url(data["quoteId"])).json()["data"]
    assert order["status"] == "completed"
    assert (order["rate"], order["destinationAmount"]) == ("1.074600", "1074.600000")
    assert usdc_balance(acme, acme.wallet) == "101074.600000"
    assert eur_balance(acme, acme.eur_master) == "249000.00"
    listed = api.get(ORDERS, {"status": "completed"}).json()["data"]
    assert [row["id"] for row in listed] == [data["quoteId"]]


def test_sell_end_to_end(acme, operator, django_capture_on_commit_callbacks):
    api = acme.client()
    data = quote(acme, sell_body(acme, "250.000000")).json()["data"]
    # 250 * 0.921296 = 230.324 -> 230.32
    assert (data["rate"], data["destinationAmount"]) == ("0.921296", "230.32")
    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(acme, data["quoteId"], side="sell")
    assert response.json()["data"]["status"] == "pending_approval"
    # Nothing moved at confirm.
    assert usdc_balance(acme, acme.wallet) == "100000.000000"
    assert eur_balance(acme, acme.eur_master) == "250000.00"

    with django_capture_on_commit_callbacks(execute=True):
        order_approve(order_id=data["quoteId"], actor=Actor.for_user(operator, "ops"))
    order = api.get(order_url(data["quoteId"])).json()["data"]
    assert order["status"] == "completed" and order["rateFinal"] is True
    assert (order["rate"], order["destinationAmount"]) == ("0.921296", "230.32")
    assert usdc_balance(acme, acme.wallet) == "99750.000000"
    assert eur_balance(acme, acme.eur_master) == "250230.32"


def test_rejected_buy_gets_its_eur_back(acme, operator, django_capture_on_commit_callbacks):
    data = quote(acme, buy_body(acme, "500.00")).json()["data"]
    with django_capture_on_commit_callbacks(execute=True):
        confirm(acme, data["quoteId"])
    assert eur_balance(acme, acme.eur_master) == "249500.00"
    order_reject(
        order_id=data["quoteId"], actor=Actor.for_user(operator, "ops"), reason="Out of hours"
    )
    order = acme.client().get(order_url(data["quoteId"])).json()["data"]
    assert (order["status"], order["rejectionReason"]) == ("rejected", "Out of hours")
    assert eur_balance(acme, acme.eur_master) == "250000.00"
    assert usdc_balance(acme, acme.wallet) == "100000.000000"
