"""The desk's business actions. One keyword-only function per action, each owning its
transaction: it locks the order row, checks the transition, calls it, posts to the ledger and
writes the order's transition log together, and enqueues follow-up work only after commit.

Views, DRF APIs, admin actions, management commands and Celery tasks are thin shells that
parse input, call one of these, and render the result.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from accounts import money
from accounts.errors import DomainError, InsufficientFunds, ProviderUnavailable, error
from accounts.ledger import clearing_account, post_entry, transfer_legs
from accounts.models import Customer, FiatAccount, JournalEntry
from accounts.providers import fiat_rail
from accounts.selectors import treasury_fiat_account
from wallets.models import Wallet
from wallets.providers import custody
from wallets.selectors import treasury_wallet

from . import events, pricing
from .models import OPEN_QUOTE, Channel, Order, OrderApproval, OrderTransition, Side, Status

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who performs an action and through which channel; shown on the order's timeline."""

    label: str
    channel: str
    user: AbstractBaseUser | None = None

    @classmethod
    def system(cls, name: str, channel: str = Channel.TASK) -> "Actor":
        return cls(label=f"system:{name}", channel=channel)

    @classmethod
    def for_user(cls, user: AbstractBaseUser, channel: str) -> "Actor":
        return cls(label=user.get_username(), channel=channel, user=user)


# --- errors of the contract -----------------------------------------------------------------


def order_not_found() -> DomainError:
    return error("ORDER_NOT_FOUND", 404, "No such order.")


def quote_unavailable() -> DomainError:
    return error(
        "QUOTE_UNAVAILABLE",
        502,
        "A quote cannot be given right now: the live balance or price is unavailable.",
    )


# --- resolving the customer's resources -----------------------------------------------------


def _resolve_buy_resources(
    *, customer: Customer, fiat_account_id: uuid.UUID, wallet_id: uuid.UUID
) -> tuple[FiatAccount, Wallet]:
    account = (
        FiatAccount.objects.select_related("ledger_account")
        .filter(pk=fiat_account_id, customer=customer, is_treasury=False)
        .first()
    )
    if account is None:
        raise error("SOURCE_NOT_FOUND", 422, "The source account does not exist or is not yours.")
    if account.currency != money.EUR:
        raise error(
            "SOURCE_WRONG_CURRENCY",
            422,
            "The source account is not a EUR account.",
            currency=account.currency,
        )
    if not account.is_active:
        raise error("SOURCE_INACTIVE", 422, "The source account is not active.")
    wallet = Wallet.objects.filter(pk=wallet_id, customer=customer, is_treasury=False).first()
    if wallet is None:
        raise error(
            "DESTINATION_NOT_FOUND", 422, "The destination wallet does not exist or is not yours."
        )
    if not wallet.has_usdc_address:
        raise error(
            "DESTINATION_NO_USDC_ADDRESS", 422, "The destination wallet has no USDC address."
        )
    return account, wallet


def _resolve_sell_resources(
    *, customer: Customer, wallet_id: uuid.UUID, fiat_account_id: uuid.UUID
) -> tuple[FiatAccount, Wallet]:
    wallet = (
        Wallet.objects.select_related("ledger_account")
        .filter(pk=wallet_id, customer=customer, is_treasury=False)
        .first()
    )
    if wallet is None:
        raise error(
            "SOURCE_WALLET_NOT_FOUND", 422, "The source wallet does not exist or is not yours."
        )
    if not wallet.has_usdc_address:
        raise error("SOURCE_WALLET_NO_USDC", 422, "The source wallet has no USDC address.")
    account = FiatAccount.objects.filter(
        pk=fiat_account_id, customer=customer, is_treasury=False
    ).first()
    if account is None:
        raise error(
            "DESTINATION_ACCOUNT_NOT_FOUND",
            422,
            "The destination account does not exist or is not yours.",
        )
    if account.currency != money.EUR:
        raise error(
            "DESTINATION_ACCOUNT_WRONG_CURRENCY",
            422,
            "The destination account is not a EUR account.",
            currency=account.currency,
        )
    if not account.is_active:
        raise error("DESTINATION_ACCOUNT_INACTIVE", 422, "The destination account is not active.")
    return account, wallet


