"""The quote form's "I want to receive exactly …" (a fixed destination: USDC for a buy, EUR for
a sell), read in the browser's locale, and the quote's price line by line — the figures the
pricing function stored, the same the API returns and the console shows."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils.html import escape

from otc.models import CustomerFeeSchedule, FixedSide, Order, Side
from otc.representations import quote_representation
from otc.services import DEFAULT_PAIR, pair_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(client, acme):
    client.force_login(acme.user)
    return client


def quote_post(world, **fields):
    data = {
        "side": "buy",
        "fiat_account": str(world.eur_master.pk),
        "wallet": str(world.wallet.pk),
        "fixed_side": "destination",
        "amount": "1000.000000",
    }
    data.update(fields)
    return data


def latest(world) -> Order:
    return Order.objects.filter(customer=world.customer).latest("created_at")


def test_a_fixed_destination_buy_delivers_exactly_the_usdc_asked_for(portal, acme, fee_schedule):
    response = portal.post(reverse("portal:exchange"), quote_post(acme, amount="1,000.5"))
    order = latest(acme)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:quote", args=[order.pk])
    assert order.fixed_side == FixedSide.DESTINATION
    assert order.indicative_destination_amount == Decimal("1000.500000")
    # The source is what the pricing function worked out: more than the amount at the rate,
    # since the fees come on top.
    assert order.source_amount > order.indicative_destination_amount / order.indicative_rate


def test_the_quote_shows_the_price_line_by_line_as_the_api_does(portal, acme, fee_schedule):
    portal.post(reverse("portal:exchange"), quote_post(acme))
    order = latest(acme)
    page = portal.get(reverse("portal:quote", args=[order.pk]))
    text = page.content.decode()
    api = quote_representation(order)
    assert api["fixedSide"] == "destination" and api["destinationAmountUsdc"] == "1000.000000"
    breakdown = page.context["breakdown"]
    assert breakdown.reference_rate == "1.080000" == api["referenceRate"]
    assert breakdown.rate == api["rate"]
    # Every API fee line is on the page, amounts in the locale's writing, markups in bps.
    shown = {(row.type, row.value) for row in breakdown.lines}
    for line in api["fees"]["lines"]:
        if "amount" in line:
            value = f"{Decimal(line['amount']):,.2f} EUR"
        else:
            value = f"{line['bps']} bps off the rate"
        assert (line["type"], value) in shown
        assert escape(line["description"]) in text
    assert {row.type for row in breakdown.lines} >= {
        "client_fixed",
        "client_percentage",
        "fx_markup",
        "client_fx_markup",
    }
    assert breakdown.fee_total == f"{Decimal(api['fees']['total']):,.2f} EUR"
    assert breakdown.source == f"{Decimal(api['sourceAmount']):,.2f} EUR"
    assert breakdown.destination == "1,000.000000 USDC"
    assert 'data-testid="fee-total"' in text and 'data-testid="total-cost"' in text
    assert "You asked to receive exactly 1,000.000000 USDC" in text
    assert "You receive (exactly)" in text


def test_a_fixed_destination_sell_reads_the_eur_in_german(portal, acme):
    response = portal.post(
        reverse("portal:exchange"),
        quote_post(acme, side="sell", amount="1.234,5"),
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert response.status_code == 302
    order = latest(acme)
    assert (order.side, order.fixed_side) == (Side.SELL, FixedSide.DESTINATION)
    assert order.indicative_destination_amount == Decimal("1234.50")
    assert order.source_currency == "USDC" and order.source_amount > Decimal("1234.5")


def test_twelve_comma_five_is_twelve_fifty_in_german(portal, acme):
    portal.post(
        reverse("portal:exchange"),
        quote_post(acme, side="sell", amount="12,5"),
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert latest(acme).indicative_destination_amount == Decimal("12.50")


def test_a_fixed_destination_is_checked_in_its_own_currency(portal, acme):
    # A buy's destination is USDC (6 decimals); a sell's is EUR (2 decimals).
    response = portal.post(
        reverse("portal:exchange"), quote_post(acme, side="sell", amount="100.123")
    )
    assert response.status_code == 400
    assert "EUR amounts have at most 2 decimals." in response.content.decode()
    response = portal.post(reverse("portal:exchange"), quote_post(acme, amount="100.1234567"))
    assert response.status_code == 400
    assert "USDC amounts have at most 6 decimals." in response.content.decode()
    assert not Order.objects.exists()


def test_a_fixed_destination_whose_source_is_out_of_range_is_refused(portal, acme):
    # The form cannot know the source before pricing: the service checks it (422).
    response = portal.post(reverse("portal:exchange"), quote_post(acme, amount="5.000000"))
    assert response.status_code == 422
    assert "Enter an amount between 10.00 and" in response.content.decode()
    assert not Order.objects.exists()


def test_fees_exceeding_the_amount_are_a_plain_message(portal, acme):
    CustomerFeeSchedule.objects.create(
        customer=acme.customer, pair=pair_get(DEFAULT_PAIR), fixed_fee=Decimal("150.00")
    )
    response = portal.post(
        reverse("portal:exchange"), quote_post(acme, fixed_side="source", amount="100.00")
    )
    assert response.status_code == 409
    form = response.context["form"]
    assert form.errors["amount"] == [
        "The fees (150.00 EUR) are as large as this amount; enter a larger amount."
    ]
    assert not Order.objects.exists()


def test_a_destination_too_small_for_the_fees_is_a_plain_message(portal, acme):
    CustomerFeeSchedule.objects.create(
        customer=acme.customer, pair=pair_get(DEFAULT_PAIR), fixed_fee=Decimal("50.00")
    )
    response = portal.post(reverse("portal:exchange"), quote_post(acme, amount="20.000000"))
    assert response.status_code == 400
    assert response.context["form"].errors["amount"] == [
        "This amount is too small: the fees would cost more than what is exchanged."
    ]
    assert not Order.objects.exists()


def test_an_older_form_without_the_choice_fixes_the_source(portal, acme):
    data = quote_post(acme, amount="1000.00")
    del data["fixed_side"]
    portal.post(reverse("portal:exchange"), data)
    order = latest(acme)
    assert (order.fixed_side, order.source_amount) == (FixedSide.SOURCE, Decimal("1000.00"))


def test_the_preview_reads_the_destination_currency(portal, acme):
    url = reverse("portal:amount_preview")
    buy = portal.get(url, {"side": "buy", "fixed_side": "destination", "amount": "1000.5"})
    assert "We read this as <strong>1,000.500000 USDC</strong>" in buy.content.decode()
    sell = portal.get(
        url,
        {"side": "sell", "fixed_side": "destination", "amount": "12,5"},
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert "12,50 EUR" in sell.content.decode()
    source = portal.get(url, {"side": "sell", "fixed_side": "source", "amount": "12.5"})
    assert "12.500000 USDC" in source.content.decode()


def test_requoting_keeps_the_fixed_destination_in_the_form(portal, acme):
    portal.post(reverse("portal:exchange"), quote_post(acme, amount="750.000000"))
    order = latest(acme)
    form = portal.get(reverse("portal:quote", args=[order.pk])).context["form"]
    assert form.initial["fixed_side"] == "destination"
    assert form.initial["amount"] == "750.000000"
    assert form.fields["amount"].label == "Amount to receive"
    assert dict(form.fields["fixed_side"].choices)["destination"] == "I want to receive exactly"


def test_the_form_tells_the_script_every_mode(portal, acme):
    limits = portal.get(reverse("portal:exchange")).context["limits"]
    assert limits["buy-destination"]["currency"] == "USDC"
    assert limits["sell-destination"]["currency"] == "EUR"
    assert limits["buy-source"]["label"] == "Amount to pay"
    assert limits["sell-source"]["fixedLabel"] == "I sell exactly"
    assert "fees on top" in limits["buy-destination"]["help"]
