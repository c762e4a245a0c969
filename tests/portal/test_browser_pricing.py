"""In real Chromium: a fixed-destination buy quoted with its fee lines, the price review's
accept path with its live countdown, and every new page at phone width (390 px)."""

import re

import pytest
from playwright.sync_api import expect

from otc import services
from otc.models import FixedSide, Order, Side, Status
from tests import factories
from tests.protection.conftest import pending

from .conftest import ops_actor
from .phone import assert_fits, phone_tab

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_a_fixed_destination_buy_is_quoted_with_its_fee_lines(
    page, live_server, acme, fee_schedule, artifacts
):
    sign_in(page, live_server, acme.user)
    page.goto(f"{live_server.url}/exchange/")
    page.get_by_label("I want to receive exactly").check()
    # The script relabels the amount as the choice changes (the server does it too on reload).
    amount = page.get_by_label("Amount to receive")
    expect(amount).to_have_attribute("data-currency", "USDC")
    amount.fill("2500")
    expect(page.get_by_test_id("amount-preview")).to_have_text("We read this as 2,500.000000 USDC.")
    page.get_by_role("button", name="Get quote").click()
    expect(page.get_by_role("heading", name="Your quote")).to_be_visible()
    order = Order.objects.get(customer=acme.customer)
    assert (order.fixed_side, str(order.indicative_destination_amount)) == (
        FixedSide.DESTINATION,
        "2500.000000",
    )
    expect(page.get_by_test_id("quote-amount")).to_have_text("2,500.000000 USDC")
    panel = page.locator("#quote-panel")
    expect(panel.get_by_test_id("reference-rate")).to_have_text("1.080000")
    lines = panel.get_by_test_id("fee-line")
    expect(lines).to_have_count(order.fees.count())
    expect(panel.locator('[data-fee="client_fixed"]')).to_contain_text("2.50 EUR")
    expect(panel.locator('[data-fee="fx_markup"]')).to_contain_text("50 bps off the rate")
    expect(panel.get_by_test_id("fee-total")).to_have_text(f"{order.fee_total:,.2f} EUR")
    expect(panel.get_by_test_id("total-cost")).to_have_text(f"{order.source_amount:,.2f} EUR")
    page.screenshot(path=str(artifacts / "portal-quote-fixed-destination.png"), full_page=True)

    # Switching to sell relabels the choice and the amount's currency (EUR to receive).
    page.get_by_label("Sell USDC (receive EUR)").check()
    expect(page.get_by_label("Amount to receive")).to_have_attribute("data-currency", "EUR")
    page.get_by_label("I sell exactly").check()
    expect(page.get_by_label("Amount to sell")).to_have_attribute("data-currency", "USDC")


def test_accepting_a_new_price_from_the_review_screen(
    page, live_server, acme, in_review, artifacts
):
    order = in_review()
    sign_in(page, live_server, acme.user)
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    expect(page.get_by_test_id("order-status")).to_have_text("Price review")
    page.get_by_role("link", name="Review the new price").click()
    expect(page).to_have_url(f"{live_server.url}/orders/{order.pk}/review/")
    expect(page.get_by_test_id("previous-rate")).to_have_text("1.074600")
    expect(page.get_by_test_id("new-rate")).to_have_text("1.054700")
    expect(page.get_by_test_id("destination-change")).to_have_text("\u221219.900000 USDC")
    left = page.locator("[data-testid=review-time-left] [data-time-left-text]")
    first = left.inner_text()
    expect(left).not_to_have_text(first, timeout=5_000)  # the countdown is live
    page.screenshot(path=str(artifacts / "portal-review.png"), full_page=True)

    page.get_by_role("button", name=re.compile(r"^Accept 1\.054700")).click()
    expect(page).to_have_url(f"{live_server.url}/orders/{order.pk}/")
    expect(page.get_by_text("New price accepted")).to_be_visible()
    expect(page.get_by_test_id("order-status")).to_have_text("Completed", timeout=15_000)
    expect(page.get_by_test_id("receipt-executed-rate")).to_have_text("1.054700")
    order.refresh_from_db()
    assert (order.status, str(order.final_rate)) == (Status.COMPLETED, "1.054700")


def test_an_expiring_review_swaps_accept_for_the_expired_note(
    page, live_server, acme, in_review, settings
):
    settings.OTC_REVIEW_TTL_SECONDS = 3
    order = in_review()
    sign_in(page, live_server, acme.user)
    page.goto(f"{live_server.url}/orders/{order.pk}/review/")
    expect(page.get_by_test_id("review-expired")).to_be_visible(timeout=8_000)
    expect(page.get_by_role("button", name=re.compile("^Accept"))).to_be_hidden()
    assert Order.objects.get(pk=order.pk).status == Status.PRICE_REVIEW


def test_the_approval_deadline_counts_down(page, live_server, acme, settings):
    settings.OTC_APPROVAL_SLA_MINUTES = 2
    order = pending(acme)
    sign_in(page, live_server, acme.user)
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    left = page.get_by_test_id("approval-deadline").locator("[data-time-left-text]")
    expect(left).to_have_text(re.compile(r"^1 min \d\d s$"))
    first = left.inner_text()
    expect(left).not_to_have_text(first, timeout=5_000)


@pytest.fixture
def phone(chromium):
    context, tab = phone_tab(chromium)
    yield tab
    context.close()


def test_the_new_pages_fit_a_phone(
    phone, live_server, acme, operator, completed, in_review, fee_schedule, artifacts
):
    done = completed()
    review = in_review()
    waiting = pending(acme, side=Side.SELL)
    rejected = pending(acme)
    services.order_reject(
        order_id=rejected.pk,
        actor=ops_actor(operator),
        reason="Your company's documents have expired; please send the new ones.",
        code="KYC_REQUIRED",
    )
    sign_in(phone, live_server, acme.user)
    phone.goto(f"{live_server.url}/exchange/")
    phone.get_by_label("I want to receive exactly").check()
    phone.get_by_label("Amount to receive").fill("1000")
    phone.get_by_role("button", name="Get quote").click()
    expect(phone.get_by_role("heading", name="Your quote")).to_be_visible()
    assert_fits(phone, "portal-quote-fixed-destination", artifacts)
    pages = {
        "order-receipt": f"/orders/{done.pk}/",
        "order-review": f"/orders/{review.pk}/",
        "review": f"/orders/{review.pk}/review/",
        "order-deadline": f"/orders/{waiting.pk}/",
        "order-rejected": f"/orders/{rejected.pk}/",
        "dashboard-awaiting-review": "/",
        "orders-with-review": "/orders/",
    }
    for name, path in pages.items():
        phone.goto(live_server.url + path)
        assert_fits(phone, f"portal-{name}", artifacts)
    phone.goto(f"{live_server.url}/orders/{done.pk}/")
    expect(phone.get_by_role("link", name="Download receipt (PDF)")).to_be_visible()
