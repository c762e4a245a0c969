"""Every portal page, the sign-in page and the error pages at 390 px in real Chromium: nothing
scrolls sideways (tables become cards or scroll in their own box, addresses shorten in the
middle). Screenshots go to test-artifacts/phone-*.png."""

import re
from decimal import Decimal

import pytest
from django.template import loader
from playwright.sync_api import expect

from otc import services
from otc.models import Channel, Side
from otc.services import Actor
from otc.webhooks import services as webhooks
from tests import factories

from .phone import assert_fits, phone_tab

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone(chromium):
    context, tab = phone_tab(chromium)
    yield tab
    context.close()


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def _orders(world, operator):
    actor = Actor.for_user(world.user, Channel.PORTAL)
    made = []
    for side, amount in ((Side.BUY, "12345.67"), (Side.SELL, "9876.543210")):
        quote = services.quote_create(
            customer=world.customer,
            side=side,
            fiat_account_id=world.eur_master.pk,
            wallet_id=world.wallet.pk,
            amount=Decimal(amount),
            actor=actor,
        )
        services.order_confirm(order_id=quote.pk, customer=world.customer, side=side, actor=actor)
        made.append(quote)
    services.order_approve(order_id=made[0].pk, actor=Actor.for_user(operator, Channel.OPS))
    open_quote = services.quote_create(
        customer=world.customer,
        side=Side.BUY,
        fiat_account_id=world.eur_master.pk,
        wallet_id=world.wallet.pk,
        amount=Decimal("299999.99"),
        actor=actor,
    )
    return made, open_quote


def test_every_portal_page_fits_a_phone(phone, live_server, acme, operator, artifacts, settings):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True
    (completed, pending), quote = _orders(acme, operator)
    endpoint = webhooks.endpoint_create(
        customer=acme.customer,
        url="http://127.0.0.1:9/hooks/otc-desk/orders/a-rather-long-path-for-a-phone",
        description="ERP integration",
    )
    sign_in(phone, live_server, acme.user)
    expect(phone.get_by_role("heading", name=acme.customer.name)).to_be_visible()
    base = live_server.url
    pages = {
        "dashboard": "/",
        "dashboard-quotes": "/?show=quotes",
        "exchange": "/exchange/",
        "quote": f"/exchange/{quote.pk}/",
        "orders": "/orders/",
        "quotes": "/orders/?show=quotes",
        "order-completed": f"/orders/{completed.pk}/",
        "order-pending-sell": f"/orders/{pending.pk}/",
        "api-keys": "/api-keys/",
        "password": "/password/",
        "webhooks": "/webhooks/",
        "webhook": f"/webhooks/{endpoint.pk}/",
        "not-found": "/no-such-page/",
        "forbidden": "/ops/",
    }
    for name, path in pages.items():
        phone.goto(base + path)
        assert_fits(phone, f"portal-{name}", artifacts)

    # The dashboard's wallet address is shortened in the middle, and copied whole.
    phone.goto(base + "/")
    address = phone.locator(f"#addr-{acme.wallet.pk}")
    expect(address).to_have_attribute("title", acme.wallet.usdc_address)
    assert address.evaluate("n => n.textContent") == acme.wallet.usdc_address
    assert address.bounding_box()["width"] < 300


def test_sign_in_and_error_pages_fit_a_phone(phone, live_server, artifacts, db):
    phone.goto(f"{live_server.url}/login/")
    assert_fits(phone, "login", artifacts)
    phone.goto(f"{live_server.url}/no-such-page/")
    assert_fits(phone, "not-found-anonymous", artifacts)
    # The 500 page is rendered without a request (nothing that could fail again); shown here
    # with the live server's styles.
    html = loader.get_template("web/500.html").render()
    phone.set_content(html.replace("<head>", f'<head><base href="{live_server.url}/">', 1))
    expect(phone.get_by_role("heading", name=re.compile("went wrong"))).to_be_visible()
    assert_fits(phone, "server-error", artifacts)
