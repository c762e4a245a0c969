"""The event outbox and its delivery to customers' webhook endpoints.

An ``Event`` is written in the same transaction as the order transition it describes, together
with one ``Delivery`` per subscribed endpoint, so an event exists exactly when its transition
committed and a lost task can always be resumed from the database. Every HTTP attempt leaves a
``DeliveryAttempt`` row: the delivery log customers and operators read.
"""

import uuid

from django.db import models

from accounts.models import Customer

WILDCARD = "*"
TEST_EVENT = "webhook.test"


class Event(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Like ``order_id``, a copy of a key already checked where it comes from (the order's
    # customer, or a test event's endpoint's), written in that row's transaction: no
    # constraint of its own to check at every commit (the quote sweep writes one event per
    # expired quote), and Django still deletes a customer's events with the customer. No
    # index of its own either: every lookup by customer uses one of the composite indexes
    # that start with it.
    customer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    type = models.CharField(max_length=64)  # indexed below, with no ``LIKE`` index
    # The order it describes (kept as a plain id: events outlive nothing, orders are never
    # deleted, and the payload already carries the order as it was).
    order_id = models.UUIDField(null=True, blank=True)
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # On PostgreSQL, the id of the transaction that wrote the event. The feed is ordered by it
    # and shows only events of transactions older than every one still running, so a reader
    # never steps past an event whose transaction commits later (0 on SQLite, whose writers
    # are serialized anyway).
    txid = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["customer", "created_at", "id"]),
            models.Index(fields=["customer", "txid", "created_at", "id"]),
            # An order's events, newest last: its last event is one index probe (the quote
            # sweep derives each expiry event from it), whatever the planner knows.
            models.Index(fields=["order_id", "created_at", "id"], name="webhooks_event_order_last"),
            models.Index(fields=["type"], name="webhooks_event_type"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookEndpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Event types this endpoint receives; ["*"] is every order event.
    events = models.JSONField(default=list)
    # The signing secret must be readable to sign with it (Standard Webhooks is HMAC), so it
    # is stored as issued; it is shown to the customer only at creation and rotation.
    secret = models.CharField(max_length=100)
    # After a rotation the old secret keeps signing alongside the new one for a while, so
    # receivers can switch without dropping deliveries.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Deliveries that failed for good in a row (any success resets it).
    consecutive_failures = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    # One request in flight per endpoint: the delivery sending right now holds the endpoint
    # until ``sending_until`` (a worker that died lets it lapse).
    sending_until = models.DateTimeField(null=True, blank=True)
    sending_delivery_id = models.UUIDField(null=True, blank=True)
    # The circuit breaker: attempts in a row that got no answer in time, and, once there were
    # too many, the time until which nothing is sent to the endpoint.
    timeouts_in_a_row = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"])]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return WILDCARD in self.events or event_type in self.events


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    # Attempts in the current run (a redelivery starts a new run and a new schedule).
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # A worker sending right now holds the delivery until this time; a worker that died
    # mid-request lets it lapse, and the redelivered task takes over.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="one_delivery_per_endpoint")
        ]
        indexes = [models.Index(fields=["endpoint", "-created_at"])]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event.type} -> {self.endpoint.url} ({self.status})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    # Empty while the request is in flight; stays empty if the worker died during it.
    finished_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=300, blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
