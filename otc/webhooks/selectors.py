"""Reads shared by the webhooks API, the portal page and the admin."""

import uuid

from django.db import connection
from django.db.models import Q, QuerySet

from accounts.errors import error
from accounts.models import Customer

from .models import TEST_EVENT, Delivery, Event, WebhookEndpoint


def _uuid(raw, code: str, message: str) -> uuid.UUID:
    try:
        return raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
    except ValueError:
        raise error(code, 404, message) from None


def endpoint_get(*, customer: Customer, endpoint_id) -> WebhookEndpoint:
    pk = _uuid(endpoint_id, "WEBHOOK_ENDPOINT_NOT_FOUND", "No such webhook endpoint.")
    endpoint = WebhookEndpoint.objects.filter(customer=customer, pk=pk).first()
    if endpoint is None:
        raise error("WEBHOOK_ENDPOINT_NOT_FOUND", 404, "No such webhook endpoint.")
    return endpoint


def endpoint_page(*, customer: Customer, page: int, limit: int) -> tuple[list, int]:
    endpoints = WebhookEndpoint.objects.filter(customer=customer).order_by("-created_at", "-id")
    start = (page - 1) * limit
    return list(endpoints[start : start + limit]), endpoints.count()


def event_get(*, customer: Customer, event_id) -> Event:
    pk = _uuid(event_id, "EVENT_NOT_FOUND", "No such event.")
    event = Event.objects.filter(customer=customer, pk=pk).first()
    if event is None:
        raise error("EVENT_NOT_FOUND", 404, "No such event.")
    return event


def _visible_events(events: QuerySet[Event]) -> QuerySet[Event]:
    """On PostgreSQL, only events written by transactions older than the oldest one still
    running (those have committed or never will), plus the reader's own."""
    if connection.vendor != "postgresql":
        return events
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint,"
            " pg_current_xact_id_if_assigned()::text::bigint"
        )
        horizon, own = cursor.fetchone()
    visible = Q(txid__lt=horizon)
    if own is not None:
        visible |= Q(txid=own)
    return events.filter(visible)


def event_feed(
    *, customer: Customer, after: uuid.UUID | None, types: list[str] | None, limit: int
) -> tuple[list[Event], bool]:
    """The customer's order events, oldest first, strictly after the ``after`` event; and
    whether more follow. Test events are for one endpoint and stay out of the feed.

    Order of occurrence is the order of the writing transactions (``txid``), and only events
    of transactions older than every one still running are shown: a transaction that started
    earlier but commits later can therefore never slip in behind a reader's cursor."""
    events = _visible_events(Event.objects.filter(customer=customer).exclude(type=TEST_EVENT))
    if after is not None:
        cursor = Event.objects.filter(customer=customer, pk=after).first()
        if cursor is None:
            raise error(
                "VALIDATION_ERROR",
                400,
                "The request is not valid.",
                after=["No such event (events are kept 30 days)."],
            )
        events = events.filter(
            Q(txid__gt=cursor.txid)
            | Q(txid=cursor.txid, created_at__gt=cursor.created_at)
            | Q(txid=cursor.txid, created_at=cursor.created_at, id__gt=cursor.id)
        )
    if types:
        events = events.filter(type__in=types)
    rows = list(events.order_by("txid", "created_at", "id")[: limit + 1])
    return rows[:limit], len(rows) > limit


def delivery_page(*, endpoint: WebhookEndpoint, page: int, limit: int) -> tuple[list, int]:
    deliveries = (
        Delivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related("attempts")
        .order_by("-created_at", "-id")
    )
    start = (page - 1) * limit
    return list(deliveries[start : start + limit]), deliveries.count()


def failing_endpoints() -> QuerySet[WebhookEndpoint]:
    """For operators: endpoints across customers whose deliveries failed for good (including
    those disabled for it) or are being retried now, disabled first, then worst first."""
    return (
        WebhookEndpoint.objects.filter(
            Q(consecutive_failures__gt=0)
            | Q(deliveries__status=Delivery.Status.PENDING, deliveries__attempt_count__gte=2)
        )
        .distinct()
        .select_related("customer")
        .order_by("enabled", "-consecutive_failures", "failing_since")
    )
