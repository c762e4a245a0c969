"""Orders (a quote is an order in its first state), their transition log, and idempotency
records for the confirm call.

The status is a protected django-fsm field: it changes only through the transition methods
below, which touch nothing but the order itself. The services in ``otc.services`` call them
under a row lock, post to the ledger and write the transition log in the same transaction.
"""

import functools
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMFieldMixin, transition

from accounts.models import AMOUNT_FIELD, Asset, Customer, FiatAccount, LedgerAccount
from wallets.models import Wallet

RATE_FIELD = {"max_digits": 20, "decimal_places": 6}
FEE_FIELD = {"max_digits": 24, "decimal_places": 6, "default": 0}


class Pair(models.Model):
    """A currency pair the desk trades, as data: ``base`` is the fiat side (EUR), ``quote`` the
    stablecoin. A buy converts base into quote, a sell quote into base. The mid the price feed
    gives for ``feed_symbol`` is quote units per base unit (USDC per EUR).

    The platform's fee schedule lives here (seed 004's ``base_fees``): fixed and network fees
    are stated in the base asset (EUR) and charged in the side's source currency (converted at
    the mid for a sell); the percentage fee is taken off the source amount; the FX markup off
    the rate. A customer's own markup on top is a ``CustomerFeeSchedule``."""

    code = models.CharField(max_length=20, unique=True, help_text='e.g. "EUR/USDC"')
    base_asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    quote_asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    enabled = models.BooleanField(default=True)
    feed_symbol = models.CharField(
        max_length=20, help_text='The price feed\'s symbol, e.g. "USDCEUR" (EUR per USDC).'
    )
    buy_min = models.DecimalField(help_text="Buy: minimum source (base) amount.", **AMOUNT_FIELD)
    buy_max = models.DecimalField(help_text="Buy: maximum source (base) amount.", **AMOUNT_FIELD)
    sell_min = models.DecimalField(help_text="Sell: minimum source (quote) amount.", **AMOUNT_FIELD)
    sell_max = models.DecimalField(help_text="Sell: maximum source (quote) amount.", **AMOUNT_FIELD)
    platform_fixed_fee = models.DecimalField(help_text="In the base asset.", **FEE_FIELD)
    platform_percentage_bps = models.PositiveIntegerField(default=0)
    platform_fx_markup_bps = models.PositiveIntegerField(default=0)
    off_hours_penalty_bps = models.PositiveIntegerField(
        default=0, help_text="FX markup added to quotes priced off-hours or on a holiday."
    )
    network_fees = models.JSONField(
        default=dict, blank=True, help_text='Per network, in the base asset: {"ethereum": "2.50"}.'
    )

    class Meta:
        ordering = ["code"]
        permissions = [("override_price", "Can pin or clear a pair's manual price")]
        constraints = [
            models.CheckConstraint(
                condition=Q(buy_min__gt=0, sell_min__gt=0), name="pair_min_positive"
            ),
            models.CheckConstraint(
                condition=Q(buy_max__gte=models.F("buy_min"), sell_max__gte=models.F("sell_min")),
                name="pair_max_at_least_min",
            ),
            models.CheckConstraint(
                condition=Q(platform_fixed_fee__gte=0), name="pair_fee_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class CustomerFeeSchedule(models.Model):
    """A customer's own markup on a pair (seed 004's ``client_markup``), on top of the
    platform's. The FX markup may be negative: a negotiated discount on the platform's."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="fee_schedules")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="+")
    fixed_fee = models.DecimalField(help_text="In the pair's base asset.", **FEE_FIELD)
    percentage_bps = models.PositiveIntegerField(default=0)
    fx_markup_bps = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "pair"], name="one_schedule_per_pair"),
            models.CheckConstraint(condition=Q(fixed_fee__gte=0), name="client_fee_not_negative"),
            models.CheckConstraint(
                condition=Q(fx_markup_bps__gte=-1000, fx_markup_bps__lte=1000),
                name="client_fx_markup_within_10pct",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} {self.pair}"


class FixedSide(models.TextChoices):
    SOURCE = "source", "Source amount fixed"
    DESTINATION = "destination", "Destination amount fixed"


class Side(models.TextChoices):
    BUY = "buy", "Buy (EUR → USDC)"
    SELL = "sell", "Sell (USDC → EUR)"


class Status(models.TextChoices):
    QUOTED = "quoted", "Quoted"
    REQUOTED = "requoted", "Requoted"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    DEBIT_PENDING = "debit_pending", "Debit pending"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    PRICE_REVIEW = "price_review", "Price review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    EXECUTED = "executed", "Executed"  # a market exchange, done at once (``MarketExchange``)


OPEN_QUOTE = [Status.QUOTED, Status.REQUOTED]
TERMINAL = {
    Status.EXPIRED,
    Status.CANCELLED,
    Status.REJECTED,
    Status.COMPLETED,
    Status.FAILED,
    Status.EXECUTED,
}


class Kind(models.TextChoices):
    """An OTC order (seed 000: confirmed, then approved by an operator) or a market exchange
    (seed 001: accepted and executed at once, see ``MarketExchange``)."""

    OTC = "otc", "OTC order"
    MARKET = "market", "Market exchange"


def is_otc(order: "Order") -> bool:
    return order.kind == Kind.OTC


def is_market(order: "Order") -> bool:
    return order.kind == Kind.MARKET


class Channel(models.TextChoices):
    """Where an action came from, shown on the order's timeline."""

    API = "api", "API"
    PORTAL = "portal", "Portal"
    OPS = "ops", "Operator console"
    ADMIN = "admin", "Django admin"
    TASK = "task", "Background task"
    COMMAND = "command", "Management command"


@functools.cache
def _state_fields(model: type[models.Model]) -> tuple:
    return tuple(f for f in model._meta.fields if isinstance(f, FSMFieldMixin))


class Order(ConcurrentTransitionMixin, models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.OTC)
    side = models.CharField(max_length=4, choices=Side.choices)
    pair = models.ForeignKey(Pair, on_delete=models.PROTECT, related_name="orders")
    fixed_side = models.CharField(
        max_length=12, choices=FixedSide.choices, default=FixedSide.SOURCE
    )
    status = FSMField(default=Status.QUOTED, choices=Status.choices, protected=True, db_index=True)

    fiat_account = models.ForeignKey(
        FiatAccount,
        on_delete=models.PROTECT,
        related_name="orders",
        help_text="Buy: the source. Sell: the destination.",
    )
    wallet = models.ForeignKey(
        Wallet,
        on_delete=models.PROTECT,
        related_name="orders",
        help_text="Buy: the destination. Sell: the source.",
    )
    # The two legs: what leaves which ledger account of the customer's, what arrives in which.
    source_currency = models.CharField(max_length=8)
    source_ledger_account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="+"
    )
    source_amount = models.DecimalField(**AMOUNT_FIELD)
    destination_currency = models.CharField(max_length=8)
    destination_ledger_account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="+"
    )

    mid_rate = models.DecimalField(
        help_text="The feed's mid at quote time (quote per base).", **RATE_FIELD
    )
    reference_rate = models.DecimalField(
        help_text="The mid as destination per source unit, before markups.", **RATE_FIELD
    )
    fx_markup_bps = models.IntegerField(
        help_text="Every FX markup taken off the reference rate (platform, client, off-hours)."
    )
    fee_total = models.DecimalField(
        help_text="Fees charged in the source currency, off the source amount.", **FEE_FIELD
    )
    indicative_rate = models.DecimalField(**RATE_FIELD)
    indicative_destination_amount = models.DecimalField(**AMOUNT_FIELD)
    ttl_expires_at = models.DateTimeField()

    # Fixed for good at approval.
    final_mid_rate = models.DecimalField(null=True, blank=True, **RATE_FIELD)
    final_reference_rate = models.DecimalField(null=True, blank=True, **RATE_FIELD)
    final_rate = models.DecimalField(null=True, blank=True, **RATE_FIELD)
    final_destination_amount = models.DecimalField(null=True, blank=True, **AMOUNT_FIELD)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rejection_reason = models.TextField(blank=True)
    rejection_code = models.CharField(max_length=24, blank=True)
    cancellation_code = models.CharField(max_length=32, blank=True)
    max_slippage_bps = models.PositiveIntegerField(
        default=100, help_text="The customer's limit on a worse rate at approval."
    )
    approval_deadline_at = models.DateTimeField(null=True, blank=True)
    eur_equivalent = models.DecimalField(
        default=0, help_text="Size in EUR (daily limits).", max_digits=24, decimal_places=2
    )
    # A firm price offered when the market moved beyond the customer's slippage at approval.
    review_mid_rate = models.DecimalField(null=True, blank=True, **RATE_FIELD)
    review_reference_rate = models.DecimalField(null=True, blank=True, **RATE_FIELD)
    review_rate = models.DecimalField(null=True, blank=True, **RATE_FIELD)
    review_destination_amount = models.DecimalField(null=True, blank=True, **AMOUNT_FIELD)
    review_expires_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    failure_code = models.CharField(
        max_length=32, blank=True, help_text="A market exchange's reason code when it failed."
    )
    # What this order holds of its source (a sell's USDC, reserved at confirm, on the source's
    # hold account): consumed by the collect step, released when the order ends otherwise.
    # Zero once consumed or released, so the hold is used or given back exactly once.
    source_held = models.DecimalField(default=0, **AMOUNT_FIELD)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["customer", "-created_at"]),
            models.Index(fields=["customer", "confirmed_at"]),
            # The open quotes by TTL, and only they: the quote sweep takes the oldest stale
            # batch in one short index range, however many orders the desk has.
            models.Index(
                fields=["ttl_expires_at"],
                condition=Q(status__in=OPEN_QUOTE),
                name="otc_order_open_quote_ttl",
            ),
        ]
        permissions = [("approve_order", "Can approve and reject orders (operator console)")]
        constraints = [
            models.CheckConstraint(condition=Q(source_amount__gt=0), name="order_amount_positive"),
            models.CheckConstraint(condition=Q(indicative_rate__gt=0), name="order_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.source_amount} {self.source_currency} [{self.status}]"

    # --- what changed since the row was read: a transition writes only that ---------------
    # (A dict of the values as loaded, kept by ``from_db`` and moved on by ``save``: cheaper
    # than a per-instance snapshot taken on every ``__init__``, and every field of an order is
    # an immutable value, so comparing is enough.)

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        saved = getattr(self, "_as_saved", None)
        if saved is not None:
            named = kwargs.get("update_fields")
            for field in self._meta.concrete_fields:
                if named is None or field.name in named or field.attname in named:
                    saved[field.attname] = getattr(self, field.attname)

    @property
    def state_fields(self) -> tuple:
        """django-fsm's state fields (read on every instance's ``__init__`` and ``save``),
        found once per class instead of by a scan of every field each time."""
        return _state_fields(type(self))

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._as_saved = dict(zip(field_names, values, strict=True))
        return instance

    def refresh_from_db(self, using=None, fields=None, from_queryset=None) -> None:
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        saved = getattr(self, "_as_saved", None)
        if saved is not None:
            for field in self._meta.concrete_fields:
                if field.attname in self.__dict__ and (
                    fields is None or field.name in fields or field.attname in fields
                ):
                    saved[field.attname] = getattr(self, field.attname)

    def changed_fields(self) -> list[str] | None:
        """The fields assigned a new value since the row was read or saved (``updated_at``
        always: it moves with every write), for ``save(update_fields=...)``; None for an
        order not read from the database (save it whole)."""
        saved = getattr(self, "_as_saved", None)
        if saved is None:
            return None
        changed = []
        for field in self._meta.concrete_fields:
            if field.primary_key:
                continue
            name = field.attname
            if name in saved:
                if getattr(self, name) != saved[name] or name == "updated_at":
                    changed.append(field.name)
            elif name in self.__dict__:  # deferred when read, assigned since
                changed.append(field.name)
        return changed

    # --- what the API shows: the final figures once fixed, the indicative ones before ---
    @property
    def rate(self):
        return self.final_rate if self.final_rate is not None else self.indicative_rate

    @property
    def destination_amount(self):
        if self.final_destination_amount is not None:
            return self.final_destination_amount
        return self.indicative_destination_amount

    @property
    def shown_reference_rate(self):
        if self.final_reference_rate is not None:
            return self.final_reference_rate
        return self.reference_rate

    @property
    def is_buy(self) -> bool:
        return self.side == Side.BUY

    # --- transitions: database-only bodies; guards and side effects live in the services ---
    # The customer's OTC transitions; a market exchange has its own (``MarketExchange``).
    @transition(field=status, source=OPEN_QUOTE, target=Status.DEBIT_PENDING, conditions=[is_otc])
    def confirm_buy(self) -> None:
        pass

    @transition(
        field=status, source=OPEN_QUOTE, target=Status.PENDING_APPROVAL, conditions=[is_otc]
    )
    def confirm_sell(self) -> None:
        pass

    @transition(field=status, source=Status.DEBIT_PENDING, target=Status.PENDING_APPROVAL)
    def settle_debit(self) -> None:
        pass

    @transition(
        field=status,
        source=[*OPEN_QUOTE, Status.PRICE_REVIEW],
        target=Status.CANCELLED,
        conditions=[is_otc],
    )
    def cancel(self) -> None:
        pass

    @transition(field=status, source=Status.PENDING_APPROVAL, target=Status.PRICE_REVIEW)
    def send_to_review(self) -> None:
        pass

    @transition(field=status, source=Status.PRICE_REVIEW, target=Status.APPROVED)
    def accept_price(self) -> None:
        pass

    @transition(
        field=status, source=[Status.PENDING_APPROVAL, Status.PRICE_REVIEW], target=Status.CANCELLED
    )
    def cancel_by_desk(self) -> None:
        """The approval deadline or a review's TTL passed."""

    @transition(field=status, source=OPEN_QUOTE, target=Status.EXPIRED)
    def expire(self) -> None:
        """Both kinds: the quote sweep expires OTC quotes and quoted market exchanges."""

    @transition(
        field=status,
        source=[*OPEN_QUOTE, Status.EXPIRED],
        target=Status.REQUOTED,
        conditions=[is_otc],
    )
    def requote(self) -> None:
        pass

    # The two operator decisions carry their permission and a label for django-fsm's admin
    # buttons (otc.admin.OrderAdmin routes the buttons through the services).
    @transition(
        field=status,
        source=Status.PENDING_APPROVAL,
        target=Status.APPROVED,
        permission="otc.approve_order",
        custom={"label": "Approve at the live rate"},
    )
    def approve(self) -> None:
        pass

    @transition(
        field=status,
        source=Status.PENDING_APPROVAL,
        target=Status.REJECTED,
        permission="otc.approve_order",
        custom={"label": "Reject (with a reason)"},
    )
    def reject(self) -> None:
        pass

    @transition(field=status, source=Status.APPROVED, target=Status.COMPLETED)
    def complete(self) -> None:
        pass

    @transition(field=status, source=[Status.DEBIT_PENDING, Status.APPROVED], target=Status.FAILED)
    def fail(self) -> None:
        pass


class MarketExchangeManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=Kind.MARKET)


class MarketExchange(Order):
    """A market exchange (seed 001's legacy ``/exchanges``): a small trade the customer
    accepts and the desk executes at once at the live price, with no operator.

    Why a proxy of ``Order`` rather than a model of its own: an exchange *is* an order of
    another kind. It has the same two legs (source/destination currency, ledger account,
    account and wallet), the same price (``pricing.price``: reference rate, markups, its
    ``OrderFee`` lines), the same timeline (``OrderTransition``), the same money trail
    (``ProviderTransfer`` steps, which reconciliation reads) and the same ``status`` field,
    so quoting, the daily limits, the quote sweep, statements, the console's search and the
    portal's list treat both alike with no second table to union. Rows carry
    ``kind=market``; this proxy selects them and adds the exchange's own transitions (the
    OTC ones are guarded by ``is_otc``). The seed's names map onto the order's fields:
    ``action`` FIX_SOURCE/FIX_DESTINATION is ``fixed_side``, ``quote_expires_at`` is
    ``ttl_expires_at``, ``accepted_at`` is ``confirmed_at``, ``executed_at`` is
    ``completed_at``, ``maximum_slippage`` is ``max_slippage_bps``, ``fee`` is ``fee_total``,
    and the statuses QUOTED, EXECUTED, EXPIRED, FAILED, CANCELLED are ``status`` upper-cased.

    quoted --execute (live price within maximum_slippage)--> executed
    quoted --fail_execution (price moved too far, treasury short)--> failed   (nothing moves)
    quoted --cancel_exchange--> cancelled        quoted --TTL passed (sweep)--> expired
    """

    objects = MarketExchangeManager()

    class Meta:
        proxy = True
        verbose_name = "market exchange"

    def __str__(self) -> str:
        return f"exchange {self.source_amount} {self.source_currency} [{self.status}]"

    @transition(
        field="status", source=Status.QUOTED, target=Status.EXECUTED, conditions=[is_market]
    )
    def execute(self) -> None:
        pass

    @transition(field="status", source=Status.QUOTED, target=Status.FAILED, conditions=[is_market])
    def fail_execution(self) -> None:
        pass

    @transition(
        field="status", source=Status.QUOTED, target=Status.CANCELLED, conditions=[is_market]
    )
    def cancel_exchange(self) -> None:
        pass


class OrderFee(models.Model):
    """One line of an order's price, as quoted (the way pretix keeps an ``OrderFee`` beside the
    order instead of folding it into a total). Amount lines are in the source currency; markup
    lines carry basis points taken off the rate."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="fees")
    position = models.PositiveSmallIntegerField()
    type = models.CharField(max_length=24)
    description = models.CharField(max_length=200)
    amount = models.DecimalField(null=True, blank=True, **AMOUNT_FIELD)
    bps = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="one_fee_line_per_position")
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.amount if self.amount is not None else f'{self.bps} bps'}"


class OrderTransition(models.Model):
    """The order's timeline: one row per transition, written in the transition's transaction."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=Status.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=120, help_text="Who acted, as shown on the timeline.")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status} by {self.actor}"


class OrderApproval(models.Model):
    """One operator's approval of an order. Orders at or above the four-eyes threshold need
    two, from two different people: the first is recorded here without a transition, the
    second approves at the live rate. The unique constraint is the database's guarantee that
    one person never counts twice."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor = models.CharField(max_length=120)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    rate = models.DecimalField(help_text="The live customer rate when approving.", **RATE_FIELD)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "user"], name="one_approval_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.order_id} approved by {self.actor}"


class IdempotencyRecord(models.Model):
    """The stored outcome of one ``POST /otc-exchanges`` per (customer, key). Claimed by an
    INSERT in the same transaction as the confirm it guards: a concurrent duplicate blocks on
    the unique index until the first commits, then replays its response."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    key = models.UUIDField()
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "key"], name="idempotency_key_per_customer")
        ]

    def __str__(self) -> str:
        return f"{self.key} → {self.status_code}"


class AuditEntry(models.Model):
    """A change to the desk's configuration made outside the Django admin (whose own log
    covers its edits): a pinned price, a cleared one. Who, through which channel, what."""

    action = models.CharField(max_length=40)
    subject = models.CharField(max_length=120, help_text='What changed, e.g. "EUR/USDC".')
    details = models.JSONField(default=dict)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=120)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.subject} by {self.actor}"


from .settlement_models import (  # noqa: E402, F401  (the money trail)
    ProviderTransfer,
    ReconciliationBreak,
    ReconciliationReport,
)
