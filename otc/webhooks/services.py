"""Writes of the webhooks app: the event outbox, endpoints, and one delivery attempt.

Events are written inside the caller's transaction (the order transition) together with one
``Delivery`` per subscribed endpoint; the delivery tasks are enqueued only after commit. A
delivery is tried at once, then again on an exponential schedule with jitter for about a day
(``retry_schedule``), then marked failed. An endpoint whose deliveries keep failing for good is
disabled with the reason. No HTTP request is ever made while a database transaction is open.

A slow receiver must not hold every webhook worker: an endpoint has at most one request in
flight, a customer at most ``OTC_WEBHOOKS_CUSTOMER_CONCURRENCY`` across all its endpoints, and
an endpoint that keeps timing out is paused for a while (a circuit breaker). A delivery that
has to wait for one of these (or for an earlier event of its endpoint) is not re-queued: the
attempt that frees the endpoint enqueues what is due next (``deliveries_kick``), and the
resume sweep is the safety net. All of this state is in the database, shared by every worker.
"""

import base64
import json
import logging
import random
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks import Webhook

from accounts.errors import error
from accounts.models import Customer
from otc import onestatement
from otc.models import Kind, Order, Status
from otc.representations import (
    exchange_representation,
    iso_ms,
    iso_ms_sql,
    order_representation,
)
from otc.selectors import fee_lines

from .models import TEST_EVENT, WILDCARD, Delivery, DeliveryAttempt, Event, WebhookEndpoint
from .urlguard import UrlNotAllowed, resolve_target

logger = logging.getLogger(__name__)

ORDER_EVENT_TYPES = tuple(
    f"otc_order.{status}" for status in Status.values if status != Status.EXECUTED
)
# A market exchange (``/exchanges``) announces its own transitions in its own style.
EXCHANGE_STATUSES = (
    Status.QUOTED,
    Status.EXECUTED,
    Status.FAILED,
    Status.EXPIRED,
    Status.CANCELLED,
)
EXCHANGE_EVENT_TYPES = tuple(f"exchange.{status}" for status in EXCHANGE_STATUSES)
EVENT_TYPES = (*ORDER_EVENT_TYPES, *EXCHANGE_EVENT_TYPES)
USER_AGENT = "OTC-Desk-Webhooks/1.0"
RESPONSE_EXCERPT_CHARS = 500
MAX_RESPONSE_BYTES = 64 * 1024
MAX_ENDPOINTS_PER_CUSTOMER = 20
SECRET_ROTATION_GRACE = timedelta(hours=24)

# The retry schedule: the first retry 10 s after the first failure, each next one three times
# later, capped at 4 h; 13 attempts span about 23 hours (see ``retry_schedule``). Each delay is
# spread by +/-20% so that an endpoint coming back is not hit by every retry at once.
RETRY_BASE_SECONDS = 10
RETRY_FACTOR = 3
RETRY_CAP_SECONDS = 4 * 3600
RETRY_JITTER = 0.2
# First attempts are sent in order of occurrence per endpoint; a later event waits for an
# earlier one at most this long (it is sent when the earlier one's attempt ends).
ORDERING_WINDOW_SECONDS = 120
# How long a sending worker holds its endpoint beyond the request's timeout.
SEND_LEASE_MARGIN_SECONDS = 5
PAUSE_CAP_SECONDS = 15 * 60


def _setting(name: str, default):
    return getattr(settings, name, default)


def max_attempts() -> int:
    return int(_setting("OTC_WEBHOOKS_MAX_ATTEMPTS", 13))


def timeout_seconds() -> float:
    return float(_setting("OTC_WEBHOOKS_TIMEOUT_SECONDS", 10))


def disable_after_failures() -> int:
    return int(_setting("OTC_WEBHOOKS_DISABLE_AFTER_FAILURES", 10))


def customer_concurrency() -> int:
    return max(1, int(_setting("OTC_WEBHOOKS_CUSTOMER_CONCURRENCY", 2)))


def pause_after_timeouts() -> int:
    return max(1, int(_setting("OTC_WEBHOOKS_PAUSE_AFTER_TIMEOUTS", 3)))


def pause_seconds(timeouts_in_a_row: int) -> float:
    """How long an endpoint is paused after ``timeouts_in_a_row`` timeouts: nothing below the
    threshold, then the base pause, doubled for every further timeout, capped."""
    over = timeouts_in_a_row - pause_after_timeouts()
    if over < 0:
        return 0.0
    base = float(_setting("OTC_WEBHOOKS_PAUSE_SECONDS", 60.0))
    return min(base * 2 ** min(over, 16), PAUSE_CAP_SECONDS)


