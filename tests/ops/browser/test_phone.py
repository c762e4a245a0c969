"""The operator console at 390 px in real Chromium: queue, order (pending and completed),
order search, treasury and failing webhooks; nothing scrolls sideways. Screenshots go to
test-artifacts/phone-ops-*.png."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from otc import services
from otc.models import Channel, Side
from otc.services import Actor
from otc.webhooks import services as webhooks
from otc.webhooks.models import WebhookEndpoint
from tests.factories import PASSWORD
from tests.portal.phone import assert_fits, phone_tab

from ..conftest import make_staff, pending_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_console_page_fits_a_phone(live_server, chromium, artifacts, acme, globex, settings):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = 100_000
    big = pending_order(acme, amount="200000.00")
    pending_order(globex, side=Side.SELL, amount="2500.000000")
    done = pending_order(acme, amount="1234.56")
    alice = make_staff("op-alice")
    services.order_approve(order_id=done.pk, actor=Actor.for_user(alice, Channel.OPS))
    endpoint = webhooks.endpoint_create(
        customer=acme.customer, url="http://127.0.0.1:9/a/very/long/webhook/path/for/the/desk"
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=12,
        failing_since=timezone.now(),
        enabled=False,
        disabled_reason="Disabled after 10 failed deliveries in a row.",
    )
    context, page = phone_tab(chromium)
    try:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill("op-alice")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Approval queue")).to_be_visible()
        for name, path in {
            "queue": "/ops/",
            "order-pending": f"/ops/orders/{big.pk}/",
            "order-completed": f"/ops/orders/{done.pk}/",
            "orders": "/ops/orders/",
            "treasury": "/ops/treasury/",
            "webhooks": "/ops/webhooks/",
            "not-found": "/ops/orders/7d0c8f38-2a30-4f5e-9c55-0b4c1d1c9a11/",
        }.items():
            page.goto(live_server.url + path)
            assert_fits(page, f"ops-{name}", artifacts)
    finally:
        context.close()