def _check_wallet_covers(wallet: Wallet, amount: Decimal) -> None:
    """The live USDC balance must cover ``amount`` (custody is asked, not our books)."""
    try:
        balance = custody().balance(wallet)
    except ProviderUnavailable:
        raise quote_unavailable() from None
    if balance < amount:
        raise error(
            "SOURCE_WALLET_INSUFFICIENT",
            422,
            "The source wallet's USDC balance is too low for this amount.",
            available=money.format_amount(balance, money.USDC),
        )


def _check_amount_range(customer: Customer, currency: str, amount: Decimal) -> None:
    minimum, maximum = customer.order_limits(currency)
    if not minimum <= amount <= maximum:
        raise error(
            "AMOUNT_OUT_OF_RANGE",
            422,
            f"The amount must be between {money.format_amount(minimum, currency)} and "
            f"{money.format_amount(maximum, currency)} {currency}.",
            min=money.format_amount(minimum, currency),
            max=money.format_amount(maximum, currency),
            currency=currency,
        )


def _resolve_resources(order_or_side: str, customer: Customer, fiat_account_id, wallet_id):
    if order_or_side == Side.BUY:
        return _resolve_buy_resources(
            customer=customer, fiat_account_id=fiat_account_id, wallet_id=wallet_id
        )
    return _resolve_sell_resources(
        customer=customer, fiat_account_id=fiat_account_id, wallet_id=wallet_id
    )


