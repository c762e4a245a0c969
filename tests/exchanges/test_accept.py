"""POST /exchanges/{id}/accept: executes at once at the live price, under row locks, as one set
of balanced journal entries (with provider steps after commit); or fails and moves nothing."""

from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.ledger import withdraw
from accounts.models import JournalEntry, KycStatus, LedgerAccount
from otc.models import MarketExchange, OrderTransition, Pair, ProviderTransfer, Status
from otc.services import fee_income
from tests import factories

from .conftest import BASE, balance, buy_body, sell_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Accept with the on-commit work (the provider steps) run, as in production."""

    def run(call):
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return run


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def entries(exchange_id) -> list[str]:
    return list(
        JournalEntry.objects.filter(reference_id=exchange_id)
        .order_by("created_at")
        .values_list("kind", flat=True)
    )


def test_a_buy_with_a_fixed_source_executes_at_once(acme, desk, quoted, accept, run_on_commit):
    eur, usdc = balance(acme.eur_master), balance(acme.wallet)
    treasury_eur, treasury_usdc = balance(desk["eur"]), balance(desk["usdc"])
    exchange_id = quoted(buy_body(acme, "1000.00"))
    response = run_on_commit(lambda: accept(exchange_id))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "EXECUTED"
    assert body["accepted_at"] and body["executed_at"]
    assert (body["destination_amount"], body["rate"]) == ("1074.600000", "1.074600")
    assert balance(acme.eur_master) == eur - Decimal("1000.00")
    assert balance(acme.wallet) == usdc + Decimal("1074.600000")
    assert balance(desk["eur"]) == treasury_eur + Decimal("1000.00")
    assert balance(desk["usdc"]) == treasury_usdc - Decimal("1074.600000")
    source, destination = body["source_transaction_id"], body["destination_transaction_id"]
    assert JournalEntry.objects.filter(pk__in=[source, destination]).count() == 2
    assert entries(exchange_id) == ["order_settlement", "order_settlement"]
    # the bank and the custodian did their part once the accept committed
    steps = ProviderTransfer.objects.filter(order_id=exchange_id)
    assert sorted(steps.values_list("step", "state")) == [
        ("debit", "settled"),
        ("deliver", "settled"),
    ]
    timeline = OrderTransition.objects.filter(order_id=exchange_id).order_by("created_at")
    assert [t.to_status for t in timeline] == [Status.QUOTED, Status.EXECUTED]


def test_a_sell_with_a_fixed_source_executes_the_other_way(
    acme, desk, quoted, accept, run_on_commit
):
    eur, usdc = balance(acme.eur_master), balance(acme.wallet)
    exchange_id = quoted(sell_body(acme, "1000.000000"))
    body = run_on_commit(lambda: accept(exchange_id)).json()
    assert (body["status"], body["destination_amount"]) == ("EXECUTED", "921.29")
    assert balance(acme.wallet) == usdc - Decimal("1000.000000")
    assert balance(acme.eur_master) == eur + Decimal("921.29")
    assert sorted(
        ProviderTransfer.objects.filter(order_id=exchange_id).values_list("step", "provider")
    ) == [("collect", "custody"), ("deliver", "bank")]


def test_fees_are_booked_to_fee_income_in_the_source_entry(acme, quoted, accept, run_on_commit):
    Pair.objects.filter(code="EUR/USDC").update(platform_fixed_fee=Decimal("1.50"))
    income = fee_income("EUR")
    exchange_id = quoted(buy_body(acme, "1000.00"))
    body = run_on_commit(lambda: accept(exchange_id)).json()
    assert body["fee"] == "1.50"
    assert fee_income("EUR") == income + Decimal("1.50")
    source_entry = JournalEntry.objects.get(pk=body["source_transaction_id"])
    assert sorted(source_entry.postings.values_list("amount", flat=True)) == [
        Decimal("-1000.00"),
        Decimal("1.50"),
        Decimal("998.50"),
    ]


@pytest.mark.parametrize(
    ("mid", "destination"),
    [
        ("1.075000", "1069.625000"),  # 46 bps worse: within the default 100
        ("1.100000", "1094.500000"),  # better for the customer: they get it
    ],
)
def test_a_fixed_source_executes_at_the_live_rate_within_slippage(
    acme, quoted, accept, market, run_on_commit, mid, destination
):
    exchange_id = quoted(buy_body(acme, "1000.00"))
    market(Decimal(mid))
    body = run_on_commit(lambda: accept(exchange_id)).json()
    assert (body["status"], body["destination_amount"]) == ("EXECUTED", destination)
    assert body["reference_rate"] == mid


def test_a_fixed_source_beyond_slippage_fails_and_moves_nothing(acme, quoted, accept, market):
    eur, usdc = balance(acme.eur_master), balance(acme.wallet)
    exchange_id = quoted(buy_body(acme, "1000.00"))
    market(Decimal("1.075000"))  # 46 bps worse
    body = accept(exchange_id, {"maximum_slippage": 40}).json()
    assert (body["status"], body["failure_code"]) == ("FAILED", "SLIPPAGE_EXCEEDED")
    assert "40 bps" in body["failure_reason"]
    assert body["destination_amount"] == "1074.600000"  # the quote, nothing executed
    assert body["source_transaction_id"] is None and body["transactions"] == []
    assert (balance(acme.eur_master), balance(acme.wallet)) == (eur, usdc)
    assert entries(exchange_id) == []
    assert not ProviderTransfer.objects.filter(order_id=exchange_id).exists()


def test_a_sell_beyond_slippage_fails_when_the_market_moves_up(acme, quoted, accept, market):
    exchange_id = quoted(sell_body(acme, "1000.000000"))
    market(Decimal("1.100000"))  # a sell gets fewer EUR per USDC: about 182 bps worse
    body = accept(exchange_id).json()
    assert (body["status"], body["failure_code"]) == ("FAILED", "SLIPPAGE_EXCEEDED")


def test_a_fixed_destination_reserves_the_buffer_and_credits_back_the_unused_part(
    acme, desk, quoted, accept, run_on_commit
):
    eur, usdc = balance(acme.eur_master), balance(acme.wallet)
    exchange_id = quoted(buy_body(acme, "500.000000", "FIX_DESTINATION"))  # 465.29 EUR
    body = run_on_commit(lambda: accept(exchange_id, {"maximum_slippage": 100})).json()
    assert body["status"] == "EXECUTED"
    assert (body["destination_amount"], body["source_amount"]) == ("500.000000", "465.29")
    # the reserve is 465.29 + 1% (4.66, rounded up); the market did not move: all of the
    # buffer comes back
    assert [(t["type"], t["amount"]) for t in body["transactions"]] == [
        ("SOURCE", "-469.95"),
        ("DESTINATION", "500.000000"),
        ("MARKET_ADJUSTMENT", "4.66"),
    ]
    assert entries(exchange_id) == ["order_settlement", "order_settlement", "market_adjustment"]
    assert balance(acme.eur_master) == eur - Decimal("465.29")
    assert balance(acme.wallet) == usdc + Decimal("500.000000")
    adjust = ProviderTransfer.objects.get(order_id=exchange_id, step="adjust")
    assert (adjust.state, adjust.amount, adjust.destination_account_id) == (
        "settled",
        Decimal("4.66"),
        acme.eur_master.pk,
    )


def test_a_fixed_destination_in_a_moved_market_pays_the_live_price(
    acme, quoted, accept, market, run_on_commit
):
    eur = balance(acme.eur_master)
    exchange_id = quoted(buy_body(acme, "500.000000", "FIX_DESTINATION"))  # 465.29 EUR
    market(Decimal("1.075000"))  # rate 1.069625: 500 USDC now cost 467.46 EUR
    body = run_on_commit(lambda: accept(exchange_id)).json()
    assert (body["status"], body["source_amount"]) == ("EXECUTED", "467.46")
    assert body["destination_amount"] == "500.000000"
    adjustment = [t for t in body["transactions"] if t["type"] == "MARKET_ADJUSTMENT"]
    assert adjustment[0]["amount"] == "2.49"  # 469.95 reserved - 467.46 needed
    assert balance(acme.eur_master) == eur - Decimal("467.46")


def test_a_fixed_destination_beyond_the_reserve_fails(acme, quoted, accept, market):
    eur = balance(acme.eur_master)
    exchange_id = quoted(buy_body(acme, "500.000000", "FIX_DESTINATION"))
    market(Decimal("1.075000"))  # needs 467.46, about 47 bps more
    body = accept(exchange_id, {"maximum_slippage": 30}).json()  # reserve 465.29 + 1.40
    assert (body["status"], body["failure_code"]) == ("FAILED", "SLIPPAGE_EXCEEDED")
    assert balance(acme.eur_master) == eur


def test_a_sell_with_a_fixed_destination_reserves_usdc(acme, quoted, accept, run_on_commit):
    usdc = balance(acme.wallet)
    exchange_id = quoted(sell_body(acme, "500.00", "FIX_DESTINATION"))
    body = run_on_commit(lambda: accept(exchange_id, {"maximum_slippage": 50})).json()
    assert (body["status"], body["destination_amount"]) == ("EXECUTED", "500.00")
    kinds = [t["type"] for t in body["transactions"]]
    assert kinds == ["SOURCE", "DESTINATION", "MARKET_ADJUSTMENT"]
    assert balance(acme.wallet) == usdc - Decimal(body["source_amount"])
    assert ProviderTransfer.objects.get(order_id=exchange_id, step="adjust").provider == "custody"


def test_a_treasury_that_cannot_deliver_fails_the_exchange_cleanly(acme, desk, quoted, accept):
    withdraw(desk["usdc"].ledger_account, balance(desk["usdc"]) - Decimal("100"), description="x")
    eur, treasury = balance(acme.eur_master), balance(desk["usdc"])
    exchange_id = quoted(buy_body(acme, "1000.00"))
    body = accept(exchange_id).json()
    assert (body["status"], body["failure_code"]) == ("FAILED", "TREASURY_INSUFFICIENT")
    assert "100.000000 USDC available, 1074.600000 needed" in body["failure_reason"]
    assert (balance(acme.eur_master), balance(desk["usdc"])) == (eur, treasury)
    assert entries(exchange_id) == []
    transition = OrderTransition.objects.get(order_id=exchange_id, to_status=Status.FAILED)
    assert transition.reason.startswith("[TREASURY_INSUFFICIENT]")


def test_an_account_short_of_funds_is_refused_and_the_exchange_stays_quoted(acme, quoted, accept):
    poor = factories.make_account(acme.customer, label="Poor", balance="20.00")
    exchange_id = quoted(buy_body(acme, "50.00") | {"source_account_id": str(poor.pk)})
    error = error_of(accept(exchange_id), 422, "SOURCE_INSUFFICIENT_FUNDS")
    assert error["details"]["available"] == "20.00"
    assert MarketExchange.objects.get(pk=exchange_id).status == Status.QUOTED
    assert balance(poor) == Decimal("20.00")


def test_the_slippage_buffer_must_be_covered_too(acme, quoted, accept):
    account = factories.make_account(acme.customer, label="Tight", balance="465.29")
    body = buy_body(acme, "500.000000", "FIX_DESTINATION") | {"source_account_id": str(account.pk)}
    exchange_id = quoted(body)
    error_of(accept(exchange_id), 422, "SOURCE_INSUFFICIENT_FUNDS")
    response = accept(exchange_id, {"maximum_slippage": 0})  # no buffer: just enough
    assert response.json()["status"] == "EXECUTED"
    assert balance(account) == Decimal("0.00")


def test_a_wallet_whose_live_balance_dropped_is_refused_at_accept(acme, quoted, accept):
    body = sell_body(acme, "400.000000") | {"source_account_id": str(acme.wallet_secondary.pk)}
    exchange_id = quoted(body)
    withdraw(acme.wallet_secondary.ledger_account, Decimal("200"), description="spent elsewhere")
    error_of(accept(exchange_id), 422, "SOURCE_WALLET_INSUFFICIENT")


def test_a_resource_closed_since_the_quote_is_refused_at_accept(acme, quoted, accept):
    exchange_id = quoted(sell_body(acme, "100.000000"))
    acme.eur_master.is_active = False
    acme.eur_master.save()
    error_of(accept(exchange_id), 422, "DESTINATION_ACCOUNT_INACTIVE")


def test_an_expired_quote_cannot_be_accepted(acme, quoted, accept):
    exchange_id = quoted(buy_body(acme))
    MarketExchange.objects.filter(pk=exchange_id).update(ttl_expires_at=timezone.now())
    error_of(accept(exchange_id), 400, "QUOTE_EXPIRED")  # before the sweep noticed


def test_an_executed_exchange_cannot_be_accepted_again(acme, quoted, accept):
    exchange_id = quoted(buy_body(acme))
    assert accept(exchange_id).json()["status"] == "EXECUTED"
    eur = balance(acme.eur_master)
    error = error_of(accept(exchange_id), 409, "EXCHANGE_NOT_ACCEPTABLE")
    assert error["details"]["status"] == "EXECUTED"
    assert balance(acme.eur_master) == eur


def test_a_failed_exchange_cannot_be_accepted_again(acme, quoted, accept, market):
    exchange_id = quoted(buy_body(acme))
    market(Decimal("1.000000"))
    assert accept(exchange_id).json()["status"] == "FAILED"
    market(Decimal("1.080000"))
    error_of(accept(exchange_id), 409, "EXCHANGE_NOT_ACCEPTABLE")


def test_the_daily_limit_counts_exchanges_and_otc_orders_alike(acme, quoted, accept):
    acme.customer.daily_limit_eur = Decimal("1500.00")
    acme.customer.save()
    first = quoted(buy_body(acme, "1000.00"))
    second = quoted(buy_body(acme, "600.00"))
    assert accept(first).json()["status"] == "EXECUTED"
    error = error_of(accept(second), 422, "DAILY_LIMIT_EXCEEDED")
    assert error["details"] == {
        "dailyMax": "1500.00",
        "dailyUsed": "1000.00",
        "dailyRemaining": "500.00",
    }
    assert MarketExchange.objects.get(pk=second).status == Status.QUOTED


def test_kyc_is_checked_again_at_accept(acme, quoted, accept):
    exchange_id = quoted(buy_body(acme))
    acme.customer.kyc_status = KycStatus.EXPIRED
    acme.customer.save()
    error_of(accept(exchange_id), 403, "KYC_NOT_VERIFIED")


def test_no_live_price_no_execution(acme, quoted, accept, settings):
    exchange_id = quoted(buy_body(acme))
    settings.OTC_PRICE_FEED = "static:USDTEUR=1.07"
    error_of(accept(exchange_id), 502, "QUOTE_UNAVAILABLE")
    assert MarketExchange.objects.get(pk=exchange_id).status == Status.QUOTED


@pytest.mark.parametrize("value", [-1, 1001, "a lot", 12.5])
def test_a_bad_maximum_slippage_is_a_validation_error(acme, quoted, accept, value):
    exchange_id = quoted(buy_body(acme))
    error = error_of(accept(exchange_id, {"maximum_slippage": value}), 400, "VALIDATION_ERROR")
    assert "maximum_slippage" in error["details"]


def test_provider_steps_wait_for_a_provider_that_is_down_and_resume(
    acme, desk, quoted, accept, settings, run_on_commit
):
    from otc import settlement

    exchange_id = quoted(buy_body(acme, "100.00"))
    settings.OTC_SIMULATE_FIAT_OUTAGE = True
    body = run_on_commit(lambda: accept(exchange_id)).json()
    assert body["status"] == "EXECUTED"  # the books moved; the bank follows, then custody
    steps = ProviderTransfer.objects.filter(order_id=exchange_id)
    assert dict(steps.values_list("step", "state")) == {"debit": "pending", "deliver": "pending"}
    settings.OTC_SIMULATE_FIAT_OUTAGE = False
    settlement.advance(exchange_id)
    assert set(steps.values_list("state", flat=True)) == {"settled"}
    # nothing moved twice in the books
    assert LedgerAccount.objects.get(pk=acme.eur_master.ledger_account_id).balance == Decimal(
        "249900.00"
    )


def test_get_shows_the_executed_exchange_with_its_transactions(acme, api, quoted, accept):
    exchange_id = quoted(buy_body(acme, "500.000000", "FIX_DESTINATION"))
    accepted = accept(exchange_id).json()
    shown = api.get(f"{BASE}/{exchange_id}").json()
    for field in ("status", "source_transaction_id", "destination_transaction_id", "executed_at"):
        assert shown[field] == accepted[field]
    assert [t["type"] for t in shown["transactions"]][-1] == "MARKET_ADJUSTMENT"


@pytest.mark.parametrize(
    ("make_body", "change", "code"),
    [
        (buy_body, lambda a: setattr(a.eur_master, "is_active", False), "SOURCE_INACTIVE"),
        (buy_body, lambda a: setattr(a.wallet, "usdc_address", ""), "DESTINATION_NO_USDC_ADDRESS"),
        (sell_body, lambda a: setattr(a.wallet, "usdc_address", ""), "SOURCE_WALLET_NO_USDC"),
    ],
)
def test_resources_changed_since_the_quote_are_refused(
    acme, quoted, accept, make_body, change, code
):
    exchange_id = quoted(make_body(acme, "100.00" if make_body is buy_body else "100.000000"))
    change(acme)
    acme.eur_master.save()
    acme.wallet.save()
    error_of(accept(exchange_id), 422, code)
    assert MarketExchange.objects.get(pk=exchange_id).status == Status.QUOTED


def test_what_confirmed_otc_sells_hold_of_a_wallet_is_not_the_exchanges(
    acme, quoted, accept, create
):
    from otc import services as otc_services

    wallet = acme.wallet_secondary  # 500 USDC
    exchange_id = quoted(sell_body(acme, "250.000000") | {"source_account_id": str(wallet.pk)})
    actor = otc_services.Actor(label="test", channel="api")
    order = otc_services.quote_create(
        customer=acme.customer,
        side="sell",
        fiat_account_id=acme.eur_master.pk,
        wallet_id=wallet.pk,
        amount=Decimal("300.000000"),
        actor=actor,
    )
    otc_services.order_confirm(order_id=order.pk, customer=acme.customer, side="sell", actor=actor)
    error = error_of(accept(exchange_id), 422, "SOURCE_WALLET_INSUFFICIENT")
    assert error["details"]["available"] == "200.000000"
    body = sell_body(acme, "250.000000") | {"source_account_id": str(wallet.pk)}
    error_of(create(body), 422, "SOURCE_WALLET_INSUFFICIENT")
    smaller = quoted(sell_body(acme, "200.000000") | {"source_account_id": str(wallet.pk)})
    assert accept(smaller).json()["status"] == "EXECUTED"
