"""The statement's figures against the ledger: balances, movements, days in the desk's time
zone, orders, and nothing of another customer."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

from accounts.models import LedgerAccount, Posting
from otc.statements import statement_build
from tests import factories

from .conftest import BERLIN, book, today_in_berlin

pytestmark = pytest.mark.django_db


def ledger_sum(ledger_account_id, before: datetime) -> Decimal:
    """The balance the ledger gives at ``before``: every posting booked earlier."""
    total = Posting.objects.filter(
        ledger_account_id=ledger_account_id, entry__created_at__lt=before
    ).aggregate(total=Sum("amount"))["total"]
    return total or Decimal(0)


def test_opening_plus_movements_is_the_closing_and_both_are_the_ledgers(acme, history):
    statement = statement_build(
        customer=acme.customer, date_from=history.date_from, date_to=history.date_to
    )
    start = datetime.combine(history.date_from, datetime.min.time(), tzinfo=BERLIN)
    end = datetime.combine(history.date_to + timedelta(days=1), datetime.min.time(), tzinfo=BERLIN)
    by_id = {a.resource_id: a for a in statement.accounts}
    owners = [acme.eur_master, acme.eur_secondary, acme.wallet, acme.wallet_secondary]
    for owner in owners:
        account = by_id[str(owner.pk)]
        assert account.opening == ledger_sum(owner.ledger_account_id, start)
        assert account.closing == ledger_sum(owner.ledger_account_id, end)
        assert account.opening + sum(m.amount for m in account.movements) == account.closing
        if account.movements:
            assert account.movements[-1].balance == account.closing

    master = by_id[str(acme.eur_master.pk)]
    # 1000.00 before; +250.50 and the buy's -100.00 inside (the fixtures' funding is today's).
    assert master.opening == Decimal("1000.00")
    assert [m.amount for m in master.movements] == [Decimal("250.50"), Decimal("-100.00")]
    assert [m.balance for m in master.movements] == [Decimal("1250.50"), Decimal("1150.50")]
    assert master.movements[1].order_id == str(history.order_inside.pk)
    assert master.movements[1].kind == "order_debit"
    assert (master.money_in, master.money_out) == (Decimal("250.50"), Decimal("-100.00"))
    wallet = by_id[str(acme.wallet.pk)]
    assert [m.amount for m in wallet.movements] == [Decimal("12.345678")]
    # The secondary account's movement at noon on the first day is inside the period.
    assert [m.amount for m in by_id[str(acme.eur_secondary.pk)].movements] == [Decimal("0.01")]


def test_a_period_ending_today_closes_on_the_ledgers_current_balance(acme, history):
    today = today_in_berlin()
    statement = statement_build(customer=acme.customer, date_from=history.date_from, date_to=today)
    assert statement.is_partial
    for account in statement.accounts:
        ledger = LedgerAccount.objects.get(
            **{
                "fiat_account__pk" if account.resource_type == "fiat_account" else "wallet__pk": (
                    account.resource_id
                )
            }
        )
        assert account.closing == ledger.balance
        assert account.opening + sum(m.amount for m in account.movements) == ledger.balance


def test_lists_every_account_and_wallet_of_the_customer_and_no_other(acme, globex, history):
    statement = statement_build(
        customer=acme.customer, date_from=history.date_from, date_to=history.date_to
    )
    ours = {str(a.pk) for a in acme.customer.fiat_accounts.all()} | {
        str(w.pk) for w in acme.customer.wallets.all()
    }
    assert {a.resource_id for a in statement.accounts} == ours
    theirs = {str(a.pk) for a in globex.customer.fiat_accounts.all()} | {
        str(w.pk) for w in globex.customer.wallets.all()
    }
    assert not ours & theirs
    order_ids = {o.order_id for o in statement.orders}
    assert not order_ids & {str(o.pk) for o in globex.customer.orders.all()}
    movement_orders = {m.order_id for a in statement.accounts for m in a.movements if m.order_id}
    assert movement_orders <= {str(o.pk) for o in acme.customer.orders.all()}


def test_orders_are_those_confirmed_in_the_period(acme, history):
    statement = statement_build(
        customer=acme.customer, date_from=history.date_from, date_to=history.date_to
    )
    assert [o.order_id for o in statement.orders] == [str(history.order_inside.pk)]
    line = statement.orders[0]
    assert (line.side, line.status, line.source_amount, line.source_currency) == (
        "buy",
        "debit_pending",
        Decimal("100.00"),
        "EUR",
    )
    assert line.final is False and line.destination_currency == "USDC"
    assert line.destination_amount == history.order_inside.indicative_destination_amount
    assert line.confirmed_at.tzinfo.key == "Europe/Berlin"


@pytest.mark.parametrize(
    ("utc_moment", "berlin_day"),
    [
        # Winter (UTC+1): 23:30 UTC on 9 March is 00:30 on 10 March at the desk.
        (datetime(2025, 3, 9, 23, 30, tzinfo=UTC), date(2025, 3, 10)),
        # Summer (UTC+2): 22:30 UTC on 1 July is 00:30 on 2 July.
        (datetime(2025, 7, 1, 22, 30, tzinfo=UTC), date(2025, 7, 2)),
        # 22:59 UTC in winter is still the same desk day.
        (datetime(2025, 1, 15, 22, 59, tzinfo=UTC), date(2025, 1, 15)),
    ],
)
def test_days_are_the_desks_days(acme, utc_moment, berlin_day):
    book(acme.eur_secondary, "7.00", utc_moment)
    on_the_day = statement_build(customer=acme.customer, date_from=berlin_day, date_to=berlin_day)
    other_day = utc_moment.date() if utc_moment.date() != berlin_day else berlin_day
    account = next(a for a in on_the_day.accounts if a.resource_id == str(acme.eur_secondary.pk))
    assert [m.amount for m in account.movements] == [Decimal("7.00")]
    assert account.movements[0].booked_at.date() == berlin_day
    assert account.movements[0].booked_at.utcoffset() == utc_moment.astimezone(BERLIN).utcoffset()
    if other_day != berlin_day:
        before = statement_build(customer=acme.customer, date_from=other_day, date_to=other_day)
        account = next(a for a in before.accounts if a.resource_id == str(acme.eur_secondary.pk))
        assert account.movements == []


def test_another_desk_time_zone_moves_the_day_boundary(acme, settings):
    book(acme.eur_secondary, "7.00", datetime(2025, 3, 9, 23, 30, tzinfo=UTC))
    settings.OTC_DESK_TIMEZONE = "UTC"
    statement = statement_build(
        customer=acme.customer, date_from=date(2025, 3, 9), date_to=date(2025, 3, 9)
    )
    account = next(a for a in statement.accounts if a.resource_id == str(acme.eur_secondary.pk))
    assert [m.amount for m in account.movements] == [Decimal("7.00")]
    assert statement.timezone_name == "UTC"


def test_an_account_with_no_postings_opens_and_closes_at_zero(desk):
    customer = factories.CustomerFactory(slug="quiet")
    factories.make_account(customer, label="Empty")
    statement = statement_build(
        customer=customer, date_from=date(2025, 1, 1), date_to=date(2025, 1, 31)
    )
    (account,) = statement.accounts
    assert (account.opening, account.closing, account.movements) == (0, 0, [])


def test_a_statement_is_four_queries_however_many_movements(
    acme, history, django_assert_num_queries
):
    for _ in range(25):
        book(
            acme.wallet, "1.000001", datetime.combine(history.date_to, datetime.min.time(), BERLIN)
        )
    with django_assert_num_queries(4):  # accounts, openings, movements, orders
        statement = statement_build(
            customer=acme.customer, date_from=history.date_from, date_to=history.date_to
        )
    wallet = next(a for a in statement.accounts if a.resource_id == str(acme.wallet.pk))
    assert len(wallet.movements) == 26
