"""Routes of the webhooks API, included under /api/v1/ by ``otc.api.urls``."""

from django.urls import path

from . import api_views as views

urlpatterns = [
    path("webhook-endpoints", views.EndpointListCreateApi.as_view(), name="api-webhook-endpoints"),
    path(
        "webhook-endpoints/<str:endpoint_id>",
        views.EndpointDetailApi.as_view(),
        name="api-webhook-endpoint",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/rotate-secret",
        views.EndpointRotateSecretApi.as_view(),
        name="api-webhook-endpoint-rotate",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/test",
        views.EndpointTestApi.as_view(),
        name="api-webhook-endpoint-test",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/deliveries",
        views.EndpointDeliveryListApi.as_view(),
        name="api-webhook-endpoint-deliveries",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/redeliver",
        views.EndpointRedeliverApi.as_view(),
        name="api-webhook-endpoint-redeliver",
    ),
    path("events", views.EventListApi.as_view(), name="api-events"),
    path("events/<str:event_id>", views.EventDetailApi.as_view(), name="api-event"),
]
