from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import exchanges, views
from .receipts import OrderReceiptApi
from .statements import StatementDownloadApi
from .status import StatusApi

urlpatterns = [
    path("auth/token", views.TokenCreateApi.as_view(), name="api-token"),
    path("otc-exchanges/accounts", views.AccountListApi.as_view(), name="api-accounts"),
    path("otc-exchanges/wallets", views.WalletListApi.as_view(), name="api-wallets"),
    path(
        "otc-exchanges/wallets/<str:wallet_id>/balance",
        views.WalletBalanceApi.as_view(),
        name="api-wallet-balance",
    ),
    path("otc-exchanges/quote", views.QuoteCreateApi.as_view(), name="api-quote"),
    path("otc-exchanges/pairs", views.PairListApi.as_view(), name="api-pairs"),
    path("otc-exchanges", views.OrderListCreateApi.as_view(), name="api-orders"),
    path("otc-exchanges/<str:order_id>", views.OrderDetailApi.as_view(), name="api-order"),
    path(
        "otc-exchanges/<str:order_id>/cancel",
        views.OrderCancelApi.as_view(),
        name="api-order-cancel",
    ),
    path(
        "otc-exchanges/<str:order_id>/requote",
        views.OrderRequoteApi.as_view(),
        name="api-order-requote",
    ),
    path(
        "otc-exchanges/<str:order_id>/review",
        views.OrderReviewApi.as_view(),
        name="api-order-review",
    ),
    path(
        "otc-exchanges/<str:order_id>/accept-price",
        views.OrderAcceptPriceApi.as_view(),
        name="api-order-accept-price",
    ),
    path(
        "otc-exchanges/<str:order_id>/receipt.pdf",
        OrderReceiptApi.as_view(),
        name="api-order-receipt",
    ),
    path("exchanges", exchanges.ExchangeListCreateApi.as_view(), name="api-exchanges"),
    path("exchanges/<str:exchange_id>", exchanges.ExchangeDetailApi.as_view(), name="api-exchange"),
    path(
        "exchanges/<str:exchange_id>/accept",
        exchanges.ExchangeAcceptApi.as_view(),
        name="api-exchange-accept",
    ),
    path(
        "exchanges/<str:exchange_id>/cancel",
        exchanges.ExchangeCancelApi.as_view(),
        name="api-exchange-cancel",
    ),
    path("statements", StatementDownloadApi.as_view(), name="api-statements"),
    path("status", StatusApi.as_view(), name="api-status"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("otc.webhooks.api_urls")),
    re_path(r"^.*$", views.UnknownRouteApi.as_view(), name="api-unknown"),
]
