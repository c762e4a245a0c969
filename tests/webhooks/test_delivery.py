"""Delivery to a real HTTP receiver on loopback: signing, the outbox, retries and their
schedule (time passed in, never waited for), timeouts, redirects, giving up, disabling,
redelivery and secret rotation."""

import itertools
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from otc import services as otc_services
from otc.models import Order
from otc.services import Actor
from otc.webhooks import services
from otc.webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db


def quote_buy(world, amount="100.00") -> str:
    response = world.client().post(
        "/api/v1/otc-exchanges/quote",
        {
            "side": "buy",
            "sourceFrAccountId": str(world.eur_master.pk),
            "destinationUtilaWalletId": str(world.wallet.pk),
            "sourceAmountEur": amount,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["data"]["quoteId"]


@pytest.fixture
def endpoint(acme, receiver):
    return services.endpoint_create(customer=acme.customer, url=receiver.url)


def test_a_transition_delivers_one_signed_event_with_the_order(
    acme, endpoint, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order_id = quote_buy(acme)

    [request] = receiver.wait_for(1)
    payload = request.verify(endpoint.secret)
    assert payload["type"] == "otc_order.quoted"
    assert payload["data"]["id"] == order_id
    assert payload["data"]["status"] == "quoted"
    assert payload["data"]["previousStatus"] is None
    assert payload["data"]["sourceAmount"] == "100.00"
    assert payload["createdAt"].endswith("Z")
    event = Event.objects.get(pk=payload["id"])
    assert request.headers["webhook-id"] == str(event.pk)
    assert request.headers["content-type"] == "application/json"
    delivery = Delivery.objects.get(event=event, endpoint=endpoint)
    assert delivery.status == Delivery.Status.SUCCEEDED
    [attempt] = delivery.attempts.all()
    assert attempt.status_code == 200 and attempt.succeeded and attempt.duration_ms is not None


def test_a_wrong_secret_or_a_tampered_body_does_not_verify(
    acme, endpoint, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    [request] = receiver.wait_for(1)
    with pytest.raises(WebhookVerificationError):
        Webhook(services.secret_generate()).verify(request.body, request.headers)
    tampered = request.body.replace(b'"100.00"', b'"999.00"')
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(tampered, request.headers)


def test_a_transition_that_rolls_back_emits_and_sends_nothing(
    acme, endpoint, receiver, django_capture_on_commit_callbacks
):
    order_id = None
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        order = otc_services.quote_create(
            customer=acme.customer,
            side="buy",
            fiat_account_id=acme.eur_master.pk,
            wallet_id=acme.wallet.pk,
            amount=Decimal("100.00"),
            actor=Actor.system("test"),
        )
        order_id = order.pk
        assert Event.objects.filter(order_id=order_id).exists()  # written in the transaction
        raise RuntimeError("the transition fails after the event was written")
    assert callbacks == []
    assert not Order.objects.filter(pk=order_id).exists()
    assert not Event.objects.filter(order_id=order_id).exists()
    assert Delivery.objects.count() == 0
    assert receiver.requests == []


def test_endpoints_receive_only_the_event_types_they_subscribed_to(
    acme, receiver, django_capture_on_commit_callbacks
):
    services.endpoint_create(
        customer=acme.customer, url=receiver.url, events=["otc_order.completed"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    assert Event.objects.filter(type="otc_order.quoted").count() == 1
    assert Delivery.objects.count() == 0
    assert receiver.requests == []


def test_another_customers_endpoint_gets_nothing(
    acme, globex, receiver, django_capture_on_commit_callbacks
):
    services.endpoint_create(customer=globex.customer, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    assert receiver.requests == []


def test_the_retry_schedule_backs_off_exponentially_for_about_a_day():
    schedule = services.retry_schedule()
    assert schedule[:4] == [10, 30, 90, 270]
    assert all(later >= earlier for earlier, later in itertools.pairwise(schedule))
    assert max(schedule) == services.RETRY_CAP_SECONDS
    total_hours = sum(schedule) / 3600
    assert 20 <= total_hours <= 28
    # jitter spreads each delay by at most 20% either way
    assert services.retry_delay(3, 0.8) == pytest.approx(72)
    assert services.retry_delay(3, 1.2) == pytest.approx(108)


def _due(delivery_id):
    return Delivery.objects.get(pk=delivery_id).next_attempt_at


def test_a_500_is_retried_on_the_schedule_until_acknowledged(
    acme, endpoint, receiver, django_capture_on_commit_callbacks
):
    receiver.answer((500, 0, b"boom"), (500, 0, b"boom again"), (503, 0, b"later"))
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    delivery = Delivery.objects.get()
    # The first attempt ran on commit and failed; the next is scheduled, not sent.
    assert len(receiver.requests) == 1
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempt_count == 1
    assert delivery.last_status_code == 500

    # Before it is due, nothing is sent.
    early = delivery.last_attempt_at + timedelta(seconds=1)
    assert services.delivery_attempt(delivery_id=delivery.pk, now=early) is None
    assert len(receiver.requests) == 1

    clock = delivery.last_attempt_at
    for attempt in (2, 3, 4):
        due = _due(delivery.pk)
        waited = (due - clock).total_seconds()
        nominal = services.retry_delay(attempt - 1)
        assert nominal * 0.8 <= waited <= nominal * 1.2, (attempt, waited, nominal)
        clock = due
        retry_in = services.delivery_attempt(delivery_id=delivery.pk, now=due)
        assert len(receiver.requests) == attempt
        if attempt < 4:
            assert retry_in == pytest.approx((_due(delivery.pk) - due).total_seconds())
        else:
            assert retry_in is None

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    codes = [a.status_code for a in delivery.attempts.order_by("number")]
    assert codes == [500, 500, 503, 200]
    assert delivery.attempts.first().response_excerpt == "boom"
    # the same event id on every retry, so the receiver can de-duplicate
    assert {r.headers["webhook-id"] for r in receiver.requests} == {str(delivery.event_id)}
    for request in receiver.requests:
        request.verify(endpoint.secret)


def test_a_timeout_counts_as_a_failure_and_is_retried(
    acme, endpoint, receiver, settings, django_capture_on_commit_callbacks
):
    settings.OTC_WEBHOOKS_TIMEOUT_SECONDS = 0.3  # the production value is 10 s
    receiver.answer((200, 1.5, b"too late"))
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING
    [attempt] = delivery.attempts.all()
    assert attempt.status_code is None
    assert attempt.error.startswith("Timed out after 0.3 s")
    nominal = services.retry_delay(1)
    waited = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert nominal * 0.8 <= waited <= nominal * 1.2

    services.delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempt_count == 2


def test_redirects_are_not_followed(acme, endpoint, receiver, django_capture_on_commit_callbacks):
    receiver.answer((302, 0, b"", {"Location": receiver.url + "/elsewhere"}))
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    assert [r.path for r in receiver.requests] == ["/hooks"]
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.last_status_code == 302 and delivery.last_error == "HTTP 302"


def _fail_for_good(delivery: Delivery, receiver) -> None:
    """Run every remaining attempt of ``delivery`` against a failing receiver."""
    while True:
        delivery.refresh_from_db()
        if delivery.status != Delivery.Status.PENDING:
            return
        receiver.answer((500, 0, b"down"))
        services.delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)


def test_after_the_last_attempt_the_delivery_is_failed(
    acme, endpoint, receiver, settings, django_capture_on_commit_callbacks
):
    receiver.answer((500, 0, b"down"))
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    delivery = Delivery.objects.get()
    first_attempt = delivery.last_attempt_at
    _fail_for_good(delivery, receiver)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempt_count == settings.OTC_WEBHOOKS_MAX_ATTEMPTS == 13
    assert len(receiver.requests) == 13
    span = delivery.last_attempt_at - first_attempt
    assert timedelta(hours=16) < span < timedelta(hours=34)  # "about a day", with jitter
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.consecutive_failures == 1
    assert endpoint.failing_since is not None


def test_an_endpoint_failing_for_a_long_run_of_events_is_disabled_with_the_reason(
    acme, endpoint, receiver, settings, django_capture_on_commit_callbacks
):
    settings.OTC_WEBHOOKS_MAX_ATTEMPTS = 2
    settings.OTC_WEBHOOKS_DISABLE_AFTER_FAILURES = 3
    for _ in range(3):
        receiver.answer((500, 0, b"down"))
        with django_capture_on_commit_callbacks(execute=True):
            quote_buy(acme)
        _fail_for_good(Delivery.objects.order_by("-created_at").first(), receiver)
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "3 deliveries in a row failed" in endpoint.disabled_reason
    assert "HTTP 500" in endpoint.disabled_reason
    # a disabled endpoint gets no new deliveries
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    assert Delivery.objects.count() == 3


def test_a_success_resets_the_failure_run(
    acme, endpoint, receiver, settings, django_capture_on_commit_callbacks
):
    settings.OTC_WEBHOOKS_MAX_ATTEMPTS = 1
    receiver.answer((500, 0, b"down"))
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.failing_since is None


def test_redeliver_sends_the_same_event_again_on_a_fresh_schedule(
    acme, endpoint, receiver, settings, django_capture_on_commit_callbacks
):
    settings.OTC_WEBHOOKS_MAX_ATTEMPTS = 1
    receiver.answer((500, 0, b"down"))
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_redeliver(endpoint=endpoint, event=delivery.event)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempts.count() == 2  # the log keeps the failed attempt
    first, second = receiver.requests
    assert first.body == second.body
    assert second.verify(endpoint.secret)["id"] == str(delivery.event_id)


def test_after_rotation_both_secrets_verify_during_the_grace_period(
    acme, endpoint, receiver, django_capture_on_commit_callbacks
):
    old_secret = endpoint.secret
    rotated = services.endpoint_rotate_secret(endpoint=endpoint)
    assert rotated.secret != old_secret and rotated.secret.startswith("whsec_")
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    [request] = receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    request.verify(rotated.secret)
    request.verify(old_secret)

    # after the grace period only the new secret signs
    rotated.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    rotated.save()
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    later = receiver.wait_for(2)[1]
    later.verify(rotated.secret)
    with pytest.raises(WebhookVerificationError):
        later.verify(old_secret)


def test_the_test_event_goes_to_one_endpoint_and_stays_out_of_the_feed(
    acme, endpoint, receiver, django_capture_on_commit_callbacks
):
    other = services.endpoint_create(customer=acme.customer, url=receiver.url + "/other")
    with django_capture_on_commit_callbacks(execute=True):
        services.endpoint_send_test(endpoint=endpoint)
    [request] = receiver.wait_for(1)
    assert request.path == "/hooks"
    payload = request.verify(endpoint.secret)
    assert payload["type"] == "webhook.test"
    assert payload["data"]["endpointId"] == str(endpoint.pk)
    assert not Delivery.objects.filter(endpoint=other).exists()
    feed = acme.client(acme.read_key).get("/api/v1/events").json()
    assert feed["data"] == []


def test_a_lost_task_is_resumed_by_the_sweep(acme, endpoint, receiver):
    # No on-commit capture: the delivery task is never enqueued, as if the broker was down.
    quote_buy(acme)
    delivery = Delivery.objects.get()
    assert receiver.requests == []
    assert services.deliveries_resume() == []  # not overdue yet
    later = timezone.now() + timedelta(seconds=61)
    assert services.deliveries_resume(now=later) == [str(delivery.pk)]
    from otc.webhooks.tasks import resume_deliveries

    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=61)
    )
    assert resume_deliveries() == 1
    receiver.wait_for(1)[0].verify(endpoint.secret)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED


def test_a_held_lease_makes_a_duplicate_come_back_later_without_sending(acme, endpoint, receiver):
    quote_buy(acme)
    delivery = Delivery.objects.get()
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(claimed_until=now + timedelta(seconds=15))
    retry_in = services.delivery_attempt(delivery_id=delivery.pk, now=now)
    assert 15 <= retry_in <= 16.5
    assert receiver.requests == []
    # once the lease has lapsed (the worker holding it died), the next try sends
    services.delivery_attempt(delivery_id=delivery.pk, now=now + timedelta(seconds=16))
    assert len(receiver.requests) == 1


def test_events_are_purged_after_the_retention_period(acme, endpoint):
    quote_buy(acme)
    event = Event.objects.get()
    assert services.events_purge(now=event.created_at + timedelta(days=29)) == 0
    assert services.events_purge(now=event.created_at + timedelta(days=31)) >= 1
    assert not Event.objects.exists()


def test_the_body_sent_is_the_event_feed_representation(
    acme, endpoint, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    [request] = receiver.wait_for(1)
    feed = acme.client(acme.read_key).get("/api/v1/events").json()["data"]
    assert feed == [json.loads(request.body)]


def test_first_attempts_go_out_in_order_of_occurrence_per_endpoint(acme, endpoint, receiver):
    # Two transitions whose tasks reach the workers in the wrong order.
    quote_buy(acme)
    quote_buy(acme)
    earlier, later = Delivery.objects.order_by("event__created_at")
    # The later one waits without coming back on its own (no polling) ...
    assert services.delivery_attempt(delivery_id=later.pk) is None
    assert receiver.requests == []
    # ... and the end of the earlier one's attempt sends it (eagerly, in tests).
    assert services.delivery_attempt(delivery_id=earlier.pk) is None
    sent = [json.loads(r.body)["id"] for r in receiver.wait_for(2)]
    assert sent == [str(earlier.event_id), str(later.event_id)]
    later.refresh_from_db()
    assert later.status == Delivery.Status.SUCCEEDED


def test_a_failing_earlier_event_does_not_hold_later_ones_back(acme, endpoint, receiver):
    quote_buy(acme)
    quote_buy(acme)
    earlier, later = Delivery.objects.order_by("event__created_at")
    receiver.answer((500, 0, b"down"))
    assert services.delivery_attempt(delivery_id=earlier.pk) is not None  # retry scheduled
    assert services.delivery_attempt(delivery_id=later.pk) is None
    later.refresh_from_db()
    assert later.status == Delivery.Status.SUCCEEDED


def test_the_ordering_wait_is_bounded(acme, endpoint, receiver):
    quote_buy(acme)
    quote_buy(acme)
    earlier, later = Delivery.objects.order_by("event__created_at")
    # The earlier event's task was lost; after the window the later one goes ahead anyway.
    much_later = earlier.event.created_at + timedelta(seconds=services.ORDERING_WINDOW_SECONDS + 1)
    assert services.delivery_attempt(delivery_id=later.pk, now=much_later) is None
    later.refresh_from_db()
    assert later.status == Delivery.Status.SUCCEEDED


def test_an_endpoint_deleted_while_sending_ends_the_delivery_quietly(
    acme, endpoint, receiver, monkeypatch
):
    quote_buy(acme)
    delivery = Delivery.objects.get()
    real_post = services._post

    def post_then_delete(target, **kwargs):
        # The receiver's answer arrives after the customer deleted the endpoint.
        response = real_post(target, **kwargs)
        services.endpoint_delete(endpoint=endpoint)
        return response

    monkeypatch.setattr(services, "_post", post_then_delete)
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1
    assert not Delivery.objects.exists()