def retry_delay(attempt: int, jitter: float = 1.0) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based). ``jitter`` is a
    factor in [1 - RETRY_JITTER, 1 + RETRY_JITTER]."""
    nominal = min(RETRY_BASE_SECONDS * RETRY_FACTOR ** (attempt - 1), RETRY_CAP_SECONDS)
    return nominal * jitter


def retry_schedule() -> list[float]:
    """The nominal delays (no jitter) between the attempts of one delivery."""
    return [retry_delay(n) for n in range(1, max_attempts())]


def _random_jitter() -> float:
    return random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)


# --- secrets and signing --------------------------------------------------------------------


def secret_generate() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature_headers(
    endpoint: WebhookEndpoint, *, msg_id: str, body: str, now: datetime
) -> dict[str, str]:
    """Standard Webhooks headers. During a rotation's grace period the payload is signed with
    both secrets (space-separated signatures), so receivers may switch at their own pace."""
    signing_secrets = [endpoint.secret]
    if endpoint.previous_secret and (
        endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now
    ):
        signing_secrets.append(endpoint.previous_secret)
    signatures = [Webhook(s).sign(msg_id=msg_id, timestamp=now, data=body) for s in signing_secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def event_body(event: Event) -> str:
    payload = {
        "id": str(event.id),
        "type": event.type,
        "createdAt": iso_ms(event.created_at),
        "data": event.data,
    }
    return json.dumps(payload, separators=(",", ":"))


# --- events (the outbox) --------------------------------------------------------------------


def _enqueue(delivery_ids: list[str]) -> None:
    from .tasks import deliver

    for delivery_id in delivery_ids:
        deliver.delay(delivery_id)


def _current_txid() -> int:
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        return cursor.fetchone()[0]


# The deliveries of a statement's ``event`` rows (id, customer_id, type): one to every enabled
# endpoint of the event's customer that wants its type, stamped ``%(now)s``.
_DELIVERIES_SQL = """
INSERT INTO webhooks_delivery (id, event_id, endpoint_id, status, attempt_count,
    next_attempt_at, last_error, created_at, updated_at)
SELECT gen_random_uuid(), event.id, endpoint.id, %(pending)s, 0, %(now)s, '', %(now)s, %(now)s
FROM event JOIN webhooks_webhookendpoint endpoint
  ON endpoint.customer_id = event.customer_id AND endpoint.enabled
 AND (endpoint.events @> jsonb_build_array(%(wildcard)s::text)
      OR endpoint.events @> jsonb_build_array(event.type::text))
