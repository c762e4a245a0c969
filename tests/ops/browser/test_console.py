"""End to end in real Chromium: an operator signs in, works the approval queue, approves at
the live rate, rejects with a reason, and completes a four-eyes approval with a colleague.
Pending orders are made through the customer services; with eager Celery the settlement task
runs on commit inside the live server's thread."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from otc.models import Order, OrderApproval, Side, Status
from tests.factories import PASSWORD

from ..conftest import make_staff, pending_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/ops/")
    expect(page.get_by_role("heading", name="Approval queue")).to_be_visible()


def queue_row(page, order):
    return page.locator(f'tr[data-order-id="{order.pk}"]')


def test_operator_approves_from_the_queue_and_sees_it_completed(
    live_server, open_tab, artifacts, acme, globex, settings
):
    older = pending_order(globex, side=Side.SELL, amount="2500.000000")
    order = pending_order(acme, amount="1000.00")
    make_staff("op-alice")
    page = open_tab()
    sign_in(page, live_server, "op-alice")

    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-order-id", str(older.pk))  # oldest first
    row = queue_row(page, order)
    expect(row).to_contain_text("Acme")
    expect(row).to_contain_text("1,000.00 EUR")
    expect(row).to_contain_text("1.074600")
    expect(row).to_contain_text("1,074.600000 USDC")

    # The price panel refreshes itself (htmx polling), without reloading the page.
    page.evaluate("window.__not_reloaded = true")
    settings.OTC_PRICE_FEED = "static:1.081000"
    expect(page.get_by_test_id("live-mid")).to_have_text("1.081000", timeout=12_000)
    assert page.evaluate("window.__not_reloaded") is True
    expect(row).to_contain_text("1.074600")  # rows keep the figures they were shown with

    # Reloaded, each row shows the live figures and who the ~9 bps move favours.
    page.reload()
    expect(row.get_by_test_id("row-live-rate")).to_have_text("1.075595")
    expect(row).to_contain_text("1,075.595000 USDC")
    expect(row).to_contain_text("+9.3 bps favours customer")
    expect(queue_row(page, older)).to_contain_text("favours desk")
    page.screenshot(path=str(artifacts / "ops-queue.png"), full_page=True)

    row.get_by_role("button", name=re.compile("^Approve")).click()

    # Back on the queue, told what happened, with the order gone from it.
    expect(page).to_have_url(f"{live_server.url}/ops/")
    expect(page.locator(".messages")).to_contain_text("Approved at 1.075595")
    expect(page.locator(".messages")).to_contain_text("1,075.595000 USDC to Acme")
    expect(queue_row(page, order)).to_have_count(0)
    expect(queue_row(page, older)).to_have_count(1)
    page.screenshot(path=str(artifacts / "ops-queue-after-approve.png"), full_page=True)

    page.goto(f"{live_server.url}/ops/orders/{order.pk}/")
    expect(page.get_by_test_id("order-status")).to_have_text("Completed")
    expect(page.get_by_test_id("final-rate")).to_have_text("1.075595")
    timeline = page.get_by_role("table", name="Transition log")
    expect(timeline).to_contain_text("op-alice")
    expect(timeline).to_contain_text("Operator console")
    expect(timeline).to_contain_text("system:settlement")
    expect(page.get_by_text(f"Order {order.pk}: USDC delivered")).to_be_visible()
    page.screenshot(path=str(artifacts / "ops-order-completed.png"), full_page=True)

    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    assert order.final_rate == Decimal("1.075595")


def test_operator_rejects_with_a_reason(live_server, open_tab, artifacts, acme):
    order = pending_order(acme, amount="4200.00")
    make_staff("op-alice")
    page = open_tab()
    sign_in(page, live_server, "op-alice")

    queue_row(page, order).get_by_role("link", name="Review").click()
    expect(page.get_by_test_id("order-status")).to_have_text("Pending approval")
    page.get_by_label("Reason code").select_option("COMPLIANCE_REVIEW")
    page.get_by_label("Reason for rejecting").fill("Source of funds not evidenced")
    page.get_by_role("button", name="Reject and refund").click()

    expect(page.get_by_test_id("order-status")).to_have_text("Rejected")
    expect(page.get_by_test_id("rejection-reason")).to_have_text("Source of funds not evidenced")
    expect(page.get_by_text(f"Order {order.pk} rejected: source refunded")).to_be_visible()
    page.screenshot(path=str(artifacts / "ops-order-rejected.png"), full_page=True)

    page.get_by_role("link", name="Approval queue").first.click()
    expect(queue_row(page, order)).to_have_count(0)
    assert Order.objects.get(pk=order.pk).status == Status.REJECTED


def test_operator_rejects_with_a_reason_from_the_queue(live_server, open_tab, artifacts, acme):
    order = pending_order(acme, amount="4200.00")
    make_staff("op-alice")
    page = open_tab()
    sign_in(page, live_server, "op-alice")

    row = queue_row(page, order)
    row.locator("summary", has_text="Reject").click()  # the row's disclosure opens its form
    row.get_by_role("button", name="Reject and refund").click()
    # The browser itself asks for the reason (required) before anything is sent.
    assert Order.objects.get(pk=order.pk).status == Status.PENDING_APPROVAL
    row.get_by_label("Reason code").select_option("COMPLIANCE_REVIEW")
    row.get_by_label("Reason (shown to the customer)").fill("Source of funds not evidenced")
    page.screenshot(path=str(artifacts / "ops-queue-reject.png"), full_page=True)
    row.get_by_role("button", name="Reject and refund").click()

    expect(page).to_have_url(f"{live_server.url}/ops/")
    expect(page.locator(".messages")).to_contain_text("4,200.00 EUR refunded")
    expect(queue_row(page, order)).to_have_count(0)
    order.refresh_from_db()
    assert order.status == Status.REJECTED
    assert order.rejection_reason == "Source of funds not evidenced"


def test_rate_moved_beyond_tolerance_shows_new_figures_then_approves(
    live_server, open_tab, acme, settings
):
    order = pending_order(acme, amount="1000.00")
    make_staff("op-alice")
    page = open_tab()
    sign_in(page, live_server, "op-alice")
    queue_row(page, order).get_by_role("link", name="Review").click()
    expect(page.get_by_test_id("live-rate")).to_have_text("1.074600")

    settings.OTC_PRICE_FEED = "static:1.090000"  # ~93 bps while the operator was reading
    page.get_by_role("button", name="Approve").click()

    alert = page.get_by_test_id("decision-error")
    expect(alert).to_contain_text("Nothing was approved")
    expect(alert).to_contain_text("1,084.550000 USDC")
    expect(page.get_by_test_id("order-status")).to_have_text("Pending approval")
    expect(page.get_by_test_id("live-rate")).to_have_text("1.084550")

    page.get_by_role("button", name="Approve").click()  # a fresh decision on the new figures
    expect(page.get_by_test_id("order-status")).to_have_text("Completed")
    expect(page.get_by_test_id("final-rate")).to_have_text("1.084550")


def test_four_eyes_needs_a_second_operator(live_server, open_tab, artifacts, acme, settings):
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("100000")
    order = pending_order(acme, amount="150000.00")
    make_staff("op-alice")
    make_staff("op-bob")

    alice = open_tab()
    sign_in(alice, live_server, "op-alice")
    expect(queue_row(alice, order)).to_contain_text("4-eyes 0/2")
    queue_row(alice, order).get_by_role("link", name="Review").click()
    alice.get_by_role("button", name="Give first approval").click()
    expect(alice.get_by_role("status")).to_contain_text("Your approval is recorded (1 of 2)")
    expect(alice.get_by_test_id("order-status")).to_have_text("Pending approval")
    expect(alice.get_by_test_id("awaiting-second")).to_be_visible()
    expect(alice.get_by_role("button", name="Approve")).to_have_count(0)
    alice.screenshot(path=str(artifacts / "ops-order-four-eyes-first.png"), full_page=True)

    bob = open_tab()
    sign_in(bob, live_server, "op-bob")
    row = queue_row(bob, order)
    expect(row).to_contain_text("4-eyes 1/2")
    row.get_by_role("button", name=re.compile("^Approve")).click()
    expect(bob).to_have_url(f"{live_server.url}/ops/")  # the queue, told what happened
    expect(bob.locator(".messages")).to_contain_text("Approved at")
    bob.goto(f"{live_server.url}/ops/orders/{order.pk}/")
    expect(bob.get_by_test_id("order-status")).to_have_text("Completed")
    timeline = bob.get_by_role("table", name="Transition log")
    expect(timeline).to_contain_text("op-bob")
    expect(timeline).to_contain_text("first approval by op-alice")

    order.refresh_from_db()
    assert order.status == Status.COMPLETED and order.approved_by.username == "op-bob"
    assert list(
        OrderApproval.objects.filter(order=order).values_list("user__username", flat=True)
    ) == ["op-alice", "op-bob"]


def test_when_the_session_ends_the_polling_panel_takes_the_page_to_sign_in(
    live_server, open_tab, db
):
    make_staff("op-alice")
    page = open_tab()
    sign_in(page, live_server, "op-alice")

    page.context.clear_cookies()  # signed out elsewhere, or the session expired

    expect(page).to_have_url(re.compile(r"/login/\?next=/ops/$"), timeout=12_000)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
