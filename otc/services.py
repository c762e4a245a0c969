"""The desk's business actions. One keyword-only function per action, each owning its
transaction: it locks the order row, checks the transition, calls it, posts to the ledger and
writes the order's transition log together, and enqueues follow-up work only after commit.

Views, DRF APIs, admin actions, management commands and Celery tasks are thin shells that
parse input, call one of these, and render the result.
"""

import contextvars
import functools
import json
import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Q, Sum, prefetch_related_objects
from django.utils import timezone
from django_fsm import can_proceed

from accounts import money
from accounts.compiled import model_columns, model_instance
from accounts.errors import DomainError, InsufficientFunds, ProviderUnavailable, error
from accounts.ledger import (
    clearing_account,
    fee_income_account,
    fee_income_total,
    held_balance,
    hold_place,
    hold_release,
    post_entry,
)
from accounts.models import (
    Asset,
    Customer,
    FiatAccount,
    JournalEntry,
    KycStatus,
    LedgerAccount,
    Posting,
)
from accounts.selectors import treasury_fiat_account
from wallets.models import Wallet
from wallets.providers import custody
from wallets.selectors import treasury_wallet
from wallets.services import wallet_holding_account

from . import caching, events, onestatement, pricing
from .models import (
    OPEN_QUOTE,
    AuditEntry,
    Channel,
    CustomerFeeSchedule,
    FixedSide,
    Kind,
    Order,
    OrderApproval,
    OrderFee,
    OrderTransition,
    Pair,
    Side,
    Status,
)
from .selectors import fee_lines

DEFAULT_PAIR = "EUR/USDC"

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


# --- the two sides, as data -------------------------------------------------------------------


@dataclass(frozen=True)
class SideSpec:
    """Which kind of resource each leg of a side uses. A leg on a fiat account moves through
    the bank (the fiat rail), a leg on a wallet through custody. The source of a side whose
    source is fiat is collected at confirm (a buy's EUR leaves at once); a wallet source is
    collected at settlement (a sell's confirm only holds it inside the wallet)."""

    source_kind: str
    destination_kind: str

    @property
    def collects_at_confirm(self) -> bool:
        return self.source_kind == FIAT


FIAT, WALLET = "fiat", "wallet"
SIDES = {Side.BUY: SideSpec(FIAT, WALLET), Side.SELL: SideSpec(WALLET, FIAT)}

# The seed's error codes for a resource that is not usable, per kind and role.
RESOURCE_ERRORS = {
    (FIAT, "source"): {
        "missing": ("SOURCE_NOT_FOUND", "The source account does not exist or is not yours."),
        "currency": ("SOURCE_WRONG_CURRENCY", "The source account is not a {currency} account."),
        "inactive": ("SOURCE_INACTIVE", "The source account is not active."),
    },
    (FIAT, "destination"): {
        "missing": (
            "DESTINATION_ACCOUNT_NOT_FOUND",
            "The destination account does not exist or is not yours.",
        ),
        "currency": (
            "DESTINATION_ACCOUNT_WRONG_CURRENCY",
            "The destination account is not a {currency} account.",
        ),
        "inactive": ("DESTINATION_ACCOUNT_INACTIVE", "The destination account is not active."),
    },
    (WALLET, "source"): {
        "missing": ("SOURCE_WALLET_NOT_FOUND", "The source wallet does not exist or is not yours."),
        "address": ("SOURCE_WALLET_NO_USDC", "The source wallet has no {currency} address."),
    },
    (WALLET, "destination"): {
        "missing": (
            "DESTINATION_NOT_FOUND",
            "The destination wallet does not exist or is not yours.",
        ),
        "address": (
            "DESTINATION_NO_USDC_ADDRESS",
            "The destination wallet has no {currency} address.",
        ),
    },
}


def _refuse(kind: str, role: str, problem: str, expected: str = "", **details) -> DomainError:
    code, message = RESOURCE_ERRORS[(kind, role)][problem]
    return error(code, 422, message.format(currency=expected), **details)


def _check_fiat(
    customer: Customer, account: FiatAccount | None, currency: str, role: str
) -> FiatAccount:
    """``account`` (already read) is usable for ``role``: the customer's own, not the desk's,
    in ``currency`` and active; else the seed's error for the role."""
    if account is None or account.customer_id != customer.pk or account.is_treasury:
        raise _refuse(FIAT, role, "missing")
    if account.currency != currency:
        raise _refuse(FIAT, role, "currency", currency, currency=account.currency)
    if not account.is_active:
        raise _refuse(FIAT, role, "inactive")
    return account


def _check_wallet(customer: Customer, wallet: Wallet | None, asset: Asset, role: str) -> Wallet:
    if wallet is None or wallet.customer_id != customer.pk or wallet.is_treasury:
        raise _refuse(WALLET, role, "missing")
    if not wallet.can_hold(asset):
        raise _refuse(WALLET, role, "address", asset.code)
    return wallet


def _check_order_resources(order: Order) -> None:
    """The account and wallet an order was quoted with (read with it) are still usable, with
    the same errors as at the quote, source first; no query."""
    pair = order.pair
    assets = {pair.base_asset_id: pair.base_asset, pair.quote_asset_id: pair.quote_asset}
    spec = SIDES[order.side]
    for role, kind, code in (
        ("source", spec.source_kind, order.source_currency),
        ("destination", spec.destination_kind, order.destination_currency),
    ):
        if kind == FIAT:
            _check_fiat(order.customer, order.fiat_account, code, role)
        else:
            _check_wallet(order.customer, order.wallet, assets[code], role)


@dataclass(frozen=True)
class Resources:
    account: FiatAccount
    wallet: Wallet
    source_ledger: LedgerAccount
    destination_ledger: LedgerAccount
    daily_used: Decimal | None = None


def _resolve_resources(
    customer: Customer,
    pair: Pair,
    side: str,
    fiat_account_id,
    wallet_id,
    *,
    with_daily_used: bool = False,
) -> Resources:
    """The customer's account and wallet for ``side``, checked source first, with the seed's
    error codes; and the ledger accounts of both legs. Both are read in one statement (with
    ``with_daily_used``, also the day's total against the daily limit: ``daily_used``)."""
    spec = SIDES[side]
    assets = {pair.base_asset_id: pair.base_asset, pair.quote_asset_id: pair.quote_asset}
    source_code, destination_code = pricing.side_currencies(pair, side)
    account, wallet, daily_used = _read_resources(
        customer, fiat_account_id, wallet_id, with_daily_used=with_daily_used
    )
    found: dict = {}
    for role, kind, code in (
        ("source", spec.source_kind, source_code),
        ("destination", spec.destination_kind, destination_code),
    ):
        if kind == FIAT:
            found[role] = _check_fiat(customer, account, code, role)
        else:
            found[role] = _check_wallet(customer, wallet, assets[code], role)
    ledgers = {
        role: _ledger_of(found[role], code)
        for role, code in (("source", source_code), ("destination", destination_code))
    }
    return Resources(
        account=account,
        wallet=wallet,
        source_ledger=ledgers["source"],
        destination_ledger=ledgers["destination"],
        daily_used=daily_used,
    )


