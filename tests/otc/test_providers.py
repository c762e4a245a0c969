"""The providers behind small interfaces: the simulated bank, custody and market, their outage
switches, and the pricing rules. A failing provider changes nothing."""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts.errors import DomainError, ProviderUnavailable
from accounts.providers import SimulatedBank, fiat_rail, set_simulated_outage, simulated_outage
from otc import pricing, services
from otc.models import Channel, Order, Side, Status
from tests import factories
from wallets.models import Network
from wallets.providers import custody
from wallets.selectors import treasury_wallet


def customer_actor(world):
    return services.Actor.for_user(world.user, Channel.API)


# --- pricing --------------------------------------------------------------------------------


class _Pair:
    """A pair as the feed sees it: a code (for an override) and a feed symbol."""

    def __init__(self, code: str = "EUR/USDC", feed_symbol: str = "USDCEUR") -> None:
        self.code, self.feed_symbol = code, feed_symbol


EUR_USDC = _Pair()


def test_static_feed_pins_the_mid(settings):
    settings.OTC_PRICE_FEED = "static:1.123456"
    assert pricing.live_mid_rate(EUR_USDC) == Decimal("1.123456")


def test_static_feed_prices_each_symbol(settings):
    settings.OTC_PRICE_FEED = "static:USDCEUR=1.08,USDTEUR=1.07"
    assert pricing.live_mid_rate(EUR_USDC) == Decimal("1.08")
    assert pricing.live_mid_rate(_Pair("EUR/USDT", "USDTEUR")) == Decimal("1.07")
    with pytest.raises(ProviderUnavailable):
        pricing.live_mid_rate(_Pair("EUR/DAI", "DAIEUR"))


@pytest.mark.parametrize("spec", ["static:0", "static:-1", "static:abc", "nasdaq"])
def test_a_misconfigured_feed_is_an_unavailable_feed(settings, spec):
    settings.OTC_PRICE_FEED = spec
    with pytest.raises(ImproperlyConfigured):
        pricing.price_feed()
    with pytest.raises(ProviderUnavailable):
        pricing.live_mid_rate(EUR_USDC)


def test_the_simulated_market_is_a_function_of_the_clock_near_1_085():
    feed = pricing.SimulatedFeed(clock=lambda: 1_780_000_000.0)
    again = pricing.SimulatedFeed(clock=lambda: 1_780_000_000.0)
    later = pricing.SimulatedFeed(clock=lambda: 1_780_000_300.0)
    assert feed.mid_rate("USDCEUR") == again.mid_rate(
        "USDCEUR"
    )  # every process sees the same price
    assert feed.mid_rate("USDCEUR") != later.mid_rate("USDCEUR")  # and it moves
    rates = [
        pricing.SimulatedFeed(clock=lambda t=t: float(t)).mid_rate("USDCEUR")
        for t in range(0, 900, 7)
    ]
    assert all(Decimal("1.07") < r < Decimal("1.10") for r in rates)
    assert all(r == r.quantize(Decimal("0.000001")) for r in rates)


def test_the_simulated_feed_is_the_default(settings):
    settings.OTC_PRICE_FEED = "simulated"
    assert isinstance(pricing.price_feed(), pricing.SimulatedFeed)
    assert Decimal("1.07") < pricing.live_mid_rate(EUR_USDC) < Decimal("1.10")


def test_the_spread_is_taken_in_the_desks_favour_and_rounded_down():
    mid = Decimal("1.080000")
    assert pricing.customer_rate(Side.BUY, mid, 50) == Decimal("1.074600")
    assert pricing.customer_rate(Side.BUY, mid, 0) == mid
    # 1 / 1.08 = 0.925925925..., less 50 bps = 0.921296296... -> down to 0.921296
    assert pricing.customer_rate(Side.SELL, mid, 50) == Decimal("0.921296")
    assert pricing.customer_rate(Side.SELL, mid, 50) * mid < 1


def test_destination_amounts_round_down_to_the_currency():
    forward = pricing.forward_destination
    assert forward(Decimal("0.99"), Decimal(0), Decimal("1.074699"), "USDC") == Decimal(
        "1.063952"
    )  # 1.06395201
    assert forward(Decimal("10.000009"), Decimal(0), Decimal("0.921296"), "EUR") == (
        Decimal("9.21")
    )  # 9.2129682..., never 9.22


def test_move_in_basis_points():
    assert pricing.move_bps(Decimal("1.000000"), Decimal("1.005000")) == Decimal("50.0")
    assert pricing.move_bps(Decimal("1.100000"), Decimal("1.089000")) == Decimal("-100.0")


# --- the simulated bank and custody ---------------------------------------------------------


