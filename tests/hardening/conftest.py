"""Fixtures for the hardening tests: a client holding every scope, one webhook endpoint and
one event of acme's, and the routes that take a JSON body or list something."""

import pytest
from rest_framework.test import APIClient

from accounts.models import ALL_SCOPES
from otc.webhooks import services as webhooks

from .. import factories


@pytest.fixture
def api(acme) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=factories.make_key(acme.customer, list(ALL_SCOPES)))
    return client


@pytest.fixture
def endpoint(acme, settings):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True
    return webhooks.endpoint_create(customer=acme.customer, url="http://127.0.0.1:9/hooks")


@pytest.fixture
def event(acme):
    return webhooks.event_emit(customer=acme.customer, type="otc_order.quoted", data={"n": "1"})


@pytest.fixture
def body_routes(endpoint) -> list[tuple[str, str]]:
    """Every route that reads a JSON body: (method, path)."""
    hooks = f"/api/v1/webhook-endpoints/{endpoint.pk}"
    return [
        ("post", "/api/v1/auth/token"),
        ("post", "/api/v1/otc-exchanges/quote"),
        ("post", "/api/v1/otc-exchanges"),
        ("post", "/api/v1/webhook-endpoints"),
        ("patch", hooks),
        ("post", f"{hooks}/redeliver"),
        ("post", "/api/v1/exchanges"),
        ("post", "/api/v1/exchanges/8f1c4a3e-5b7d-4e2a-9c61-0a2b3c4d5e6f/accept"),
    ]


@pytest.fixture
def paged_routes(endpoint) -> list[str]:
    """Every list route that takes ?page and ?limit."""
    return [
        "/api/v1/otc-exchanges",
        "/api/v1/webhook-endpoints",
        f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries",
        "/api/v1/exchanges",
    ]


def send(api: APIClient, method: str, path: str, raw: str | bytes):
    headers = {"HTTP_IDEMPOTENCY_KEY": "6f1c3a4e-9b0d-4c1e-8f3a-2b5d7e9a1c3f"}
    return getattr(api, method)(path, raw, content_type="application/json", **headers)
