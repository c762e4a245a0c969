"""POST /exchanges: the seed's body both ways round and with either amount fixed, priced by the
desk's pricing engine, and every error the create can give, each provoked."""

from decimal import Decimal

import pytest

from accounts.models import KycStatus
from otc import services
from otc.models import Kind, MarketExchange, Order, OrderTransition, Pair, Status

from .conftest import BASE, SEED_FIELDS, buy_body, exchange_key, sell_body

pytestmark = pytest.mark.django_db


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def test_a_buy_with_a_fixed_source_is_quoted_with_the_seeds_fields(acme, create):
    response = create(buy_body(acme, "1000.00"))
    assert response.status_code == 201
    body = response.json()
    assert list(body)[: len(SEED_FIELDS)] == SEED_FIELDS  # the seed's body, unwrapped
    assert body["source_account_id"] == str(acme.eur_master.pk)
    assert body["destination_account_id"] == str(acme.wallet.pk)
    assert (body["action"], body["status"]) == ("FIX_SOURCE", "QUOTED")
    assert (body["source_currency"], body["destination_currency"]) == ("EUR", "USDC")
    # 1.08 less the desk's 50 bps = 1.074600; 1000.00 EUR buys 1074.600000 USDC
    assert (body["source_amount"], body["rate"]) == ("1000.00", "1.074600")
    assert (body["destination_amount"], body["fee"]) == ("1074.600000", "0.00")
    assert body["reference_rate"] == "1.080000"
    assert body["quote_expires_at"].endswith("Z") and body["accepted_at"] is None
    exchange = MarketExchange.objects.get(pk=body["id"])
    assert exchange.kind == Kind.MARKET and exchange.status == Status.QUOTED
    assert OrderTransition.objects.filter(order=exchange, to_status=Status.QUOTED).count() == 1


def test_a_sell_is_the_same_ids_the_other_way_round(acme, create):
    body = create(sell_body(acme, "1000.000000")).json()
    assert body["source_account_id"] == str(acme.wallet.pk)
    assert (body["source_currency"], body["destination_currency"]) == ("USDC", "EUR")
    # 1 / 1.08 = 0.925925 less 50 bps = 0.921296 EUR per USDC
    assert (body["rate"], body["destination_amount"]) == ("0.921296", "921.29")
    assert MarketExchange.objects.get(pk=body["id"]).side == "sell"


def test_a_fixed_destination_delivers_exactly_and_rounds_the_source_up(acme, create):
    body = create(buy_body(acme, "500.000000", action="FIX_DESTINATION")).json()
    assert body["action"] == "FIX_DESTINATION"
    assert body["destination_amount"] == "500.000000"
    # 500 / 1.0746 = 465.2894...: the smallest EUR amount that buys 500 USDC
    assert body["source_amount"] == "465.29"
    sell = create(sell_body(acme, "500.00", action="FIX_DESTINATION")).json()
    assert (sell["destination_amount"], sell["source_currency"]) == ("500.00", "USDC")


def test_fees_come_from_the_pairs_schedule_into_the_fee_field(acme, create):
    Pair.objects.filter(code="EUR/USDC").update(platform_fixed_fee=Decimal("1.50"))
    body = create(buy_body(acme, "1000.00")).json()
    assert body["fee"] == "1.50"
    assert body["destination_amount"] == "1072.988100"  # (1000.00 - 1.50) * 1.074600
    assert {"type": "platform_fixed", "description": "Platform fee", "amount": "1.50"} in body[
        "fees"
    ]["lines"]


def test_above_the_instant_cap_is_out_of_range_with_a_hint_to_use_otc(acme, create, settings):
    settings.OTC_MARKET_MAX_EUR = Decimal("10000.00")
    assert create(buy_body(acme, "10000.00")).status_code == 201  # the cap itself is allowed
    error = error_of(create(buy_body(acme, "10000.01")), 422, "AMOUNT_OUT_OF_RANGE")
    assert error["details"]["max"] == "10000.00" and error["details"]["min"] == "10.00"
    assert "otc-exchanges/quote" in error["details"]["hint"]
    assert "otc-exchanges" in error["message"]
    # a sell's cap is its EUR equivalent at the mid, stated in USDC
    error = error_of(create(sell_body(acme, "20000.000000")), 422, "AMOUNT_OUT_OF_RANGE")
    assert error["details"] | {"hint": ""} == {
        "min": "10.000000",
        "max": "10800.000000",
        "currency": "USDC",
        "maxEur": "10000.00",
        "eurEquivalent": "18518.51",
        "hint": "",
    }
    # nothing above the cap was stored, not even as a quote
    assert Order.objects.filter(kind=Kind.MARKET).count() == 1


