"""One format for money and rates in the user's locale; orders by default and quotes on
request; a sentence (and expected time) for every status; a buy larger than its account said
on the quote; wallet balances in the sell form; labels right for each side; 403/no-role pages."""

from decimal import Decimal

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation

from accounts.providers import set_simulated_outage
from otc import services
from otc.models import Channel, Side, Status
from otc.portal.status_text import ORDER_STATUSES, QUOTE_STATUSES, status_text
from otc.services import Actor
from tests import factories

pytestmark = pytest.mark.django_db

NNBSP = "\u202f"


@pytest.fixture
def portal(client, acme):
    client.force_login(acme.user)
    return client


def make_quote(world, side=Side.BUY, amount="1000.00", account=None):
    return services.quote_create(
        customer=world.customer,
        side=side,
        fiat_account_id=(account or world.eur_master).pk,
        wallet_id=world.wallet.pk,
        amount=Decimal(amount),
        actor=Actor.for_user(world.user, Channel.PORTAL),
    )


def make_order(world, side=Side.BUY, amount="1000.00"):
    order = make_quote(world, side, amount)
    services.order_confirm(
        order_id=order.pk, customer=world.customer, side=side, actor=Actor.system("t")
    )
    return order


# --- one format ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "eur", "usdc", "rate"),
    [
        ("en", "1,234,567.50 EUR", "1,234.500000 USDC", "1.074600"),
        ("de", "1.234.567,50 EUR", "1.234,500000 USDC", "1,074600"),
        ("nl", "1.234.567,50 EUR", "1.234,500000 USDC", "1,074600"),
        ("fr", f"1{NNBSP}234{NNBSP}567,50 EUR", f"1{NNBSP}234,500000 USDC", "1,074600"),
    ],
)
def test_money_and_rate_filters_group_digits_with_the_currencys_decimals(language, eur, usdc, rate):
    template = Template(
        "{% load money %}{{ eur|money:'EUR' }}|{{ usdc|money:'USDC' }}|{{ r|rate }}|"
        "{{ r|plain_rate }}|{{ usdc|plain_amount:'USDC' }}|{{ none|money:'EUR' }}"
    )
    context = Context(
        {"eur": Decimal("1234567.5"), "usdc": Decimal("1234.5"), "r": Decimal("1.0746")}
    )
    with translation.override(language):
        assert template.render(context) == f"{eur}|{usdc}|{rate}|1.074600|1234.500000|—"


