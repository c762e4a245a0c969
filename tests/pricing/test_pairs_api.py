"""The pricing engine over HTTP: fixed-destination quotes (buy and sell) with their fee lines,
exactly one amount, validValues on every choice error, the pair errors, the fee errors, and
GET otc-exchanges/pairs.

Figures from the pinned feed (mid 1.080000) and the platform's 50 bps FX markup:
buy rate 1.074600 USDC/EUR, sell rate 0.921296 EUR/USDC."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import holidays
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from otc.caching import pricing_cache_forget
from otc.models import CustomerFeeSchedule, Order, Pair, Status
from tests.otc.test_api_support import (
    ORDERS,
    QUOTE,
    assert_error,
    buy_body,
    confirm,
    quote,
    sell_body,
)

pytestmark = pytest.mark.django_db

PAIRS = "/api/v1/otc-exchanges/pairs"


def eur_usdc() -> Pair:
    return Pair.objects.get(code="EUR/USDC")


def fixed_destination_buy(world, amount="1000.000000", **extra) -> dict:
    body = buy_body(world, **extra)
    del body["sourceAmountEur"]
    body["destinationAmountUsdc"] = amount
    return body


def fixed_destination_sell(world, amount="500.00", **extra) -> dict:
    body = sell_body(world, **extra)
    del body["sourceAmountUsdc"]
    body["destinationAmountEur"] = amount
    return body


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()["data"]


# --- either side fixed ------------------------------------------------------------------------


def test_a_fixed_destination_buy_delivers_exactly_and_rounds_the_source_up(acme):
    data = ok(quote(acme, fixed_destination_buy(acme)))
    # 1000 / 1.0746 = 930.5788...: 930.58 EUR delivers 1000.001268, 930.57 only 999.990522.
    assert data["fixedSide"] == "destination"
    assert data["sourceAmountEur"] == data["sourceAmount"] == "930.58"
    assert data["destinationAmountUsdc"] == data["destinationAmount"] == "1000.000000"
    assert (data["referenceRate"], data["rate"]) == ("1.080000", "1.074600")
    assert (data["sourceCurrency"], data["destinationCurrency"]) == ("EUR", "USDC")
    assert data["fees"] == {
        "currency": "EUR",
        "total": "0.00",
        "lines": [{"type": "fx_markup", "description": "Desk FX markup", "bps": 50}],
    }
    order = Order.objects.get(pk=data["quoteId"])
    assert order.fixed_side == "destination"
    assert order.indicative_destination_amount == Decimal("1000.000000")


def test_a_fixed_destination_sell_delivers_exactly_and_rounds_the_source_up(acme):
    data = ok(quote(acme, fixed_destination_sell(acme)))
    # 500 / 0.921296 = 542.71374238...: 542.713743 USDC gives 500.0000004, one unit less 499.99.
    assert data["fixedSide"] == "destination"
    assert data["sourceAmountUsdc"] == data["sourceAmount"] == "542.713743"
    assert data["destinationAmountEur"] == data["destinationAmount"] == "500.00"
    assert (data["referenceRate"], data["rate"]) == ("0.925925", "0.921296")
    assert data["fees"]["currency"] == "USDC" and data["fees"]["total"] == "0.000000"
    assert "destinationAmountUsdc" not in data and "sourceAmountEur" not in data


def test_a_fixed_source_quote_says_so_and_has_no_seed_destination_field(acme):
    data = ok(quote(acme, buy_body(acme, "100.00")))
    assert data["fixedSide"] == "source"
    assert "destinationAmountUsdc" not in data
    assert data["destinationAmount"] == "107.460000"


def test_fee_lines_of_a_fixed_destination_quote_with_every_amount_fee(acme):
    pair = eur_usdc()
    pair.platform_fixed_fee = Decimal("2.00")
    pair.network_fees = {"polygon": "0.50", "ethereum": "4.00"}  # acme.wallet is on polygon
    pair.save()
    CustomerFeeSchedule.objects.create(customer=acme.customer, pair=pair, percentage_bps=10)
    data = ok(quote(acme, fixed_destination_buy(acme)))
    # Net needed 930.58; S - 2.50 - ceil(S * 0.1%) >= 930.58: S = 934.02 (fee 0.93402 -> 0.94).
    assert data["sourceAmountEur"] == "934.02"
    assert data["destinationAmountUsdc"] == "1000.000000"
    assert data["fees"] == {
        "currency": "EUR",
        "total": "3.44",
        "lines": [
            {"type": "platform_fixed", "description": "Platform fee", "amount": "2.00"},
            {"type": "network", "description": "Network fee", "amount": "0.50"},
            {
                "type": "client_percentage",
                "description": "Your account's percentage fee (0.1%)",
                "amount": "0.94",
                "bps": 10,
            },
            {"type": "fx_markup", "description": "Desk FX markup", "bps": 50},
        ],
    }
    # The order shows the same lines.
    order = acme.client().get(f"{ORDERS}/{data['quoteId']}").json()["data"]
    assert order["fees"] == data["fees"] and order["fixedSide"] == "destination"


def test_the_extension_names_work_for_either_side(acme):
    body = buy_body(acme)
    del body["sourceAmountEur"]
    data = ok(quote(acme, {**body, "destinationAmount": "1000.000000", "pair": "EUR/USDC"}))
    assert (data["fixedSide"], data["sourceAmount"]) == ("destination", "930.58")
    data = ok(quote(acme, {**body, "sourceAmount": "100.00"}))
    assert (data["fixedSide"], data["destinationAmount"]) == ("source", "107.460000")


def test_extension_amounts_keep_the_currencys_decimals(acme):
    body = buy_body(acme)
    del body["sourceAmountEur"]
    err = assert_error(quote(acme, {**body, "sourceAmount": "100.001"}), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {"sourceAmount"}
    assert "2 decimals" in err["details"]["sourceAmount"][0]


@pytest.mark.parametrize(
    ("side", "names"),
    [
        ("buy", ("sourceAmountEur", "destinationAmountUsdc")),
        ("sell", ("sourceAmountUsdc", "destinationAmountEur")),
        ("buy", ("sourceAmountEur", "destinationAmount")),
        ("buy", ("sourceAmount", "sourceAmountEur")),
    ],
)
def test_two_amounts_are_a_validation_error_naming_both(acme, side, names):
    body = (buy_body if side == "buy" else sell_body)(acme)
    for name in ("sourceAmountEur", "sourceAmountUsdc"):
        body.pop(name, None)
    for name in names:
        body[name] = "100.00"
    err = assert_error(quote(acme, body), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == set(names)
    assert "exactly one amount" in err["details"][names[0]][0]
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("side", "named"), [("buy", "sourceAmountEur"), ("sell", "sourceAmountUsdc")]
)
def test_no_amount_is_a_validation_error_naming_the_seed_field(acme, side, named):
    body = (buy_body if side == "buy" else sell_body)(acme)
    del body[named]
    err = assert_error(quote(acme, body), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {named}


# --- validValues on every choice error --------------------------------------------------------


def test_every_choice_error_lists_its_valid_values(acme):
    sides = ["buy", "sell"]
    err = assert_error(quote(acme, buy_body(acme, side="swap")), 400, "VALIDATION_ERROR")
    assert err["details"]["side"]["validValues"] == sides
    assert err["details"]["side"]["message"]

    response = confirm(acme, "9b0e1f4a-0000-4000-8000-000000000000", side="both")
    err = assert_error(response, 400, "VALIDATION_ERROR")
    assert err["details"]["side"]["validValues"] == sides

    client = acme.client(acme.read_key)
    err = assert_error(client.get(f"{ORDERS}?status=done"), 400, "VALIDATION_ERROR")
    assert err["details"]["status"]["validValues"] == [status.value for status in Status]
    err = assert_error(client.get(f"{ORDERS}?side=swap"), 400, "VALIDATION_ERROR")
    assert err["details"]["side"]["validValues"] == sides


# --- pairs and fees errors --------------------------------------------------------------------


def test_an_unknown_pair_is_not_enabled(acme):
    err = assert_error(
        quote(acme, buy_body(acme, pair="EUR/DOGE")), 422, "CURRENCY_PAIR_NOT_ENABLED"
    )
    assert err["details"]["pair"] == "EUR/DOGE"
    assert err["details"]["validValues"] == ["EUR/USDC"]
    # An extension amount whose currency is unknown says the same (not a decimals error).
    body = buy_body(acme, pair="EUR/DOGE")
    del body["sourceAmountEur"]
    body["destinationAmount"] = "10"
    assert_error(quote(acme, body), 422, "CURRENCY_PAIR_NOT_ENABLED")
    assert_error(quote(acme, buy_body(acme, pair="nonsense")), 422, "CURRENCY_PAIR_NOT_ENABLED")
    assert not Order.objects.exists()


def test_a_disabled_pair_is_not_enabled_and_not_listed(acme):
    Pair.objects.filter(code="EUR/USDC").update(enabled=False)
    pricing_cache_forget()  # update() sends no signal
    err = assert_error(quote(acme, buy_body(acme)), 422, "CURRENCY_PAIR_NOT_ENABLED")
    assert err["details"]["validValues"] == []
    assert_error(quote(acme, fixed_destination_sell(acme)), 422, "CURRENCY_PAIR_NOT_ENABLED")
    assert ok(acme.client().get(PAIRS)) == []


def test_a_pair_is_case_insensitive(acme):
    assert ok(quote(acme, buy_body(acme, pair="eur/usdc")))["pair"] == "EUR/USDC"


def test_fees_larger_than_the_amount_are_fees_exceed_amount(acme):
    Pair.objects.filter(code="EUR/USDC").update(platform_fixed_fee=Decimal("20000"))
    pricing_cache_forget()  # update() sends no signal
    err = assert_error(quote(acme, buy_body(acme, "10000.00")), 409, "FEES_EXCEED_AMOUNT")
    assert err["details"]["amount"] == "10000.00"
    assert err["details"]["totalFees"] == "20000.00"
    # A sell: 20000 EUR at the 1.08 mid is 21600 USDC of fees.
    err = assert_error(quote(acme, sell_body(acme, "100.000000")), 409, "FEES_EXCEED_AMOUNT")
    assert err["details"]["totalFees"] == "21600.000000"
    assert not Order.objects.exists()


def test_a_fixed_destination_too_small_for_the_fees_is_invalid_calculated_amount(acme):
    Pair.objects.filter(code="EUR/USDC").update(platform_fixed_fee=Decimal("20000"))
    pricing_cache_forget()  # update() sends no signal
    err = assert_error(
        quote(acme, fixed_destination_buy(acme, "1.000000")), 400, "INVALID_CALCULATED_AMOUNT"
    )
    assert err["details"]["requestedAmount"] == "1.000000"
    assert err["details"]["totalFees"] == "20000.00"
    assert not Order.objects.exists()


def test_a_fixed_destination_source_outside_the_limits_is_out_of_range(acme):
    # 5.00 EUR needs 5.43 USDC: below the pair's 10 USDC minimum for a sell.
    err = assert_error(
        quote(acme, fixed_destination_sell(acme, "5.00")), 422, "AMOUNT_OUT_OF_RANGE"
    )
    assert (err["details"]["min"], err["details"]["currency"]) == ("10.000000", "USDC")


# --- GET otc-exchanges/pairs ------------------------------------------------------------------


def expected_holidays() -> list[dict]:
    today = datetime.now(ZoneInfo(settings.OTC_OFF_HOURS_TIMEZONE)).date()
    end = today + timedelta(days=90)
    calendar = holidays.financial_holidays("XECB", years=range(today.year, end.year + 1))
    return [
        {"date": day.isoformat(), "name": name}
        for day, name in sorted(calendar.items())
        if today <= day <= end
    ]


def test_pairs_show_the_customers_own_schedule_limits_networks_and_holidays(acme, globex):
    pair = eur_usdc()
    pair.platform_fixed_fee = Decimal("1.5")
    pair.platform_percentage_bps = 3
    pair.off_hours_penalty_bps = 20
    pair.network_fees = {"ethereum": "4.5"}
    pair.save()
    CustomerFeeSchedule.objects.create(
        customer=acme.customer,
        pair=pair,
        fixed_fee=Decimal("0.75"),
        percentage_bps=7,
        fx_markup_bps=-10,
    )
    acme.customer.max_order_eur = Decimal("250000.00")
    acme.customer.save()

    (listed,) = ok(acme.client(acme.read_key).get(PAIRS))  # the read scope is enough
    assert set(listed) == {
        "pair",
        "baseCurrency",
        "quoteCurrency",
        "enabled",
        "sides",
        "networks",
        "fees",
        "offHours",
    }
    assert (listed["pair"], listed["baseCurrency"], listed["quoteCurrency"]) == (
        "EUR/USDC",
        "EUR",
        "USDC",
    )
    assert listed["enabled"] is True
    assert listed["sides"] == {
        "buy": {
            "sourceCurrency": "EUR",
            "destinationCurrency": "USDC",
            "minAmount": "10.00",
            "maxAmount": "250000.00",  # acme's own limit
        },
        "sell": {
            "sourceCurrency": "USDC",
            "destinationCurrency": "EUR",
            "minAmount": "10.000000",
            "maxAmount": "1000000.000000",
        },
    }
    networks = {item["network"]: item["networkFee"] for item in listed["networks"]}
    assert networks["ethereum"] == "4.50" and networks["polygon"] == "0.00"
    assert set(networks) >= {"ethereum", "polygon", "solana"}
    assert listed["fees"] == {
        "currency": "EUR",
        "platformFixedFee": "1.50",
        "platformPercentageBps": 3,
        "platformFxMarkupBps": 50,
        "clientFixedFee": "0.75",
        "clientPercentageBps": 7,
        "clientFxMarkupBps": -10,
    }
    off_hours = listed["offHours"]
    assert off_hours["timezone"] == "Europe/Berlin"
    assert "fri 20:00-mon 08:00" in off_hours["windows"]
    assert off_hours["holidayCalendar"] == "XECB"
    assert off_hours["penaltyBps"] == 20
    assert off_hours["holidays"] == expected_holidays()
    christmas = date(date.today().year, 12, 25)
    if date.today() <= christmas <= date.today() + timedelta(days=89):
        assert {"date": christmas.isoformat(), "name": "Christmas Day"} in off_hours["holidays"]

    # Another customer sees the platform's schedule only, and the pair's own limits.
    (theirs,) = ok(globex.client().get(PAIRS))
    assert theirs["fees"]["clientFixedFee"] == "0.00"
    assert theirs["fees"]["clientFxMarkupBps"] == 0
    assert theirs["sides"]["buy"]["maxAmount"] == "1000000.00"


def test_pairs_needs_a_key(acme):
    response = APIClient().get(PAIRS)
    assert_error(response, 401, "UNAUTHENTICATED")
    bad = APIClient()
    bad.credentials(HTTP_X_API_KEY="otc_test_nope")
    assert_error(bad.get(PAIRS), 401, "UNAUTHENTICATED")


def test_the_pairs_settings_are_the_ones_a_quote_uses(acme, settings):
    """The published off-hours calendar is what prices: a quote priced now inside a window
    that covers the whole week carries the published penalty."""
    settings.OTC_OFF_HOURS_WINDOWS = "mon 00:00-mon 00:00"  # end <= start: the whole week
    Pair.objects.filter(code="EUR/USDC").update(off_hours_penalty_bps=20)
    pricing_cache_forget()  # update() sends no signal
    listed = ok(acme.client().get(PAIRS))[0]["offHours"]
    assert listed["windows"] == ["mon 00:00-mon 00:00"]
    data = ok(quote(acme, buy_body(acme, "100.00")))
    assert {"type": "off_hours", "description": "Off-hours / holiday markup", "bps": 20} in data[
        "fees"
    ]["lines"]
    assert data["rate"] == "1.072440"  # 1.08 * (1 - 70 bps)


def test_the_quote_route_is_unchanged(acme):
    assert QUOTE.endswith("/otc-exchanges/quote")