def _read_resources(
    customer: Customer, fiat_account_id, wallet_id, *, with_daily_used: bool
) -> tuple[FiatAccount | None, Wallet | None, Decimal | None]:
    """The customer's (non-treasury) fiat account and wallet with their ledger accounts, each
    None when not theirs, in one statement; and, if asked, the day's total against the daily
    limit (``daily_limits``' figure, in the same statement)."""
    if connection.vendor != "postgresql":
        return _read_resources_orm(customer, fiat_account_id, wallet_id, with_daily_used)
    fiat_fields, fiat_columns = model_columns(FiatAccount, "fiat")
    wallet_fields, wallet_columns = model_columns(Wallet, "wallet")
    ledger_fields, fiat_ledger_columns = model_columns(LedgerAccount, "fiat_ledger")
    _, wallet_ledger_columns = model_columns(LedgerAccount, "wallet_ledger")
    _, wallet_hold_columns = model_columns(LedgerAccount, "wallet_hold")
    used_sql, used_params = "NULL", []
    if with_daily_used:
        used_sql, used_params = _daily_used_sql(customer)
    sql = f"""
        SELECT {fiat_columns}, {fiat_ledger_columns}, {wallet_columns}, {wallet_ledger_columns},
               {wallet_hold_columns}, ({used_sql})
        FROM (SELECT 1) AS one
        LEFT JOIN accounts_fiataccount fiat
          ON fiat.id = %s AND fiat.customer_id = %s AND NOT fiat.is_treasury
        LEFT JOIN accounts_ledgeraccount fiat_ledger ON fiat_ledger.id = fiat.ledger_account_id
        LEFT JOIN wallets_wallet wallet
          ON wallet.id = %s AND wallet.customer_id = %s AND NOT wallet.is_treasury
        LEFT JOIN accounts_ledgeraccount wallet_ledger
          ON wallet_ledger.id = wallet.ledger_account_id
        LEFT JOIN accounts_ledgeraccount wallet_hold ON wallet_hold.held_for_id = wallet_ledger.id
    """  # noqa: S608 (column lists from the models, values as parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*used_params, fiat_account_id, customer.pk, wallet_id, customer.pk])
        row = cursor.fetchone()
    ledger_width = len(ledger_fields)
    widths = [len(fiat_fields), ledger_width, len(wallet_fields), ledger_width, ledger_width]
    parts, at = [], 0
    for width in widths:
        parts.append(row[at : at + width])
        at += width
    account = model_instance(FiatAccount, fiat_fields, parts[0])
    if account is not None:
        account.ledger_account = model_instance(LedgerAccount, ledger_fields, parts[1])
    wallet = model_instance(Wallet, wallet_fields, parts[2])
    if wallet is not None:
        wallet.ledger_account = model_instance(LedgerAccount, ledger_fields, parts[3])
        # What sells hold of it (``held_balance``), None when nothing was ever held.
        LedgerAccount.hold_account.related.set_cached_value(
            wallet.ledger_account, model_instance(LedgerAccount, ledger_fields, parts[4])
        )
    used = row[-1]
    return account, wallet, (used or Decimal(0)) if with_daily_used else None


def _read_resources_orm(
    customer: Customer, fiat_account_id, wallet_id, with_daily_used: bool
) -> tuple[FiatAccount | None, Wallet | None, Decimal | None]:
    """``_read_resources`` for the embedded SQLite demo: the raw statement above hands
    PostgreSQL's own value types to ``from_db``, which SQLite does not store; here the ORM
    converts them, in a few statements instead of one."""
    account = wallet = None
    if fiat_account_id is not None:
        account = (
            FiatAccount.objects.select_related("ledger_account")
            .filter(pk=fiat_account_id, customer=customer, is_treasury=False)
            .first()
        )
    if wallet_id is not None:
        wallet = (
            Wallet.objects.select_related("ledger_account")
            .filter(pk=wallet_id, customer=customer, is_treasury=False)
            .first()
        )
        if wallet is not None:
            hold = LedgerAccount.objects.filter(held_for=wallet.ledger_account).first()
            LedgerAccount.hold_account.related.set_cached_value(wallet.ledger_account, hold)
    used = daily_limits(customer).daily_used if with_daily_used else None
    return account, wallet, used


def _ledger_of(resource, asset_code: str) -> LedgerAccount:
    if isinstance(resource, FiatAccount):
        return resource.ledger_account
    return wallet_holding_account(resource, asset_code)


def _treasury_ledger(kind: str, asset_code: str, network: str) -> LedgerAccount:
    """The desk's own ledger account on the other side of a leg."""
    if kind == FIAT:
        return treasury_fiat_account(asset_code).ledger_account
    return wallet_holding_account(treasury_wallet(network), asset_code)


def _treasury_resource(kind: str, asset_code: str, network: str):
    return treasury_fiat_account(asset_code) if kind == FIAT else treasury_wallet(network)


def fee_account(
    currency: str, owner: uuid.UUID | None = None, *, create: bool = True
) -> LedgerAccount:
    """Where fee income in ``currency`` paid by the customer ``owner`` is booked (one account
    per customer and currency: no shared hot row); ``owner=None``: the desk-wide account
    that orders booked to before."""
    return fee_income_account(currency, owner, create=create)


def fee_income(currency: str) -> Decimal:
    """The desk's fee income in ``currency``: every fee-income account together."""
    return fee_income_total(currency)


def order_fee_account(order: Order) -> LedgerAccount:
    """The fee-income account the order's fees were booked to when its source was collected:
    the customer's own, or the desk-wide one for an order collected before customers had
    their own (a refund takes them back from there)."""
    posting = (
        Posting.objects.filter(
            entry__reference_id=order.pk,
            ledger_account__kind=LedgerAccount.Kind.FEES,
            amount__gt=0,
        )
        .select_related("ledger_account")
        .order_by("entry__created_at")
        .first()
    )
    if posting is not None:
        return posting.ledger_account
    return fee_account(order.source_currency, owner=order.customer_id)


def _check_wallet_covers(
    wallet: Wallet, asset_code: str, amount: Decimal, held: Decimal = Decimal(0)
) -> None:
    """The live balance (custody is asked, not our books), less what confirmed sells already
    hold of it (``held``), must cover ``amount``."""
    try:
        balance = custody().balance(wallet, asset_code)
    except ProviderUnavailable:
        raise quote_unavailable() from None
    available = max(Decimal(0), balance - held)
    if available < amount:
        details = {"available": money.format_amount(available, asset_code)}
        if held:
            details["held"] = money.format_amount(held, asset_code)
        raise error(
            "SOURCE_WALLET_INSUFFICIENT",
            422,
            f"The source wallet's available {asset_code} balance is too low for this amount"
            + (" (confirmed sells hold part of it)." if held else "."),
            **details,
        )


def source_limits(customer: Customer, pair: Pair, side: str) -> tuple[Decimal, Decimal]:
    """(minimum, maximum) source amount of one order on ``side``: the pair's, unless the
    customer has their own."""
    currency = pricing.side_currencies(pair, side)[0]
    pair_limits = (
        (pair.buy_min, pair.buy_max) if side == Side.BUY else (pair.sell_min, pair.sell_max)
    )
    return customer.order_limits(currency, pair_limits)


def _check_amount_range(customer: Customer, pair: Pair, side: str, amount: Decimal) -> None:
    currency = pricing.side_currencies(pair, side)[0]
    minimum, maximum = source_limits(customer, pair, side)
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


# --- pairs and prices ------------------------------------------------------------------------


def pair_get(code: str) -> Pair:
    """An enabled pair (read through the shared cache), or ``422 CURRENCY_PAIR_NOT_ENABLED``."""
    wanted = code.upper()
    pair = caching.cached_pair(
        wanted,
        lambda: (
            Pair.objects.select_related("base_asset", "quote_asset")
            .filter(code=wanted, enabled=True)
            .first()
        ),
    )
    if pair is None:
        raise error(
            "CURRENCY_PAIR_NOT_ENABLED",
            422,
            f"The currency pair {code} is not enabled.",
            pair=code,
            validValues=list(
                Pair.objects.filter(enabled=True).order_by("code").values_list("code", flat=True)
            ),
        )
    return pair


def fee_terms(customer: Customer, pair: Pair, network: str) -> pricing.FeeTerms:
    """The fee schedule that applies to ``customer`` on ``pair`` for a wallet on ``network``."""
    schedule = caching.cached_fee_schedule(
        customer.pk,
        pair.pk,
        lambda: CustomerFeeSchedule.objects.filter(customer=customer, pair=pair).first(),
    )
    return pricing.FeeTerms(
        platform_fixed_fee=pair.platform_fixed_fee,
        platform_percentage_bps=pair.platform_percentage_bps,
        platform_fx_markup_bps=pair.platform_fx_markup_bps,
        client_fixed_fee=schedule.fixed_fee if schedule else Decimal(0),
        client_percentage_bps=schedule.percentage_bps if schedule else 0,
        client_fx_markup_bps=schedule.fx_markup_bps if schedule else 0,
        network_fee=Decimal(str(pair.network_fees.get(network, "0"))),
        off_hours_penalty_bps=pair.off_hours_penalty_bps,
    )


