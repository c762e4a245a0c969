"""Input parsing and output shapes of the webhooks API."""

from rest_framework import serializers

from otc.api.inputs import MAX_LIMIT, ListQuery, StrictInput
from otc.representations import iso_ms

from .models import WILDCARD, Delivery, DeliveryAttempt, Event, WebhookEndpoint
from .services import EVENT_TYPES, event_body

SUBSCRIBABLE = (WILDCARD, *EVENT_TYPES)


class EventTypeField(serializers.ChoiceField):
    def __init__(self, **kwargs) -> None:
        super().__init__(choices=SUBSCRIBABLE, **kwargs)
        self.error_messages["invalid_choice"] = (
            '"{input}" is not an event type. Valid: ' + ", ".join(SUBSCRIBABLE) + "."
        )


class EndpointCreateInput(StrictInput):
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(child=EventTypeField(), required=False, allow_empty=False)
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class EndpointUpdateInput(StrictInput):
    url = serializers.URLField(max_length=2000, required=False)
    events = serializers.ListField(child=EventTypeField(), required=False, allow_empty=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)


class EventFeedQuery(ListQuery):
    after = serializers.UUIDField(required=False)
    type = serializers.CharField(required=False, help_text="One type or a comma-separated list.")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=50)

    def validate_type(self, value: str) -> list[str]:
        types = [t.strip() for t in value.split(",")]
        if not all(types):
            # ``type=,,,`` would otherwise mean "no filter": every event.
            raise serializers.ValidationError(
                "Give one event type or several separated by commas, none of them empty."
            )
        valid = (*EVENT_TYPES,)
        unknown = [t for t in types if t not in valid]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown event type {unknown[0]}. Valid: {', '.join(valid)}."
            )
        return types


class RedeliverInput(StrictInput):
    eventId = serializers.UUIDField()


def endpoint_representation(endpoint: WebhookEndpoint, *, with_secret: bool = False) -> dict:
    body = {
        "id": str(endpoint.pk),
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabledReason": endpoint.disabled_reason or None,
        "disabledAt": iso_ms(endpoint.disabled_at),
        "consecutiveFailures": endpoint.consecutive_failures,
        "failingSince": iso_ms(endpoint.failing_since),
        "createdAt": iso_ms(endpoint.created_at),
        "updatedAt": iso_ms(endpoint.updated_at),
    }
    if with_secret:
        body["secret"] = endpoint.secret
    return body


def event_representation(event: Event) -> dict:
    import json

    return json.loads(event_body(event))


def attempt_representation(attempt: DeliveryAttempt) -> dict:
    return {
        "number": attempt.number,
        "startedAt": iso_ms(attempt.started_at),
        "finishedAt": iso_ms(attempt.finished_at),
        "statusCode": attempt.status_code,
        "durationMs": attempt.duration_ms,
        "succeeded": attempt.succeeded,
        "error": attempt.error or None,
        "responseExcerpt": attempt.response_excerpt or None,
    }


def delivery_representation(delivery: Delivery) -> dict:
    return {
        "id": str(delivery.pk),
        "endpointId": str(delivery.endpoint_id),
        "eventId": str(delivery.event_id),
        "eventType": delivery.event.type,
        "status": delivery.status,
        "attemptCount": delivery.attempt_count,
        "nextAttemptAt": iso_ms(delivery.next_attempt_at),
        "lastAttemptAt": iso_ms(delivery.last_attempt_at),
        "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error or None,
        "createdAt": iso_ms(delivery.created_at),
        "attempts": [attempt_representation(a) for a in delivery.attempts.all()],
    }


# --- documentation shapes -------------------------------------------------------------------


class EndpointOutput(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    enabled = serializers.BooleanField()
    disabledReason = serializers.CharField(allow_null=True)
    disabledAt = serializers.DateTimeField(allow_null=True)
    consecutiveFailures = serializers.IntegerField()
    failingSince = serializers.DateTimeField(allow_null=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class EndpointWithSecretOutput(EndpointOutput):
    secret = serializers.CharField(help_text="whsec_…; shown only at creation and rotation.")


class EventOutput(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    createdAt = serializers.DateTimeField()
    data = serializers.DictField(help_text="The order as the API shows it, plus previousStatus.")


class AttemptOutput(serializers.Serializer):
    number = serializers.IntegerField()
    startedAt = serializers.DateTimeField()
    finishedAt = serializers.DateTimeField(allow_null=True)
    statusCode = serializers.IntegerField(allow_null=True)
    durationMs = serializers.IntegerField(allow_null=True)
    succeeded = serializers.BooleanField()
    error = serializers.CharField(allow_null=True)
    responseExcerpt = serializers.CharField(allow_null=True)


class DeliveryOutput(serializers.Serializer):
    id = serializers.UUIDField()
    endpointId = serializers.UUIDField()
    eventId = serializers.UUIDField()
    eventType = serializers.CharField()
    status = serializers.CharField(help_text="pending, succeeded or failed.")
    attemptCount = serializers.IntegerField()
    nextAttemptAt = serializers.DateTimeField(allow_null=True)
    lastAttemptAt = serializers.DateTimeField(allow_null=True)
    lastStatusCode = serializers.IntegerField(allow_null=True)
    lastError = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    attempts = AttemptOutput(many=True)
