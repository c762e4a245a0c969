"""Input parsing and output shapes of the webhooks API."""

import re

from drf_spectacular.utils import extend_schema_field
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


# A webhook URL, as the field checks it and the schema publishes it: http(s); a DNS name
# (labels of at most 63 characters, at most 253 in all, a letter TLD or punycode), an IPv4
# address or a bracketed IPv6 one; an optional port; path, query and fragment in RFC 3986's
# ASCII characters (percent-encode anything else). Django's URLValidator and ``urlguard``'s
# address rules apply on top; whether the host resolves to a public address is decided then.
_LABEL = "[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_DNS_NAME = (
    rf"(?=[^:/?#]{{1,253}}(?:[:/?#]|$))(?:{_LABEL}\.)+(?:[a-zA-Z]{{2,63}}|xn--[a-zA-Z0-9]{{1,59}})"
)
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"(?:{_OCTET}\.){{3}}{_OCTET}"
_H16 = "[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = "|".join(  # RFC 3986's IPv6address
    [
        rf"(?:{_H16}:){{6}}{_LS32}",
        rf"::(?:{_H16}:){{5}}{_LS32}",
        rf"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
        rf"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
        rf"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
        rf"(?:(?:{_H16}:){{0,6}}{_H16})?::",
    ]
)
_PCHAR = "(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
WEBHOOK_URL_PATTERN = (
    # localhost too: a developer's receiver (the SSRF guard still refuses it unless
    # OTC_WEBHOOKS_ALLOW_PRIVATE, as it refuses 127.0.0.1)
    rf"^https?://(?:{_DNS_NAME}|localhost|{_IPV4}|\[(?:{_IPV6})\])"
    rf"(?::[0-9]{{1,5}})?(?:/{_PCHAR}*)*(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?$"
)
_WEBHOOK_URL = re.compile(WEBHOOK_URL_PATTERN.removesuffix("$"))


@extend_schema_field(
    {"type": "string", "format": "uri", "maxLength": 2000, "pattern": WEBHOOK_URL_PATTERN}
)
class WebhookUrlField(serializers.URLField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not _WEBHOOK_URL.fullmatch(value):
            raise serializers.ValidationError(
                "Enter an http(s) URL in ASCII: a host name or an IP address, an optional "
                "port, path and query (percent-encode any other character)."
            )
        return value


class EndpointCreateInput(StrictInput):
    url = WebhookUrlField(max_length=2000)
    events = serializers.ListField(
        child=EventTypeField(), required=False, allow_empty=False, min_length=1
    )
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class EndpointUpdateInput(StrictInput):
    url = WebhookUrlField(max_length=2000, required=False)
    events = serializers.ListField(
        child=EventTypeField(), required=False, allow_empty=False, min_length=1
    )
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