def live_mid(pair: Pair) -> Decimal:
    try:
        return pricing.live_mid_rate(pair)
    except ProviderUnavailable:
        raise quote_unavailable() from None


def _quote_price(
    *, customer: Customer, pair: Pair, side: str, fixed_side: str, amount: Decimal, network: str
) -> pricing.Price:
    return pricing.price(
        pair=pair,
        side=side,
        fixed_side=fixed_side,
        amount=amount,
        terms=fee_terms(customer, pair, network),
        mid=live_mid(pair),
        at=timezone.now(),
    )


def _apply_price(order: Order, quoted: pricing.Price) -> list[OrderFee]:
    """Copy a price onto the order (unsaved) and build its fee lines."""
    order.source_amount = quoted.source_amount
    order.mid_rate = quoted.mid
    order.reference_rate = quoted.reference_rate
    order.fx_markup_bps = quoted.fx_markup_bps
    order.fee_total = quoted.fee_total
    order.indicative_rate = quoted.rate
    order.indicative_destination_amount = quoted.destination_amount
    order.ttl_expires_at = timezone.now() + timedelta(seconds=settings.OTC_QUOTE_TTL_SECONDS)
    return [
        OrderFee(
            order=order,
            position=position,
            type=line.type,
            description=line.description,
            amount=line.amount,
            bps=line.bps,
        )
        for position, line in enumerate(quoted.fee_lines)
    ]


def _store_fees(order: Order, fees: list[OrderFee], *, replace: bool) -> None:
    if replace:
        OrderFee.objects.filter(order=order).delete()
    onestatement.insert(fees)
    _know_fees(order, fees)


def _know_fees(order: Order, fees: list[OrderFee]) -> None:
    """``order.fees.all()`` is now ``fees`` (in position order): rendering the order needs no
    further query."""
    order._prefetched_objects_cache = {"fees": OrderFee.objects.none()}
    order._prefetched_objects_cache["fees"]._result_cache = fees


# --- the transition log ---------------------------------------------------------------------


def _transition(order: Order, transition, actor: Actor, reason: str = "") -> None:
    """Run ``transition`` (a django-fsm method of ``order``, whose row the caller holds),
    save the order, and record the real previous status on the timeline and in the outbox."""
    previous = order.status
    transition()
    order.save(update_fields=order.changed_fields())
    _record(order, previous, actor, reason)


def _timeline_row(order: Order, from_status: str, actor: Actor, reason: str) -> OrderTransition:
    """The timeline row of one transition (saved by ``_record``, bulk-inserted by the sweep)."""
    return OrderTransition(
        order=order,
        from_status=from_status,
        to_status=order.status,
        actor_user=actor.user,
        actor=actor.label,
        channel=actor.channel,
        reason=reason,
    )


def _record(order: Order, from_status: str, actor: Actor, reason: str = "") -> None:
    """The transition's timeline row and its outbox event, in one statement on PostgreSQL."""
    with onestatement.together():
        onestatement.insert([_timeline_row(order, from_status, actor, reason)])
        events.order_transitioned(order=order, previous_status=from_status)


def _owned_for_pricing(model, pk: uuid.UUID, customer: Customer):
    """The customer's own order (or exchange) with what pricing it again reads, unlocked;
    None when it is not theirs."""
    return (
        model.objects.select_related("pair__base_asset", "pair__quote_asset", "wallet")
        .filter(pk=pk, customer=customer)
        .first()
    )


def _lock(order_id: uuid.UUID, customer: Customer | None = None) -> Order:
    orders = Order.objects.select_for_update(of=("self",)).select_related(
        "customer",
        "pair",
        "wallet",
        "source_ledger_account__hold_account",
        "destination_ledger_account",
    )
    if customer is not None:
        orders = orders.filter(customer=customer)
    try:
        return orders.get(pk=order_id)
    except Order.DoesNotExist:
        raise order_not_found() from None


# --- who may trade, and how much ---------------------------------------------------------------


def _check_kyc(customer: Customer) -> None:
    if customer.kyc_status != KycStatus.VERIFIED:
        raise error(
            "KYC_NOT_VERIFIED",
            403,
            "Your company's verification (KYC) is not complete, so it cannot trade yet; "
            "contact the desk to finish it.",
            kycStatus=customer.kyc_status,
        )


@dataclass(frozen=True)
class DailyLimits:
    daily_max: Decimal
    daily_used: Decimal

    @property
    def daily_remaining(self) -> Decimal:
        return max(Decimal(0), self.daily_max - self.daily_used)

    def as_details(self) -> dict:
        return {
            "dailyMax": money.format_amount(self.daily_max, money.EUR),
            "dailyUsed": money.format_amount(self.daily_used, money.EUR),
            "dailyRemaining": money.format_amount(self.daily_remaining, money.EUR),
        }


COUNTS_AGAINST_LIMIT = [
    Status.DEBIT_PENDING,
    Status.PENDING_APPROVAL,
    Status.PRICE_REVIEW,
    Status.APPROVED,
    Status.COMPLETED,
    Status.EXECUTED,  # a market exchange counts like an OTC order
]


def desk_day_start(now=None):
    """Midnight of today in the desk's time zone."""
    local = (now or timezone.now()).astimezone(ZoneInfo(settings.OTC_DESK_TIMEZONE))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _counted_today(customer: Customer, excluding: uuid.UUID | None = None):
    orders = Order.objects.filter(
        customer=customer, confirmed_at__gte=desk_day_start(), status__in=COUNTS_AGAINST_LIMIT
    )
    if excluding is not None:
        orders = orders.exclude(pk=excluding)
    return orders


# ``_counted_today``'s total as one statement (PostgreSQL): the quote reads it inside its
# resources' statement, the confirm after the customer's lock. The ORM's version of it took
# longer to compile than to run.
_DAILY_USED_SQL = """
    SELECT SUM(eur_equivalent) FROM otc_order
    WHERE customer_id = %s AND confirmed_at >= %s AND status = ANY(%s) AND id <> %s
"""


def _daily_used_sql(customer: Customer, excluding: uuid.UUID | None = None) -> tuple[str, list]:
    """``daily_limits``' total as SQL, to be read in another statement."""
    if connection.vendor == "postgresql":
        return _DAILY_USED_SQL, [
            customer.pk,
            desk_day_start(),
            [str(s) for s in COUNTS_AGAINST_LIMIT],
            excluding or uuid.UUID(int=0),
        ]
    orders = _counted_today(customer, excluding)
    total = orders.values("customer").annotate(total=Sum("eur_equivalent"))
    sql, params = total.values("total").query.sql_with_params()
    return sql, list(params)


def _limits(customer: Customer, used: Decimal) -> DailyLimits:
    return DailyLimits(
        daily_max=customer.daily_limit_eur or settings.OTC_DAILY_LIMIT_EUR, daily_used=used
    )


def daily_limits(customer: Customer, *, excluding: uuid.UUID | None = None) -> DailyLimits:
    """What the customer may still confirm today: orders confirmed since the desk's midnight
    that are live or done count (cancelled, rejected and failed ones give their room back).
    ``excluding``: an order not to count (the one being confirmed)."""
    if connection.vendor == "postgresql":
        sql, params = _daily_used_sql(customer, excluding)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            used = cursor.fetchone()[0]
    else:
        used = _counted_today(customer, excluding).aggregate(total=Sum("eur_equivalent"))["total"]
    return _limits(customer, used or Decimal(0))


def _check_daily_limit(
    customer: Customer, eur_equivalent: Decimal, *, excluding: uuid.UUID | None = None
) -> DailyLimits:
    limits = daily_limits(customer, excluding=excluding)
    if eur_equivalent > limits.daily_remaining:
        raise error(
            "DAILY_LIMIT_EXCEEDED",
            422,
            f"This order ({money.format_amount(eur_equivalent, money.EUR)} EUR) is more than "
            f"the {money.format_amount(limits.daily_remaining, money.EUR)} EUR left of your "
            "daily limit; try a smaller amount or tomorrow.",
            **limits.as_details(),
        )
    return limits


