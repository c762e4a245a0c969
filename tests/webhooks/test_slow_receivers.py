"""One customer's slow receivers cannot stall anyone else. Real workers on Redis, started the
way production runs them (one pool for settlement, one for webhooks), against a black hole: a
TCP socket that accepts connections and never answers."""

import re
import time
import uuid

import pytest

from otc import services as otc_services
from otc.models import Channel, Order, Status
from otc.services import Actor
from otc.webhooks import services
from otc.webhooks.models import Delivery, DeliveryAttempt

from .processes import start_worker, stop, wait_ready
from .test_delivery import quote_buy

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

# "No more than a few seconds" on a busy 2-core machine; a settlement takes ~0.2 s unloaded.
SETTLEMENT_BUDGET_SECONDS = 5.0


def wait_for_status(order_id, status: str, timeout: float) -> float:
    """Seconds until the order reached ``status`` (fails after ``timeout``)."""
    started = time.monotonic()
    while True:
        order = Order.objects.get(pk=order_id)
        if order.status == status:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            pytest.fail(f"order stayed {order.status}, expected {status} within {timeout}s")
        time.sleep(0.05)


def wait_until(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.1)


def test_a_black_holed_receiver_delays_nobody_elses_settlement_or_webhooks(
    acme, globex, operator, receiver, black_hole, real_broker, tmp_path
):
    # The attacker (globex): every endpoint it may have, all pointing at the black hole.
    for n in range(services.MAX_ENDPOINTS_PER_CUSTOMER):
        services.endpoint_create(customer=globex.customer, url=f"{black_hole.url}/{n}")
    mine = services.endpoint_create(customer=acme.customer, url=receiver.url)

    settlement_log, webhooks_log = tmp_path / "settlement.log", tmp_path / "webhooks.log"
    settlement = start_worker(
        settlement_log, queues="settlement,default", concurrency=2, name="settlement"
    )
    webhooks = start_worker(
        webhooks_log,
        queues="webhooks",
        concurrency=4,
        name="webhooks",
        OTC_WEBHOOKS_TIMEOUT_SECONDS="10",  # the production value
    )
    try:
        wait_ready(settlement_log, settlement)
        wait_ready(webhooks_log, webhooks)

        for _ in range(3):
            quote_buy(globex)  # 3 events x 20 endpoints = 60 deliveries into the black hole
        wait_until(lambda: black_hole.accepted >= 2, 20, "the black hole got no request")

        # Another customer's buy, from confirm to completed, while the black hole holds on.
        order_id = quote_buy(acme, "2000.00")
        confirmed = acme.client().post(
            "/api/v1/otc-exchanges",
            {"side": "buy", "quoteId": order_id},
            format="json",
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert confirmed.status_code == 201, confirmed.content
        debit_settled_in = wait_for_status(order_id, Status.PENDING_APPROVAL, timeout=60)
        otc_services.order_approve(order_id=order_id, actor=Actor.for_user(operator, Channel.OPS))
        settled_in = wait_for_status(order_id, Status.COMPLETED, timeout=60)

        # ... and its webhooks: one per transition, delivered in order, just as quickly.
        requests = receiver.wait_for(5, timeout=3 * SETTLEMENT_BUDGET_SECONDS)
        assert [r.verify(mine.secret)["data"]["status"] for r in requests] == [
            "quoted",
            "debit_pending",
            "pending_approval",
            "approved",
            "completed",
        ]
        still_waiting = Delivery.objects.filter(
            endpoint__customer=globex.customer, status=Delivery.Status.PENDING
        ).count()
    finally:
        stop(settlement)
        stop(webhooks)
    deliveries = Delivery.objects.count()
    attempts_ended = DeliveryAttempt.objects.filter(finished_at__isnull=False).count()

    assert debit_settled_in < SETTLEMENT_BUDGET_SECONDS, debit_settled_in
    assert settled_in < SETTLEMENT_BUDGET_SECONDS, settled_in
    # The attacker held at most its share of the four webhook workers, never all of them.
    assert black_hole.most_open <= services.customer_concurrency() == 2
    assert still_waiting > 50  # the black hole was still holding its deliveries at the end
    # Waiting deliveries do not re-queue themselves: one task per delivery, plus per attempt
    # that ended its retry and at most ``customer_concurrency`` tasks for what is due next;
    # polling would be one per waiting delivery per second (about a thousand here).
    log = webhooks_log.read_text()
    runs = len(re.findall(r"otc\.webhooks\.tasks\.deliver\[[^\]]+\] received", log))
    assert runs <= deliveries + (1 + services.customer_concurrency()) * attempts_ended, runs
    print(
        f"debit settled in {debit_settled_in:.2f}s, completed {settled_in:.2f}s after approval; "
        f"{deliveries} deliveries, {attempts_ended} attempts ended, {runs} task runs, "
        f"black hole: {black_hole.accepted} connections, at most {black_hole.most_open} open"
    )
