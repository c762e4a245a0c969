"""POST otc-exchanges/quote: the buy and sell bodies exactly, the ownership codes of both
sides, the 502 when custody is down (changing nothing), validation and amount limits."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import money
from otc import pricing
from otc.caching import pricing_cache_forget
from otc.models import CustomerFeeSchedule, Order, OrderTransition, Pair, Side, Status

from .test_api_support import (
    BUY_DESTINATION_FOR_100,
    BUY_RATE,
    FRESH_LIMITS,
    QUOTE_FIELDS_COMMON,
    SELL_DESTINATION_FOR_100,
    SELL_RATE,
    UUID_RE,
    assert_error,
    buy_body,
    parse_iso,
    quote,
    sell_body,
)

pytestmark = pytest.mark.django_db


def test_expected_figures_match_the_pricing_functions():
    """The hand-worked figures used across these tests agree with the pricing module."""
    mid = Decimal("1.080000")
    buy = pricing.customer_rate(Side.BUY, mid, 50)
    sell = pricing.customer_rate(Side.SELL, mid, 50)
    assert money.format_rate(buy) == BUY_RATE
    assert money.format_rate(sell) == SELL_RATE
    assert (
        money.format_amount(
            pricing.forward_destination(Decimal("100.00"), Decimal(0), buy, money.USDC),
            money.USDC,
        )
        == BUY_DESTINATION_FOR_100
    )
    assert (
        money.format_amount(
            pricing.forward_destination(Decimal("100"), Decimal(0), sell, money.EUR), money.EUR
        )
        == SELL_DESTINATION_FOR_100
    )


def test_buy_quote_body(acme):
    before = timezone.now()
    response = quote(acme, buy_body(acme))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"data"}
    data = body["data"]
    assert set(data) == QUOTE_FIELDS_COMMON | {"sourceAmountEur"}
    assert UUID_RE.match(data["quoteId"])
    ttl = parse_iso(data.pop("ttlExpiresAt"))
    assert before + timedelta(seconds=59) <= ttl <= timezone.now() + timedelta(seconds=60)
    assert data == {
        "quoteId": data["quoteId"],
        "side": "buy",
        "status": "quoted",
        "rate": "1.074600",
        "destinationAmount": "107.460000",
        "sourceAmountEur": "100.00",
        "sourceCurrency": "EUR",
        "destinationCurrency": "USDC",
        "ttlSeconds": 60,
        "indicative": True,
        "pair": "EUR/USDC",
        "fixedSide": "source",
        "referenceRate": "1.080000",
        "sourceAmount": "100.00",
        "fees": {
            "currency": "EUR",
            "total": "0.00",
            "lines": [{"type": "fx_markup", "description": "Desk FX markup", "bps": 50}],
        },
        "limits": FRESH_LIMITS,
    }


def test_the_quote_id_is_the_order_id(acme):
    data = quote(acme, buy_body(acme)).json()["data"]
    order = Order.objects.get(pk=data["quoteId"])
    assert order.customer == acme.customer
    assert order.status == Status.QUOTED and order.side == Side.BUY
    assert order.fiat_account == acme.eur_master and order.wallet == acme.wallet
    assert order.source_amount == Decimal("100.00")
    assert order.indicative_rate == Decimal(BUY_RATE)
    assert order.indicative_destination_amount == Decimal(BUY_DESTINATION_FOR_100)
    log = OrderTransition.objects.get(order=order)
    assert (log.from_status, log.to_status, log.channel) == ("", Status.QUOTED, "api")


@pytest.mark.parametrize(
    ("sent", "shown"), [("100", "100.00"), (" 100.5 ", "100.50"), (100, "100.00")]
)
def test_plain_amount_notations_are_accepted(acme, sent, shown):
    data = quote(acme, buy_body(acme, sent)).json()["data"]
    assert data["sourceAmountEur"] == shown


def test_side_defaults_to_buy(acme):
    body = buy_body(acme)
    del body["side"]
    data = quote(acme, body).json()["data"]
    assert data["side"] == "buy" and data["rate"] == BUY_RATE


def test_quote_moves_no_money(acme):
    quote(acme, buy_body(acme, "1000.00"))
    quote(acme, sell_body(acme, "1000.000000"))
    acme.eur_master.ledger_account.refresh_from_db()
    acme.wallet.ledger_account.refresh_from_db()
    assert acme.eur_master.ledger_account.balance == Decimal("250000.00")
    assert acme.wallet.ledger_account.balance == Decimal("100000.000000")


def test_ttl_follows_the_setting(acme, settings):
    settings.OTC_QUOTE_TTL_SECONDS = 90
    before = timezone.now()
    data = quote(acme, buy_body(acme)).json()["data"]
    assert data["ttlSeconds"] == 90
    ttl = parse_iso(data["ttlExpiresAt"])
    assert before + timedelta(seconds=89) <= ttl <= timezone.now() + timedelta(seconds=90)


def test_buy_destination_rounds_down_to_six_decimals(acme):
    # 33.33 * 1.0746 = 35.816418 exactly; 12.35 * 1.0746 = 13.27131 -> "13.271310".
    assert quote(acme, buy_body(acme, "33.33")).json()["data"]["destinationAmount"] == "35.816418"
    assert quote(acme, buy_body(acme, "12.35")).json()["data"]["destinationAmount"] == "13.271310"


def test_sell_quote_body(acme):
    before = timezone.now()
    response = quote(acme, sell_body(acme))
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert set(data) == QUOTE_FIELDS_COMMON | {"sourceAmountUsdc"}
    ttl = parse_iso(data.pop("ttlExpiresAt"))
    assert before + timedelta(seconds=59) <= ttl <= timezone.now() + timedelta(seconds=60)
    assert data == {
        "quoteId": data["quoteId"],
        "side": "sell",
        "status": "quoted",
        # 1 / 1.08 * 0.995 = 0.9212962..., rounded down; 100 * 0.921296 = 92.1296 -> 92.12
        "rate": "0.921296",
        "destinationAmount": "92.12",
        "sourceAmountUsdc": "100.000000",
        "sourceCurrency": "USDC",
        "destinationCurrency": "EUR",
        "pair": "EUR/USDC",
        "fixedSide": "source",
        "referenceRate": "0.925925",
        "sourceAmount": "100.000000",
        "fees": {
            "currency": "USDC",
            "total": "0.000000",
            "lines": [{"type": "fx_markup", "description": "Desk FX markup", "bps": 50}],
        },
        "limits": FRESH_LIMITS,
        "ttlSeconds": 60,
        "indicative": True,
    }
    order = Order.objects.get(pk=data["quoteId"])
    assert order.wallet == acme.wallet and order.fiat_account == acme.eur_master


def test_sell_amount_with_fewer_decimals_is_padded(acme):
    data = quote(acme, sell_body(acme, "10.5")).json()["data"]
    # 10.5 * 0.921296 = 9.673608 -> 9.67
    assert data["sourceAmountUsdc"] == "10.500000"
    assert data["destinationAmount"] == "9.67"


def test_spread_is_the_customers_own(acme):
    """The desk's 50 bps FX markup plus the customer's own 50 bps."""
    CustomerFeeSchedule.objects.create(
        customer=acme.customer, pair=Pair.objects.get(code="EUR/USDC"), fx_markup_bps=50
    )
    data = quote(acme, buy_body(acme)).json()["data"]
    # 1.08 * 0.99 = 1.069200
    assert data["rate"] == "1.069200" and data["destinationAmount"] == "106.920000"


# --- buy ownership codes --------------------------------------------------------------------


def _buy_case(case, acme, globex, desk):
    wallet = str(acme.wallet.pk)
    account = str(acme.eur_master.pk)
    return {
        "source-globex": ("SOURCE_NOT_FOUND", str(globex.eur_master.pk), wallet),
        "source-unknown": ("SOURCE_NOT_FOUND", str(uuid.uuid4()), wallet),
        "source-treasury": ("SOURCE_NOT_FOUND", str(desk["eur"].pk), wallet),
        "source-a-wallet-id": ("SOURCE_NOT_FOUND", wallet, wallet),
        "source-usd": ("SOURCE_WRONG_CURRENCY", str(acme.usd.pk), wallet),
        "source-inactive": ("SOURCE_INACTIVE", str(acme.eur_inactive.pk), wallet),
        "destination-globex": ("DESTINATION_NOT_FOUND", account, str(globex.wallet.pk)),
        "destination-unknown": ("DESTINATION_NOT_FOUND", account, str(uuid.uuid4())),
        "destination-treasury": ("DESTINATION_NOT_FOUND", account, str(desk["usdc"].pk)),
        "destination-no-usdc": (
            "DESTINATION_NO_USDC_ADDRESS",
            account,
            str(acme.wallet_no_usdc.pk),
        ),
    }[case]


@pytest.mark.parametrize(
    "case",
    [
        "source-globex",
        "source-unknown",
        "source-treasury",
        "source-a-wallet-id",
        "source-usd",
        "source-inactive",
        "destination-globex",
        "destination-unknown",
        "destination-treasury",
        "destination-no-usdc",
    ],
)
def test_buy_quote_ownership_codes(acme, globex, desk, case):
    code, account, wallet = _buy_case(case, acme, globex, desk)
    body = buy_body(acme, sourceFrAccountId=account, destinationUtilaWalletId=wallet)
    assert_error(quote(acme, body), 422, code)
    assert not Order.objects.exists()


def test_buy_wrong_currency_names_the_currency(acme):
    err = assert_error(
        quote(acme, buy_body(acme, sourceFrAccountId=str(acme.usd.pk))),
        422,
        "SOURCE_WRONG_CURRENCY",
    )
    assert err["details"] == {"currency": "USD"}


# --- sell ownership codes -------------------------------------------------------------------


def _sell_case(case, acme, globex, desk):
    wallet = str(acme.wallet.pk)
    account = str(acme.eur_master.pk)
    return {
        "wallet-globex": ("SOURCE_WALLET_NOT_FOUND", str(globex.wallet.pk), account),
        "wallet-unknown": ("SOURCE_WALLET_NOT_FOUND", str(uuid.uuid4()), account),
        "wallet-treasury": ("SOURCE_WALLET_NOT_FOUND", str(desk["usdc"].pk), account),
        "wallet-no-usdc": ("SOURCE_WALLET_NO_USDC", str(acme.wallet_no_usdc.pk), account),
        "account-globex": ("DESTINATION_ACCOUNT_NOT_FOUND", wallet, str(globex.eur_master.pk)),
        "account-unknown": ("DESTINATION_ACCOUNT_NOT_FOUND", wallet, str(uuid.uuid4())),
        "account-treasury": ("DESTINATION_ACCOUNT_NOT_FOUND", wallet, str(desk["eur"].pk)),
        "account-usd": ("DESTINATION_ACCOUNT_WRONG_CURRENCY", wallet, str(acme.usd.pk)),
        "account-inactive": ("DESTINATION_ACCOUNT_INACTIVE", wallet, str(acme.eur_inactive.pk)),
    }[case]


@pytest.mark.parametrize(
    "case",
    [
        "wallet-globex",
        "wallet-unknown",
        "wallet-treasury",
        "wallet-no-usdc",
        "account-globex",
        "account-unknown",
        "account-treasury",
        "account-usd",
        "account-inactive",
    ],
)
def test_sell_quote_ownership_codes(acme, globex, desk, case):
    code, wallet, account = _sell_case(case, acme, globex, desk)
    body = sell_body(acme, sourceUtilaWalletId=wallet, destinationFrAccountId=account)
    assert_error(quote(acme, body), 422, code)
    assert not Order.objects.exists()


def test_sell_larger_than_the_live_wallet_balance_is_refused(acme):
    # The secondary wallet holds 500.000000 USDC.
    body = sell_body(acme, "500.000001", sourceUtilaWalletId=str(acme.wallet_secondary.pk))
    err = assert_error(quote(acme, body), 422, "SOURCE_WALLET_INSUFFICIENT")
    assert err["details"] == {"available": "500.000000"}
    assert not Order.objects.exists()
    exact = sell_body(acme, "500.000000", sourceUtilaWalletId=str(acme.wallet_secondary.pk))
    assert quote(acme, exact).status_code == 200


def test_sell_quote_when_custody_is_down_is_quote_unavailable_and_changes_nothing(acme, settings):
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
    transitions = OrderTransition.objects.count()
    assert_error(quote(acme, sell_body(acme)), 502, "QUOTE_UNAVAILABLE")
    assert not Order.objects.exists()
    assert OrderTransition.objects.count() == transitions
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = False
    assert quote(acme, sell_body(acme)).status_code == 200


def test_quote_when_the_price_feed_fails_is_quote_unavailable(acme, settings):
    settings.OTC_PRICE_FEED = "static:not-a-rate"
    assert_error(quote(acme, buy_body(acme)), 502, "QUOTE_UNAVAILABLE")
    assert_error(quote(acme, sell_body(acme)), 502, "QUOTE_UNAVAILABLE")
    assert not Order.objects.exists()


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sourceAmountEur", "-5.00"),
        ("sourceAmountEur", "0"),
        ("sourceAmountEur", "0.00"),
        ("sourceAmountEur", "abc"),
        ("sourceAmountEur", ""),
        ("sourceAmountEur", "1e3"),
        ("sourceAmountEur", "NaN"),
        ("sourceAmountEur", "Infinity"),
        ("sourceAmountEur", "1_000.00"),
        ("sourceAmountEur", "\u0661\u0660\u0660"),  # Arabic-Indic "100"
        ("sourceAmountEur", "\uff11\uff12"),  # full-width "12"
        ("sourceAmountEur", "100.00 EUR"),
        ("sourceAmountEur", "1,000.00"),
        ("sourceAmountEur", 100.5),
        ("sourceAmountEur", True),
        ("sourceAmountEur", None),
        ("sourceAmountEur", {"amount": "1"}),
        ("sourceAmountEur", "100.001"),
        ("sourceFrAccountId", "not-a-uuid"),
        ("sourceFrAccountId", 12),
        ("destinationUtilaWalletId", "1234"),
    ],
)
def test_malformed_buy_fields_are_validation_errors(acme, field, value):
    err = assert_error(quote(acme, buy_body(acme, **{field: value})), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {field}
    assert isinstance(err["details"][field], list) and all(
        isinstance(m, str) and m for m in err["details"][field]
    )
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sourceAmountUsdc", "1.0000001"),
        ("sourceAmountUsdc", "-1.000000"),
        ("sourceAmountUsdc", 12.25),
        ("sourceUtilaWalletId", "wallet-1"),
        ("destinationFrAccountId", "550e8400"),
    ],
)
def test_malformed_sell_fields_are_validation_errors(acme, field, value):
    err = assert_error(quote(acme, sell_body(acme, **{field: value})), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {field}


def test_too_many_decimals_message_names_the_precision(acme):
    err = assert_error(quote(acme, buy_body(acme, "100.001")), 400, "VALIDATION_ERROR")
    assert "2 decimals" in err["details"]["sourceAmountEur"][0]
    err = assert_error(quote(acme, sell_body(acme, "1.1234567")), 400, "VALIDATION_ERROR")
    assert "6 decimals" in err["details"]["sourceAmountUsdc"][0]


def test_unknown_side_is_a_validation_error(acme):
    err = assert_error(quote(acme, buy_body(acme, side="swap")), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {"side"}
    err = assert_error(quote(acme, buy_body(acme, side="BUY")), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {"side"}


def test_missing_buy_fields_are_listed_per_field(acme):
    err = assert_error(quote(acme, {"side": "buy"}), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {
        "sourceFrAccountId",
        "destinationUtilaWalletId",
        "sourceAmountEur",
    }
    body = buy_body(acme)
    del body["sourceAmountEur"]
    err = assert_error(quote(acme, body), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {"sourceAmountEur"}


def test_missing_sell_fields_are_listed_per_field(acme):
    # A sell with the buy's field names is missing every sell field.
    body = buy_body(acme, side="sell")
    err = assert_error(quote(acme, body), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {
        "sourceUtilaWalletId",
        "destinationFrAccountId",
        "sourceAmountUsdc",
    }


def test_body_that_is_not_an_object_is_a_validation_error(acme):
    response = acme.client().post("/api/v1/otc-exchanges/quote", ["buy"], format="json")
    err = assert_error(response, 400, "VALIDATION_ERROR")
    assert err["details"]


# --- amount limits --------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["9.99", "0.01", "1000000.01", "5000000.00"])
def test_buy_amount_outside_the_limits(acme, amount):
    err = assert_error(quote(acme, buy_body(acme, amount)), 422, "AMOUNT_OUT_OF_RANGE")
    assert err["details"]["min"] == "10.00"
    assert err["details"]["max"] == "1000000.00"
    assert not Order.objects.exists()


@pytest.mark.parametrize("amount", ["10.00", "1000000.00"])
def test_buy_amount_on_the_limits_is_accepted(acme, amount):
    # Quoting checks the limits, not the balance (250000.00): that is the confirm's job.
    assert quote(acme, buy_body(acme, amount)).status_code == 200


@pytest.mark.parametrize("amount", ["9.999999", "1000000.000001"])
def test_sell_amount_outside_the_limits(acme, amount):
    err = assert_error(quote(acme, sell_body(acme, amount)), 422, "AMOUNT_OUT_OF_RANGE")
    assert err["details"]["min"] == "10.000000"
    assert err["details"]["max"] == "1000000.000000"


def test_amount_limits_per_customer_and_from_the_pair(acme, globex):
    acme.customer.min_order_eur = Decimal("500.00")
    acme.customer.save()
    err = assert_error(quote(acme, buy_body(acme, "499.99")), 422, "AMOUNT_OUT_OF_RANGE")
    assert err["details"]["min"] == "500.00"
    # Globex still has the desk's default.
    assert quote(globex, buy_body(globex, "499.99")).status_code == 200
    Pair.objects.filter(code="EUR/USDC").update(buy_max=Decimal("200.00"))
    pricing_cache_forget()  # update() sends no signal
    err = assert_error(quote(globex, buy_body(globex, "200.01")), 422, "AMOUNT_OUT_OF_RANGE")
    assert err["details"]["max"] == "200.00"


def test_validation_comes_before_ownership(acme, globex):
    """A malformed body is a 400 even when its ids are someone else's."""
    body = buy_body(acme, "abc", sourceFrAccountId=str(globex.eur_master.pk))
    assert_error(quote(acme, body), 400, "VALIDATION_ERROR")