def _eur_equivalent(pair: Pair, quoted: pricing.Price) -> Decimal:
    if quoted.source_currency == pair.base_asset_id:
        return quoted.source_amount
    return money.quantize_down(quoted.source_amount / quoted.mid, money.EUR)


# --- quotes ---------------------------------------------------------------------------------


def quote_create(
    *,
    customer: Customer,
    side: str,
    fiat_account_id: uuid.UUID,
    wallet_id: uuid.UUID,
    amount: Decimal,
    fixed_side: str = FixedSide.SOURCE,
    pair_code: str = DEFAULT_PAIR,
    actor: Actor,
    kind: str = Kind.OTC,
) -> Order:
    """Price an indicative quote and store it as an order in ``quoted``. ``amount`` is the
    source amount, or the destination amount when ``fixed_side`` is ``destination``. The
    order's ``daily_limits`` are the customer's limits as the quote shows them. A market
    exchange (``kind=market``, ``otc.exchanges``) is quoted the same way."""
    _check_kyc(customer)
    pair = pair_get(pair_code)
    resources = _resolve_resources(
        customer, pair, side, fiat_account_id, wallet_id, with_daily_used=True
    )
    quoted = _quote_price(
        customer=customer,
        pair=pair,
        side=side,
        fixed_side=fixed_side,
        amount=amount,
        network=resources.wallet.network,
    )
    _check_amount_range(customer, pair, side, quoted.source_amount)
    if not SIDES[side].collects_at_confirm:
        _check_wallet_covers(
            resources.wallet,
            quoted.source_currency,
            quoted.source_amount,
            held_balance(resources.source_ledger),
        )
    order = Order(
        customer=customer,
        kind=kind,
        side=side,
        pair=pair,
        fixed_side=fixed_side,
        fiat_account=resources.account,
        wallet=resources.wallet,
        source_currency=quoted.source_currency,
        source_ledger_account=resources.source_ledger,
        destination_currency=quoted.destination_currency,
        destination_ledger_account=resources.destination_ledger,
    )
    fees = _apply_price(order, quoted)
    order.eur_equivalent = _eur_equivalent(pair, quoted)
    with transaction.atomic(), onestatement.together():
        # The order, its fee lines, its first timeline row and its outbox event: one
        # statement on PostgreSQL (nothing here reads what the others write).
        onestatement.insert([order])
        _store_fees(order, fees, replace=False)
        _record(order, "", actor)
    # Read with the resources; a quote counts against nothing, so this is also the figure
    # after it.
    order.daily_limits = _limits(customer, resources.daily_used)
    return order


def _not_requotable(order: Order) -> DomainError:
    return error(
        "NOT_REQUOTABLE",
        409,
        f"An order in status {order.status} cannot be requoted.",
        status=order.status,
    )


def order_requote(*, order_id: uuid.UUID, customer: Customer, actor: Actor) -> Order:
    """(extension) A fresh price and TTL on the same quote id, from quoted/requoted/expired.
    The fixed side keeps its amount; the other side is priced again."""
    current = _owned_for_pricing(Order, order_id, customer)
    if current is None:
        raise order_not_found()
    if not can_proceed(current.requote):
        raise _not_requotable(current)
    pair = current.pair
    if not pair.enabled:
        pair_get(pair.code)  # raises CURRENCY_PAIR_NOT_ENABLED
    resources = _resolve_resources(
        customer, pair, current.side, current.fiat_account_id, current.wallet_id
    )
    fixed_amount = (
        current.source_amount
        if current.fixed_side == FixedSide.SOURCE
        else current.indicative_destination_amount
    )
    quoted = _quote_price(
        customer=customer,
        pair=pair,
        side=current.side,
        fixed_side=current.fixed_side,
        amount=fixed_amount,
        network=resources.wallet.network,
    )
    _check_amount_range(customer, pair, current.side, quoted.source_amount)
    if not SIDES[current.side].collects_at_confirm:
        _check_wallet_covers(
            resources.wallet,
            quoted.source_currency,
            quoted.source_amount,
            held_balance(resources.source_ledger),
        )
    with transaction.atomic():
        order = _lock(order_id, customer)
        if not can_proceed(order.requote):
            raise _not_requotable(order)
        fees = _apply_price(order, quoted)
        order.eur_equivalent = _eur_equivalent(pair, quoted)
        _transition(order, order.requote, actor)
        _store_fees(order, fees, replace=True)
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
        if order.status == Status.PRICE_REVIEW:
            _refund_from_treasury(order, why="cancelled in price review")
            order.cancellation_code = "CUSTOMER_DECLINED_PRICE"
        _transition(order, order.cancel, actor)
    if order.status == Status.CANCELLED:
        from . import settlement

        settlement.kick(order.pk)  # the refund step, if one was written
    return order


def _transition_of(method) -> tuple[list[str], str]:
    """(source states, target) of a django-fsm transition without conditions, read from its
    declaration, so a set-based sweep follows the model's state machine, not a copy of it."""
    transitions = method._django_fsm.transitions
    targets = {t.target for t in transitions.values()}
    if len(targets) != 1 or any(t.conditions for t in transitions.values()):
        raise ValueError(f"{method.__name__} is not a plain transition to one state.")
    return sorted(transitions), targets.pop()


def _sql_literals(values: list[str]) -> str:
    """``'a', 'b'``: statuses (code constants, never input) written into a statement, so the
    planner can match it against a partial index's predicate."""
    if not all(value.isidentifier() for value in values):
        raise ValueError(f"not a status: {values!r}")
    return ", ".join(f"'{value}'" for value in values)


# One statement takes a batch of stale open quotes (oldest first, from the open-quote TTL
# index; rows another transaction holds are skipped: it is confirming, cancelling or
# requoting them, and the next sweep sees them again), locks them, moves them to the
# transition's target and writes each one's timeline row, returning how many and, as one JSON
# document (``events.StatusChanges``), what each one's outbox event needs: who, which kind,
# the status it left and its ``updated_at`` before. The transition's sources are written in
# as literals (``Order``'s open-quote index has the same predicate), and the update finds the
# batch by primary key.
_EXPIRE_SQL = """
WITH stale AS (
    SELECT id, status AS previous_status, updated_at AS previous_updated_at FROM otc_order
    WHERE status IN ({sources}) AND ttl_expires_at <= %(now)s
    ORDER BY ttl_expires_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
),
expired AS (
    UPDATE otc_order SET status = %(target)s, updated_at = %(stamp)s
    FROM stale
    WHERE otc_order.id = ANY(ARRAY(SELECT id FROM stale)) AND otc_order.id = stale.id
    RETURNING otc_order.id AS order_id, otc_order.customer_id, otc_order.kind,
              stale.previous_status, stale.previous_updated_at
),
timeline AS (
    INSERT INTO otc_ordertransition
        (order_id, from_status, to_status, actor_user_id, actor, channel, reason, created_at)
    SELECT order_id, previous_status, %(target)s, %(actor_user)s, %(actor)s, %(channel)s,
           %(reason)s, %(stamp)s
    FROM expired
)
SELECT count(*), coalesce(json_agg(expired), '[]')::text FROM expired
"""


def quotes_expire(*, now=None, actor: Actor | None = None, batch_size: int = 5000) -> int:
    """Expire open quotes whose TTL has passed, a batch at a time. Returns how many expired.

    Set-based, not one ``save()`` per order, and still the state machine's transition: the
    source states and the target come from ``Order.expire``'s declaration (which has no
    conditions and no body), each row is locked and its status re-checked under the lock in
    the same statement (what ``can_proceed`` under ``select_for_update`` does), every order
    gets its timeline row in that statement and its outbox event in the same transaction.
    ``expire`` changes nothing but the status (and ``updated_at``), so no other field can be
    lost, and the outbox may derive each event from the order's last one (see
    ``events.orders_status_changed``); a row that changed meanwhile (confirmed, cancelled,
    requoted) no longer matches and is left."""
    now = now or timezone.now()
    actor = actor or Actor.system("quote-sweeper")
    if connection.vendor != "postgresql":
        return _quotes_expire_row_by_row(now=now, actor=actor, batch_size=batch_size)
    sql, target = _expire_statement()
    stamp = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "target": target,
                "now": now,
                "stamp": stamp,
                "batch": batch_size,
                # Each order's timeline row, written by the same statement.
                "actor_user": actor.user.pk if actor.user else None,
                "actor": actor.label,
                "channel": actor.channel,
                "reason": _EXPIRE_REASON,
            },
        )
        count, document = cursor.fetchone()
        changes = events.StatusChanges(document, count)
        events.orders_status_changed(changes=changes, status=target, at=stamp)
    return count