@pytest.mark.django_db
def test_custody_answers_the_live_balance_from_the_ledger(acme):
    assert custody().balance(acme.wallet) == Decimal("100000.000000")
    assert custody().balance(acme.wallet_no_usdc) == 0


@pytest.mark.django_db
def test_the_custody_outage_switch_from_settings(acme, settings):
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
    with pytest.raises(ProviderUnavailable):
        custody().balance(acme.wallet)
    with pytest.raises(ProviderUnavailable):
        custody().transfer(
            source=acme.wallet, destination=acme.wallet_secondary, amount=Decimal(1), reference="x"
        )
    fiat_rail().transfer(
        source=acme.eur_master, destination=acme.eur_secondary, amount=Decimal(1), reference="x"
    )  # the bank is unaffected


@pytest.mark.django_db
def test_the_outage_switch_at_run_time_is_shared_through_the_cache(acme):
    try:
        set_simulated_outage("fiat", True)
        assert simulated_outage("fiat") and not simulated_outage("custody")
        with pytest.raises(ProviderUnavailable):
            SimulatedBank().transfer(
                source=acme.eur_master,
                destination=acme.eur_secondary,
                amount=Decimal(1),
                reference="r",
            )
    finally:
        set_simulated_outage("fiat", False)
    reference = SimulatedBank().transfer(
        source=acme.eur_master, destination=acme.eur_secondary, amount=Decimal(1), reference="r"
    )
    assert reference.startswith("simbank_")


@pytest.mark.django_db
def test_the_treasury_wallet_prefers_the_customers_network(desk):
    assert treasury_wallet(Network.POLYGON) == desk["usdc"]
    ethereum = factories.make_wallet(
        desk["customer"], label="Treasury ETH", network=Network.ETHEREUM, is_treasury=True
    )
    assert treasury_wallet(Network.ETHEREUM) == ethereum
    assert treasury_wallet(Network.SOLANA) == desk["usdc"]  # none there: the first one


# --- a failing provider changes nothing -----------------------------------------------------


@pytest.mark.django_db
def test_a_sell_quote_during_a_custody_outage_is_unavailable_and_creates_nothing(acme, settings):
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
    with pytest.raises(DomainError) as caught:
        services.quote_create(
            customer=acme.customer,
            side=Side.SELL,
            fiat_account_id=acme.eur_master.pk,
            wallet_id=acme.wallet.pk,
            amount=Decimal("100.000000"),
            actor=customer_actor(acme),
        )
    assert (caught.value.code, caught.value.status) == ("QUOTE_UNAVAILABLE", 502)
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_quote_with_the_market_down_is_unavailable_and_creates_nothing(acme, settings):
    settings.OTC_PRICE_FEED = "static:0"
    with pytest.raises(DomainError) as caught:
        services.quote_create(
            customer=acme.customer,
            side=Side.BUY,
            fiat_account_id=acme.eur_master.pk,
            wallet_id=acme.wallet.pk,
            amount=Decimal("100.00"),
            actor=customer_actor(acme),
        )
    assert caught.value.code == "QUOTE_UNAVAILABLE"
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_sell_confirm_during_a_custody_outage_changes_nothing(acme, settings, sell_quote):
    order = sell_quote(acme)
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
    with pytest.raises(DomainError) as caught:
        services.order_confirm(
            order_id=order.pk, customer=acme.customer, side=Side.SELL, actor=customer_actor(acme)
        )
    assert caught.value.code == "QUOTE_UNAVAILABLE"
    order.refresh_from_db()
    assert order.status == Status.QUOTED
    assert order.transitions.count() == 1
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = False
    services.order_confirm(
        order_id=order.pk, customer=acme.customer, side=Side.SELL, actor=customer_actor(acme)
    )
    assert Order.objects.get(pk=order.pk).status == Status.PENDING_APPROVAL


@pytest.mark.django_db
def test_a_sell_confirm_refuses_when_the_live_balance_no_longer_covers_it(acme, sell_quote):
    order = sell_quote(acme, "100000.000000")
    # The customer moves one micro-USDC away on chain: the custodian's books change.
    custody().transfer(
        source=acme.wallet,
        destination=acme.wallet_secondary,
        amount=Decimal("0.000001"),
        reference="moved-away",
    )
    with pytest.raises(DomainError) as caught:
        services.order_confirm(
            order_id=order.pk, customer=acme.customer, side=Side.SELL, actor=customer_actor(acme)
        )
    assert caught.value.code == "SOURCE_WALLET_INSUFFICIENT"
    assert caught.value.details == {"available": "99999.999999"}
    assert Order.objects.get(pk=order.pk).status == Status.QUOTED
    assert custody().balance(acme.wallet) == Decimal("99999.999999")