def test_portal_pages_show_money_in_the_browsers_locale(portal, acme):
    make_order(acme, amount="1234.56")
    page = portal.get(reverse("portal:dashboard"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "248.765,44" in page  # 250,000.00 less the 1,234.56 debited
    assert "100.000,000000" in page
    assert "1.234,56 EUR" in page
    assert "1,074600" in page


def test_errors_with_amounts_are_in_the_readers_locale(portal, acme):
    big = make_quote(acme, amount="300000.00")  # more than the 250,000.00 the account holds
    response = portal.post(
        reverse("portal:quote_confirm", args=[big.pk]),
        {"idempotency_key": "8b0f1c9e-5a1d-4c1e-9d55-1b1b1b1b1b1b", "side": "buy"},
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert response.status_code == 422
    assert "holds only 250.000,00 EUR" in response.content.decode()


# --- orders, quotes on request ------------------------------------------------------------


def test_dashboard_shows_orders_by_default_and_quotes_on_request(portal, acme):
    order = make_order(acme)
    open_quote = make_quote(acme)
    cancelled = make_quote(acme)
    services.order_cancel(order_id=cancelled.pk, customer=acme.customer, actor=Actor.system("t"))

    default = portal.get(reverse("portal:dashboard"))
    assert [row["order"].pk for row in default.context["recent"]] == [order.pk]
    assert "1 open" in default.content.decode()  # the open quote is one click away

    quotes = portal.get(reverse("portal:dashboard"), {"show": "quotes"})
    assert [row["order"].pk for row in quotes.context["recent"]] == [cancelled.pk, open_quote.pk]


def test_order_list_shows_orders_by_default_and_quotes_in_their_tab(portal, acme):
    order = make_order(acme)
    quote = make_quote(acme)
    orders = portal.get(reverse("portal:orders"))
    assert [row["order"].pk for row in orders.context["rows"]] == [order.pk]
    quotes = portal.get(reverse("portal:orders"), {"show": "quotes"})
    assert [row["order"].pk for row in quotes.context["rows"]] == [quote.pk]
    assert set(QUOTE_STATUSES) | set(ORDER_STATUSES) == set(Status)


# --- explain always -----------------------------------------------------------------------


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
@pytest.mark.parametrize("status", list(Status))
def test_every_status_has_a_plain_sentence(status, side):
    text = status_text(status, side)
    assert text.sentence.endswith(".") and len(text.sentence) > 20


def test_in_flight_statuses_say_how_long_the_next_step_takes():
    for status in (Status.DEBIT_PENDING, Status.PENDING_APPROVAL, Status.APPROVED):
        assert status_text(status, Side.BUY).expected


def test_order_page_shows_the_sentence_and_expected_time(portal, acme):
    order = make_order(acme)
    order.refresh_from_db()
    page = portal.get(reverse("portal:order", args=[order.pk])).content.decode()
    assert status_text(order.status, order.side).sentence in page
    assert "Expected: " + status_text(order.status, order.side).expected in page


def test_a_buy_quote_larger_than_the_balance_says_so_before_confirm(portal, acme):
    small = factories.make_account(acme.customer, label="Petty", balance="500.00")
    quote = make_quote(acme, amount="1000.00", account=small)
    page = portal.get(reverse("portal:quote", args=[quote.pk])).content.decode()
    assert 'data-testid="shortfall"' in page
    assert "holds 500.00 EUR, less than the 1,000.00 EUR this order needs" in page
    covered = make_quote(acme, amount="400.00", account=small)
    assert (
        'data-testid="shortfall"'
        not in portal.get(reverse("portal:quote", args=[covered.pk])).content.decode()
    )


def test_the_wallet_list_shows_each_wallets_balance(portal, acme):
    form = portal.get(reverse("portal:exchange"), {"side": "sell"}).context["form"]
    labels = dict(form.fields["wallet"].choices)
    assert labels[str(acme.wallet.pk)] == "Primary · Polygon · 100,000.000000 USDC available"
    assert labels[str(acme.wallet_secondary.pk)].endswith("500.000000 USDC available")
    set_simulated_outage("custody", True)
    try:
        form = portal.get(reverse("portal:exchange")).context["form"]
    finally:
        set_simulated_outage("custody", False)
    assert dict(form.fields["wallet"].choices)[str(acme.wallet.pk)].endswith("unavailable")


def test_a_sell_never_labels_the_usdc_you_pay(portal, acme):
    sell = make_quote(acme, side=Side.SELL, amount="250.000000")
    quote_page = portal.get(reverse("portal:quote", args=[sell.pk])).content.decode()
    order_page = portal.get(reverse("portal:order", args=[sell.pk])).content.decode()
    for page in (quote_page, order_page):
        assert "You pay" not in page
        assert "You sell" in page and "You receive" in page
    buy = make_quote(acme)
    assert "You pay" in portal.get(reverse("portal:order", args=[buy.pk])).content.decode()
    listing = portal.get(reverse("portal:orders"), {"show": "quotes"}).content.decode()
    assert 'data-label="You sell"' in listing and 'data-label="You pay"' in listing


# --- errors a person can act on -----------------------------------------------------------


def test_a_customer_opening_the_console_gets_a_403_with_a_way_back(portal, acme):
    response = portal.get("/ops/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "The operator console is for the desk's staff" in page
    assert 'href="/"' in page and "Back to your dashboard" in page
    assert "app.css" in page  # the same design as 404/500


def test_404_and_500_share_the_design(portal, client):
    not_found = portal.get("/nowhere/")
    assert not_found.status_code == 404 and "app.css" in not_found.content.decode()
    from otc.web.errors import server_error

    request = client.get("/").wsgi_request
    failed = server_error(request)
    assert failed.status_code == 500 and "app.css" in failed.content.decode()


def test_a_user_without_customer_or_staff_role_is_told_why(client, db):
    client.force_login(factories.UserFactory(username="drifter"))
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "drifter" in page and "not linked to a customer" in page
    assert "Sign out" in page


def test_staff_without_a_console_role_are_told_why(client, db):
    client.force_login(factories.UserFactory(username="intern", is_staff=True))
    response = client.get("/ops/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "has no role in the console yet" in page and "operators" in page
    assert "Sign out and use another user" in page