_EXPIRE_REASON = "Quote TTL passed."


@functools.cache
def _expire_statement() -> tuple[str, str]:
    """``_EXPIRE_SQL`` with ``Order.expire``'s sources written in, and its target."""
    sources, target = _transition_of(Order.expire)
    return _EXPIRE_SQL.format(sources=_sql_literals(sources)), target


def _quotes_expire_row_by_row(*, now, actor: Actor, batch_size: int) -> int:
    """The embedded SQLite demo (``scripts/run.sh`` with no DATABASE_URL) has neither
    ``FOR UPDATE SKIP LOCKED`` nor array parameters: there the sweep runs each order's
    ``expire`` transition in turn (SQLite has one writer at a time, so nothing is skipped)."""
    with transaction.atomic():
        stale = list(
            Order.objects.select_for_update()
            .select_related("pair")
            .filter(status__in=_transition_of(Order.expire)[0], ttl_expires_at__lte=now)
            .order_by("ttl_expires_at")[:batch_size]
        )
        for order in stale:
            _transition(order, order.expire, actor, reason=_EXPIRE_REASON)
    return len(stale)


# --- confirm --------------------------------------------------------------------------------


def _source_insufficient(order: Order) -> DomainError:
    # Show what is left now, not the figure read before a concurrent debit or hold.
    source = order.source_ledger_account
    source.refresh_from_db(fields=["balance"])
    currency = order.source_currency
    if SIDES[order.side].collects_at_confirm:
        return error(
            "SOURCE_INSUFFICIENT_FUNDS",
            422,
            "The source account's balance is too low for this amount.",
            available=money.format_amount(source.balance, currency),
        )
    held = LedgerAccount.objects.filter(held_for=source).values_list("balance", flat=True).first()
    return error(
        "SOURCE_INSUFFICIENT_FUNDS",
        422,
        f"The source wallet's available {currency} balance is too low for this amount: "
        "confirmed sells not yet settled hold the rest.",
        available=money.format_amount(source.balance, currency),
        held=money.format_amount(held or Decimal(0), currency),
        currency=currency,
    )


def _hold_source(order: Order) -> None:
    """A sell's confirm reserves its source: available -> held on the wallet's ledger, under
    the wallet account's row lock, so confirmed sells can never together exceed the wallet.
    Raises ``SOURCE_INSUFFICIENT_FUNDS`` when less is available. The caller holds the order."""
    try:
        hold_place(
            order.source_ledger_account,
            order.source_amount,
            reference_id=order.pk,
            description=f"Order {order.pk}: {order.source_currency} held until settlement",
        )
    except InsufficientFunds:
        raise _source_insufficient(order) from None
    order.source_held = order.source_amount


def source_hold_release(order: Order, *, why: str) -> bool:
    """Give back what ``order`` holds of its source (an ending that will not collect it:
    cancel, reject, review expiry, the approval deadline, a failed settlement). The caller
    holds the order's row; a second call moves nothing. Returns whether anything moved."""
    if not order.source_held:
        return False
    hold_release(
        order.source_ledger_account,
        order.source_held,
        reference_id=order.pk,
        description=f"Order {order.pk} {why}: hold released",
    )
    order.source_held = Decimal(0)
    order.save(update_fields=["source_held", "updated_at"])
    return True


def _collect_legs(
    order: Order,
    into: LedgerAccount,
    source: LedgerAccount | None = None,
    amount: Decimal | None = None,
    fees_into: LedgerAccount | None = None,
) -> list:
    """The source leg leaving the customer: the amount net of fees into ``into`` (clearing or
    treasury), the fees to fee income, in one entry. ``source``: where it leaves from (the
    hold account of a held sell), the customer's source account by default. ``amount``: what
    leaves when it is not the order's source amount (a market exchange's source plus its
    slippage buffer). ``fees_into``: the fee-income account, the customer's by default."""
    amount = order.source_amount if amount is None else amount
    legs = [(source or order.source_ledger_account, -amount)]
    legs.append((into, amount - order.fee_total))
    if order.fee_total:
        fees_into = fees_into or fee_account(order.source_currency, owner=order.customer_id)
        legs.append((fees_into, order.fee_total))
    return legs


def _refund_legs(order: Order, held_in: LedgerAccount) -> list:
    """The reverse of ``_collect_legs``: the customer gets the whole source back, fees too
    (from the account they were booked to), into the available balance of the source
    account."""
    fees_from = order_fee_account(order) if order.fee_total else None
    return [
        (account, -amount) for account, amount in _collect_legs(order, held_in, fees_into=fees_from)
    ]


@dataclass(frozen=True)
class ConfirmPrecheck:
    """What confirming asks a provider before any transaction is open: for a wallet source,
    whether custody's live balance covers the quote. ``refusal`` is raised by the confirm
    itself (inside the idempotency store's transaction, so it is stored under the key)."""

    refusal: DomainError | None = None


def order_confirm_precheck(
    *, order_id: uuid.UUID, customer: Customer, side: str
) -> ConfirmPrecheck:
    """Run before the confirm's transaction (no provider I/O while any row is held, the
    idempotency claim's included). A side whose source is fiat needs nothing."""
    requested = SIDES.get(side)
    if requested is None or requested.collects_at_confirm:
        return ConfirmPrecheck()
    try:
        current = _orders_with_resources().filter(pk=order_id, customer=customer).first()
        if current is None:
            raise order_not_found()
        _with_pair(current, customer)
        if current.status in OPEN_QUOTE:
            _check_order_resources(current)
            if not SIDES[current.side].collects_at_confirm:
                _check_wallet_covers(current.wallet, current.source_currency, current.source_amount)
    except DomainError as exc:
        return ConfirmPrecheck(refusal=exc)
    return ConfirmPrecheck()


def order_confirm(
    *,
    order_id: uuid.UUID,
    customer: Customer,
    side: str,
    actor: Actor,
    max_slippage_bps: int | None = None,
    precheck: ConfirmPrecheck | None = None,
) -> Order:
    """Turn a live quote into an order. A side whose source is fiat (a buy) moves the source
    out of the customer's account at once (to clearing until the bank settles, then the
    treasury) with its fees; a wallet source (a sell) stays in the wallet until settlement
    but is held (available -> held in the ledger), so no two sells can spend the same USDC.
    ``max_slippage_bps``: how much worse than quoted the customer accepts at approval.
    ``precheck``: ``order_confirm_precheck``'s answer, taken by a caller that opens a
    transaction first (the idempotency store); without it the precheck runs here."""
    _check_kyc(customer)
    if precheck is None:
        precheck = order_confirm_precheck(order_id=order_id, customer=customer, side=side)
    if precheck.refusal is not None:
        raise precheck.refusal
    requested = SIDES.get(side)
    checked = requested is not None and not requested.collects_at_confirm
    with _atomic():
        order = _lock_for_confirm(order_id, customer)
        if order.status in OPEN_QUOTE and not checked:
            # Resources may have changed since the quote (read with the order: no query).
            _check_order_resources(order)
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
        spec = SIDES[order.side]
        transition = order.confirm_buy if spec.collects_at_confirm else order.confirm_sell
        if not can_proceed(transition):
            raise error(
                "ORDER_NOT_CONFIRMABLE",
                409,
                f"An order in status {order.status} cannot be confirmed.",
                status=order.status,
            )
        if max_slippage_bps is not None:
            order.max_slippage_bps = max_slippage_bps
        now = timezone.now()
        order.approval_deadline_at = now + timedelta(minutes=settings.OTC_APPROVAL_SLA_MINUTES)
        order.confirmed_at = now
        # The debit's entry id is known before it is posted, so the order's representation
        # (the outbox event) names it without reading it back.
        debit_id = uuid.uuid4() if spec.collects_at_confirm else None
        order.source_transaction_id = debit_id
        order.destination_transaction_id = None
        if not spec.collects_at_confirm:
            # What the hold below reserves, saved with the transition (a refused hold rolls
            # the whole confirm back).
            order.source_held = order.source_amount
        # The shared rows are locked last, so each is held for as few statements as possible:
        # the order moves first (its own row), then the customer's row and the ledger rows.
        _transition(order, transition, actor)
        # The customer's row serialises their confirms, so two at once cannot together pass
        # the daily limit: the day's total is read after the lock (a fresh snapshot), without
        # this order, whose row already says confirmed. FOR NO KEY UPDATE: rows that merely
        # reference the customer (the idempotency record, the timeline) take KEY SHARE locks,
        # which this does not wait on. (Locked with the order instead, one statement fewer,
        # the customer's confirms queued for the whole transaction: a third of the flows of
        # one busy customer.)
        Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk).first()
        _check_daily_limit(customer, order.eur_equivalent, excluding=order.pk)
        if spec.collects_at_confirm:
            _post_debit(order, debit_id)
            from .tasks import settle_order_debit

            settle_order_debit.delay_on_commit(str(order.pk))
        else:
            _hold_source(order)
    return order


