"""The webhooks API: endpoints (scopes ``webhooks:read`` / ``webhooks:write``) and the event
feed (``otc-exchanges:read``). Thin shells over ``services`` and ``selectors``."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers as drf
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import SCOPE_READ, SCOPE_WEBHOOKS_READ, SCOPE_WEBHOOKS_WRITE
from otc.api.inputs import PageQuery
from otc.api.serializers import PaginationMeta
from otc.api.views import AUTH_ERRORS, BODY_ERRORS, _data, _envelope, _errors

from . import selectors, services
from . import serializers as s

WEBHOOK_SCOPES = {
    "GET": SCOPE_WEBHOOKS_READ,
    "HEAD": SCOPE_WEBHOOKS_READ,
    "OPTIONS": SCOPE_WEBHOOKS_READ,
    "POST": SCOPE_WEBHOOKS_WRITE,
    "PATCH": SCOPE_WEBHOOKS_WRITE,
    "PUT": SCOPE_WEBHOOKS_WRITE,
    "DELETE": SCOPE_WEBHOOKS_WRITE,
}
NOT_FOUND = ((404, "WEBHOOK_ENDPOINT_NOT_FOUND"),)
URL_ERRORS = ((422, "URL_NOT_ALLOWED"),)
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
PAGE_PARAMS = [
    OpenApiParameter("page", int, description="From 1."),
    OpenApiParameter("limit", int, description="Default 50, max 100."),
]


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
        parameters=PAGE_PARAMS,
        responses={
            200: _list_envelope("EndpointListEnvelope", s.EndpointOutput(many=True)),
            **_errors(*BODY_ERRORS, *AUTH_ERRORS),
        },
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
        request=s.EndpointCreateInput,
        description=DELIVERY_DOC,
        responses={
            201: _envelope(s.EndpointWithSecretOutput()),
            **_errors(*BODY_ERRORS, *AUTH_ERRORS, *URL_ERRORS, (422, "ENDPOINT_LIMIT_REACHED")),
        },
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
        responses={200: _envelope(s.EndpointOutput()), **_errors(*AUTH_ERRORS, *NOT_FOUND)},
    )
    def get(self, request, endpoint_id: str):
        return _data(s.endpoint_representation(self.endpoint(request, endpoint_id)))

    @extend_schema(
        operation_id="webhook_endpoints_update",
        tags=["webhooks"],
        request=s.EndpointUpdateInput,
        responses={
            200: _envelope(s.EndpointOutput()),
            **_errors(*BODY_ERRORS, *AUTH_ERRORS, *NOT_FOUND, *URL_ERRORS),
        },
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
        responses={204: None, **_errors(*AUTH_ERRORS, *NOT_FOUND)},
    )
    def delete(self, request, endpoint_id: str):
        services.endpoint_delete(endpoint=self.endpoint(request, endpoint_id))
        return Response(status=204)


class EndpointRotateSecretApi(WebhookApi):
    @extend_schema(
        operation_id="webhook_endpoints_rotate_secret",
        tags=["webhooks"],
        request=None,
        description="A new secret; the old one keeps signing alongside it for 24 hours.",
        responses={
            200: _envelope(s.EndpointWithSecretOutput()),
            **_errors(*AUTH_ERRORS, *NOT_FOUND),
        },
    )
    def post(self, request, endpoint_id: str):
        endpoint = services.endpoint_rotate_secret(endpoint=self.endpoint(request, endpoint_id))
        return _data(s.endpoint_representation(endpoint, with_secret=True))


class EndpointTestApi(WebhookApi):
    @extend_schema(
        operation_id="webhook_endpoints_test",
        tags=["webhooks"],
        request=None,
        description="Send a `webhook.test` event to this endpoint only.",
        responses={
            202: _envelope(s.DeliveryOutput()),
            **_errors(*AUTH_ERRORS, *NOT_FOUND, (409, "ENDPOINT_DISABLED")),
        },
    )
    def post(self, request, endpoint_id: str):
        delivery = services.endpoint_send_test(endpoint=self.endpoint(request, endpoint_id))
        delivery.refresh_from_db()
        return _data(s.delivery_representation(delivery), status=202)


class EndpointDeliveryListApi(WebhookApi):
    @extend_schema(
        operation_id="webhook_endpoints_deliveries",
        tags=["webhooks"],
        parameters=PAGE_PARAMS,
        description="The delivery log of this endpoint, newest first, with every attempt.",
        responses={
            200: _list_envelope("DeliveryListEnvelope", s.DeliveryOutput(many=True)),
            **_errors(*BODY_ERRORS, *AUTH_ERRORS, *NOT_FOUND),
        },
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
        request=s.RedeliverInput,
        description="Send one of the customer's events to this endpoint again.",
        responses={
            202: _envelope(s.DeliveryOutput()),
            **_errors(
                *BODY_ERRORS,
                *AUTH_ERRORS,
                *NOT_FOUND,
                (404, "EVENT_NOT_FOUND"),
                (409, "ENDPOINT_DISABLED"),
            ),
        },
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
        parameters=[
            OpenApiParameter("after", str, description="An event id: return the events after it."),
            OpenApiParameter("type", str, description="Event type(s), comma-separated."),
            OpenApiParameter("limit", int, description="Default 50, max 100."),
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
            **_errors(*BODY_ERRORS, *AUTH_ERRORS),
        },
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
        responses={
            200: _envelope(s.EventOutput()),
            **_errors(*AUTH_ERRORS, (404, "EVENT_NOT_FOUND")),
        },
    )
    def get(self, request, event_id: str):
        event = selectors.event_get(customer=request.user.customer, event_id=event_id)
        return _data(s.event_representation(event))
