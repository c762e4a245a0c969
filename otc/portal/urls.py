from django.urls import path

from . import statements, views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("exchange/", views.exchange, name="exchange"),
    path("exchange/amount/", views.amount_preview, name="amount_preview"),
    path("exchange/<uuid:order_id>/", views.quote, name="quote"),
    path("exchange/<uuid:order_id>/confirm/", views.quote_confirm, name="quote_confirm"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<uuid:order_id>/", views.order_detail, name="order"),
    path("orders/<uuid:order_id>/status/", views.order_status, name="order_status"),
    path("orders/<uuid:order_id>/cancel/", views.order_cancel, name="order_cancel"),
    path("orders/<uuid:order_id>/requote/", views.order_requote, name="order_requote"),
    path("orders/<uuid:order_id>/review/", views.order_review, name="order_review"),
    path(
        "orders/<uuid:order_id>/accept-price/",
        views.order_accept_price,
        name="order_accept_price",
    ),
    path("orders/<uuid:order_id>/receipt.pdf", views.order_receipt, name="order_receipt"),
    path("statements/", statements.statement_download, name="statements"),
    path("api-keys/", views.api_keys, name="api_keys"),
    path("api-keys/<uuid:key_id>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
]
