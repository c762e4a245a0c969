"""Reads for the operator console: the approval queue priced at the live rate, one order with
its timeline and money trail, the treasury position and the order search.

Every page prices against one fetch of the market mid, and loads its rows with a fixed number
of queries whatever the number of rows.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, F, Prefetch, QuerySet, Sum
from django.utils import timezone

from accounts import money
from accounts.errors import ProviderUnavailable
from accounts.models import FiatAccount, JournalEntry, LedgerAccount, Posting
from otc import pricing
from otc.models import Kind, Order, OrderApproval, Pair, Side, Status
from otc.services import (
    DEFAULT_PAIR,
    order_eur_equivalent,
    order_execution_price,
    order_needs_four_eyes,
)
from wallets.models import Wallet

FAVOURS_CUSTOMER = "customer"
FAVOURS_DESK = "desk"
FAVOURS_NOBODY = "none"


@dataclass(frozen=True)
class FeeIncome:
    """The desk's fee income in one currency (all fee-income accounts together)."""

    currency: str
    balance: Decimal


@dataclass(frozen=True)
class LivePrice:
    """One fetch of every enabled pair's mid (or why there is none), and any manual price an
    operator pinned."""

    mids: dict
    at: datetime
    overrides: dict = field(default_factory=dict)

    @property
    def mid(self) -> Decimal | None:
        return self.mids.get(DEFAULT_PAIR)

    @property
    def available(self) -> bool:
        return self.mid is not None

    @property
    def override(self) -> pricing.PriceOverride | None:
        return self.overrides.get(DEFAULT_PAIR)

    def mid_for(self, pair_code: str) -> Decimal | None:
        return self.mids.get(pair_code)


def live_price() -> LivePrice:
    mids, overrides = {}, {}
    for pair in Pair.objects.filter(enabled=True).order_by("code"):
        try:
            mids[pair.code] = pricing.live_mid_rate(pair)
        except ProviderUnavailable:
            mids[pair.code] = None
        override = pricing.price_override_get(pair.code)
        if override is not None:
            overrides[pair.code] = override
    return LivePrice(mids=mids, at=timezone.now(), overrides=overrides)


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
    """Price ``order`` at ``price`` with the order's own markups and fees. The rate is
    destination units per source unit, so a higher live rate than quoted means the customer
    receives more: the move favours the customer; a lower one favours the desk."""
    row = PricedOrder(
        order=order,
        eur_equivalent=order_eur_equivalent(order),
        needs_four_eyes=order_needs_four_eyes(order),
        approvals=list(order.approvals.all()),
    )
    if viewer is not None:
        row.approved_by_me = row.approved_by(viewer)
    mid = price.mid_for(order.pair.code)
    if mid is not None:
        _, row.live_rate, row.live_destination_amount = order_execution_price(order, mid)
        row.move_bps = pricing.move_bps(order.indicative_rate, row.live_rate)
        if row.move_bps > 0:
            row.favours = FAVOURS_CUSTOMER
        elif row.move_bps < 0:
            row.favours = FAVOURS_DESK
    return row


