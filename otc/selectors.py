"""Reads of orders shared by the API, the portal and the operator console."""

import uuid
from decimal import Decimal

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery, UUIDField
from django.db.models.functions import Coalesce

from accounts import money
from accounts.compiled import CompiledValues, placeholder_uuid
from accounts.errors import error
from accounts.models import Customer, JournalEntry

from .models import CustomerFeeSchedule, Kind, Order, OrderFee, Pair, ProviderTransfer, Side


def fee_lines() -> Prefetch:
    """An order's fee lines in their order, without joining the order for its own ordering."""
    return Prefetch("fees", queryset=OrderFee.objects.order_by("order_id", "position"))


def money_trail() -> dict:
    """Annotations naming the ledger entries that moved an order's money:
    ``source_transaction_id`` (the source leaving the customer: a buy's debit at confirm, a
    sell's collect) and ``destination_transaction_id`` (the delivery)."""

    def settled_step(step: str) -> Subquery:
        return Subquery(
            ProviderTransfer.objects.filter(
                order=OuterRef("pk"), step=step, state=ProviderTransfer.State.SETTLED
            ).values("journal_entry_id")[:1]
        )

    debit = Subquery(
        JournalEntry.objects.filter(reference_id=OuterRef("pk"), kind=JournalEntry.Kind.ORDER_DEBIT)
        .order_by("created_at")
        .values("pk")[:1]
    )
    return {
        "source_transaction_id": Coalesce(
            debit, settled_step(ProviderTransfer.Step.COLLECT), output_field=UUIDField()
        ),
        "destination_transaction_id": settled_step(ProviderTransfer.Step.DELIVER),
    }


# One order's money trail, compiled once (the annotation's three subqueries cost more to
# compile than to run; settlement renders an order's event after every step).
ORDER_MONEY_TRAIL = CompiledValues(
    lambda order_id: (
        Order.objects.filter(pk=order_id)
        .annotate(**money_trail())
        .values_list("source_transaction_id", "destination_transaction_id")
    ),
    order_id=placeholder_uuid(),
)


def _customer_orders_filtered(
    customer: Customer,
    *,
    status: str | None = None,
    side: str | None = None,
    kind: str | None = None,
) -> QuerySet[Order]:
    orders = Order.objects.filter(customer=customer)
    if kind:
        orders = orders.filter(kind=kind)
    if status:
        orders = orders.filter(status=status)
    if side:
        orders = orders.filter(side=side)
    return orders


def _with_representation(orders: QuerySet[Order]) -> QuerySet[Order]:
    """What rendering each order needs: its pair, fee lines and money trail."""
    return orders.select_related("pair").prefetch_related(fee_lines()).annotate(**money_trail())


NEWEST_FIRST = ("-created_at", "-id")


def customer_orders(
    customer: Customer,
    *,
    status: str | None = None,
    side: str | None = None,
    kind: str | None = None,
) -> QuerySet[Order]:
    """The customer's orders, OTC and market exchanges alike unless ``kind`` says which (the
    seed-000 API lists only OTC orders; the portal shows both)."""
    orders = _customer_orders_filtered(customer, status=status, side=side, kind=kind)
    return _with_representation(orders).order_by(*NEWEST_FIRST)


def order_page(
    *,
    customer: Customer,
    page: int,
    limit: int,
    status: str | None = None,
    side: str | None = None,
    kind: str | None = Kind.OTC,
) -> tuple[list[Order], int]:
    """One page of the customer's orders (OTC ones unless ``kind`` says otherwise), newest
    first, and the total: three queries (count, page, fee lines) whatever the page size or the
    number of orders. The page's ids are picked first (an index walk that skips
    ``(page - 1) * limit`` rows), and only those rows get the money-trail subqueries, so a late
    page costs no more per row than the first."""
    filtered = _customer_orders_filtered(customer, status=status, side=side, kind=kind)
    total = filtered.count()
    start = (page - 1) * limit
    if start >= total:
        return [], total
    ids = filtered.order_by(*NEWEST_FIRST).values("pk")[start : start + limit]
    page_orders = _with_representation(Order.objects.filter(pk__in=ids)).order_by(*NEWEST_FIRST)
    return list(page_orders), total


def order_get(*, customer: Customer, order_id: uuid.UUID, kind: str | None = Kind.OTC) -> Order:
    """One of the customer's orders (an OTC order unless ``kind`` is None: the portal shows
    market exchanges on the same page)."""
    orders = Order.objects.filter(kind=kind) if kind else Order.objects.all()
    order = (
        orders.select_related("pair", "customer", "fiat_account", "wallet")
        .prefetch_related(fee_lines())
        .annotate(**money_trail())
        .filter(customer=customer, pk=order_id)
        .first()
    )
    if order is None:
        raise error("ORDER_NOT_FOUND", 404, "No such order.")
    return order


def pairs_for_customer(customer: Customer) -> list[dict]:
    """The enabled pairs with this customer's limits, fees and the off-hours calendar, as
    ``GET otc-exchanges/pairs`` shows them. Three queries whatever the number of pairs."""
    from . import pricing
    from .services import source_limits

    pairs = list(
        Pair.objects.filter(enabled=True)
        .select_related("base_asset", "quote_asset")
        .order_by("code")
    )
    schedules = {
        schedule.pair_id: schedule
        for schedule in CustomerFeeSchedule.objects.filter(customer=customer)
    }
    calendar = pricing.desk_calendar()
    holidays = [
        {"date": day.isoformat(), "name": name}
        for day, name in pricing.next_off_hours_days(calendar)
    ]
    result = []
    for pair in pairs:
        base = pair.base_asset_id
        schedule = schedules.get(pair.pk)
        sides = {}
        for side in (Side.BUY, Side.SELL):
            source, destination = pricing.side_currencies(pair, side)
            low, high = source_limits(customer, pair, side)
            sides[side] = {
                "sourceCurrency": source,
                "destinationCurrency": destination,
                "minAmount": money.format_amount(low, source),
                "maxAmount": money.format_amount(high, source),
            }
        result.append(
            {
                "pair": pair.code,
                "baseCurrency": base,
                "quoteCurrency": pair.quote_asset_id,
                "enabled": pair.enabled,
                "sides": sides,
                "networks": [
                    {
                        "network": network,
                        "networkFee": money.format_amount(
                            Decimal(str(pair.network_fees.get(network, "0"))), base
                        ),
                    }
                    for network in pair.quote_asset.networks
                ],
                "fees": {
                    "currency": base,
                    "platformFixedFee": money.format_amount(pair.platform_fixed_fee, base),
                    "platformPercentageBps": pair.platform_percentage_bps,
                    "platformFxMarkupBps": pair.platform_fx_markup_bps,
                    "clientFixedFee": money.format_amount(
                        schedule.fixed_fee if schedule else Decimal(0), base
                    ),
                    "clientPercentageBps": schedule.percentage_bps if schedule else 0,
                    "clientFxMarkupBps": schedule.fx_markup_bps if schedule else 0,
                },
                "offHours": {
                    "timezone": calendar.timezone,
                    "windows": list(calendar.window_specs),
                    "holidayCalendar": calendar.holiday_calendar,
                    "holidays": holidays,
                    "penaltyBps": pair.off_hours_penalty_bps,
                },
            }
        )
    return result
