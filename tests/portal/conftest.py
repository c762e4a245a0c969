"""Orders in the states the portal's newer screens show: in price review, completed (with its
money trail), rejected with a code. Made through the services, as the desk makes them."""

from decimal import Decimal

import pytest

from otc import services
from otc.models import Channel, CustomerFeeSchedule, Order, Side, Status
from otc.services import Actor
from tests.protection.conftest import MID_BEYOND, QUOTED_MID, pending


def portal_actor(world) -> Actor:
    return Actor.for_user(world.user, Channel.PORTAL)


def ops_actor(user) -> Actor:
    return Actor.for_user(user, Channel.OPS)


@pytest.fixture
def fee_schedule(acme):
    """Acme pays a fixed fee and a percentage on top of the platform's FX markup, so every kind
    of fee line shows."""
    return CustomerFeeSchedule.objects.create(
        customer=acme.customer,
        pair=services.pair_get(services.DEFAULT_PAIR),
        fixed_fee=Decimal("2.50"),
        percentage_bps=10,
        fx_markup_bps=5,
    )


@pytest.fixture
def in_review(acme, operator, settings):
    """``in_review(world=acme, side=buy)``: approved after the market moved beyond the
    customer's slippage, now waiting for their consent; the market stays there."""

    def make(world=None, *, side: str = Side.BUY) -> Order:
        world = world or acme
        settings.OTC_PRICE_FEED = f"static:{QUOTED_MID}"
        order = pending(world, side=side)
        beyond = MID_BEYOND if side == Side.BUY else Decimal("1.100000")
        settings.OTC_PRICE_FEED = f"static:{beyond}"
        services.order_approve(order_id=order.pk, actor=ops_actor(operator))
        order.refresh_from_db()
        assert order.status == Status.PRICE_REVIEW
        return order

    return make


@pytest.fixture
def completed(acme, operator, django_capture_on_commit_callbacks):
    """``completed(world=acme, side=buy, amount=None)``: confirmed, approved and settled."""

    def make(world=None, *, side: str = Side.BUY, amount: str | None = None) -> Order:
        world = world or acme
        amount = amount or ("1000.00" if side == Side.BUY else "1000.000000")
        with django_capture_on_commit_callbacks(execute=True):
            order = services.quote_create(
                customer=world.customer,
                side=side,
                fiat_account_id=world.eur_master.pk,
                wallet_id=world.wallet.pk,
                amount=Decimal(amount),
                actor=portal_actor(world),
            )
        with django_capture_on_commit_callbacks(execute=True):
            services.order_confirm(
                order_id=order.pk, customer=world.customer, side=side, actor=portal_actor(world)
            )
        services.order_debit_settle(order_id=order.pk)
        with django_capture_on_commit_callbacks(execute=True):
            services.order_approve(order_id=order.pk, actor=ops_actor(operator))
        order = Order.objects.get(pk=order.pk)
        assert order.status == Status.COMPLETED, order.status
        return order

    return make