RETURNING id
"""

# Events and their deliveries in one statement (PostgreSQL): the writing transaction's id is
# taken inside the INSERT, and the endpoints subscribed to each type are read in the same
# statement (the snapshot the caller's transaction would read them with), so a transition
# pays one round trip for its outbox entry however many endpoints there are, and a batch of
# transitions (the quote sweep) one for all of theirs.
_EMIT_SQL = f"""
WITH event AS (
    INSERT INTO webhooks_event (id, customer_id, type, order_id, data, created_at, txid)
    SELECT (e.item->>'id')::uuid, (e.item->>'customer_id')::uuid, e.item->>'type',
           (e.item->>'order_id')::uuid, e.item->'data', %(now)s,
           pg_current_xact_id()::text::bigint
    FROM jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS e(item, n)
    ORDER BY e.n
    RETURNING id, customer_id, type
)
{_DELIVERIES_SQL}"""  # noqa: S608 - constants only


@dataclass(frozen=True)
class NewEvent:
    customer_id: uuid.UUID
    type: str
    data: dict
    order_id: uuid.UUID | None = None


def events_emit(events: list[NewEvent]) -> list[Event]:
    """Write ``events`` and their deliveries (to every enabled endpoint of each event's customer
    that wants its type) in the current transaction, in one statement on PostgreSQL; send
    after commit. The returned events carry no ``txid`` (the database filled it in)."""
    if not events:
        return []
    if connection.vendor != "postgresql":
        return [
            event_emit(
                customer=Customer(pk=e.customer_id), type=e.type, data=e.data, order_id=e.order_id
            )
            for e in events
        ]
    now = timezone.now()
    written = [
        Event(
            customer_id=e.customer_id, type=e.type, data=e.data, order_id=e.order_id, created_at=now
        )
        for e in events
    ]

    def enqueue_after_commit(rows: list[tuple]) -> None:
        delivery_ids = [str(row[0]) for row in rows]
        if delivery_ids:
            # robust: a broker hiccup after commit must not turn a committed transition into
            # an error; the resume sweep sends what was not enqueued.
            transaction.on_commit(partial(_enqueue, delivery_ids), robust=True)

    # Inside a caller's ``onestatement.together()`` block (a transition), this goes out in
    # the same statement as the timeline row.
    onestatement.write(
        _EMIT_SQL,
        {
            # All of them as one JSON document: a text[] of JSON bodies made the driver
            # escape every body character by character (most of a large sweep's CPU).
            "events": json.dumps(
                [
                    {
                        "id": str(e.id),
                        "customer_id": str(e.customer_id),
                        "type": e.type,
                        "order_id": str(e.order_id) if e.order_id else None,
                        "data": e.data,
                    }
                    for e in written
                ]
            ),
            "now": now,
            "pending": Delivery.Status.PENDING,
            "wildcard": WILDCARD,
        },
        on_rows=enqueue_after_commit,
    )
    for event in written:
        event._state.adding = False
    return written


def event_emit(
    *,
    customer: Customer,
    type: str,
    data: dict,
    order_id: uuid.UUID | None = None,
    endpoints: list[WebhookEndpoint] | None = None,
) -> Event:
    """Write an event and its deliveries in the current transaction; send after commit.
    ``endpoints`` restricts the fan-out (the test event goes to one endpoint only).

    No savepoint: a failure here fails the caller's transaction as a whole (an event exists
    exactly when its transition committed), so there is nothing to roll back to."""
    with transaction.atomic(savepoint=False):
        if endpoints is None and connection.vendor == "postgresql":
            new = NewEvent(customer_id=customer.pk, type=type, data=data, order_id=order_id)
            return events_emit([new])[0]
        event = Event.objects.create(
            customer=customer, type=type, data=data, order_id=order_id, txid=_current_txid()
        )
        if endpoints is None:
            endpoints = [
                e
                for e in WebhookEndpoint.objects.filter(customer=customer, enabled=True)
                if e.wants(type)
            ]
        deliveries = Delivery.objects.bulk_create(
            Delivery(event=event, endpoint=e, next_attempt_at=event.created_at) for e in endpoints
        )
        if deliveries:
            # robust: a broker hiccup after commit must not turn a committed transition into
            # an error; the resume sweep sends what was not enqueued.
            transaction.on_commit(partial(_enqueue, [str(d.pk) for d in deliveries]), robust=True)
    return event


@dataclass(frozen=True)
class OrderEventShape:
    """How an order's events look, per kind: the type's prefix (``<prefix>.<status>``), and
    where the order's representation carries its status, its last change and, in the event,
    the status it left (with the case statuses are written in)."""

    prefix: str
    status_key: str
    updated_key: str
    previous_key: str
    upper_case: bool

    def status(self, value: str) -> str | None:
        return (value.upper() if self.upper_case else value) or None


ORDER_EVENT_SHAPES = {
    # ``otc_order.<status>``: the order as the API shows it.
    Kind.OTC: OrderEventShape("otc_order", "status", "updatedAt", "previousStatus", False),
    # ``exchange.<status>``: a market exchange as ``/exchanges`` shows it (snake_case).
    Kind.MARKET: OrderEventShape("exchange", "status", "updated_at", "previous_status", True),
}
ORDER_REPRESENTATIONS = {Kind.OTC: order_representation, Kind.MARKET: exchange_representation}


def _order_event(order, previous_status: str) -> NewEvent:
    shape = ORDER_EVENT_SHAPES[order.kind]
    data = ORDER_REPRESENTATIONS[order.kind](order)
    data[shape.previous_key] = shape.status(previous_status)
    return NewEvent(
        customer_id=order.customer_id,
        type=f"{shape.prefix}.{order.status}",
        data=data,
        order_id=order.pk,
    )


def order_event_emit(*, order, previous_status: str) -> Event:
    return events_emit([_order_event(order, previous_status)])[0]


def order_events_emit(*, transitions: list[tuple]) -> list[Event]:
    """One event per ``(order, previous_status)``, all in one statement."""
    return events_emit([_order_event(order, previous) for order, previous in transitions])


# The events of orders whose status alone changed (the quote sweep), derived from each
# order's last event in one statement: its data with the new status, the new ``updated_at``
# and the status left written over it. Only where that event still shows the order as it was
# before the change (its status and its ``updated_at`` are the order's before): every write
# to an order goes through ``save()`` or a transition, both of which move ``updated_at``, and
# every transition writes an event. The deliveries go in the same statement.
_EMIT_FROM_LAST_SQL = f"""
WITH change AS (
    SELECT * FROM json_to_recordset(%(changes)s::json) AS c(order_id uuid, customer_id uuid,
        kind text, previous_status text, previous_updated_at timestamptz)
),
shape AS (
    SELECT * FROM jsonb_to_recordset(%(shapes)s::jsonb) AS s(kind text, prefix text,
        status_key text, updated_key text, previous_key text, upper_case boolean)
),
event AS (
    INSERT INTO webhooks_event (id, customer_id, type, order_id, data, created_at, txid)
    SELECT gen_random_uuid(), c.customer_id, shape.prefix || '.' || %(status)s, c.order_id,
           last.data || jsonb_build_object(
               shape.status_key,
               CASE WHEN shape.upper_case THEN upper(%(status)s) ELSE %(status)s END,
               shape.updated_key, %(at_shown)s::text,
               shape.previous_key,
               NULLIF(CASE WHEN shape.upper_case THEN upper(c.previous_status)
                           ELSE c.previous_status END, '')),
           %(now)s, pg_current_xact_id()::text::bigint
    FROM change c
    JOIN shape ON shape.kind = c.kind
    JOIN LATERAL (
        SELECT e.data FROM webhooks_event e
        WHERE e.order_id = c.order_id
        ORDER BY e.created_at DESC, e.id DESC
        LIMIT 1
    ) last ON true
    WHERE last.data ->> shape.status_key
              = CASE WHEN shape.upper_case THEN upper(c.previous_status) ELSE c.previous_status END
      AND last.data ->> shape.updated_key = {iso_ms_sql("c.previous_updated_at")}
    RETURNING id, customer_id, type, order_id
),
delivery AS ({_DELIVERIES_SQL})
SELECT c.order_id, NULL FROM change c
WHERE NOT EXISTS (SELECT FROM event WHERE event.order_id = c.order_id)
UNION ALL
SELECT NULL, id FROM delivery
"""  # noqa: S608 - constants only


def order_status_events_emit(*, changes, status: str, at: datetime) -> None:
    """The events of ``changes`` (``otc.events.StatusChanges``: orders moved to ``status``
    with ``updated_at = at`` and nothing else changed), in the caller's transaction: derived
    from each order's last event in one statement, or, for an order whose last event no
    longer shows it as it was (or is gone), rendered from the order itself."""
    if not len(changes):
        return
    if connection.vendor != "postgresql":
        _status_events_rendered({c.order_id for c in changes.rows}, changes)
        return
    shapes = [{"kind": kind, **vars(shape)} for kind, shape in ORDER_EVENT_SHAPES.items()]
    with connection.cursor() as cursor:
        cursor.execute(
            _EMIT_FROM_LAST_SQL,
            {
                "changes": changes.document,
                "shapes": json.dumps(shapes),
                "status": status,
                "now": at,
                "at_shown": iso_ms(at),
                "pending": Delivery.Status.PENDING,
                "wildcard": WILDCARD,
            },
        )
        rows = cursor.fetchall()
    delivery_ids = [str(delivery_id) for _, delivery_id in rows if delivery_id is not None]
    if delivery_ids:
        transaction.on_commit(partial(_enqueue, delivery_ids), robust=True)
    rest = {order_id for order_id, _ in rows if order_id is not None}
    if rest:
        _status_events_rendered(rest, changes)


def _status_events_rendered(order_ids: set, changes) -> None:
    previous = {c.order_id: c.previous_status for c in changes.rows if c.order_id in order_ids}
    orders = Order.objects.select_related("pair").prefetch_related(fee_lines())
    order_events_emit(
        transitions=[(order, previous[order.pk]) for order in orders.filter(pk__in=order_ids)]
    )


def events_purge(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(days=int(_setting("OTC_WEBHOOKS_EVENT_RETENTION_DAYS", 30)))
    deleted, _ = Event.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- endpoints ------------------------------------------------------------------------------


def _check_url(url: str) -> None:
    try:
        resolve_target(url)
    except UrlNotAllowed as exc:
        raise error("URL_NOT_ALLOWED", 422, exc.reason, url=url) from None


def _normalise_events(events: list[str] | None) -> list[str]:
    if not events or WILDCARD in events:
        return [WILDCARD]
    return sorted(set(events))


def endpoint_create(
    *, customer: Customer, url: str, events: list[str] | None = None, description: str = ""
) -> WebhookEndpoint:
    _check_url(url)
    with transaction.atomic():
        # Lock the customer row so two concurrent creations cannot both pass the limit.
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        if WebhookEndpoint.objects.filter(customer=customer).count() >= MAX_ENDPOINTS_PER_CUSTOMER:
            raise error(
                "ENDPOINT_LIMIT_REACHED",
                422,
                f"A customer can register at most {MAX_ENDPOINTS_PER_CUSTOMER} endpoints.",
                max=MAX_ENDPOINTS_PER_CUSTOMER,
            )
        endpoint = WebhookEndpoint(
            customer=customer,
            url=url,
            events=_normalise_events(events),
            description=description,
            secret=secret_generate(),
        )
        endpoint.full_clean()
        endpoint.save()
    return endpoint


def _disable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    """Inside a transaction: disable and give up on its pending deliveries."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason=reason[:300], disabled_at=now, updated_at=now
    )
    Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING).update(
        status=Delivery.Status.FAILED,
        next_attempt_at=None,
        last_error="The endpoint was disabled.",
        updated_at=now,
    )


