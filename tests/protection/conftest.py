"""Fixtures for the price-protection tests: orders made through the services, a way to move
the market (the static feed's mid), and the race runner of ``tests/otc``."""

from decimal import Decimal

import pytest

from accounts.models import LedgerAccount
from otc import services
from otc.models import Channel, Order, Side, Status
from tests.otc.conftest import run_concurrently  # noqa: F401  (the shared race runner)

QUOTED_MID = Decimal("1.080000")  # tests/conftest.py pins the feed here
# A buy is quoted at 1.074600 USDC/EUR (50 bps markup). For a buy a lower mid is worse for
# the customer, for a sell a higher one.
MID_WITHIN = Decimal("1.075000")  # buy: about 46 bps worse, inside the default 100
MID_BEYOND = Decimal("1.060000")  # buy: about 185 bps worse
MID_BETTER = Decimal("1.100000")  # buy: about 185 bps better


def api_actor(world) -> services.Actor:
    return services.Actor(label=f"{world.customer.slug}-api", channel=Channel.API)


def ops_actor(user) -> services.Actor:
    return services.Actor.for_user(user, Channel.OPS)


def balance(owner) -> Decimal:
    """The ledger balance of a fiat account or wallet, fresh from the database."""
    return LedgerAccount.objects.get(pk=owner.ledger_account_id).balance


def quote(world, *, side: str = Side.BUY, amount: str | None = None) -> Order:
    amount = amount or ("1000.00" if side == Side.BUY else "1000.000000")
    return services.quote_create(
        customer=world.customer,
        side=side,
        fiat_account_id=world.eur_master.pk,
        wallet_id=world.wallet.pk,
        amount=Decimal(amount),
        actor=api_actor(world),
    )


def pending(
    world, *, side: str = Side.BUY, amount: str | None = None, max_slippage_bps=None
) -> Order:
    """A confirmed order in pending_approval (a buy's EUR already in the treasury)."""
    order = quote(world, side=side, amount=amount)
    services.order_confirm(
        order_id=order.pk,
        customer=world.customer,
        side=side,
        actor=api_actor(world),
        max_slippage_bps=max_slippage_bps,
    )
    services.order_debit_settle(order_id=order.pk)  # a no-op when on-commit already ran it
    order = Order.objects.get(pk=order.pk)
    assert order.status == Status.PENDING_APPROVAL
    return order


@pytest.fixture
def market(settings):
    """``market(mid)`` moves the live mid every process reads (the static feed)."""

    def move(mid) -> None:
        settings.OTC_PRICE_FEED = f"static:{mid}"

    return move


@pytest.fixture
def in_review(acme, operator, market):
    """``in_review(world=acme, side=buy)``: an order the desk approved after the market moved
    beyond the customer's slippage, now waiting in price_review; the market stays there."""

    def make(world=None, *, side: str = Side.BUY, amount: str | None = None) -> Order:
        world = world or acme
        market(QUOTED_MID)
        order = pending(world, side=side, amount=amount)
        market(MID_BEYOND if side == Side.BUY else Decimal("1.100000"))
        services.order_approve(order_id=order.pk, actor=ops_actor(operator))
        order.refresh_from_db()
        assert order.status == Status.PRICE_REVIEW
        return order

    return make
