"""Delivery tasks. One task per (event, endpoint) delivery; it makes the attempt that is due
and schedules the next one. Late acknowledgement (``acks_late`` + ``reject_on_worker_lost``)
means a worker killed mid-request leaves the message on the broker, and whichever worker takes
it next finishes the delivery; the attempt's lease in the database keeps two workers from
sending at once."""

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)

# Retries further away than this are not held as countdown messages (a Redis broker would hand
# an unacknowledged message to another worker after its visibility timeout, one hour by
# default); the resume sweep sends them when they are due.
MAX_COUNTDOWN_SECONDS = 45 * 60


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def deliver(self, delivery_id: str) -> float | None:
    retry_in = services.delivery_attempt(delivery_id=delivery_id)
    if retry_in is not None and retry_in <= MAX_COUNTDOWN_SECONDS and not self.request.is_eager:
        deliver.apply_async((delivery_id,), countdown=retry_in)
    return retry_in


@shared_task(ignore_result=True)
def resume_deliveries() -> int:
    """Safety net (beat): enqueue pending deliveries whose task is overdue."""
    ids = services.deliveries_resume()
    for delivery_id in ids:
        deliver.delay(delivery_id)
    return len(ids)


@shared_task(ignore_result=True)
def purge_events() -> int:
    """Events are kept 30 days (``OTC_WEBHOOKS_EVENT_RETENTION_DAYS``), then removed."""
    return services.events_purge()
