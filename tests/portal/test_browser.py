"""End to end in real Chromium against a live server: sign in, quote, confirm, follow the
order, cancel a quote, refresh an expired one, create and revoke an API key."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import ApiKey
from otc import services
from otc.models import Channel, Order, OrderTransition, Status
from otc.services import Actor
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def ask_quote(page, live_server, amount, side="Buy USDC (pay EUR)"):
    page.goto(f"{live_server.url}/exchange/")
    page.get_by_label(side).check()
    page.get_by_label(re.compile(r"^Amount to")).fill(amount)
    page.get_by_role("button", name="Get quote").click()
    expect(page.get_by_role("heading", name="Your quote")).to_be_visible()
    return Order.objects.filter(customer__slug="acme").latest("created_at")


def test_buy_confirm_track_and_cancel_another_quote(page, live_server, acme, operator, artifacts):
    sign_in(page, live_server, acme.user)
    expect(page.get_by_role("heading", name=acme.customer.name)).to_be_visible()
    expect(page.get_by_text(acme.wallet.usdc_address)).to_be_visible()
    expect(page.get_by_test_id("wallet-balance").first).to_have_text("100,000.000000")
    page.screenshot(path=str(artifacts / "portal-dashboard.png"), full_page=True)

    order = ask_quote(page, live_server, "1000.00")
    expect(page.get_by_test_id("quote-rate")).to_contain_text("1.074600")
    expect(page.get_by_test_id("quote-amount")).to_contain_text("1,074.600000 USDC")
    countdown = page.locator("[data-countdown-text]")
    first = int(countdown.inner_text().split()[0])
    page.wait_for_timeout(1500)
    assert int(countdown.inner_text().split()[0]) < first  # the countdown is live
    page.screenshot(path=str(artifacts / "portal-quote.png"), full_page=True)

    # A double click sends the same idempotency key twice: one confirm, one order page.
    page.get_by_role("button", name="Confirm buy").dblclick()
    expect(page).to_have_url(f"{live_server.url}/orders/{order.pk}/")
    expect(page.get_by_test_id("order-status")).to_have_text("Pending approval")
    assert OrderTransition.objects.filter(order=order, from_status=Status.QUOTED).count() == 1

    # The desk approves elsewhere; the order page notices by itself (htmx polling).
    services.order_approve(order_id=order.pk, actor=Actor.for_user(operator, Channel.OPS))
    expect(page.get_by_test_id("order-status")).to_have_text("Completed", timeout=15_000)
    expect(page.get_by_test_id("final-rate")).to_contain_text("1.074600")
    expect(page.locator(".timeline li")).to_have_count(5)
    page.screenshot(path=str(artifacts / "portal-order.png"), full_page=True)

    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.locator(f'tr[data-order-id="{order.pk}"]')).to_contain_text("Completed")
    page.screenshot(path=str(artifacts / "portal-orders.png"), full_page=True)

    other = ask_quote(page, live_server, "250.000000", side="Sell USDC (receive EUR)")
    page.get_by_role("button", name="Cancel quote").click()
    expect(page).to_have_url(f"{live_server.url}/orders/{other.pk}/")
    expect(page.get_by_test_id("order-status")).to_have_text("Cancelled")
    other.refresh_from_db()
    assert other.status == Status.CANCELLED


def test_amount_errors_show_in_the_form(page, live_server, acme):
    sign_in(page, live_server, acme.user)
    page.goto(f"{live_server.url}/exchange/")
    page.get_by_label(re.compile(r"^Amount to")).fill("12.345")
    page.get_by_role("button", name="Get quote").click()
    amount = page.get_by_label("Amount to pay")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("EUR amounts have at most 2 decimals.")).to_be_visible()
    assert not Order.objects.exists()


def test_expired_quote_offers_refresh(page, live_server, acme, settings):
    settings.OTC_QUOTE_TTL_SECONDS = 2
    sign_in(page, live_server, acme.user)
    order = ask_quote(page, live_server, "500.00")
    refresh = page.get_by_role("button", name="Refresh quote")
    expect(refresh).to_be_visible(timeout=5_000)
    expect(page.get_by_role("button", name="Confirm buy")).to_be_hidden()
    settings.OTC_QUOTE_TTL_SECONDS = 60
    refresh.click()
    expect(page.get_by_role("button", name="Confirm buy")).to_be_visible()
    order.refresh_from_db()
    assert order.status == Status.REQUOTED


def test_exchange_page_fits_a_phone(page, live_server, acme, artifacts):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, acme.user)
    ask_quote(page, live_server, "1000.00")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0  # no sideways scrolling
    expect(page.get_by_role("button", name="Confirm buy")).to_be_visible()
    page.screenshot(path=str(artifacts / "portal-quote-phone.png"), full_page=True)


def test_create_and_revoke_an_api_key(page, live_server, acme, artifacts):
    sign_in(page, live_server, acme.user)
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("Treasury ERP")
    page.get_by_role("checkbox", name=re.compile("otc-exchanges:write")).check()
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-secret").input_value()
    assert secret.startswith("sk_test_")
    key = ApiKey.objects.get(name="Treasury ERP")
    assert sorted(key.scopes) == ["otc-exchanges:read", "otc-exchanges:write"]
    page.get_by_role("button", name="Copy").click()
    row = page.locator(f'tr[data-key-prefix="{key.prefix}"]')
    expect(row).to_contain_text("active")
    page.screenshot(path=str(artifacts / "portal-api-key-created.png"), full_page=True)

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(page.get_by_text(f"Key {key.prefix}… revoked")).to_be_visible()
    expect(row).to_contain_text("revoked")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert page.get_by_test_id("new-secret").count() == 0  # the secret is never shown again


def test_keyboard_order_is_skip_link_then_brand_then_navigation(page, live_server, acme):
    sign_in(page, live_server, acme.user)
    focused = []
    for _ in range(6):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert focused == [
        "Skip to content",
        "OTC Desk",
        "Dashboard",
        "New exchange",
        "Orders",
        "API keys",
    ]
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/exchange/")