def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    if url is not None and url != endpoint.url:
        _check_url(url)
    now = timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if url is not None:
            endpoint.url = url
        if events is not None:
            endpoint.events = _normalise_events(events)
        if description is not None:
            endpoint.description = description
        if enabled is False and endpoint.enabled:
            endpoint.save()
            _disable(endpoint, "Disabled by the customer.", now)
            endpoint.refresh_from_db()
            return endpoint
        if enabled is True and not endpoint.enabled:
            endpoint.enabled = True
            endpoint.disabled_reason = ""
            endpoint.disabled_at = None
            endpoint.consecutive_failures = 0
            endpoint.failing_since = None
            endpoint.timeouts_in_a_row = 0
            endpoint.paused_until = None
        endpoint.full_clean()
        endpoint.save()
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    now = timezone.now()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + SECRET_ROTATION_GRACE
        endpoint.secret = secret_generate()
        endpoint.save()
    return endpoint


def endpoint_send_test(*, endpoint: WebhookEndpoint) -> Delivery:
    if not endpoint.enabled:
        raise error("ENDPOINT_DISABLED", 409, "Enable the endpoint before sending a test event.")
    with transaction.atomic():
        event = event_emit(
            customer=endpoint.customer,
            type=TEST_EVENT,
            data={
                "endpointId": str(endpoint.pk),
                "message": "A test event from the OTC desk. Respond with any 2xx status.",
            },
            endpoints=[endpoint],
        )
    return Delivery.objects.select_related("event").get(event=event, endpoint=endpoint)


