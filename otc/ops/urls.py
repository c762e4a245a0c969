from django.urls import path

from . import customer_views, pricing_views, reconciliation_views, views

app_name = "ops"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("price/", views.price_panel, name="price"),
    path("price/override/", pricing_views.price_override, name="price_override"),
    path("treasury/", views.treasury, name="treasury"),
    path("webhooks/", views.failing_webhooks, name="webhooks"),
    path("orders/", views.order_search, name="orders"),
    path("orders/export.csv", views.order_export, name="orders_csv"),
    path("orders/<uuid:order_id>/", views.order_detail, name="order"),
    path("orders/<uuid:order_id>/approve/", views.order_approve, name="approve"),
    path("orders/<uuid:order_id>/reject/", views.order_reject, name="reject"),
    path("customers/", customer_views.customer_list, name="customers"),
    path("customers/<uuid:customer_id>/", customer_views.customer_detail, name="customer"),
    path("customers/<uuid:customer_id>/kyc/", customer_views.customer_kyc, name="customer_kyc"),
    path("reconciliation/", reconciliation_views.report_list, name="reconciliation"),
    path("reconciliation/run/", reconciliation_views.report_run, name="reconciliation_run"),
    path(
        "reconciliation/<uuid:report_id>/",
        reconciliation_views.report_detail,
        name="reconciliation_report",
    ),
    path(
        "reconciliation/breaks/<int:break_id>/resolve/",
        reconciliation_views.break_resolve,
        name="reconciliation_resolve",
    ),
]
