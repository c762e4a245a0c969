"""The portal's webhooks page, mounted at /webhooks/ by ``otc.web.urls``."""

from django.urls import path

from . import portal_views as views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoint_list, name="list"),
    path("<uuid:endpoint_id>/", views.endpoint_detail, name="detail"),
    path("<uuid:endpoint_id>/rotate/", views.endpoint_rotate, name="rotate"),
    path("<uuid:endpoint_id>/test/", views.endpoint_test, name="test"),
    path("<uuid:endpoint_id>/toggle/", views.endpoint_toggle, name="toggle"),
    path("<uuid:endpoint_id>/delete/", views.endpoint_delete, name="delete"),
    path("<uuid:endpoint_id>/redeliver/", views.delivery_redeliver, name="redeliver"),
]