def delivery_redeliver(*, endpoint: WebhookEndpoint, event: Event) -> Delivery:
    """Send ``event`` to ``endpoint`` again, on a fresh schedule (the log keeps every earlier
    attempt)."""
    if not endpoint.enabled:
        raise error("ENDPOINT_DISABLED", 409, "Enable the endpoint before redelivering.")
    if event.customer_id != endpoint.customer_id:
        raise error("EVENT_NOT_FOUND", 404, "No such event.")
    now = timezone.now()
    with transaction.atomic():
        delivery, _ = Delivery.objects.select_for_update().get_or_create(
            event=event, endpoint=endpoint, defaults={"next_attempt_at": now}
        )
        delivery.status = Delivery.Status.PENDING
        delivery.attempt_count = 0
        delivery.next_attempt_at = now
        delivery.claimed_until = None
        delivery.last_error = ""
        delivery.save()
        transaction.on_commit(partial(_enqueue, [str(delivery.pk)]), robust=True)
    return delivery


# --- one delivery attempt -------------------------------------------------------------------


@dataclass
class Response:
    status_code: int | None
    excerpt: str
    error: str
    timed_out: bool = False


def _post(target, *, body: str, headers: dict[str, str], timeout: float) -> Response:
    """POST without following redirects, reading at most a small part of the answer, and
    giving up once ``timeout`` seconds have passed in all."""
    deadline = time.monotonic() + timeout
    request_headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}
    if target.host_header:
        request_headers["host"] = target.host_header
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "POST",
                target.url,
                content=body.encode(),
                headers=request_headers,
                extensions=extensions,
            )
            response = client.send(request, stream=True)
            try:
                received = bytearray()
                for chunk in response.iter_bytes():
                    received.extend(chunk)
                    if len(received) >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                        break
            finally:
                response.close()
            excerpt = bytes(received[: RESPONSE_EXCERPT_CHARS * 4]).decode(errors="replace")
            return Response(response.status_code, excerpt[:RESPONSE_EXCERPT_CHARS], "")
    except httpx.TimeoutException:
        return Response(None, "", f"Timed out after {timeout:g} s.", timed_out=True)
    except httpx.HTTPError as exc:
        return Response(None, "", f"{type(exc).__name__}: {exc}"[:300])