def _price(side: str, spread_bps: int, source_amount: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    try:
        mid = pricing.live_mid_rate()
    except ProviderUnavailable:
        raise quote_unavailable() from None
    rate = pricing.customer_rate(side, mid, spread_bps)
    return mid, rate, pricing.destination_amount(side, source_amount, rate)


# --- the transition log ---------------------------------------------------------------------


def _record(order: Order, from_status: str, actor: Actor, reason: str = "") -> None:
    OrderTransition.objects.create(
        order=order,
        from_status=from_status,
        to_status=order.status,
        actor_user=actor.user,
        actor=actor.label,
        channel=actor.channel,
        reason=reason,
    )
    events.order_transitioned(order=order, previous_status=from_status)


def _lock(order_id: uuid.UUID, customer: Customer | None = None) -> Order:
    orders = Order.objects.select_for_update(of=("self",)).select_related("customer")
    if customer is not None:
        orders = orders.filter(customer=customer)
    try:
        return orders.get(pk=order_id)
    except Order.DoesNotExist:
        raise order_not_found() from None


# --- quotes ---------------------------------------------------------------------------------


def quote_create(
    *,
    customer: Customer,
    side: str,
    fiat_account_id: uuid.UUID,
    wallet_id: uuid.UUID,
    source_amount: Decimal,
    actor: Actor,
) -> Order:
    """Price an indicative quote and store it as an order in ``quoted``."""
    account, wallet = _resolve_resources(side, customer, fiat_account_id, wallet_id)
    source_currency = money.EUR if side == Side.BUY else money.USDC
    _check_amount_range(customer, source_currency, source_amount)
    if side == Side.SELL:
        _check_wallet_covers(wallet, source_amount)
    mid, rate, destination = _price(side, customer.spread_bps, source_amount)
    with transaction.atomic():
        order = Order.objects.create(
            customer=customer,
            side=side,
            fiat_account=account,
            wallet=wallet,
            source_currency=source_currency,
            destination_currency=money.USDC if side == Side.BUY else money.EUR,
            source_amount=source_amount,
            mid_rate=mid,
            spread_bps=customer.spread_bps,
            indicative_rate=rate,
            indicative_destination_amount=destination,
            ttl_expires_at=timezone.now() + timedelta(seconds=settings.OTC_QUOTE_TTL_SECONDS),
        )
        _record(order, "", actor)
    return order


def order_requote(*, order_id: uuid.UUID, customer: Customer, actor: Actor) -> Order:
    """(extension) A fresh rate and TTL on the same quote id, from quoted/requoted/expired."""
    current = Order.objects.filter(pk=order_id, customer=customer).first()
    if current is None:
        raise order_not_found()
    if not can_proceed(current.requote):
        raise error(
            "NOT_REQUOTABLE",
            409,
            f"An order in status {current.status} cannot be requoted.",
            status=current.status,
        )
    _resolve_resources(current.side, customer, current.fiat_account_id, current.wallet_id)
    if current.side == Side.SELL:
        _check_wallet_covers(current.wallet, current.source_amount)
    mid, rate, destination = _price(current.side, current.spread_bps, current.source_amount)
    with transaction.atomic():
        order = _lock(order_id, customer)
        if not can_proceed(order.requote):
            raise error(
                "NOT_REQUOTABLE",
                409,
                f"An order in status {order.status} cannot be requoted.",
                status=order.status,
            )
        previous = order.status
        order.requote()
        order.mid_rate, order.indicative_rate = mid, rate
        order.indicative_destination_amount = destination
        order.ttl_expires_at = timezone.now() + timedelta(seconds=settings.OTC_QUOTE_TTL_SECONDS)
        order.save()
        _record(order, previous, actor)
    return order


def order_cancel(*, order_id: uuid.UUID, customer: Customer, actor: Actor) -> Order:
    with transaction.atomic():
        order = _lock(order_id, customer)
        if not can_proceed(order.cancel):
            raise error(
                "NOT_CANCELLABLE",
                409,
                f"An order in status {order.status} cannot be cancelled.",
                status=order.status,
            )
        previous = order.status
        order.cancel()
        order.save()
        _record(order, previous, actor)
    return order


def quotes_expire(*, now=None, actor: Actor | None = None, batch_size: int = 500) -> int:
    """Expire open quotes whose TTL has passed. Rows another worker holds are skipped (it is
    expiring or confirming them); the next sweep sees them again. Returns how many expired."""
    now = now or timezone.now()
    actor = actor or Actor.system("quote-sweeper")
    with transaction.atomic():
        stale = list(
            Order.objects.select_for_update(skip_locked=True)
            .filter(status__in=OPEN_QUOTE, ttl_expires_at__lte=now)
            .order_by("ttl_expires_at")[:batch_size]
        )
        for order in stale:
            previous = order.status
            order.expire()
            order.save()
            _record(order, previous, actor, reason="Quote TTL passed.")
    return len(stale)


# --- confirm --------------------------------------------------------------------------------


def order_confirm(*, order_id: uuid.UUID, customer: Customer, side: str, actor: Actor) -> Order:
    """Turn a live quote into an order. A buy moves the EUR out of the customer's account at
    once (to the clearing account until the bank settles, then the treasury); a sell moves
    nothing until approval."""
    current = Order.objects.filter(pk=order_id, customer=customer).first()
    if current is None:
        raise order_not_found()
    if current.side == Side.SELL and current.status in OPEN_QUOTE:
        # Ask custody before taking any lock: no provider I/O while a row is held.
        _resolve_sell_resources(
            customer=customer, wallet_id=current.wallet_id, fiat_account_id=current.fiat_account_id
        )
        _check_wallet_covers(current.wallet, current.source_amount)
    with transaction.atomic():
        order = _lock(order_id, customer)
        if side != order.side:
            raise error(
                "SIDE_MISMATCH",
                422,
                f"This quote is a {order.side}, not a {side}.",
                quoteSide=order.side,
            )
        if order.status == Status.EXPIRED or (
            order.status in OPEN_QUOTE and order.ttl_expires_at <= timezone.now()
        ):
            raise error("QUOTE_EXPIRED", 400, "The quote has expired; request a new one.")
        transition = order.confirm_buy if order.side == Side.BUY else order.confirm_sell
        if not can_proceed(transition):
            raise error(
                "ORDER_NOT_CONFIRMABLE",
                409,
                f"An order in status {order.status} cannot be confirmed.",
                status=order.status,
            )
        account, _ = _resolve_resources(
            order.side, customer, order.fiat_account_id, order.wallet_id
        )
        previous = order.status
        if order.side == Side.BUY:
            try:
                post_entry(
                    legs=transfer_legs(
                        account.ledger_account, clearing_account(money.EUR), order.source_amount
                    ),
                    kind=JournalEntry.Kind.ORDER_DEBIT,
                    reference_id=order.pk,
                    description=f"Buy {order.pk}: EUR debited from the customer's account",
                )
            except InsufficientFunds:
                # Show what is left now, not the figure read before a concurrent debit.
                account.ledger_account.refresh_from_db(fields=["balance"])
                raise error(
                    "SOURCE_INSUFFICIENT_FUNDS",
                    422,
                    "The source account's balance is too low for this amount.",
                    available=money.format_amount(account.balance, money.EUR),
                ) from None
        transition()
        order.confirmed_at = timezone.now()
        order.save()
        _record(order, previous, actor)
        if order.side == Side.BUY:
            from .tasks import settle_order_debit

            settle_order_debit.delay_on_commit(str(order.pk))
    return order


def order_debit_settle(*, order_id: uuid.UUID) -> Order | None:
    """The bank has the buy's EUR: clearing -> treasury, and the order waits for approval."""
    order = Order.objects.filter(pk=order_id).select_related("fiat_account").first()
    if order is None or order.status != Status.DEBIT_PENDING:
        return order
    treasury = treasury_fiat_account()
    # The transfer reference makes the bank call idempotent if this runs twice.
    fiat_rail().transfer(
        source=order.fiat_account,
        destination=treasury,
        amount=order.source_amount,
        reference=f"order:{order.pk}:debit",
    )
    with transaction.atomic():
        order = _lock(order_id)
        if order.status != Status.DEBIT_PENDING:
            return order
        post_entry(
            legs=transfer_legs(
                clearing_account(money.EUR), treasury.ledger_account, order.source_amount
            ),
            kind=JournalEntry.Kind.DEBIT_SETTLED,
            reference_id=order.pk,
            description=f"Buy {order.pk}: EUR settled into the treasury",
        )
        order.settle_debit()
        order.save()
        _record(
            order,
            Status.DEBIT_PENDING,
            Actor.system("fiat-rail"),
            reason="The bank settled the EUR debit.",
        )
    return order


# --- operator decisions ---------------------------------------------------------------------


def order_approve(*, order_id: uuid.UUID, actor: Actor, shown_rate: Decimal | None = None) -> Order:
    """Fix the final rate from the live market (never from the caller) and approve; settlement
    follows in a task. With ``shown_rate``, refuse if the live rate moved more than the
    tolerance from what the operator saw. An order at or above the four-eyes threshold needs
    two different operators: the first call only records an ``OrderApproval`` (the order stays
    pending), the second approves at the live rate of that moment."""
    mid = pricing.live_mid_rate()
    with transaction.atomic():
        order = _lock(order_id)
        if not can_proceed(order.approve):
            raise error(
                "ORDER_NOT_APPROVABLE",
                409,
                f"The order is {order.get_status_display().lower()}; it cannot be approved.",
                status=order.status,
            )
        rate = pricing.customer_rate(order.side, mid, order.spread_bps)
        if shown_rate is not None:
            moved = abs(pricing.move_bps(shown_rate, rate))
            if moved > settings.OTC_APPROVAL_TOLERANCE_BPS:
                raise error(
                    "RATE_MOVED",
                    409,
                    f"The live rate moved {moved} bps since it was shown; review the new figures.",
                    rate=money.format_rate(rate),
                    movedBps=str(moved),
                )
        destination = pricing.destination_amount(order.side, order.source_amount, rate)
        _check_treasury_covers(order, destination)
        four_eyes = ""
        if order_needs_four_eyes(order):
            first = _four_eyes_approval(order, actor, rate)
            if first is None:
                return order  # the first of two approvals: recorded, no transition yet
            four_eyes = f" Four-eyes: first approval by {first.actor} ({first.channel})."
        order.approve()
        order.final_mid_rate = mid
        order.final_rate = rate
        order.final_destination_amount = destination
        order.approved_at = timezone.now()
        order.approved_by = actor.user
        order.save()
        _record(
            order,
            Status.PENDING_APPROVAL,
            actor,
            reason=f"Approved at {money.format_rate(rate)} (mid {money.format_rate(mid)})."
            + four_eyes,
        )
        from .tasks import settle_order

        settle_order.delay_on_commit(str(order.pk))
    return order


def _check_treasury_covers(order: Order, destination_amount: Decimal) -> None:
    """The desk approves only what its treasury can pay out now (buy: USDC, sell: EUR);
    otherwise settlement would fail and the customer's order with it."""
    if order.side == Side.BUY:
        network = Wallet.objects.values_list("network", flat=True).get(pk=order.wallet_id)
        available, currency = treasury_wallet(network).ledger_account.balance, money.USDC
    else:
        available, currency = treasury_fiat_account().ledger_account.balance, money.EUR
    if available < destination_amount:
        raise error(
            "TREASURY_INSUFFICIENT",
            409,
            f"The treasury holds {money.format_amount(available, currency)} {currency}, less "
            "than this order pays out; top it up before approving, or reject the order.",
            available=money.format_amount(available, currency),
            required=money.format_amount(destination_amount, currency),
        )


def order_eur_equivalent(order: Order) -> Decimal:
    """The order's size in EUR: a buy's source amount, a sell's USDC at the quote's mid."""
    if order.side == Side.BUY:
        return order.source_amount
    return money.quantize_down(order.source_amount / order.mid_rate, money.EUR)


def order_needs_four_eyes(order: Order) -> bool:
    return order_eur_equivalent(order) >= settings.OTC_FOUR_EYES_THRESHOLD_EUR


def _four_eyes_approval(order: Order, actor: Actor, rate: Decimal) -> OrderApproval | None:
    """Record ``actor``'s approval of a four-eyes order (the order row is locked by the
    caller). Returns the earlier approval when this one is the second, None when it is the
    first."""
    if actor.user is None:
        raise error(
            "APPROVER_REQUIRED",
            403,
            "This order needs two named operators; act as a staff user.",
        )
    earlier = list(order.approvals.all())
    if any(approval.user_id == actor.user.pk for approval in earlier):
        raise error(
            "ALREADY_APPROVED_BY_YOU",
            409,
            "You already approved this order; a different operator must give the second approval.",
        )
    OrderApproval.objects.create(
        order=order, user=actor.user, actor=actor.label, channel=actor.channel, rate=rate
    )
    return earlier[0] if earlier else None


def _refund_buy(order: Order, *, source_ledger_account, description: str) -> None:
    post_entry(
        legs=transfer_legs(
            source_ledger_account, order.fiat_account.ledger_account, order.source_amount
        ),
        kind=JournalEntry.Kind.REFUND,
        reference_id=order.pk,
        description=description,
    )


def order_reject(*, order_id: uuid.UUID, actor: Actor, reason: str) -> Order:
    """Reject with a reason the customer sees; a buy's EUR goes back to its account."""
    reason = (reason or "").strip()
    if not reason:
        raise error("REASON_REQUIRED", 400, "A rejection needs a reason.")
    with transaction.atomic():
        order = _lock(order_id)
        if not can_proceed(order.reject):
            raise error(
                "ORDER_NOT_REJECTABLE",
                409,
                f"The order is {order.get_status_display().lower()}; it cannot be rejected.",
                status=order.status,
            )
        if order.side == Side.BUY:
            treasury = treasury_fiat_account()
            fiat_rail().transfer(
                source=treasury,
                destination=order.fiat_account,
                amount=order.source_amount,
                reference=f"order:{order.pk}:refund",
            )
            _refund_buy(
                order,
                source_ledger_account=treasury.ledger_account,
                description=f"Buy {order.pk} rejected: EUR refunded",
            )
        order.reject()
        order.rejection_reason = reason
        order.save()
        _record(order, Status.PENDING_APPROVAL, actor, reason=reason)
    return order


# --- settlement -----------------------------------------------------------------------------


def order_settle(*, order_id: uuid.UUID) -> Order | None:
    """Deliver an approved order and complete it. Raises ``ProviderUnavailable`` (the task
    retries); an order that can no longer settle (funds gone) fails with its reason."""
    with transaction.atomic():
        order = _lock(order_id)
        if order.status != Status.APPROVED:
            return order
        try:
            with transaction.atomic():
                _deliver(order)
        except InsufficientFunds as exc:
            failed = True
            reason = f"Settlement impossible: insufficient funds on {exc.details['account']}."
        else:
            failed = False
        if not failed:
            order.complete()
            order.completed_at = timezone.now()
            order.save()
            _record(order, Status.APPROVED, Actor.system("settlement"), reason="Settled.")
            return order
    return order_fail(order_id=order_id, reason=reason)


def _deliver(order: Order) -> None:
    destination_amount = order.final_destination_amount
    wallet = Wallet.objects.select_related("ledger_account").get(pk=order.wallet_id)
    treasury_usdc = treasury_wallet(wallet.network)
    if order.side == Side.BUY:
        custody().transfer(
            source=treasury_usdc,
            destination=wallet,
            amount=destination_amount,
            reference=f"order:{order.pk}:deliver",
        )
        post_entry(
            legs=transfer_legs(
                treasury_usdc.ledger_account, wallet.ledger_account, destination_amount
            ),
            kind=JournalEntry.Kind.ORDER_SETTLEMENT,
            reference_id=order.pk,
            description=f"Buy {order.pk}: USDC delivered",
        )
        return
    account = FiatAccount.objects.select_related("ledger_account").get(pk=order.fiat_account_id)
    treasury_eur = treasury_fiat_account()
    custody().transfer(
        source=wallet,
        destination=treasury_usdc,
        amount=order.source_amount,
        reference=f"order:{order.pk}:collect",
    )
    fiat_rail().transfer(
        source=treasury_eur,
        destination=account,
        amount=destination_amount,
        reference=f"order:{order.pk}:deliver",
    )
    post_entry(
        legs=[
            *transfer_legs(
                wallet.ledger_account, treasury_usdc.ledger_account, order.source_amount
            ),
            *transfer_legs(treasury_eur.ledger_account, account.ledger_account, destination_amount),
        ],
        kind=JournalEntry.Kind.ORDER_SETTLEMENT,
        reference_id=order.pk,
        description=f"Sell {order.pk}: USDC collected, EUR paid out",
    )


def order_fail(*, order_id: uuid.UUID, reason: str) -> Order | None:
    """A provider failure the desk cannot recover from: the order fails and a buy's EUR is
    refunded from wherever it sits (clearing before the bank settled, treasury after)."""
    with transaction.atomic():
        order = _lock(order_id)
        if not can_proceed(order.fail):
            return order
        previous = order.status
        if order.side == Side.BUY:
            source = (
                clearing_account(money.EUR)
                if previous == Status.DEBIT_PENDING
                else treasury_fiat_account().ledger_account
            )
            _refund_buy(
                order,
                source_ledger_account=source,
                description=f"Buy {order.pk} failed: EUR refunded",
            )
        order.fail()
        order.failure_reason = reason
        order.save()
        _record(order, previous, Actor.system("settlement"), reason=reason)
    logger.warning("order %s failed: %s", order.pk, reason)
    return order
