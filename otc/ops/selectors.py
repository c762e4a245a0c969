"""Reads for the operator console: the approval queue priced at the live rate, one order with
its timeline and money trail, the treasury position and the order search.

Every page prices against one fetch of the market mid, and loads its rows with a fixed number
of queries whatever the number of rows.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Prefetch, QuerySet, Sum
from django.utils import timezone

from accounts import money
from accounts.errors import ProviderUnavailable
from accounts.models import FiatAccount, JournalEntry, Posting
from otc import pricing
from otc.models import Order, OrderApproval, Side, Status
from otc.services import order_eur_equivalent, order_needs_four_eyes
from wallets.models import Wallet

FAVOURS_CUSTOMER = "customer"
FAVOURS_DESK = "desk"
FAVOURS_NOBODY = "none"


@dataclass(frozen=True)
class LivePrice:
    """One fetch of the market mid, or why there is none."""

    mid: Decimal | None
    at: datetime

    @property
    def available(self) -> bool:
        return self.mid is not None


def live_price() -> LivePrice:
    try:
        mid = pricing.live_mid_rate()
    except ProviderUnavailable:
        mid = None
    return LivePrice(mid=mid, at=timezone.now())


@dataclass
class PricedOrder:
    """An order awaiting approval with the figures approving it now would fix."""

    order: Order
    live_rate: Decimal | None = None
    live_destination_amount: Decimal | None = None
    move_bps: Decimal | None = None
    favours: str = FAVOURS_NOBODY
    eur_equivalent: Decimal = Decimal(0)
    needs_four_eyes: bool = False
    approvals: list = field(default_factory=list)

    @property
    def age(self) -> timedelta:
        return timezone.now() - (self.order.confirmed_at or self.order.created_at)

    approved_by_me: bool = False

    def approved_by(self, user) -> bool:
        return any(approval.user_id == user.pk for approval in self.approvals)


def price_order(order: Order, price: LivePrice, viewer=None) -> PricedOrder:
    """Price ``order`` at ``price`` with the order's own spread. The rate is destination units
    per source unit, so a higher live rate than quoted means the customer receives more: the
    move favours the customer; a lower one favours the desk."""
    row = PricedOrder(
        order=order,
        eur_equivalent=order_eur_equivalent(order),
        needs_four_eyes=order_needs_four_eyes(order),
        approvals=list(order.approvals.all()),
    )
    if viewer is not None:
        row.approved_by_me = row.approved_by(viewer)
    if price.available:
        row.live_rate = pricing.customer_rate(order.side, price.mid, order.spread_bps)
        row.live_destination_amount = pricing.destination_amount(
            order.side, order.source_amount, row.live_rate
        )
        row.move_bps = pricing.move_bps(order.indicative_rate, row.live_rate)
        if row.move_bps > 0:
            row.favours = FAVOURS_CUSTOMER
        elif row.move_bps < 0:
            row.favours = FAVOURS_DESK
    return row


def _with_approvals(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.select_related("customer", "fiat_account", "wallet").prefetch_related(
        Prefetch("approvals", queryset=OrderApproval.objects.order_by("created_at", "id"))
    )


def approval_queue(
    *, side: str | None = None, customer_id=None, awaiting_user=None
) -> QuerySet[Order]:
    """Orders awaiting approval, oldest first. With ``awaiting_user``: only those that user
    has not approved yet (the first half of a four-eyes pair excluded)."""
    orders = Order.objects.filter(status=Status.PENDING_APPROVAL)
    if side:
        orders = orders.filter(side=side)
    if customer_id:
        orders = orders.filter(customer_id=customer_id)
    if awaiting_user is not None:
        orders = orders.exclude(approvals__user=awaiting_user)
    return _with_approvals(orders).order_by("confirmed_at", "created_at", "id")


def order_for_operator(order_id) -> Order | None:
    return (
        _with_approvals(Order.objects.filter(pk=order_id)).prefetch_related("transitions").first()
    )


def order_ledger_entries(order: Order) -> list[JournalEntry]:
    """The journal entries the order caused, oldest first, with their postings."""
    postings = Posting.objects.select_related(
        "ledger_account__fiat_account__customer", "ledger_account__wallet__customer"
    ).order_by("id")
    return list(
        JournalEntry.objects.filter(reference_id=order.pk)
        .prefetch_related(Prefetch("postings", queryset=postings))
        .order_by("created_at", "id")
    )


@dataclass
class SideTotals:
    side: str
    count: int
    source_amount: Decimal
    destination_amount: Decimal

    @property
    def source_currency(self) -> str:
        return money.EUR if self.side == Side.BUY else money.USDC

    @property
    def destination_currency(self) -> str:
        return money.USDC if self.side == Side.BUY else money.EUR


def _totals_by_side(orders: QuerySet[Order], destination_field: str) -> list[SideTotals]:
    rows = {
        row["side"]: row
        for row in orders.values("side").annotate(
            count=Count("id"), source=Sum("source_amount"), destination=Sum(destination_field)
        )
    }
    totals = []
    for side in (Side.BUY, Side.SELL):
        row = rows.get(side, {})
        totals.append(
            SideTotals(
                side=side,
                count=row.get("count", 0),
                source_amount=row.get("source") or Decimal(0),
                destination_amount=row.get("destination") or Decimal(0),
            )
        )
    return totals


@dataclass
class TreasuryPosition:
    fiat_accounts: list
    wallets: list
    exposure: list[SideTotals]
    completed_today: list[SideTotals]
    since: datetime

    @property
    def usdc_balance(self) -> Decimal:
        return sum((wallet.ledger_account.balance for wallet in self.wallets), Decimal(0))

    @property
    def eur_balance(self) -> Decimal:
        return sum(
            (
                account.ledger_account.balance
                for account in self.fiat_accounts
                if account.currency == money.EUR
            ),
            Decimal(0),
        )

    @property
    def usdc_needed(self) -> Decimal:
        """USDC the pending buys would take out of the treasury at their quoted figures."""
        return next(t.destination_amount for t in self.exposure if t.side == Side.BUY)

    @property
    def eur_needed(self) -> Decimal:
        return next(t.destination_amount for t in self.exposure if t.side == Side.SELL)


def treasury_position() -> TreasuryPosition:
    """The desk's treasury balances, what the orders awaiting approval would draw on them,
    and today's completed volume (since local midnight)."""
    since = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return TreasuryPosition(
        fiat_accounts=list(
            FiatAccount.objects.filter(is_treasury=True).select_related("ledger_account")
        ),
        wallets=list(Wallet.objects.filter(is_treasury=True).select_related("ledger_account")),
        exposure=_totals_by_side(
            Order.objects.filter(status=Status.PENDING_APPROVAL), "indicative_destination_amount"
        ),
        completed_today=_totals_by_side(
            Order.objects.filter(status=Status.COMPLETED, completed_at__gte=since),
            "final_destination_amount",
        ),
        since=since,
    )


def order_search() -> QuerySet[Order]:
    """All orders for the search page and its CSV export, newest first."""
    return Order.objects.select_related("customer", "approved_by").order_by("-created_at", "-id")