def _claim(delivery_id, now: datetime) -> bool:
    lease = now + timedelta(seconds=timeout_seconds() + SEND_LEASE_MARGIN_SECONDS)
    return bool(
        Delivery.objects.filter(
            pk=delivery_id, status=Delivery.Status.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=lease, attempt_count=F("attempt_count") + 1, updated_at=now)
    )


def _behind_an_earlier_event(delivery: Delivery, now: datetime) -> bool:
    """First attempts go out in order of occurrence per endpoint: a delivery waits while a
    recent earlier event for the same endpoint has not had its first attempt yet (or is in
    the middle of it). Retries do not hold later events back (a failing event must not
    stall the rest for a day), and the wait is bounded by ``ORDERING_WINDOW_SECONDS``."""
    if delivery.attempt_count:
        return False
    event = delivery.event
    return (
        Delivery.objects.filter(
            endpoint_id=delivery.endpoint_id,
            status=Delivery.Status.PENDING,
            event__created_at__gte=now - timedelta(seconds=ORDERING_WINDOW_SECONDS),
        )
        .filter(
            Q(event__created_at__lt=event.created_at)
            | Q(event__created_at=event.created_at, event_id__lt=event.pk)
        )
        .filter(Q(attempt_count=0) | Q(attempt_count=1, claimed_until__gte=now))
        .exists()
    )


@dataclass
class SendSlot:
    taken: bool
    # When the endpoint is held by this very delivery (a worker died mid-request and the
    # message came back), the time the dead worker's hold lapses.
    held_by_us_until: datetime | None = None


def _send_slot_acquire(delivery: Delivery, now: datetime) -> SendSlot:
    """Take the endpoint for this delivery's request, if the endpoint has none in flight and
    the customer fewer than ``customer_concurrency()``. The customer's endpoint rows are
    locked (FOR NO KEY UPDATE: writers of new deliveries, which only take a key-share lock
    on their endpoint, are not held up) so that two workers cannot both take the last slot."""
    with transaction.atomic():
        endpoints = list(
            WebhookEndpoint.objects.select_for_update(no_key=True)
            .filter(customer_id=delivery.endpoint.customer_id)
            .order_by("pk")
            .values_list("pk", "sending_until", "sending_delivery_id")
        )
        busy = {pk: (until, holder) for pk, until, holder in endpoints if until and until > now}
        if delivery.endpoint_id in busy:
            until, holder = busy[delivery.endpoint_id]
            return SendSlot(False, until if holder == delivery.pk else None)
        if len(busy) >= customer_concurrency():
            return SendSlot(False)
        lease = now + timedelta(seconds=timeout_seconds() + SEND_LEASE_MARGIN_SECONDS)
        taken = WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(
            sending_until=lease, sending_delivery_id=delivery.pk
        )
        return SendSlot(bool(taken))


def _send_slot_release(delivery: Delivery) -> None:
    WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, sending_delivery_id=delivery.pk).update(
        sending_until=None, sending_delivery_id=None
    )


