"""The console's pricing tools: a supervisor pins and clears a manual price (shared by every
process, audited, shown on the live panel); operators cannot; the treasury shows fee income;
an order's page lists its price lines."""

from decimal import Decimal

import pytest

from otc import pricing
from otc.models import AuditEntry, CustomerFeeSchedule, Pair

from .conftest import csrf_post, pending_order, signed_in

pytestmark = pytest.mark.django_db

OVERRIDE = "/ops/price/override/"


def eur_usdc() -> Pair:
    return Pair.objects.get(code="EUR/USDC")


def test_a_supervisor_pins_a_price_that_every_quote_uses_and_clears_it(
    acme, supervisor, django_capture_on_commit_callbacks
):
    client = signed_in(supervisor)
    client.get("/ops/")
    with django_capture_on_commit_callbacks(execute=True):
        response = csrf_post(client, OVERRIDE, {"rate": "1.2", "minutes": "15", "action": "set"})
    assert response.status_code == 302
    override = pricing.price_override_get("EUR/USDC")
    assert override.rate == Decimal("1.2") and override.expires_at is not None
    assert pricing.live_mid_rate(eur_usdc()) == Decimal("1.2")
    panel = client.get("/ops/price/").content.decode()
    assert "Manual price pinned at" in panel and "sup-carol" in panel and "1.200000" in panel
    entry = AuditEntry.objects.get(action="price_override.set")
    assert entry.actor_user == supervisor and entry.details["rate"] == "1.200000"

    with django_capture_on_commit_callbacks(execute=True):
        csrf_post(client, OVERRIDE, {"action": "clear"})
    assert pricing.price_override_get("EUR/USDC") is None
    assert pricing.live_mid_rate(eur_usdc()) == Decimal("1.080000")  # the static test feed
    assert AuditEntry.objects.filter(action="price_override.clear").count() == 1


def test_a_bad_rate_is_refused_with_a_message_and_pins_nothing(supervisor, acme):
    client = signed_in(supervisor)
    client.get("/ops/")
    response = csrf_post(client, OVERRIDE, {"rate": "-1", "action": "set"}, follow=True)
    assert "positive" in response.content.decode()
    assert pricing.price_override_get("EUR/USDC") is None
    assert not AuditEntry.objects.exists()


def test_an_operator_cannot_pin_a_price(alice, acme):
    client = signed_in(alice)
    client.get("/ops/")
    assert csrf_post(client, OVERRIDE, {"rate": "1.5", "action": "set"}).status_code == 403
    assert pricing.price_override_get("EUR/USDC") is None
    assert "Manual price (supervisors)" not in client.get("/ops/price/").content.decode()


def test_treasury_shows_fee_income_and_the_order_page_its_price_lines(acme, alice):
    CustomerFeeSchedule.objects.create(
        customer=acme.customer, pair=eur_usdc(), fixed_fee=Decimal("2.00")
    )
    order = pending_order(acme)
    client = signed_in(alice)
    treasury = client.get("/ops/treasury/").content.decode()
    assert 'data-testid="fees-eur">2.00 EUR' in treasury
    page = client.get(f"/ops/orders/{order.pk}/").content.decode()
    assert 'data-fee="client_fixed"' in page and 'data-fee="fx_markup"' in page