def test_the_cap_is_a_setting(acme, create, settings):
    settings.OTC_MARKET_MAX_EUR = Decimal("100.00")
    error_of(create(buy_body(acme, "100.01")), 422, "AMOUNT_OUT_OF_RANGE")
    # a fixed destination is capped by the source it needs
    error_of(create(buy_body(acme, "108.000000", "FIX_DESTINATION")), 422, "AMOUNT_OUT_OF_RANGE")


def test_below_the_pairs_minimum_is_out_of_range(acme, create):
    error = error_of(create(buy_body(acme, "9.99")), 422, "AMOUNT_OUT_OF_RANGE")
    assert error["details"]["min"] == "10.00"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"action": "SELL_EVERYTHING"}, "action"),
        ({"amount": "-5.00"}, "amount"),
        ({"amount": 100}, "amount"),
        ({"amount": "1000.001"}, "amount"),  # EUR has 2 decimals
        ({"source_account_id": "acc_usd_123"}, "source_account_id"),
        ({"maximum_slippage": 50}, "maximum_slippage"),  # an accept field, unknown here
    ],
)
def test_a_malformed_body_is_a_validation_error_naming_the_field(acme, create, change, field):
    error = error_of(create(buy_body(acme) | change), 400, "VALIDATION_ERROR")
    assert field in error["details"]


def test_an_unknown_action_lists_the_valid_ones(acme, create):
    error = error_of(create(buy_body(acme) | {"action": "BUY"}), 400, "VALIDATION_ERROR")
    assert error["details"]["action"]["validValues"] == ["FIX_SOURCE", "FIX_DESTINATION"]


def test_a_fixed_destination_has_the_destinations_decimals(acme, create):
    error = error_of(create(sell_body(acme, "500.001", "FIX_DESTINATION")), 400, "VALIDATION_ERROR")
    assert "amount" in error["details"]
    assert create(buy_body(acme, "500.000001", "FIX_DESTINATION")).status_code == 201


@pytest.mark.parametrize(
    ("make_body", "code"),
    [
        (
            lambda a, g: buy_body(a) | {"source_account_id": str(g.eur_master.pk)},
            "SOURCE_NOT_FOUND",
        ),
        (lambda a, g: buy_body(a) | {"source_account_id": str(a.usd.pk)}, "SOURCE_WRONG_CURRENCY"),
        (
            lambda a, g: buy_body(a) | {"source_account_id": str(a.eur_inactive.pk)},
            "SOURCE_INACTIVE",
        ),
        (
            lambda a, g: buy_body(a) | {"destination_account_id": str(g.wallet.pk)},
            "DESTINATION_NOT_FOUND",
        ),
        (
            lambda a, g: buy_body(a) | {"destination_account_id": str(a.eur_secondary.pk)},
            "DESTINATION_NOT_FOUND",  # two fiat accounts: the destination must be a wallet
        ),
        (
            lambda a, g: buy_body(a) | {"destination_account_id": str(a.wallet_no_usdc.pk)},
            "DESTINATION_NO_USDC_ADDRESS",
        ),
        (
            lambda a, g: sell_body(a) | {"source_account_id": str(a.wallet_no_usdc.pk)},
            "SOURCE_WALLET_NO_USDC",
        ),
        (
            lambda a, g: sell_body(a) | {"destination_account_id": str(g.eur_master.pk)},
            "DESTINATION_ACCOUNT_NOT_FOUND",
        ),
        (
            lambda a, g: sell_body(a) | {"destination_account_id": str(a.usd.pk)},
            "DESTINATION_ACCOUNT_WRONG_CURRENCY",
        ),
        (
            lambda a, g: sell_body(a) | {"destination_account_id": str(a.eur_inactive.pk)},
            "DESTINATION_ACCOUNT_INACTIVE",
        ),
    ],
)
def test_resources_are_checked_with_the_seeds_codes(acme, globex, create, make_body, code):
    error_of(create(make_body(acme, globex)), 422, code)
    assert not Order.objects.filter(kind=Kind.MARKET).exists()


def test_a_treasury_account_is_not_a_source(acme, desk, create):
    body = buy_body(acme) | {"source_account_id": str(desk["eur"].pk)}
    error_of(create(body), 422, "SOURCE_NOT_FOUND")


def test_a_sell_larger_than_the_wallets_live_balance_is_refused(acme, create):
    body = sell_body(acme, "600.000000") | {"source_account_id": str(acme.wallet_secondary.pk)}
    error = error_of(create(body), 422, "SOURCE_WALLET_INSUFFICIENT")
    assert error["details"]["available"] == "500.000000"


def test_a_customer_without_kyc_cannot_quote(acme, create):
    acme.customer.kyc_status = KycStatus.PENDING
    acme.customer.save()
    error = error_of(create(buy_body(acme)), 403, "KYC_NOT_VERIFIED")
    assert error["details"]["kycStatus"] == "pending"