def deliveries_due(*, customer_id, now: datetime | None = None) -> list[str]:
    """The deliveries of ``customer_id`` that could be sent right now, the earliest event of
    each free endpoint first, at most as many as the customer may send at once."""
    now = now or timezone.now()
    rows = (
        Delivery.objects.filter(
            endpoint__customer_id=customer_id,
            endpoint__enabled=True,
            status=Delivery.Status.PENDING,
            next_attempt_at__lte=now,
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(Q(endpoint__sending_until__isnull=True) | Q(endpoint__sending_until__lt=now))
        .filter(Q(endpoint__paused_until__isnull=True) | Q(endpoint__paused_until__lte=now))
        .order_by("event__created_at", "event_id")
        .values_list("pk", "endpoint_id")[:200]
    )
    picked: dict = {}
    for delivery_id, endpoint_id in rows:
        picked.setdefault(endpoint_id, str(delivery_id))
        if len(picked) >= customer_concurrency():
            break
    return list(picked.values())


def deliveries_kick(*, customer_id) -> None:
    """Enqueue what is due for this customer now that one of its requests has ended."""
    _enqueue(deliveries_due(customer_id=customer_id))


def _pause_wait(delivery: Delivery, now: datetime) -> float | None:
    """If the delivery's endpoint is paused, move the delivery to the end of the pause and
    return the seconds until then (None when it is not paused)."""
    paused_until = delivery.endpoint.paused_until
    if paused_until is None or paused_until <= now:
        return None
    Delivery.objects.filter(
        pk=delivery.pk, status=Delivery.Status.PENDING, next_attempt_at__lt=paused_until
    ).update(next_attempt_at=paused_until, updated_at=now)
    return (paused_until - now).total_seconds()


def delivery_attempt(*, delivery_id, now: datetime | None = None) -> float | None:
    """Make the attempt that is due for this delivery, if any, and log it. Returns the number
    of seconds after which the delivery should be looked at again, or None when nothing more
    is to be done by this caller: sent, failed for good, not yet due, unknown, or waiting
    for its endpoint (an earlier event first, another request in flight, the customer's
    other endpoints using every slot), in which case the attempt that ends next enqueues it.

    Safe to run twice at once or again after a worker died: the attempt is claimed with a
    short lease first, and a duplicate that finds the lease held is told to come back after it.
    """
    now = now or timezone.now()
    delivery = (
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING)
        .select_related("event", "endpoint")
        .first()
    )
    if delivery is None or (delivery.next_attempt_at and delivery.next_attempt_at > now):
        return None  # whoever moved it later (a retry, a pause) has scheduled it
    if delivery.endpoint.enabled:
        paused_for = _pause_wait(delivery, now)
        if paused_for is not None:
            return paused_for
    if _behind_an_earlier_event(delivery, now):
        return None
    slot = _send_slot_acquire(delivery, now)
    if not slot.taken:
        if slot.held_by_us_until:
            return (slot.held_by_us_until - now).total_seconds() + 1
        return None
    try:
        return _delivery_send(delivery, now)
    finally:
        _send_slot_release(delivery)
        deliveries_kick(customer_id=delivery.endpoint.customer_id)


def _delivery_send(delivery: Delivery, now: datetime) -> float | None:
    """Holding the endpoint's send slot: claim the attempt, send it, record it."""
    delivery_id = delivery.pk
    if not _claim(delivery_id, now):
        current = Delivery.objects.filter(pk=delivery_id).first()
        held = current and current.status == Delivery.Status.PENDING and current.claimed_until
        if held and current.claimed_until >= now:
            return (current.claimed_until - now).total_seconds() + 1
        return None
    delivery = Delivery.objects.select_related("event", "endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED,
            claimed_until=None,
            next_attempt_at=None,
            last_error="The endpoint was disabled.",
            updated_at=now,
        )
        return None
    attempt = DeliveryAttempt.objects.create(
        delivery=delivery, number=delivery.attempt_count, started_at=now
    )
    started = time.monotonic()
    try:
        target = resolve_target(endpoint.url)
    except UrlNotAllowed as exc:
        response = Response(None, "", f"Not sent: {exc.reason}"[:300])
    else:
        body = event_body(delivery.event)
        headers = signature_headers(
            endpoint, msg_id=str(delivery.event_id), body=body, now=timezone.now()
        )
        response = _post(target, body=body, headers=headers, timeout=timeout_seconds())
    duration_ms = int((time.monotonic() - started) * 1000)
    succeeded = response.status_code is not None and 200 <= response.status_code < 300
    error_text = response.error or ("" if succeeded else f"HTTP {response.status_code}")
    return _delivery_record(
        delivery,
        attempt,
        response,
        succeeded=succeeded,
        error_text=error_text,
        duration_ms=duration_ms,
        now=now,
    )


