"""A real Celery worker on Redis, killed (SIGKILL) in the middle of a delivery, and a new
worker that finishes it: late acknowledgement means the message was never lost, and the
attempt's lease means the two never send at the same time."""

import time

import pytest

from otc.webhooks import services
from otc.webhooks.models import Delivery

from .processes import kill, start_worker, stop, wait_ready
from .test_delivery import quote_buy

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_mid_delivery_does_not_lose_it(acme, receiver, real_broker, tmp_path):
    log = tmp_path / "worker.log"
    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    # The first request hangs long enough to kill the worker while it waits for the answer.
    receiver.answer((200, 5, b"too slow"))
    first = start_worker(log)
    second = None
    try:
        wait_ready(log, first, 1)
        quote_buy(acme)  # commits; the delivery task is published to Redis on commit
        receiver.wait_for(1, timeout=30)
        kill(first)  # no warm shutdown, no acknowledgement
        delivery = Delivery.objects.get(endpoint=endpoint)
        assert delivery.status == Delivery.Status.PENDING
        [interrupted] = delivery.attempts.all()
        assert interrupted.finished_at is None  # the log shows the attempt that never ended

        second = start_worker(log)
        wait_ready(log, second, 2)
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            delivery.refresh_from_db()
            if delivery.status == Delivery.Status.SUCCEEDED:
                break
            time.sleep(0.3)
        assert delivery.status == Delivery.Status.SUCCEEDED, log.read_text()[-4000:]
    finally:
        kill(first)
        if second is not None:
            stop(second)

    attempts = list(delivery.attempts.order_by("number"))
    assert [a.succeeded for a in attempts] == [False] * (len(attempts) - 1) + [True]
    assert attempts[0].finished_at is None
    assert len(receiver.requests) == len(attempts)  # never two sends for one attempt
    event_ids = {r.verify(endpoint.secret)["id"] for r in receiver.requests}
    assert event_ids == {str(delivery.event_id)}