def _post_debit(order: Order, entry_id: uuid.UUID) -> None:
    """A buy's source (and fees) from the customer into their own clearing account (and fee
    income account). Those are posted to by their derived ids; the customer's first confirm
    creates them."""
    currency = order.source_currency

    def post(clearing: LedgerAccount, fees: LedgerAccount | None) -> None:
        post_entry(
            legs=_collect_legs(order, clearing, fees_into=fees),
            kind=JournalEntry.Kind.ORDER_DEBIT,
            reference_id=order.pk,
            entry_id=entry_id,
            description=f"Order {order.pk}: {currency} debited from the customer "
            "(fees to fee income)",
        )

    owner = order.customer_id

    def fees(create: bool) -> LedgerAccount | None:
        return fee_account(currency, owner=owner, create=create) if order.fee_total else None

    try:
        try:
            post(clearing_account(currency, owner=owner, create=False), fees(create=False))
        except LedgerAccount.DoesNotExist:
            # The customer's first confirm (or first with fees): their accounts are created.
            post(clearing_account(currency, owner=owner), fees(create=True))
    except InsufficientFunds:
        raise _source_insufficient(order) from None


_REFUSAL_ROLLS_BACK_ALL = contextvars.ContextVar("otc_refusal_rolls_back_all", default=False)


@contextmanager
def refusals_roll_back_the_transaction():
    """Inside this block the caller rolls its whole transaction back when a service refuses
    (the idempotency store does, then records the refusal), so the service needs no savepoint
    of its own to undo what it wrote before refusing."""
    token = _REFUSAL_ROLLS_BACK_ALL.set(True)
    try:
        yield
    finally:
        _REFUSAL_ROLLS_BACK_ALL.reset(token)


def _atomic() -> transaction.Atomic:
    """A service's transaction: its own, or a savepoint in the caller's unless the caller rolls
    everything back on a refusal anyway."""
    return transaction.atomic(savepoint=not _REFUSAL_ROLLS_BACK_ALL.get())


def _orders_with_resources():
    """Orders read with what confirming one checks and books: its account, wallet and source
    ledger account (the customer is the caller's, the pair comes from the shared cache: fewer
    joins, as the planner's time grows fast with them)."""
    return Order.objects.select_related(
        "wallet", "fiat_account", "source_ledger_account__hold_account"
    )


def _with_pair(order: Order, customer: Customer) -> Order:
    order.customer = customer
    order.pair = caching.cached_pair_by_id(
        order.pair_id,
        lambda: Pair.objects.select_related("base_asset", "quote_asset").get(pk=order.pair_id),
    )
    return order


def _lock_for_confirm(order_id: uuid.UUID, customer: Customer) -> Order:
    """The customer's order locked (FOR NO KEY UPDATE) with what confirming checks and books
    (``_orders_with_resources``) and its fee lines (for the outbox event)."""
    order = order_locked(order_id, customer=customer)
    if order is None:
        raise order_not_found()
    return order


# The order's fee lines come with it, as of the statement's snapshot, with the order's
# ``updated_at`` as of that snapshot too: when the lock waited for a transaction that changed
# the order (a requote writes new lines), the row returned is the new one but the snapshot
# still shows the old lines, and the two ``updated_at`` differ (every write moves it): the
# lines are then read again after the lock.
_LOCKED_ORDER_SQL = """
    SELECT {columns},
        (SELECT json_agg(json_build_array(x.id, x.position, x.type, x.description,
                                          x.amount::text, x.bps) ORDER BY x.position)::text
         FROM otc_orderfee x WHERE x.order_id = o.id) AS fee_lines,
        (SELECT s.updated_at FROM otc_order s WHERE s.id = o.id) AS seen_updated_at
    FROM otc_order o
    {customer_join}
    JOIN accounts_fiataccount f ON f.id = o.fiat_account_id
    JOIN wallets_wallet w ON w.id = o.wallet_id
    JOIN accounts_ledgeraccount l ON l.id = o.source_ledger_account_id
    LEFT JOIN accounts_ledgeraccount h ON h.held_for_id = l.id
    WHERE o.id = %s {customer_filter}
    FOR NO KEY UPDATE OF o
"""


@functools.cache
def _locked_order_statement(with_customer_row: bool) -> tuple[str, list[tuple[type, list[str]]]]:
    """The SQL of ``order_locked`` and, per part of its row, the model and its fields: built
    once per process (the ORM compiled the same select_related on every call, which cost more
    CPU than running it)."""
    aliases = [(Order, "o")]
    if with_customer_row:
        aliases.append((Customer, "c"))
    aliases += [(FiatAccount, "f"), (Wallet, "w"), (LedgerAccount, "l"), (LedgerAccount, "h")]
    parts, columns = [], []
    for model, alias in aliases:
        fields, cols = model_columns(model, alias)
        parts.append((model, fields))
        columns.append(cols)
    sql = _LOCKED_ORDER_SQL.format(
        columns=", ".join(columns),
        customer_join="JOIN accounts_customer c ON c.id = o.customer_id"
        if with_customer_row
        else "",
        customer_filter="" if with_customer_row else "AND o.customer_id = %s",
    )
    return sql, parts