def _delivery_record(
    delivery: Delivery,
    attempt: DeliveryAttempt,
    response: Response,
    *,
    succeeded: bool,
    error_text: str,
    duration_ms: int,
    now: datetime,
) -> float | None:
    finished = now + timedelta(milliseconds=duration_ms)
    retry_in = None
    with transaction.atomic():
        # Endpoint before delivery: the same lock order as disabling an endpoint.
        endpoint = WebhookEndpoint.objects.select_for_update(no_key=True)
        endpoint = endpoint.filter(pk=delivery.endpoint_id).first()
        delivery = Delivery.objects.select_for_update().filter(pk=delivery.pk).first()
        if endpoint is None or delivery is None:
            return None  # the customer deleted the endpoint while we were sending
        paused_until = _breaker_record(endpoint, timed_out=response.timed_out, now=finished)
        attempt.finished_at = finished
        attempt.status_code = response.status_code
        attempt.duration_ms = duration_ms
        attempt.succeeded = succeeded
        attempt.error = error_text[:300]
        attempt.response_excerpt = response.excerpt
        attempt.save()
        delivery.claimed_until = None
        delivery.last_attempt_at = now
        delivery.last_status_code = response.status_code
        delivery.last_error = error_text[:300]
        if succeeded:
            delivery.status = Delivery.Status.SUCCEEDED
            delivery.next_attempt_at = None
            if endpoint.consecutive_failures or endpoint.failing_since:
                endpoint.consecutive_failures = 0
                endpoint.failing_since = None
                endpoint.save(update_fields=["consecutive_failures", "failing_since"])
        elif delivery.attempt_count >= max_attempts():
            delivery.status = Delivery.Status.FAILED
            delivery.next_attempt_at = None
            endpoint.consecutive_failures += 1
            endpoint.failing_since = endpoint.failing_since or now
            endpoint.save(update_fields=["consecutive_failures", "failing_since"])
            if endpoint.enabled and endpoint.consecutive_failures >= disable_after_failures():
                delivery.save()
                _disable(
                    endpoint,
                    f"Disabled automatically after {endpoint.consecutive_failures} deliveries "
                    f"in a row failed (the last: {error_text}).",
                    now,
                )
                logger.warning("webhook endpoint %s disabled after failures", endpoint.pk)
                return None
        else:
            retry_in = retry_delay(delivery.attempt_count, _random_jitter())
            if paused_until is not None:
                retry_in = max(retry_in, (paused_until - now).total_seconds())
            delivery.next_attempt_at = now + timedelta(seconds=retry_in)
        delivery.save()
    logger.info(
        "webhook delivery %s attempt %s: %s",
        delivery.pk,
        attempt.number,
        "delivered" if succeeded else error_text,
    )
    return retry_in


def _breaker_record(endpoint: WebhookEndpoint, *, timed_out: bool, now: datetime):
    """Inside the attempt's transaction, the endpoint locked: count a timeout (pausing the
    endpoint once there were too many in a row) or, for any answer, close the breaker.
    Returns the end of the pause, if the endpoint is paused now."""
    if not timed_out:
        if endpoint.timeouts_in_a_row or endpoint.paused_until:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                timeouts_in_a_row=0, paused_until=None
            )
        return None
    endpoint.timeouts_in_a_row += 1
    pause = pause_seconds(endpoint.timeouts_in_a_row)
    endpoint.paused_until = now + timedelta(seconds=pause) if pause else None
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        timeouts_in_a_row=endpoint.timeouts_in_a_row, paused_until=endpoint.paused_until
    )
    if endpoint.paused_until:
        # Nothing is sent before the pause ends: move what is scheduled earlier to its end.
        Delivery.objects.filter(
            endpoint=endpoint,
            status=Delivery.Status.PENDING,
            next_attempt_at__lt=endpoint.paused_until,
        ).update(next_attempt_at=endpoint.paused_until, updated_at=now)
        logger.warning(
            "webhook endpoint %s paused for %ss after %s timeouts in a row",
            endpoint.pk,
            pause,
            endpoint.timeouts_in_a_row,
        )
    return endpoint.paused_until


def deliveries_resume(*, now: datetime | None = None, grace_seconds: int = 60) -> list[str]:
    """Ids of pending deliveries whose task is overdue (lost, or its retry was too far off to
    hold as a countdown); the caller enqueues them."""
    now = now or timezone.now()
    due = (
        Delivery.objects.filter(
            status=Delivery.Status.PENDING,
            next_attempt_at__lte=now - timedelta(seconds=grace_seconds),
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
    return [str(pk) for pk in due]