def test_fees_as_large_as_the_source_are_refused(acme, create):
    Pair.objects.filter(code="EUR/USDC").update(platform_fixed_fee=Decimal("20.00"))
    error_of(create(buy_body(acme, "15.00")), 409, "FEES_EXCEED_AMOUNT")


def test_a_fixed_destination_too_small_for_its_fees_is_refused(acme, create):
    Pair.objects.filter(code="EUR/USDC").update(platform_fixed_fee=Decimal("20.00"))
    error_of(
        create(buy_body(acme, "10.000000", "FIX_DESTINATION")), 400, "INVALID_CALCULATED_AMOUNT"
    )


def test_a_disabled_pair_cannot_be_traded(acme, create):
    Pair.objects.filter(code="EUR/USDC").update(enabled=False)
    error_of(create(buy_body(acme)), 422, "CURRENCY_PAIR_NOT_ENABLED")


def test_no_price_no_quote(acme, create, settings):
    settings.OTC_PRICE_FEED = "static:USDTEUR=1.07"  # nothing for USDC/EUR
    error_of(create(buy_body(acme)), 502, "QUOTE_UNAVAILABLE")


def test_custody_down_is_quote_unavailable_for_a_sell(acme, create, settings):
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
    error_of(create(sell_body(acme)), 502, "QUOTE_UNAVAILABLE")


def test_an_exchange_is_not_an_otc_order(acme, create):
    exchange_id = create(buy_body(acme)).json()["id"]
    otc = acme.client()
    assert otc.get("/api/v1/otc-exchanges").json()["meta"]["pagination"]["total"] == 0
    error_of(otc.get(f"/api/v1/otc-exchanges/{exchange_id}"), 404, "ORDER_NOT_FOUND")
    # nor can the OTC confirm, cancel or requote turn it into one
    confirm = otc.post(
        "/api/v1/otc-exchanges",
        {"quoteId": exchange_id, "side": "buy"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="6f1d5f0e-4b8a-4c7e-9a51-3d2b1c0e9f8a",
    )
    error_of(confirm, 409, "ORDER_NOT_CONFIRMABLE")
    error_of(otc.post(f"/api/v1/otc-exchanges/{exchange_id}/cancel"), 409, "NOT_CANCELLABLE")
    error_of(otc.post(f"/api/v1/otc-exchanges/{exchange_id}/requote"), 409, "NOT_REQUOTABLE")
    assert MarketExchange.objects.get(pk=exchange_id).status == Status.QUOTED


def test_an_otc_order_is_not_an_exchange(acme, api):
    order = services.quote_create(
        customer=acme.customer,
        side="buy",
        fiat_account_id=acme.eur_master.pk,
        wallet_id=acme.wallet.pk,
        amount=Decimal("100.00"),
        actor=services.Actor(label="test", channel="api"),
    )
    error_of(api.get(f"{BASE}/{order.pk}"), 404, "EXCHANGE_NOT_FOUND")
    error_of(api.post(f"{BASE}/{order.pk}/accept", {}, format="json"), 404, "EXCHANGE_NOT_FOUND")


def test_another_customers_exchange_is_not_found(acme, globex, create, api):
    theirs = create(buy_body(globex), client=globex.client(exchange_key(globex))).json()["id"]
    error_of(api.get(f"{BASE}/{theirs}"), 404, "EXCHANGE_NOT_FOUND")
    error_of(api.get(f"{BASE}/not-a-uuid"), 404, "EXCHANGE_NOT_FOUND")


def test_the_list_shows_the_callers_exchanges_newest_first(acme, globex, create, api):
    create(buy_body(globex), client=globex.client(exchange_key(globex)))  # never listed here
    first = create(buy_body(acme, "100.00")).json()["id"]
    second = create(sell_body(acme, "100.000000")).json()["id"]
    body = api.get(f"{BASE}?limit=1").json()
    assert [row["id"] for row in body["data"]] == [second]
    assert body["meta"]["pagination"] == {"page": 1, "limit": 1, "total": 2}
    assert api.get(f"{BASE}?page=2&limit=1").json()["data"][0]["id"] == first
    error_of(api.get(f"{BASE}?limit=0"), 400, "VALIDATION_ERROR")


def test_a_quoted_exchange_can_be_cancelled_once(acme, create, api):
    exchange_id = create(buy_body(acme)).json()["id"]
    response = api.post(f"{BASE}/{exchange_id}/cancel")
    assert (response.status_code, response.json()["status"]) == (200, "CANCELLED")
    error = error_of(api.post(f"{BASE}/{exchange_id}/cancel"), 409, "EXCHANGE_NOT_CANCELLABLE")
    assert error["details"]["status"] == "CANCELLED"