def _with_approvals(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.select_related("customer", "fiat_account", "wallet", "pair").prefetch_related(
        Prefetch("approvals", queryset=OrderApproval.objects.order_by("created_at", "id")),
        "fees",
    )


def approval_queue(
    *, side: str | None = None, customer_id=None, awaiting_user=None
) -> QuerySet[Order]:
    """Orders awaiting approval, least time left to their approval deadline first. With
    ``awaiting_user``: only those that user has not approved yet (the first half of a
    four-eyes pair excluded)."""
    orders = Order.objects.filter(status=Status.PENDING_APPROVAL)
    if side:
        orders = orders.filter(side=side)
    if customer_id:
        orders = orders.filter(customer_id=customer_id)
    if awaiting_user is not None:
        orders = orders.exclude(approvals__user=awaiting_user)
    return _with_approvals(orders).order_by(
        F("approval_deadline_at").asc(nulls_last=True), "confirmed_at", "created_at", "id"
    )


def price_review_queue(*, side: str | None = None, customer_id=None) -> QuerySet[Order]:
    """Orders waiting for the customer to accept a new price, soonest to expire first."""
    orders = Order.objects.filter(status=Status.PRICE_REVIEW)
    if side:
        orders = orders.filter(side=side)
    if customer_id:
        orders = orders.filter(customer_id=customer_id)
    return orders.select_related("customer", "pair").order_by("review_expires_at", "id")


def order_for_operator(order_id) -> Order | None:
    return (
        _with_approvals(Order.objects.filter(pk=order_id)).prefetch_related("transitions").first()
    )


def order_ledger_entries(order: Order) -> list[JournalEntry]:
    """The journal entries the order caused, oldest first, with their postings."""
    postings = Posting.objects.select_related(
        "ledger_account__fiat_account__customer",
        "ledger_account__wallet__customer",
        "ledger_account__held_for__wallet__customer",
    ).order_by("id")
    return list(
        JournalEntry.objects.filter(reference_id=order.pk)
        .prefetch_related(Prefetch("postings", queryset=postings))
        .order_by("created_at", "id")
    )


@dataclass
class SideTotals:
    side: str
    source_currency: str
    destination_currency: str
    count: int
    source_amount: Decimal
    destination_amount: Decimal


def _totals_by_side(orders: QuerySet[Order], destination_field: str) -> list[SideTotals]:
    rows = orders.values("side", "source_currency", "destination_currency").annotate(
        count=Count("id"), source=Sum("source_amount"), destination=Sum(destination_field)
    )
    found = {
        (row["side"], row["source_currency"], row["destination_currency"]): row for row in rows
    }
    # The default pair's two sides always show, even when empty.
    for side, currencies in (
        (Side.BUY, (money.EUR, money.USDC)),
        (Side.SELL, (money.USDC, money.EUR)),
    ):
        found.setdefault((side, *currencies), {})
    return [
        SideTotals(
            side=side,
            source_currency=source,
            destination_currency=destination,
            count=row.get("count", 0),
            source_amount=row.get("source") or Decimal(0),
            destination_amount=row.get("destination") or Decimal(0),
        )
        for (side, source, destination), row in sorted(found.items())
    ]


@dataclass
class TreasuryPosition:
    fiat_accounts: list
    wallets: list
    exposure: list[SideTotals]
    completed_today: list[SideTotals]
    since: datetime
    fee_income: list = field(default_factory=list)
    # Market exchanges execute without an operator: what they did today, and the latest that
    # failed with their reason (a treasury that could not deliver shows here).
    executed_today: list[SideTotals] = field(default_factory=list)
    failed_exchanges: list = field(default_factory=list)

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

    def _needed(self, currency: str) -> Decimal:
        return sum(
            (t.destination_amount for t in self.exposure if t.destination_currency == currency),
            Decimal(0),
        )

    @property
    def usdc_needed(self) -> Decimal:
        """USDC the pending buys would take out of the treasury at their quoted figures."""
        return self._needed(money.USDC)

    @property
    def eur_needed(self) -> Decimal:
        return self._needed(money.EUR)


FAILED_EXCHANGES_SHOWN = 10


def treasury_position() -> TreasuryPosition:
    """The desk's treasury balances, what the orders awaiting approval would draw on them,
    today's completed volume (since local midnight) and the fee income booked so far."""
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
        # Every customer's fee-income account together, per currency.
        fee_income=[
            FeeIncome(currency=row["currency"], balance=row["balance"])
            for row in LedgerAccount.objects.filter(kind=LedgerAccount.Kind.FEES)
            .values("currency")
            .annotate(balance=Sum("balance"))
            .order_by("currency")
        ],
        executed_today=_totals_by_side(
            Order.objects.filter(kind=Kind.MARKET, status=Status.EXECUTED, completed_at__gte=since),
            "final_destination_amount",
        ),
        failed_exchanges=list(
            Order.objects.filter(kind=Kind.MARKET, status=Status.FAILED, updated_at__gte=since)
            .select_related("customer")
            .order_by("-updated_at")[:FAILED_EXCHANGES_SHOWN]
        ),
    )


def order_search() -> QuerySet[Order]:
    """All orders for the search page and its CSV export, newest first."""
    return Order.objects.select_related("customer", "approved_by", "pair").order_by(
        "-created_at", "-id"
    )
