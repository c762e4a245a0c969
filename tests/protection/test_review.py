"""The price review: GET …/review, POST …/accept-price (exactly the reviewed price, 409
REVIEW_CHANGED for other figures, 400 REVIEW_EXPIRED when late) and cancel from review (a
buy's EUR refunded)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import money
from accounts.errors import DomainError
from accounts.models import JournalEntry
from otc import services
from otc.models import Order, OrderTransition, Side, Status
from otc.webhooks.models import Event
from tests import factories
from tests.otc.test_api_support import ISO_MS, assert_error, cancel_url, order_url

from .conftest import api_actor, balance

pytestmark = pytest.mark.django_db


def review_url(order) -> str:
    return f"/api/v1/otc-exchanges/{order.pk}/review"


def accept_url(order) -> str:
    return f"/api/v1/otc-exchanges/{order.pk}/accept-price"


def accept(world, order, rate, destination):
    return world.client().post(
        accept_url(order), {"rate": rate, "destinationAmount": destination}, format="json"
    )


def test_the_review_shows_the_quoted_figures_beside_the_firm_price(acme, in_review):
    order = in_review()
    response = acme.client().get(review_url(order))
    assert response.status_code == 200
    body = response.json()["data"]
    assert body["orderId"] == str(order.pk)
    assert body["previousRate"] == money.format_rate(order.indicative_rate) == "1.074600"
    assert body["previousDestinationAmount"] == "1074.600000"
    assert body["rate"] == money.format_rate(order.review_rate) == "1.054700"  # 1.06 * 0.995
    assert body["destinationAmount"] == "1054.700000"
    assert body["sourceAmount"] == "1000.00"
    assert (body["sourceCurrency"], body["destinationCurrency"]) == ("EUR", "USDC")
    assert body["maxSlippageBps"] == 100
    assert body["fees"]["currency"] == "EUR"
    assert ISO_MS.match(body["expiresAt"])
    order_body = acme.client().get(order_url(order.pk)).json()["data"]
    assert order_body["status"] == "price_review"
    assert order_body["reviewExpiresAt"] == body["expiresAt"]


def test_the_review_ttl_is_the_setting(acme, in_review, settings):
    settings.OTC_REVIEW_TTL_SECONDS = 300
    before = timezone.now()
    order = in_review()
    assert before + timedelta(seconds=299) < order.review_expires_at
    assert order.review_expires_at <= timezone.now() + timedelta(seconds=300)


def test_no_review_for_an_order_not_in_review(acme, operator):
    from .conftest import pending

    order = pending(acme)
    assert_error(acme.client().get(review_url(order)), 404, "REVIEW_NOT_FOUND")
    assert_error(accept(acme, order, "1.074600", "1074.600000"), 404, "REVIEW_NOT_FOUND")
    with pytest.raises(DomainError) as missing:
        services.order_review_get(order_id=order.pk, customer=acme.customer)
    assert (missing.value.code, missing.value.status) == ("REVIEW_NOT_FOUND", 404)


def test_another_customers_review_is_not_found(acme, globex, in_review):
    order = in_review(acme)
    assert_error(globex.client().get(review_url(order)), 404, "ORDER_NOT_FOUND")
    assert_error(accept(globex, order, "1.054700", "1054.700000"), 404, "ORDER_NOT_FOUND")


@pytest.mark.parametrize(
    "rate, destination",
    [("1.074600", "1054.700000"), ("1.054700", "1074.600000"), ("1.054701", "1054.700000")],
    ids=["old-rate", "old-destination", "rate-off-by-one"],
)
def test_figures_other_than_the_reviews_are_refused(acme, in_review, rate, destination):
    order = in_review()
    err = assert_error(accept(acme, order, rate, destination), 409, "REVIEW_CHANGED")
    assert err["details"] == {"rate": "1.054700", "destinationAmount": "1054.700000"}
    order.refresh_from_db()
    assert order.status == Status.PRICE_REVIEW and order.final_rate is None


def test_a_late_acceptance_is_refused_and_the_order_stays_in_review(acme, in_review):
    order = in_review()
    Order.objects.filter(pk=order.pk).update(review_expires_at=timezone.now())
    err = assert_error(accept(acme, order, "1.054700", "1054.700000"), 400, "REVIEW_EXPIRED")
    assert "expiresAt" in err["details"]
    order.refresh_from_db()
    assert order.status == Status.PRICE_REVIEW
    assert not JournalEntry.objects.filter(
        reference_id=order.pk, kind=JournalEntry.Kind.ORDER_SETTLEMENT
    ).exists()


def test_accepting_executes_at_exactly_the_review_price_and_settles(
    acme, desk, in_review, market, django_capture_on_commit_callbacks
):
    order = in_review()
    review = acme.client().get(review_url(order)).json()["data"]
    usdc_before, treasury_before = balance(acme.wallet), balance(desk["usdc"])
    market(Decimal("1.020000"))  # the market moves again: the reviewed price still holds

    with django_capture_on_commit_callbacks(execute=True):
        response = accept(acme, order, review["rate"], review["destinationAmount"])

    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"orderId": str(order.pk), "status": "approved"}
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    assert money.format_rate(order.final_rate) == review["rate"]
    assert order.final_destination_amount == Decimal(review["destinationAmount"])
    assert order.final_mid_rate == Decimal("1.060000")
    assert balance(acme.wallet) == usdc_before + Decimal("1054.700000")
    assert balance(desk["usdc"]) == treasury_before - Decimal("1054.700000")
    body = acme.client().get(order_url(order.pk)).json()["data"]
    assert (body["rate"], body["destinationAmount"], body["rateFinal"]) == (
        "1.054700",
        "1054.700000",
        True,
    )
    steps = list(order.transitions.values_list("from_status", "to_status"))
    assert steps[-2:] == [
        (Status.PRICE_REVIEW, Status.APPROVED),
        (Status.APPROVED, Status.COMPLETED),
    ]
    assert Event.objects.filter(order_id=order.pk, type="otc_order.approved").count() == 1
    # Once accepted there is nothing left to review or accept.
    assert_error(
        accept(acme, order, review["rate"], review["destinationAmount"]), 404, "REVIEW_NOT_FOUND"
    )


def test_accepting_through_the_service_with_review_decimals_written_differently(acme, in_review):
    order = in_review()
    services.order_accept_price(
        order_id=order.pk,
        customer=acme.customer,
        rate=Decimal("1.0547"),
        destination_amount=Decimal("1054.7"),
        actor=api_actor(acme),
    )
    order.refresh_from_db()
    assert order.status == Status.APPROVED and order.final_rate == Decimal("1.054700")


def test_cancel_from_review_refunds_a_buys_eur_with_its_fees(acme, desk, in_review):
    eur_before = balance(acme.eur_master)
    order = in_review()
    assert balance(acme.eur_master) == eur_before - Decimal("1000.00")
    treasury_before = balance(desk["eur"])

    response = acme.client().post(cancel_url(order.pk))

    assert response.status_code == 200, response.content
    assert response.json()["data"] == {"orderId": str(order.pk), "status": "cancelled"}
    order.refresh_from_db()
    assert order.status == Status.CANCELLED
    assert order.cancellation_code == "CUSTOMER_DECLINED_PRICE"
    assert balance(acme.eur_master) == eur_before
    assert balance(desk["eur"]) == treasury_before - (order.source_amount - order.fee_total)
    assert (
        JournalEntry.objects.filter(reference_id=order.pk, kind=JournalEntry.Kind.REFUND).count()
        == 1
    )
    step = OrderTransition.objects.get(order=order, to_status=Status.CANCELLED)
    assert step.from_status == Status.PRICE_REVIEW
    assert Event.objects.filter(order_id=order.pk, type="otc_order.cancelled").count() == 1
    assert_error(acme.client().post(cancel_url(order.pk)), 409, "NOT_CANCELLABLE")


def test_cancel_from_review_of_a_sell_moves_no_money(acme, in_review):
    usdc_before = balance(acme.wallet)
    order = in_review(side=Side.SELL)
    assert acme.client().post(cancel_url(order.pk)).status_code == 200
    order.refresh_from_db()
    assert order.status == Status.CANCELLED
    assert balance(acme.wallet) == usdc_before
    assert factories.order_entry_kinds(order.pk) == factories.HELD_AND_RELEASED


def test_a_pending_order_cannot_be_cancelled_by_the_customer(acme):
    from .conftest import pending

    order = pending(acme)
    assert_error(acme.client().post(cancel_url(order.pk)), 409, "NOT_CANCELLABLE")
