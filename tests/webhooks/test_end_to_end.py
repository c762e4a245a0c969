"""End to end through the API: register an endpoint, run a buy to completion, and receive one
signed, verifiable event per transition, in the order they happened, each retried until the
receiver acknowledged it."""

import uuid

import pytest

from otc import services as otc_services
from otc.models import Channel, OrderTransition
from otc.services import Actor
from otc.webhooks import services
from otc.webhooks.models import Delivery

from .conftest import all_scopes_key

pytestmark = pytest.mark.django_db

BUY_STATUSES = ["quoted", "debit_pending", "pending_approval", "approved", "completed"]


def test_a_buy_to_completion_delivers_every_transition_in_order(
    acme, operator, receiver, django_capture_on_commit_callbacks
):
    api = acme.client(all_scopes_key(acme.customer))
    created = api.post(
        "/api/v1/webhook-endpoints", {"url": receiver.url, "description": "e2e"}, format="json"
    )
    assert created.status_code == 201
    secret = created.json()["data"]["secret"]
    endpoint_id = created.json()["data"]["id"]
    # The receiver is briefly down when the approval happens: that event must be retried.
    receiver.answer(*[(200, 0, b"ok")] * 3, (500, 0, b"deploying"))

    with django_capture_on_commit_callbacks(execute=True):
        quote = api.post(
            "/api/v1/otc-exchanges/quote",
            {
                "side": "buy",
                "sourceFrAccountId": str(acme.eur_master.pk),
                "destinationUtilaWalletId": str(acme.wallet.pk),
                "sourceAmountEur": "250.00",
            },
            format="json",
        )
    order_id = quote.json()["data"]["quoteId"]
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = api.post(
            "/api/v1/otc-exchanges",
            {"side": "buy", "quoteId": order_id},
            format="json",
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
    assert confirmed.status_code == 201, confirmed.content
    with django_capture_on_commit_callbacks(execute=True):
        otc_services.order_approve(order_id=order_id, actor=Actor.for_user(operator, Channel.OPS))
    assert api.get(f"/api/v1/otc-exchanges/{order_id}").json()["data"]["status"] == "completed"

    # Five transitions, five events, in order; the approval's first attempt got a 500.
    first_tries = receiver.wait_for(5)
    payloads = [r.verify(secret) for r in first_tries]
    assert [p["type"] for p in payloads] == [f"otc_order.{s}" for s in BUY_STATUSES]
    assert [p["data"]["status"] for p in payloads] == BUY_STATUSES
    assert [p["data"]["previousStatus"] for p in payloads] == [None, *BUY_STATUSES[:-1]]
    assert {p["data"]["id"] for p in payloads} == {order_id}
    assert len({p["id"] for p in payloads}) == 5
    assert [p["createdAt"] for p in payloads] == sorted(p["createdAt"] for p in payloads)
    transitions = OrderTransition.objects.filter(order_id=order_id).order_by("created_at", "id")
    assert [t.to_status for t in transitions] == BUY_STATUSES
    completed = payloads[-1]["data"]
    assert completed["rateFinal"] is True and completed["completedAt"] is not None

    approved = Delivery.objects.get(event__type="otc_order.approved")
    assert approved.status == Delivery.Status.PENDING and approved.last_status_code == 500
    # Its retry, when due, is acknowledged; the same event, the same id, verifiable.
    services.delivery_attempt(delivery_id=approved.pk, now=approved.next_attempt_at)
    retried = receiver.wait_for(6)[5]
    assert retried.verify(secret) == payloads[3]
    assert retried.headers["webhook-id"] == payloads[3]["id"]

    log = api.get(f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries").json()["data"]
    assert len(log) == 5 and {d["status"] for d in log} == {"succeeded"}
    by_type = {d["eventType"]: d for d in log}
    assert [a["statusCode"] for a in by_type["otc_order.approved"]["attempts"]] == [500, 200]

    # The feed tells the same story to a customer that was down.
    feed = api.get("/api/v1/events").json()["data"]
    assert feed == payloads
