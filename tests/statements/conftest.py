"""A customer's ledger history spread over days: movements before, inside and after a past
period. The ledger is immutable (a database trigger refuses any UPDATE), so an entry of
another day is posted with the clock set to that day."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.ledger import deposit
from otc import services
from otc.models import Channel, Order, Side

BERLIN = ZoneInfo("Europe/Berlin")


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), tzinfo=BERLIN)


@contextmanager
def clock(moment: datetime) -> Iterator[None]:
    """Django's clock (``timezone.now``, which stamps every row) reads ``moment``."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def book(owner, amount: str, moment: datetime, description: str = "bank transfer in"):
    """Money arriving on ``owner`` (a fiat account or wallet) at ``moment``."""
    with clock(moment):
        return deposit(owner.ledger_account, Decimal(amount), description=description)


def quote(world, amount: str, moment: datetime) -> Order:
    with clock(moment):
        return services.quote_create(
            customer=world.customer,
            side=Side.BUY,
            fiat_account_id=world.eur_master.pk,
            wallet_id=world.wallet.pk,
            amount=Decimal(amount),
            actor=services.Actor(label="test", channel=Channel.API),
        )


def buy_confirmed(world, amount: str, moment: datetime) -> Order:
    """A real buy, quoted and confirmed at ``moment`` (its EUR leaves the account)."""
    order = quote(world, amount, moment)
    with clock(moment):
        return services.order_confirm(
            order_id=order.pk,
            customer=world.customer,
            side=Side.BUY,
            actor=services.Actor(label="test", channel=Channel.API),
        )


@dataclass
class History:
    date_from: date
    date_to: date
    order_inside: Order
    order_after: Order
    quote_inside: Order  # never confirmed: not an order on the statement


def today_in_berlin() -> date:
    return timezone.now().astimezone(BERLIN).date()


def make_history(world, today: date) -> History:
    """The fixtures funded the accounts "now" (after the period); then this history."""
    date_from, date_to = today - timedelta(days=20), today - timedelta(days=10)
    book(world.eur_master, "1000.00", at_noon(today - timedelta(days=30)))
    book(world.eur_master, "250.50", at_noon(today - timedelta(days=15)))
    book(world.wallet, "12.345678", at_noon(today - timedelta(days=12)))
    book(world.eur_secondary, "0.01", at_noon(date_from))
    order_inside = buy_confirmed(world, "100.00", at_noon(today - timedelta(days=14)))
    book(world.eur_master, "5.00", at_noon(today - timedelta(days=5)))
    order_after = buy_confirmed(world, "20.00", at_noon(today - timedelta(days=3)))
    quote_inside = quote(world, "30.00", at_noon(date_from))
    return History(date_from, date_to, order_inside, order_after, quote_inside)


@pytest.fixture
def history(acme, globex) -> History:
    today = today_in_berlin()
    make_history(globex, today)  # another customer, busy on the same days
    return make_history(acme, today)