def order_locked(order_id: uuid.UUID, *, customer: Customer | None = None) -> Order | None:
    """The order locked (FOR NO KEY UPDATE: rows that merely refer to it, such as its
    timeline, are not held up) with its account, wallet, source ledger account and that
    account's hold account, and its pair (from the shared cache); None if there is none.
    ``customer``: only theirs (and it becomes the order's ``customer``); without it the
    customer's row is read with the order (not locked)."""
    if connection.vendor != "postgresql":
        orders = _orders_with_resources().select_for_update(of=("self",), no_key=True)
        if customer is None:
            order = orders.select_related("customer").filter(pk=order_id).first()
        else:
            order = orders.filter(pk=order_id, customer=customer).first()
        return None if order is None else _with_pair(order, customer or order.customer)
    sql, parts = _locked_order_statement(customer is None)
    params = [order_id] if customer is None else [order_id, customer.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    instances, at = [], 0
    for model, fields in parts:
        instances.append(model_instance(model, fields, row[at : at + len(fields)]))
        at += len(fields)
    fee_lines_json, seen_updated_at = row[at:]
    order = instances.pop(0)
    if seen_updated_at == order.updated_at:
        _know_fees(order, _fee_lines_loaded(order, fee_lines_json))
    else:
        prefetch_related_objects([order], fee_lines())
    if customer is None:
        customer = instances.pop(0)
    account, wallet, ledger, hold = instances
    order.fiat_account, order.wallet = account, wallet
    order.source_ledger_account = ledger
    LedgerAccount.hold_account.related.set_cached_value(ledger, hold)
    return _with_pair(order, customer)


def _fee_lines_loaded(order: Order, document: str | None) -> list[OrderFee]:
    """``OrderFee`` rows from ``_LOCKED_ORDER_SQL``'s JSON (amounts as text: exact)."""
    fields = ["id", "order_id", "position", "type", "description", "amount", "bps"]
    lines = []
    for pk, position, kind, description, amount, bps in json.loads(document or "[]"):
        amount = None if amount is None else Decimal(amount)
        values = (pk, order.pk, position, kind, description, amount, bps)
        line = OrderFee.from_db("default", fields, values)
        OrderFee.order.field.set_cached_value(line, order)
        lines.append(line)
    return lines


# The clearing account a buy's debit at confirm booked to. The order's entries are found
# first, by their reference, then their postings and each one's account by its key (fences:
# with stale statistics the planner started from every clearing account's postings instead,
# 5-30 ms on a busy desk, and then scanned the ledger accounts).
_CLEARING_OF_ORDER_SQL = """
    WITH entry AS MATERIALIZED (
        SELECT id FROM accounts_journalentry WHERE reference_id = %s AND kind = %s
    ),
    leg AS MATERIALIZED (
        SELECT ledger_account_id FROM accounts_posting
        WHERE entry_id IN (SELECT id FROM entry)
    )
    SELECT {columns}
    FROM leg
    JOIN LATERAL (
        SELECT * FROM accounts_ledgeraccount WHERE id = leg.ledger_account_id OFFSET 0
    ) a ON true
    WHERE a.kind = %s
    ORDER BY a.id
    LIMIT 1
"""


def order_clearing_account(order: Order) -> LedgerAccount:
    """The clearing account a buy's source went to at confirm: the customer's own, or the
    desk-wide one for an order confirmed before customers had their own."""
    if connection.vendor == "postgresql":
        fields, columns = model_columns(LedgerAccount, "a")
        with connection.cursor() as cursor:
            cursor.execute(
                _CLEARING_OF_ORDER_SQL.format(columns=columns),
                [order.pk, JournalEntry.Kind.ORDER_DEBIT, LedgerAccount.Kind.CLEARING],
            )
            row = cursor.fetchone()
        account = model_instance(LedgerAccount, fields, row) if row else None
    else:
        account = (
            LedgerAccount.objects.filter(
                postings__entry__reference_id=order.pk,
                postings__entry__kind=JournalEntry.Kind.ORDER_DEBIT,
                kind=LedgerAccount.Kind.CLEARING,
            )
            .order_by("pk")
            .first()
        )
    if account is not None:
        return account
    return clearing_account(order.source_currency)


def order_debit_settle(*, order_id: uuid.UUID) -> Order | None:
    """The bank takes the buy's source into the treasury (a recorded step, see
    ``otc.settlement``); then clearing -> treasury in the ledger and the order waits for
    approval. Runs again harmlessly from wherever it stopped."""
    from . import settlement

    return settlement.advance(order_id)


# --- operator decisions ---------------------------------------------------------------------


def order_execution_price(order: Order, mid: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """(reference rate, rate, destination amount) of ``order`` executed at ``mid`` now: the
    confirmed source and fees, the quoted markups, the live market."""
    return pricing.execution_price(
        side=order.side,
        mid=mid,
        fx_markup_bps=order.fx_markup_bps,
        source_amount=order.source_amount,
        fee_total=order.fee_total,
        destination_currency=order.destination_currency,
        fixed_destination=order.indicative_destination_amount
        if order.fixed_side == FixedSide.DESTINATION
        else None,
    )


def order_approve(*, order_id: uuid.UUID, actor: Actor, shown_rate: Decimal | None = None) -> Order:
    """Fix the final rate from the live market (never from the caller) and approve; settlement
    follows in a task. With ``shown_rate``, refuse if the live rate moved more than the
    tolerance from what the operator saw. An order at or above the four-eyes threshold needs
    two different operators: the first call only records an ``OrderApproval`` (the order stays
    pending), the second approves at the live rate of that moment."""
    pair = Pair.objects.filter(orders__pk=order_id).first()
    if pair is None:
        raise order_not_found()
    mid = pricing.live_mid_rate(pair)  # before any lock: no provider I/O while a row is held
    with transaction.atomic():
        order = _lock(order_id)
        if not can_proceed(order.approve):
            raise error(
                "ORDER_NOT_APPROVABLE",
                409,
                f"The order is {order.get_status_display().lower()}; it cannot be approved.",
                status=order.status,
            )
        reference, rate, destination = order_execution_price(order, mid)
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
        _check_treasury_covers(order, destination)
        four_eyes = ""
        if order_needs_four_eyes(order):
            first = _four_eyes_approval(order, actor, rate)
            if first is None:
                return order  # the first of two approvals: recorded, no transition yet
            four_eyes = f" Four-eyes: first approval by {first.actor} ({first.channel})."
        worse = slippage_bps(order, rate)
        if worse > order.max_slippage_bps:
            # The customer's own limit: nothing executes beyond it without their consent.
            _offer_review(
                order,
                actor,
                mid=mid,
                reference=reference,
                rate=rate,
                destination=destination,
                worse=worse,
            )
            return order
        _execute(
            order,
            order.approve,
            actor,
            mid=mid,
            reference=reference,
            rate=rate,
            destination=destination,
            reason=f"Approved at {money.format_rate(rate)} (mid {money.format_rate(mid)})."
            + four_eyes,
        )
    return order


def slippage_bps(order: Order, rate: Decimal) -> Decimal:
    """How much worse for the customer ``rate`` is than the quoted rate, in bps (negative:
    better)."""
    return -pricing.move_bps(order.indicative_rate, rate)


def _execute(order: Order, transition, actor: Actor, *, mid, reference, rate, destination, reason):
    """Fix the final figures, run ``transition`` (approve or accept_price) and settle after
    commit. The caller holds the order's row."""
    order.final_mid_rate = mid
    order.final_reference_rate = reference
    order.final_rate = rate
    order.final_destination_amount = destination
    order.approved_at = timezone.now()
    order.approved_by = actor.user
    order.review_expires_at = None
    _transition(order, transition, actor, reason=reason)
    from .tasks import settle_order

    settle_order.delay_on_commit(str(order.pk))


def _offer_review(order: Order, actor: Actor, *, mid, reference, rate, destination, worse) -> None:
    order.review_mid_rate = mid
    order.review_reference_rate = reference
    order.review_rate = rate
    order.review_destination_amount = destination
    order.review_expires_at = timezone.now() + timedelta(seconds=settings.OTC_REVIEW_TTL_SECONDS)
    _transition(
        order,
        order.send_to_review,
        actor,
        reason=f"The live rate {money.format_rate(rate)} is {worse} bps worse than quoted, beyond "
        f"the customer's {order.max_slippage_bps} bps: a new price awaits their consent.",
    )


def review_not_found() -> DomainError:
    return error("REVIEW_NOT_FOUND", 404, "This order has no price awaiting your review.")


def order_review_get(*, order_id: uuid.UUID, customer: Customer) -> Order:
    order = (
        Order.objects.select_related("pair")
        .prefetch_related("fees")
        .filter(pk=order_id, customer=customer)
        .first()
    )
    if order is None:
        raise order_not_found()
    if order.status != Status.PRICE_REVIEW:
        raise review_not_found()
    return order


def order_accept_price(
    *,
    order_id: uuid.UUID,
    customer: Customer,
    rate: Decimal,
    destination_amount: Decimal,
    actor: Actor,
) -> Order:
    """The customer accepts the review price: the order executes at exactly that price. The
    figures sent must be the review's (a changed review is 409 REVIEW_CHANGED); a late
    acceptance is 400 REVIEW_EXPIRED and the order stays in review."""
    _check_kyc(customer)
    with transaction.atomic():
        order = _lock(order_id, customer)
        if order.status != Status.PRICE_REVIEW:
            raise review_not_found()
        if rate != order.review_rate or destination_amount != order.review_destination_amount:
            raise error(
                "REVIEW_CHANGED",
                409,
                "These figures are not the price under review; read the review again.",
                rate=money.format_rate(order.review_rate),
                destinationAmount=money.format_amount(
                    order.review_destination_amount, order.destination_currency
                ),
            )
        if order.review_expires_at <= timezone.now():
            raise error(
                "REVIEW_EXPIRED",
                400,
                "The review price has expired; wait for the desk's next price or cancel.",
                expiresAt=order.review_expires_at.isoformat(),
            )
        _check_treasury_covers(order, order.review_destination_amount)
        _execute(
            order,
            order.accept_price,
            actor,
            mid=order.review_mid_rate,
            reference=order.review_reference_rate,
            rate=order.review_rate,
            destination=order.review_destination_amount,
            reason="The customer accepted the reviewed price "
            f"{money.format_rate(order.review_rate)}.",
        )
    return order


def _check_treasury_covers(order: Order, destination_amount: Decimal) -> None:
    """The desk approves only what its treasury can pay out now; otherwise settlement would
    fail and the customer's order with it."""
    kind = SIDES[order.side].destination_kind
    currency = order.destination_currency
    available = _treasury_ledger(kind, currency, order.wallet.network).balance
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
    """The order's size in the pair's base asset (EUR): a buy's source amount, a sell's
    stablecoin at the quote's mid."""
    if order.source_currency == order.pair.base_asset_id:
        return order.source_amount
    return money.quantize_down(order.source_amount / order.mid_rate, order.pair.base_asset_id)


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


def _refund_collected(order: Order, *, held_in: LedgerAccount, description: str) -> None:
    post_entry(
        legs=_refund_legs(order, held_in),
        kind=JournalEntry.Kind.REFUND,
        reference_id=order.pk,
        description=description,
    )


REJECTION_CODES: dict[str, str] = {
    # code -> what the customer can do about it (shown with the operator's message)
    "KYC_REQUIRED": "Complete your company's verification with the desk, then quote again.",
    "LIMIT_EXCEEDED": "Split the amount into smaller orders or ask the desk to raise your limit.",
    "PRICE_UNAVAILABLE": "The market could not be priced; quote again in a few minutes.",
    "COMPLIANCE_REVIEW": "The desk's compliance team will contact you; no action is needed now.",
    "DUPLICATE": "This looks like a repeat of another order; check your order list.",
    "OTHER": "Contact the desk if the reason is unclear.",
}


def rejection_remediation(code: str) -> str:
    return REJECTION_CODES.get(code, REJECTION_CODES["OTHER"])


def _refund_from_treasury(order: Order, *, why: str) -> None:
    """A collected source (a buy's EUR, now in the treasury) goes back to the customer as a
    recorded refund step (``otc.settlement``), written in the caller's transaction and called
    after its commit: no bank call while the order's row is locked. Call
    ``settlement.kick(order.pk)`` after the transaction to run it at once."""
    from . import settlement

    settlement.refund_start(order, why)


def order_reject(*, order_id: uuid.UUID, actor: Actor, reason: str, code: str = "OTHER") -> Order:
    """Reject with a machine-readable code and a message the customer sees; a collected source
    (a buy's EUR) goes back (a refund step, run right after the rejection commits; retried by
    a task while the bank is down)."""
    from . import settlement

    reason = (reason or "").strip()
    if not reason:
        raise error("REASON_REQUIRED", 400, "A rejection needs a reason.")
    if code not in REJECTION_CODES:
        raise error(
            "VALIDATION_ERROR",
            400,
            f"Unknown rejection code {code!r}.",
            code={"message": "Not a rejection code.", "validValues": list(REJECTION_CODES)},
        )
    with transaction.atomic():
        order = _lock(order_id)
        if not can_proceed(order.reject):
            raise error(
                "ORDER_NOT_REJECTABLE",
                409,
                f"The order is {order.get_status_display().lower()}; it cannot be rejected.",
                status=order.status,
            )
        _refund_from_treasury(order, why="rejected")
        order.rejection_reason = reason
        order.rejection_code = code
        _transition(order, order.reject, actor, reason=reason)
    settlement.kick(order.pk)
    return order


def orders_sweep(*, now=None, batch_size: int = 200) -> int:
    """Cancel, with a refund of a collected source, what waited too long: reviews past their
    TTL and undecided orders past their approval deadline. Rows another worker holds are
    skipped; the next sweep sees them again. Returns how many were cancelled."""
    now = now or timezone.now()
    actor = Actor.system("deadline-sweeper")
    due = Q(status=Status.PRICE_REVIEW, review_expires_at__lte=now) | Q(
        status=Status.PENDING_APPROVAL, approval_deadline_at__lte=now
    )
    with transaction.atomic():
        orders = list(
            Order.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("customer", "pair", "wallet", "fiat_account")
            .filter(due)
            .order_by("created_at")[:batch_size]
        )
        for order in orders:
            if order.status == Status.PRICE_REVIEW:
                code, reason = "REVIEW_EXPIRED", "The review price expired without an answer."
            else:
                code, reason = (
                    "APPROVAL_DEADLINE_PASSED",
                    "The desk did not decide before the approval deadline.",
                )
            _refund_from_treasury(order, why="cancelled by the desk")
            order.cancellation_code = code
            _transition(order, order.cancel_by_desk, actor, reason=f"[{code}] {reason}")
    from . import settlement

    for order in orders:
        settlement.kick(order.pk)  # the refund steps, now that the cancellations committed
    return len(orders)


# --- settlement -----------------------------------------------------------------------------
# The provider steps themselves live in ``otc.settlement``; these are the entry points.


def order_settle(*, order_id: uuid.UUID) -> Order | None:
    """Deliver an approved order and complete it: (a sell's collect, then) the delivery, each
    a recorded provider step. Raises ``ProviderUnavailable`` (the task retries); an order that
    can no longer settle (funds gone, the provider refused) fails and is refunded."""
    from . import settlement

    return settlement.advance(order_id)


def order_fail(*, order_id: uuid.UUID, reason: str) -> Order | None:
    """A provider failure the desk cannot recover from: open steps are settled (if the
    provider did them) or voided, the order fails and a collected source is refunded from
    wherever it sits (clearing before the bank settled, treasury after)."""
    from . import settlement

    return settlement.fail(order_id, reason)


# --- manual prices ---------------------------------------------------------------------------


def _audit(action: str, subject: str, actor: Actor, **details) -> AuditEntry:
    return AuditEntry.objects.create(
        action=action,
        subject=subject,
        details=details,
        actor_user=actor.user,
        actor=actor.label,
        channel=actor.channel,
    )


def price_override_set(
    *, pair_code: str, rate: Decimal, minutes: int | None, actor: Actor
) -> pricing.PriceOverride:
    """Pin ``pair_code``'s mid at ``rate`` for every process (the shared cache) until cleared
    or, with ``minutes``, until it expires. Audited."""
    pair = Pair.objects.filter(code=pair_code.upper()).first()
    if pair is None:
        raise error("PAIR_NOT_FOUND", 404, f"No pair {pair_code}.")
    if not rate.is_finite() or rate <= 0 or rate != money.quantize_rate(rate):
        raise error("VALIDATION_ERROR", 400, "The rate must be positive, with at most 6 decimals.")
    if minutes is not None and not 1 <= minutes <= 24 * 60:
        raise error("VALIDATION_ERROR", 400, "Pin a price for 1 to 1440 minutes.")
    now = timezone.now()
    override = pricing.PriceOverride(
        pair=pair.code,
        rate=rate,
        set_by=f"{actor.label} ({actor.channel})",
        set_at=now,
        expires_at=now + timedelta(minutes=minutes) if minutes else None,
    )
    with transaction.atomic():
        _audit(
            "price_override.set",
            pair.code,
            actor,
            rate=money.format_rate(rate),
            expiresAt=override.expires_at.isoformat() if override.expires_at else None,
        )
        transaction.on_commit(lambda: pricing.price_override_store(override, pair.code))
    return override


def price_override_clear(*, pair_code: str, actor: Actor) -> bool:
    """Unpin a pair's manual price; returns whether one was set. Audited."""
    code = pair_code.upper()
    was_set = pricing.price_override_get(code) is not None
    with transaction.atomic():
        _audit("price_override.clear", code, actor, wasSet=was_set)
        transaction.on_commit(lambda: pricing.price_override_store(None, code))
    return was_set
