"""In real Chromium with a German browser: the amount field says what the server reads while
typing, and the quote is made for that amount."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from otc.models import Order
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_german_browser_types_12_comma_5_and_gets_12_50(chromium, live_server, acme, artifacts):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(acme.user.username)
        page.get_by_label("Password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{live_server.url}/exchange/")
        amount = page.get_by_label(re.compile(r"^Amount to"))
        expect(amount).to_have_attribute("placeholder", "e.g. 1.000,00")

        amount.fill("1.234,5")
        preview = page.get_by_test_id("amount-preview")
        expect(preview).to_have_text("We read this as 1.234,50 EUR.")
        amount.fill("12.5")
        expect(preview).to_contain_text("is not how amounts are written in German")
        page.get_by_label("Sell USDC (receive EUR)").check()
        amount.fill("12,5")
        expect(preview).to_have_text("We read this as 12,500000 USDC.")
        page.screenshot(path=str(artifacts / "portal-amount-preview-de.png"), full_page=True)

        page.get_by_role("button", name="Get quote").click()
        expect(page.get_by_role("heading", name="Your quote")).to_be_visible()
        expect(page.locator(".quote")).to_contain_text("12,500000 USDC")
        assert Order.objects.get().source_amount == Decimal("12.500000")
    finally:
        context.close()
