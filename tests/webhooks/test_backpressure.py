"""What keeps a slow receiver from holding the webhook workers: one request in flight per
endpoint, a cap per customer, and a circuit breaker that pauses an endpoint which keeps timing
out. Waiting deliveries are sent when the request in their way ends, never by polling."""

from datetime import timedelta

import pytest
from django.utils import timezone

from otc.webhooks import services
from otc.webhooks.models import Delivery, WebhookEndpoint

from .test_delivery import quote_buy

pytestmark = pytest.mark.django_db


def held(endpoint: WebhookEndpoint, seconds: float = 10) -> None:
    """As if a worker were sending to ``endpoint`` right now."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        sending_until=timezone.now() + timedelta(seconds=seconds)
    )


def test_an_endpoint_with_a_request_in_flight_gets_no_second_one(acme, receiver):
    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    quote_buy(acme)
    delivery = Delivery.objects.get()
    held(endpoint)
    assert services.delivery_attempt(delivery_id=delivery.pk) is None  # no re-queue either
    assert receiver.requests == []
    delivery.refresh_from_db()
    assert delivery.attempt_count == 0


def test_a_customer_has_at_most_its_share_of_requests_in_flight(acme, globex, receiver, settings):
    assert settings.OTC_WEBHOOKS_CUSTOMER_CONCURRENCY == 2
    busy = [services.endpoint_create(customer=acme.customer, url=receiver.url) for _ in "ab"]
    third = services.endpoint_create(customer=acme.customer, url=receiver.url + "/third")
    theirs = services.endpoint_create(customer=globex.customer, url=receiver.url + "/globex")
    for endpoint in busy:
        held(endpoint)
    quote_buy(acme)
    quote_buy(globex)
    waiting = Delivery.objects.get(endpoint=third)
    assert services.delivery_attempt(delivery_id=waiting.pk) is None
    assert receiver.requests == []
    # Another customer is not held back by acme's requests in flight.
    services.delivery_attempt(delivery_id=Delivery.objects.get(endpoint=theirs).pk)
    assert [r.path for r in receiver.requests] == ["/hooks/globex"]

    # When one of acme's requests ends, what is due next is sent (eagerly, in tests).
    WebhookEndpoint.objects.filter(pk=busy[0].pk).update(sending_until=None)
    services.deliveries_kick(customer_id=acme.customer.pk)
    paths = [r.path for r in receiver.requests]
    assert "/hooks/third" in paths
    waiting.refresh_from_db()
    assert waiting.status == Delivery.Status.SUCCEEDED


def test_a_dead_workers_hold_lapses(acme, receiver):
    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    quote_buy(acme)
    delivery = Delivery.objects.get()
    # The worker holding the endpoint for this very delivery died: its redelivered message
    # comes back once the hold has lapsed, then sends.
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        sending_until=now + timedelta(seconds=7), sending_delivery_id=delivery.pk
    )
    assert 7 <= services.delivery_attempt(delivery_id=delivery.pk, now=now) <= 8
    assert receiver.requests == []
    services.delivery_attempt(delivery_id=delivery.pk, now=now + timedelta(seconds=8))
    assert len(receiver.requests) == 1


def test_an_endpoint_that_keeps_timing_out_is_paused_then_probed(
    acme, black_hole, receiver, settings
):
    settings.OTC_WEBHOOKS_TIMEOUT_SECONDS = 0.3
    assert settings.OTC_WEBHOOKS_PAUSE_AFTER_TIMEOUTS == 3
    endpoint = services.endpoint_create(customer=acme.customer, url=black_hole.url)
    for _ in range(4):
        quote_buy(acme)  # not sent on commit: we drive the attempts
    first, second, third, fourth = Delivery.objects.order_by("event__created_at")

    # The first attempt times out; its end sends the next due one, and so on (eagerly here):
    # three timeouts in a row, then the breaker opens and the fourth is not tried.
    assert services.delivery_attempt(delivery_id=first.pk) is not None
    assert black_hole.accepted == 3
    endpoint.refresh_from_db()
    assert endpoint.timeouts_in_a_row == 3
    pause = (endpoint.paused_until - timezone.now()).total_seconds()
    assert 55 < pause <= 60
    for delivery in (first, second, third):
        delivery.refresh_from_db()
        assert delivery.attempt_count == 1
        assert delivery.next_attempt_at >= endpoint.paused_until  # retries wait for the pause

    # What was waiting for the endpoint now waits for the end of the pause.
    fourth.refresh_from_db()
    assert (fourth.attempt_count, fourth.next_attempt_at) == (0, endpoint.paused_until)
    assert services.delivery_attempt(delivery_id=fourth.pk) is None

    # An event during the pause is moved to its end too when its task runs, without a request.
    quote_buy(acme)
    fifth = Delivery.objects.order_by("event__created_at").last()
    assert services.delivery_attempt(delivery_id=fifth.pk) == pytest.approx(pause, abs=2)
    assert black_hole.accepted == 3
    fifth.refresh_from_db()
    assert (fifth.attempt_count, fifth.next_attempt_at) == (0, endpoint.paused_until)
    assert fifth.attempts.count() == 0

    # After the pause one probe goes out; the receiver is back, the breaker closes.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=receiver.url)
    after = endpoint.paused_until + timedelta(seconds=1)
    assert services.delivery_attempt(delivery_id=first.pk, now=after) is None
    assert len(receiver.requests) == 1
    endpoint.refresh_from_db()
    assert (endpoint.timeouts_in_a_row, endpoint.paused_until) == (0, None)
    first.refresh_from_db()
    assert first.status == Delivery.Status.SUCCEEDED


def test_the_pause_doubles_with_every_further_timeout_up_to_a_cap(settings):
    settings.OTC_WEBHOOKS_PAUSE_SECONDS = 60
    assert [services.pause_seconds(n) for n in range(1, 8)] == [
        0,
        0,
        60,
        120,
        240,
        480,
        900,
    ]


def test_a_fast_failure_is_no_timeout_and_closes_the_breaker(acme, receiver, settings):
    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(timeouts_in_a_row=2)
    receiver.answer((503, 0, b"busy"))
    quote_buy(acme)
    services.delivery_attempt(delivery_id=Delivery.objects.get().pk)
    endpoint.refresh_from_db()
    assert (endpoint.timeouts_in_a_row, endpoint.paused_until) == (0, None)
