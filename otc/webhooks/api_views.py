"""The webhooks API: endpoints (scopes ``webhooks:read`` / ``webhooks:write``) and the event
feed (``otc-exchanges:read``). Thin shells over ``services`` and ``selectors``."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers as drf
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import SCOPE_READ, SCOPE_WEBHOOKS_READ, SCOPE_WEBHOOKS_WRITE
from otc.api import examples as ex
from otc.api.inputs import PageQuery
from otc.api.schema import example
from otc.api.serializers import PaginationMeta
from otc.api.views import AUTH_ERRORS, BODY_ERRORS, _data, _envelope, _errors

from . import selectors, services
from . import serializers as s
from .services import ORDER_EVENT_TYPES

WEBHOOK_SCOPES = {
    "GET": SCOPE_WEBHOOKS_READ,
    "HEAD": SCOPE_WEBHOOKS_READ,
    "OPTIONS": SCOPE_WEBHOOKS_READ,
    "POST": SCOPE_WEBHOOKS_WRITE,
    "PATCH": SCOPE_WEBHOOKS_WRITE,
    "PUT": SCOPE_WEBHOOKS_WRITE,
    "DELETE": SCOPE_WEBHOOKS_WRITE,
}
NOT_FOUND = ("WEBHOOK_ENDPOINT_NOT_FOUND",)
URL_ERRORS = ("URL_NOT_ALLOWED",)
DELIVERY_DOC = (
    "Register a URL to receive a POST for every order transition (`otc_order.<status>`), "
    'body `{"id", "type", "createdAt", "data": {<the order as GET otc-exchanges/{id} shows it>, '
    '"previousStatus"}}`; a market exchange\'s as `exchange.<status>` (`quoted`, `executed`, '
    "`failed`, `expired`, `cancelled`) with the exchange as GET exchanges/{id} shows it, plus "
    "`previous_status`. Deliveries are signed per Standard Webhooks: headers `webhook-id` "
    "(the event id, the same on every retry: use it to de-duplicate), `webhook-timestamp` and "
    "`webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the `whsec_` "
    "secret returned here once). Answer 2xx within 10 s; anything else, a timeout or a redirect "
    "is retried with exponential backoff and jitter for about a day (13 attempts), then the "
    "delivery fails; an endpoint whose deliveries fail 10 times in a row is disabled with the "
    "reason. URLs must be https and resolve to public addresses."
)
ENDPOINT_REQUEST = {
    "url": "https://erp.example.com/hooks/otc",
    "events": ["otc_order.completed", "otc_order.rejected"],
    "description": "ERP booking",
}


def _list_envelope(name: str, inner) -> drf.Serializer:
    return inline_serializer(
        name,
        fields={
            "data": inner,
            "meta": inline_serializer(f"{name}Meta", fields={"pagination": PaginationMeta()}),
        },
    )


class WebhookApi(APIView):
    required_scopes = WEBHOOK_SCOPES

    def endpoint(self, request, endpoint_id: str):
        return selectors.endpoint_get(customer=request.user.customer, endpoint_id=endpoint_id)


class EndpointListCreateApi(WebhookApi):
    @extend_schema(
        operation_id="webhook_endpoints_list",
        tags=["webhooks"],
        summary="Your webhook endpoints",
        description=(
            "Every endpoint you registered, newest first, with whether it is enabled and why "
            "not, and its run of failed deliveries. Paginated with `page` and `limit`. Scope "
            "`webhooks:read`."
        ),
        parameters=[PageQuery],
        responses={
            200: _list_envelope("EndpointListEnvelope", s.EndpointOutput(many=True)),
            **_errors(*BODY_ERRORS, *AUTH_ERRORS, validation="page"),
        },
        examples=[example("Endpoints", ex.page([ex.ENDPOINT]), response_only=True)],
    )
    def get(self, request):
        query = PageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        page, limit = query.validated_data["page"], query.validated_data["limit"]
        endpoints, total = selectors.endpoint_page(
            customer=request.user.customer, page=page, limit=limit
        )
        return _data(
            [s.endpoint_representation(e) for e in endpoints],
            pagination={"page": page, "limit": limit, "total": total},
        )

    @extend_schema(
        operation_id="webhook_endpoints_create",
        tags=["webhooks"],
        summary="Register a webhook endpoint",
        request=s.EndpointCreateInput,
        description=DELIVERY_DOC
        + " `events` (at least one; default every order event, `*`) picks the event types. "
        "Scope `webhooks:write`.",
        responses={
            201: _envelope(s.EndpointWithSecretOutput()),
            **_errors(
                *BODY_ERRORS,
                *AUTH_ERRORS,
                *URL_ERRORS,
                "ENDPOINT_LIMIT_REACHED",
                validation="webhook",
            ),
        },
        examples=[
            example("Completions and rejections", ENDPOINT_REQUEST, request_only=True),
            example(
                "Registered (the secret is shown only now)",
                {"data": ex.ENDPOINT_WITH_SECRET},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    )
    def post(self, request):
        body = s.EndpointCreateInput(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(customer=request.user.customer, **body.validated_data)
        return _data(s.endpoint_representation(endpoint, with_secret=True), status=201)


class EndpointDetailApi(WebhookApi):
    @extend_schema(
        operation_id="webhook_endpoints_detail",
        tags=["webhooks"],
        summary="One webhook endpoint",
        description="Its URL, events, state and failure run (never its secret).",
        responses={200: _envelope(s.EndpointOutput()), **_errors(*AUTH_ERRORS, *NOT_FOUND)},
        examples=[example("Endpoint", {"data": ex.ENDPOINT}, response_only=True)],
    )
    def get(self, request, endpoint_id: str):
        return _data(s.endpoint_representation(self.endpoint(request, endpoint_id)))

    @extend_schema(
        operation_id="webhook_endpoints_update",
        tags=["webhooks"],
        summary="Change a webhook endpoint",
        description=(
            "Any of `url`, `events`, `description` and `enabled`; fields left out keep their "
            "value. Enabling a disabled endpoint clears its failure run."
        ),
        request=s.EndpointUpdateInput,
        responses={
            200: _envelope(s.EndpointOutput()),
            **_errors(*BODY_ERRORS, *AUTH_ERRORS, *NOT_FOUND, *URL_ERRORS, validation="webhook"),
        },
        examples=[
            example("Disable", {"enabled": False}, request_only=True),
            example(
                "Every order event",
                {"events": ["*"], "description": "All transitions"},
                request_only=True,
            ),
            example(
                "Disabled",
                {"data": {**ex.ENDPOINT, "enabled": False}},
                response_only=True,
            ),
        ],
    )
    def patch(self, request, endpoint_id: str):
        endpoint = self.endpoint(request, endpoint_id)
        body = s.EndpointUpdateInput(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(endpoint=endpoint, **body.validated_data)
        return _data(s.endpoint_representation(endpoint))

    @extend_schema(
        operation_id="webhook_endpoints_delete",
        tags=["webhooks"],
        summary="Delete a webhook endpoint",
        description="No more deliveries go to it; its delivery log goes with it. No body.",
        responses={204: None, **_errors(*AUTH_ERRORS, *NOT_FOUND)},
    )
    def delete(self, request, endpoint_id: str):
        services.endpoint_delete(endpoint=self.endpoint(request, endpoint_id))
        return Response(status=204)


class EndpointRotateSecretApi(WebhookApi):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        tags=["webhooks"],
        summary="Rotate an endpoint's signing secret",
        request=None,
        description=(
            "A new secret, shown once; the old one keeps signing alongside it (a second "
            "`v1,` signature) for 24 hours so you can switch without losing a delivery. No body."
        ),
        responses={
            200: _envelope(s.EndpointWithSecretOutput()),
            **_errors(*AUTH_ERRORS, *NOT_FOUND),
        },
        examples=[example("New secret", {"data": ex.ENDPOINT_WITH_SECRET}, response_only=True)],
    )
    def post(self, request, endpoint_id: str):
        endpoint = services.endpoint_rotate_secret(endpoint=self.endpoint(request, endpoint_id))
        return _data(s.endpoint_representation(endpoint, with_secret=True))


class EndpointTestApi(WebhookApi):
    @extend_schema(
        operation_id="webhook_endpoints_test",
        tags=["webhooks"],
        summary="Send a test event",
        request=None,
        description=(
            "Sends a `webhook.test` event to this endpoint only, signed as every delivery is; "
            "the answer is the delivery (its first attempt already made when it finished in "
            "time). A disabled endpoint is 409 ENDPOINT_DISABLED. No body."
        ),
        responses={
            202: _envelope(s.DeliveryOutput()),
            **_errors(*AUTH_ERRORS, *NOT_FOUND, "ENDPOINT_DISABLED"),
        },
        examples=[
            example(
                "Delivered",
                {"data": {**ex.DELIVERY, "eventType": "webhook.test"}},
                response_only=True,
                status_codes=["202"],
            )
        ],
    )
    def post(self, request, endpoint_id: str):
        delivery = services.endpoint_send_test(endpoint=self.endpoint(request, endpoint_id))
        delivery.refresh_from_db()
        return _data(s.delivery_representation(delivery), status=202)


class EndpointDeliveryListApi(WebhookApi):
    @extend_schema(
        operation_id="webhook_endpoints_deliveries",
        tags=["webhooks"],
        summary="An endpoint's delivery log",
        parameters=[PageQuery],
        description=(
            "The deliveries to this endpoint, newest first, each with every attempt (status "
            "code, duration, error, the start of your answer). Paginated with `page` and "
            "`limit`."
        ),
        responses={
            200: _list_envelope("DeliveryListEnvelope", s.DeliveryOutput(many=True)),
            **_errors(*BODY_ERRORS, *AUTH_ERRORS, *NOT_FOUND, validation="page"),
        },
        examples=[example("Deliveries", ex.page([ex.DELIVERY]), response_only=True)],
    )
    def get(self, request, endpoint_id: str):
        endpoint = self.endpoint(request, endpoint_id)
        query = PageQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        page, limit = query.validated_data["page"], query.validated_data["limit"]
        deliveries, total = selectors.delivery_page(endpoint=endpoint, page=page, limit=limit)
        return _data(
            [s.delivery_representation(d) for d in deliveries],
            pagination={"page": page, "limit": limit, "total": total},
        )


class EndpointRedeliverApi(WebhookApi):
    @extend_schema(
        operation_id="webhook_endpoints_redeliver",
        tags=["webhooks"],
        summary="Send an event again",
        request=s.RedeliverInput,
        description=(
            "Sends one of your events (an id from `GET /events`) to this endpoint again, on a "
            "fresh retry schedule; the log keeps the earlier attempts. A disabled endpoint is "
            "409 ENDPOINT_DISABLED, an event that is not yours 404 EVENT_NOT_FOUND."
        ),
        responses={
            202: _envelope(s.DeliveryOutput()),
            **_errors(
                *BODY_ERRORS,
                *AUTH_ERRORS,
                *NOT_FOUND,
                "EVENT_NOT_FOUND",
                "ENDPOINT_DISABLED",
            ),
        },
        examples=[
            example("Redeliver", {"eventId": ex.EVENT_ID}, request_only=True),
            example(
                "Queued",
                {
                    "data": {
                        **ex.DELIVERY,
                        "status": "pending",
                        "attemptCount": 0,
                        "nextAttemptAt": "2026-05-30T00:20:00.000Z",
                        "attempts": [],
                    }
                },
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    def post(self, request, endpoint_id: str):
        endpoint = self.endpoint(request, endpoint_id)
        body = s.RedeliverInput(data=request.data)
        body.is_valid(raise_exception=True)
        event = selectors.event_get(
            customer=request.user.customer, event_id=body.validated_data["eventId"]
        )
        delivery = services.delivery_redeliver(endpoint=endpoint, event=event)
        delivery.refresh_from_db()
        return _data(s.delivery_representation(delivery), status=202)


class EventListApi(APIView):
    required_scopes = {"GET": SCOPE_READ, "HEAD": SCOPE_READ, "OPTIONS": SCOPE_READ}

    @extend_schema(
        operation_id="events_list",
        tags=["events"],
        summary="Your order events, to catch up",
        parameters=[
            s.EventFeedQuery,
            OpenApiParameter(
                "type",
                {
                    "type": "array",
                    "items": {"type": "string", "enum": list(ORDER_EVENT_TYPES)},
                    "minItems": 1,
                },
                style="form",
                explode=False,
                description="Only these event types, comma-separated.",
            ),
        ],
        description=(
            "The customer's order events, oldest first after the cursor: pass the last "
            "`id` you processed as `after` (or `meta.pagination.nextAfter`) to catch up. "
            "Events are kept at least 30 days."
        ),
        responses={
            200: inline_serializer(
                "EventFeedEnvelope",
                fields={
                    "data": s.EventOutput(many=True),
                    "meta": inline_serializer(
                        "EventFeedMeta",
                        fields={
                            "pagination": inline_serializer(
                                "EventFeedPagination",
                                fields={
                                    "limit": drf.IntegerField(),
                                    "after": drf.UUIDField(allow_null=True),
                                    "nextAfter": drf.UUIDField(allow_null=True),
                                    "hasMore": drf.BooleanField(),
                                },
                            )
                        },
                    ),
                },
            ),
            **_errors(*BODY_ERRORS, *AUTH_ERRORS, validation="events"),
        },
        examples=[
            example(
                "One event, more to come",
                {
                    "data": [ex.EVENT],
                    "meta": {
                        "pagination": {
                            "limit": 1,
                            "after": None,
                            "nextAfter": ex.EVENT_ID,
                            "hasMore": True,
                        }
                    },
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        query = s.EventFeedQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        after = params.get("after")
        events, has_more = selectors.event_feed(
            customer=request.user.customer,
            after=after,
            types=params.get("type"),
            limit=params["limit"],
        )
        next_after = str(events[-1].pk) if events else (str(after) if after else None)
        return _data(
            [s.event_representation(e) for e in events],
            pagination={
                "limit": params["limit"],
                "after": str(after) if after else None,
                "nextAfter": next_after,
                "hasMore": has_more,
            },
        )


class EventDetailApi(APIView):
    required_scopes = {"GET": SCOPE_READ, "HEAD": SCOPE_READ, "OPTIONS": SCOPE_READ}

    @extend_schema(
        operation_id="events_detail",
        tags=["events"],
        summary="One event",
        description=(
            "An event by its id (the `webhook-id` header of its deliveries): the order as it "
            "was at that transition, and the status it left."
        ),
        responses={
            200: _envelope(s.EventOutput()),
            **_errors(*AUTH_ERRORS, "EVENT_NOT_FOUND"),
        },
        examples=[example("Completed", {"data": ex.EVENT}, response_only=True)],
    )
    def get(self, request, event_id: str):
        event = selectors.event_get(customer=request.user.customer, event_id=event_id)
        return _data(s.event_representation(event))
