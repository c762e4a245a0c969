"""The portal's price review: the quoted price beside the new one, what changes, the time left
(written by the server, so right without JavaScript), accept and cancel through the same
services as POST …/accept-price and …/cancel, and only for the order's own customer."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import LedgerAccount
from otc.models import Order, Status
from otc.representations import review_representation

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(client, acme):
    client.force_login(acme.user)
    return client


def review_url(order):
    return reverse("portal:order_review", args=[order.pk])


def accept_url(order):
    return reverse("portal:order_accept_price", args=[order.pk])


def accept_body(order):
    review = review_representation(order)
    return {"rate": review["rate"], "destination_amount": review["destinationAmount"]}


def test_the_review_shows_the_old_price_beside_the_new_one(portal, in_review, settings):
    order = in_review()
    response = portal.get(review_url(order))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    review = response.context["review"]
    assert (review.previous_rate, review.new_rate) == ("1.074600", "1.054700")
    assert review.previous_destination == "1,074.600000 USDC"
    assert review.new_destination == "1,054.700000 USDC"
    assert review.destination_change == "\u221219.900000 USDC" and review.worse
    assert review.source == "1,000.00 EUR"  # what the customer pays does not change
    text = response.content.decode()
    assert 'data-testid="destination-change"' in text
    # The time left is in the page itself, not only in the script.
    left = response.context["left"]
    assert settings.OTC_REVIEW_TTL_SECONDS - 5 <= left.seconds <= settings.OTC_REVIEW_TTL_SECONDS
    assert f'data-time-left="{left.seconds}"' in text
    assert f"<strong data-time-left-text>{left.text}</strong>" in text
    assert left.text.startswith(("1 min", "2 min"))
    # The form sends back exactly the API's review figures.
    assert 'name="rate" value="1.054700"' in text
    assert 'name="destination_amount" value="1054.700000"' in text


def test_the_order_page_points_to_the_review(portal, in_review):
    order = in_review()
    text = portal.get(reverse("portal:order", args=[order.pk])).content.decode()
    assert "A new price needs your answer" in text
    assert review_url(order) in text
    assert "Cancel quote" not in text  # the review screen is where the order is cancelled


def test_accepting_executes_at_exactly_the_reviewed_price(
    portal, in_review, django_capture_on_commit_callbacks
):
    order = in_review()
    with django_capture_on_commit_callbacks(execute=True):
        response = portal.post(accept_url(order), accept_body(order))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:order", args=[order.pk])
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    assert (order.final_rate, order.final_destination_amount) == (
        Decimal("1.054700"),
        Decimal("1054.700000"),
    )
    step = order.transitions.get(to_status=Status.APPROVED)
    assert (step.from_status, step.channel) == (Status.PRICE_REVIEW, "portal")


def test_a_changed_price_is_refused_and_the_order_stays_in_review(portal, in_review):
    order = in_review()
    response = portal.post(
        accept_url(order), {"rate": "1.074600", "destination_amount": "1074.600000"}
    )
    assert response.status_code == 409
    assert response.context["problem"].code == "REVIEW_CHANGED"
    assert "is not the one you accepted" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Status.PRICE_REVIEW


def test_garbled_figures_are_a_changed_price(portal, in_review):
    order = in_review()
    response = portal.post(accept_url(order), {"rate": "abc", "destination_amount": ""})
    assert response.status_code == 409
    assert Order.objects.get(pk=order.pk).status == Status.PRICE_REVIEW


def test_a_late_acceptance_is_refused_and_the_page_says_so(portal, in_review):
    order = in_review()
    body = accept_body(order)
    Order.objects.filter(pk=order.pk).update(
        review_expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = portal.post(accept_url(order), body)
    assert response.status_code == 400
    assert response.context["problem"].code == "REVIEW_EXPIRED"
    text = response.content.decode()
    assert "This price has expired" in text
    # Without JavaScript the expired state is what the server renders: no accept button.
    assert response.context["left"].passed
    assert 'id="accept-price"' in text and "data-live-only hidden" in text
    assert Order.objects.get(pk=order.pk).status == Status.PRICE_REVIEW


def test_cancelling_from_review_refunds_a_buy(
    portal, acme, in_review, django_capture_on_commit_callbacks
):
    order = in_review()
    before = LedgerAccount.objects.get(pk=acme.eur_master.ledger_account_id).balance
    with django_capture_on_commit_callbacks(execute=True):
        response = portal.post(reverse("portal:order_cancel", args=[order.pk]), follow=True)
    order.refresh_from_db()
    assert (order.status, order.cancellation_code) == (Status.CANCELLED, "CUSTOMER_DECLINED_PRICE")
    assert "Order cancelled; nothing was exchanged. Your EUR is being refunded." in (
        response.content.decode()
    )
    after = LedgerAccount.objects.get(pk=acme.eur_master.ledger_account_id).balance
    assert after == before + order.source_amount


def test_an_order_not_in_review_goes_to_its_page(portal, acme, completed):
    order = completed()
    response = portal.get(review_url(order))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:order", args=[order.pk])
    response = portal.post(accept_url(order), {"rate": "1.0", "destination_amount": "1.0"})
    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == Status.COMPLETED


def test_another_customers_review_is_not_found(client, globex, acme, in_review):
    order = in_review(acme)
    client.force_login(globex.user)
    assert client.get(review_url(order)).status_code == 404
    assert client.post(accept_url(order), accept_body(order)).status_code == 404
    assert client.get(reverse("portal:order_review", args=[uuid.uuid4()])).status_code == 404
    assert Order.objects.get(pk=order.pk).status == Status.PRICE_REVIEW


def test_a_sell_review_shows_the_eur_change(portal, in_review):
    order = in_review(side="sell")
    review = portal.get(review_url(order)).context["review"]
    assert review.source == "1,000.000000 USDC"
    assert review.new_destination.endswith(" EUR") and review.destination_change.startswith(
        "\u2212"
    )


def test_the_dashboard_and_the_lists_point_to_a_waiting_review(portal, in_review):
    order = in_review()
    dashboard = portal.get(reverse("portal:dashboard"))
    assert [o.pk for o in dashboard.context["awaiting_answer"]] == [order.pk]
    text = dashboard.content.decode()
    assert "1 order needs your answer to a new price" in text
    assert review_url(order) in text
    assert review_url(order) in portal.get(reverse("portal:orders")).content.decode()


def test_no_call_out_without_a_review(portal, acme, completed):
    completed()
    dashboard = portal.get(reverse("portal:dashboard"))
    assert dashboard.context["awaiting_answer"] == []
    assert 'data-testid="awaiting-answer"' not in dashboard.content.decode()


def test_accepting_needs_a_verified_customer(portal, acme, in_review):
    order = in_review()
    acme.customer.kyc_status = "expired"
    acme.customer.save(update_fields=["kyc_status"])
    review = review_representation(order)
    response = portal.post(
        reverse("portal:order_accept_price", args=[order.pk]),
        {"rate": review["rate"], "destination_amount": review["destinationAmount"]},
    )
    assert response.status_code == 403
    assert response.context["problem"].code == "KYC_NOT_VERIFIED"
    assert "verification (KYC) is not complete" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == Status.PRICE_REVIEW
