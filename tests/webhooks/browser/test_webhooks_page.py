"""The portal's webhooks page in real Chromium against a live server and a real receiver:
add an endpoint, copy the secret shown once, send a test event and read the delivery log."""

import pytest
from playwright.sync_api import expect

from otc.webhooks.models import WebhookEndpoint
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_add_an_endpoint_send_a_test_event_and_read_the_log(
    page, live_server, acme, receiver, artifacts
):
    sign_in(page, live_server, acme.user)
    page.goto(f"{live_server.url}/webhooks/")
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_label("otc_order.completed").check()
    page.get_by_label("otc_order.approved").check()
    page.get_by_role("button", name="Add endpoint").click()

    endpoint = WebhookEndpoint.objects.get(customer=acme.customer)
    expect(page).to_have_url(f"{live_server.url}/webhooks/{endpoint.pk}/")
    shown = page.locator("#webhook-secret").inner_text()
    assert shown == endpoint.secret
    page.screenshot(path=str(artifacts / "webhooks-secret-once.png"), full_page=True)

    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_text("Test event sent")).to_be_visible()
    expect(page.locator("#webhook-secret")).to_have_count(0)  # shown only once
    [request] = receiver.wait_for(1)
    assert request.verify(shown)["type"] == "webhook.test"
    page.reload()
    expect(page.get_by_text("HTTP 200")).to_be_visible()
    expect(page.get_by_text("succeeded")).to_be_visible()
    page.screenshot(path=str(artifacts / "webhooks-delivery-log.png"), full_page=True)

    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_text("Disabled by the customer.")).to_be_visible()
    endpoint.refresh_from_db()
    assert not endpoint.enabled
