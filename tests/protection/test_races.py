"""Races with real threads on PostgreSQL (``transaction=True``): an order in price review
accepted, accepted again, cancelled and swept at once — exactly one wins and money moves
once; concurrent confirms cannot together pass the daily limit."""

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.errors import DomainError
from accounts.models import JournalEntry
from otc import services
from otc.models import Order, OrderTransition, Status
from tests.conftest import assert_ledger_invariants
from tests.otc.test_api_support import buy_quote_id

from .conftest import MID_BEYOND, QUOTED_MID, api_actor, balance, ops_actor, pending

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 4


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the races are run against PostgreSQL")


def client_for(world) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=world.write_key)
    return api


def accept_over_http(world, order, review):
    def call():
        response = client_for(world).post(
            f"/api/v1/otc-exchanges/{order.pk}/accept-price",
            {"rate": review["rate"], "destinationAmount": review["destinationAmount"]},
            format="json",
        )
        return "accept", response.status_code, response.json()

    return call


def accept_through_service(world, order):
    def call():
        try:
            services.order_accept_price(
                order_id=order.pk,
                customer=world.customer,
                rate=order.review_rate,
                destination_amount=order.review_destination_amount,
                actor=api_actor(world),
            )
        except DomainError as exc:
            return "accept", exc.status, exc.code
        return "accept", 200, "ok"

    return call


def cancel_over_http(world, order):
    def call():
        response = client_for(world).post(f"/api/v1/otc-exchanges/{order.pk}/cancel")
        return "cancel", response.status_code, response.json()

    return call


def sweep(order):
    def call():
        return "sweep", services.orders_sweep(now=order.review_expires_at + timedelta(hours=1))

    return call


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_accept_cancel_sweep_and_a_second_accept_exactly_one_wins(
    acme, desk, operator, settings, run_concurrently, round_
):
    eur_before, usdc_before = balance(acme.eur_master), balance(acme.wallet)
    settings.OTC_PRICE_FEED = f"static:{QUOTED_MID}"
    order = pending(acme)
    settings.OTC_PRICE_FEED = f"static:{MID_BEYOND}"
    services.order_approve(order_id=order.pk, actor=ops_actor(operator))
    order.refresh_from_db()
    assert order.status == Status.PRICE_REVIEW
    review = client_for(acme).get(f"/api/v1/otc-exchanges/{order.pk}/review").json()["data"]

    racers = [
        accept_over_http(acme, order, review),
        accept_through_service(acme, order),
        cancel_over_http(acme, order),
        sweep(order),
    ]
    results = run_concurrently(racers)

    assert all(kind == "ok" for kind, _ in results), results
    outcomes = [value for _, value in results]
    winners = [
        outcome
        for outcome in outcomes
        if (outcome[0] == "sweep" and outcome[1] == 1)
        or (outcome[0] != "sweep" and outcome[1] == 200)
    ]
    assert len(winners) == 1, outcomes
    for outcome in outcomes:
        if outcome in winners or outcome[0] == "sweep":
            continue
        code = outcome[2] if isinstance(outcome[2], str) else outcome[2]["error"]["code"]
        assert code in {"REVIEW_NOT_FOUND", "NOT_CANCELLABLE"}, outcomes

    order.refresh_from_db()
    out_of_review = OrderTransition.objects.filter(order=order, from_status=Status.PRICE_REVIEW)
    assert out_of_review.count() == 1
    refunds = JournalEntry.objects.filter(reference_id=order.pk, kind=JournalEntry.Kind.REFUND)
    settlements = JournalEntry.objects.filter(
        reference_id=order.pk, kind=JournalEntry.Kind.ORDER_SETTLEMENT
    )
    if winners[0][0] == "accept":
        assert order.status == Status.COMPLETED  # settled at commit (eager worker)
        assert (refunds.count(), settlements.count()) == (0, 1)
        assert order.final_destination_amount == order.review_destination_amount
        assert balance(acme.wallet) == usdc_before + order.review_destination_amount
        assert balance(acme.eur_master) == eur_before - order.source_amount
    else:
        assert order.status == Status.CANCELLED
        expected = "CUSTOMER_DECLINED_PRICE" if winners[0][0] == "cancel" else "REVIEW_EXPIRED"
        assert order.cancellation_code == expected
        assert (refunds.count(), settlements.count()) == (1, 0)
        assert balance(acme.wallet) == usdc_before
        assert balance(acme.eur_master) == eur_before
    assert_ledger_invariants()


def confirm_over_http(world, quote_id):
    def call():
        response = client_for(world).post(
            "/api/v1/otc-exchanges",
            {"quoteId": quote_id, "side": "buy"},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        return response.status_code, json.loads(response.content)

    return call


def test_concurrent_confirms_cannot_together_pass_the_daily_limit(acme, desk, run_concurrently):
    acme.customer.daily_limit_eur = Decimal("2500.00")
    acme.customer.save(update_fields=["daily_limit_eur"])
    quote_ids = [buy_quote_id(acme, "1000.00", client=client_for(acme)) for _ in range(5)]
    eur_before = balance(acme.eur_master)

    results = run_concurrently([confirm_over_http(acme, quote_id) for quote_id in quote_ids])

    assert all(kind == "ok" for kind, _ in results), results
    statuses = sorted(status for _, (status, _) in results)
    assert statuses == [201, 201, 422, 422, 422], results
    for _, (status, body) in results:
        if status == 422:
            assert body["error"]["code"] == "DAILY_LIMIT_EXCEEDED"
            assert body["error"]["details"]["dailyMax"] == "2500.00"
            assert Decimal(body["error"]["details"]["dailyRemaining"]) < Decimal("1000.00")
    confirmed = Order.objects.filter(pk__in=quote_ids, confirmed_at__isnull=False)
    assert confirmed.count() == 2
    assert services.daily_limits(acme.customer).daily_used == Decimal("2000.00")
    assert balance(acme.eur_master) == eur_before - Decimal("2000.00")
    assert_ledger_invariants()
