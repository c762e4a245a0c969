"""Market exchanges (seed 001's legacy ``/exchanges``): a small trade quoted like an OTC order
and executed at once when the customer accepts it, with no operator in between.

One domain with the OTC orders: an exchange is an ``Order`` row of ``kind=market`` (see
``otc.models.MarketExchange`` for why), quoted by ``services.quote_create`` (the same pricing
function, fee lines, KYC gate and resource checks), counted against the same daily limit,
expired by the same sweep, booked with the same ledger, announced through the same events
outbox and guarded by the same idempotency store. What is its own:

- the instant cap ``OTC_MARKET_MAX_EUR`` (EUR equivalent; above it ``422 AMOUNT_OUT_OF_RANGE``
  with a hint to use the OTC flow);
- accept: under the exchange's and the customer's row locks it prices live, and either
  executes (the source, the delivery and, for FIX_DESTINATION, the ``MARKET_ADJUSTMENT`` of the
  unused slippage buffer, as balanced journal entries in one transaction) or fails with a
  reason code and moves nothing: ``SLIPPAGE_EXCEEDED`` when the live price is worse than the
  customer's ``maximum_slippage``, ``TREASURY_INSUFFICIENT`` when the desk cannot deliver;
- the provider side follows the books: each entry is a ``ProviderTransfer`` step written in
  the accept's transaction and called after commit (``settlement.kick``), so the bank's and
  the custodian's records, and with them ``reconcile``, agree with the ledger.

FIX_DESTINATION delivers exactly the amount quoted. Accept reserves the quoted source plus the
slippage buffer (``source * maximum_slippage / 10000``, rounded up), prices the destination
live, and credits back what the execution did not need; an execution that would need more
than the reserve is beyond the customer's slippage and fails. FIX_SOURCE takes exactly the
quoted source and delivers what it buys at the live rate, unless that rate is worse than the
quoted one by more than ``maximum_slippage``.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from accounts import money
from accounts.errors import DomainError, InsufficientFunds, error
from accounts.ledger import held_balance, post_entry, transfer_legs
from accounts.models import Customer, FiatAccount, JournalEntry, LedgerAccount
from wallets.models import Wallet

from . import idempotency, pricing, services, settlement
from .models import FixedSide, Kind, MarketExchange, Order, ProviderTransfer, Side, Status
from .services import FIAT, SIDES, Actor

ACTIONS = {"FIX_SOURCE": FixedSide.SOURCE, "FIX_DESTINATION": FixedSide.DESTINATION}
# The seed's statuses: the order's, upper-cased.
EXCHANGE_STATUSES = ("QUOTED", "EXECUTED", "EXPIRED", "FAILED", "CANCELLED")
FAILURE_CODES = ("SLIPPAGE_EXCEEDED", "TREASURY_INSUFFICIENT")
ACTION_OF = {fixed: action for action, fixed in ACTIONS.items()}
DEFAULT_SLIPPAGE_BPS = 100
MAX_SLIPPAGE_BPS = 1000
OTC_HINT = "Larger trades go through the OTC desk: POST /api/v1/otc-exchanges/quote, then confirm."
Step = ProviderTransfer.Step


def exchange_not_found() -> DomainError:
    return error("EXCHANGE_NOT_FOUND", 404, "No such exchange.")


# --- create -----------------------------------------------------------------------------------


def _side_of(customer: Customer, source_account_id: uuid.UUID) -> str:
    """Which way round: a source that is one of the customer's fiat accounts buys the
    stablecoin, one of their wallets sells it."""
    owned = {"customer": customer, "is_treasury": False, "pk": source_account_id}
    if FiatAccount.objects.filter(**owned).exists():
        return Side.BUY
    if Wallet.objects.filter(**owned).exists():
        return Side.SELL
    raise error(
        "SOURCE_NOT_FOUND",
        422,
        "The source account is neither one of your fiat accounts nor one of your wallets.",
    )


def _check_decimals(amount: Decimal, currency: str) -> None:
    if amount != money.quantize_down(amount, currency):
        raise error(
            "VALIDATION_ERROR",
            400,
            "The request is not valid.",
            amount=[f"{currency} amounts have at most {money.PRECISION[currency]} decimals."],
        )


def _check_cap(order: Order) -> None:
    """The instant path stops at ``OTC_MARKET_MAX_EUR`` (EUR equivalent)."""
    cap = settings.OTC_MARKET_MAX_EUR
    if order.eur_equivalent <= cap:
        return
    currency = order.source_currency
    base = order.pair.base_asset_id
    maximum = cap if currency == base else money.quantize_down(cap * order.mid_rate, currency)
    minimum = services.source_limits(order.customer, order.pair, order.side)[0]
    raise error(
        "AMOUNT_OUT_OF_RANGE",
        422,
        f"A market exchange executes at once up to {money.format_amount(cap, base)} {base} "
        f"(equivalent); this one is {money.format_amount(order.eur_equivalent, base)} {base}. "
        + OTC_HINT,
        min=money.format_amount(minimum, currency),
        max=money.format_amount(maximum, currency),
        currency=currency,
        maxEur=money.format_amount(cap, base),
        eurEquivalent=money.format_amount(order.eur_equivalent, base),
        hint=OTC_HINT,
    )


def exchange_create(
    *,
    customer: Customer,
    source_account_id: uuid.UUID,
    destination_account_id: uuid.UUID,
    action: str,
    amount: Decimal,
    actor: Actor,
) -> Order:
    """Quote a market exchange (status QUOTED). The ids are the customer's fiat account and
    wallet, either way round; ``amount`` is the source (FIX_SOURCE) or the exact destination
    (FIX_DESTINATION)."""
    services._check_kyc(customer)
    side = _side_of(customer, source_account_id)
    fixed_side = ACTIONS[action]
    base, quote = services.DEFAULT_PAIR.split("/")
    source_currency, destination_currency = (base, quote) if side == Side.BUY else (quote, base)
    _check_decimals(
        amount, source_currency if fixed_side == FixedSide.SOURCE else destination_currency
    )
    fiat_id, wallet_id = (
        (source_account_id, destination_account_id)
        if side == Side.BUY
        else (destination_account_id, source_account_id)
    )
    with transaction.atomic():  # above the cap, the quote is rolled back with its event
        order = services.quote_create(
            customer=customer,
            side=side,
            fiat_account_id=fiat_id,
            wallet_id=wallet_id,
            amount=amount,
            fixed_side=fixed_side,
            actor=actor,
            kind=Kind.MARKET,
        )
        _check_cap(order)
    return order


# --- accept -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Execution:
    """What accepting now would do: the live figures and what is reserved from the source."""

    mid: Decimal
    reference_rate: Decimal
    rate: Decimal
    source_amount: Decimal
    destination_amount: Decimal
    reserve: Decimal
    worse_bps: Decimal
    price: pricing.Price | None = None  # FIX_DESTINATION: the live price with its fee lines

    @property
    def adjustment(self) -> Decimal:
        return self.reserve - self.source_amount


def slippage_buffer(exchange: Order, maximum_slippage: int) -> Decimal:
    return money.quantize_up(
        exchange.source_amount * Decimal(maximum_slippage) / money.BPS, exchange.source_currency
    )


def execution_at(
    exchange: Order,
    *,
    mid: Decimal,
    maximum_slippage: int,
    terms: pricing.FeeTerms | None,
    at: datetime,
) -> Execution:
    """Price ``exchange`` at ``mid``: FIX_SOURCE keeps the quoted source, fees and markups
    (``services.order_execution_price``, as an OTC approval does); FIX_DESTINATION prices the
    exact destination live (``pricing.price``) against a reserve of the quoted source plus the
    slippage buffer."""
    if exchange.fixed_side == FixedSide.SOURCE:
        reference, rate, destination = services.order_execution_price(exchange, mid)
        return Execution(
            mid=mid,
            reference_rate=reference,
            rate=rate,
            source_amount=exchange.source_amount,
            destination_amount=destination,
            reserve=exchange.source_amount,
            worse_bps=services.slippage_bps(exchange, rate),
        )
    live = pricing.price(
        pair=exchange.pair,
        side=exchange.side,
        fixed_side=FixedSide.DESTINATION,
        amount=exchange.indicative_destination_amount,
        terms=terms,
        mid=mid,
        at=at,
    )
    return Execution(
        mid=mid,
        reference_rate=live.reference_rate,
        rate=live.rate,
        source_amount=live.source_amount,
        destination_amount=live.destination_amount,
        reserve=exchange.source_amount + slippage_buffer(exchange, maximum_slippage),
        worse_bps=pricing.move_bps(exchange.source_amount, live.source_amount),
        price=live,
    )


def _beyond_slippage(execution: Execution, maximum_slippage: int) -> bool:
    if execution.price is not None:
        return execution.source_amount > execution.reserve
    return execution.worse_bps > maximum_slippage


def _lock(exchange_id: uuid.UUID, customer: Customer) -> MarketExchange:
    exchange = (
        MarketExchange.objects.select_for_update(of=("self",))
        .select_related(
            "customer",
            "pair",
            "wallet",
            "fiat_account",
            "source_ledger_account",
            "destination_ledger_account",
        )
        .filter(pk=exchange_id, customer=customer)
        .first()
    )
    if exchange is None:
        raise exchange_not_found()
    return exchange


def _only_quoted(exchange: Order, code: str, done: str) -> DomainError:
    status = exchange.status.upper()
    return error(
        code, 409, f"The exchange is {status}; only a QUOTED exchange can be {done}.", status=status
    )


def _fail(exchange: MarketExchange, actor: Actor, code: str, reason: str) -> None:
    exchange.failure_code = code
    exchange.failure_reason = reason
    services._transition(exchange, exchange.fail_execution, actor, reason=f"[{code}] {reason}")


def _customer_end(exchange: Order, kind: str):
    return exchange.fiat_account if kind == FIAT else exchange.wallet


def _book(exchange: MarketExchange, execution: Execution) -> None:
    """The money, in the ledger at once and as provider steps to follow after commit: the
    reserve leaves the customer (fees to fee income), the destination arrives, and the unused
    reserve comes back as a MARKET_ADJUSTMENT. Raises ``InsufficientFunds``."""
    spec = SIDES[exchange.side]
    network = exchange.wallet.network
    source_currency, destination_currency = exchange.source_currency, exchange.destination_currency
    treasury_in = services._treasury_resource(spec.source_kind, source_currency, network)
    treasury_out = services._treasury_resource(spec.destination_kind, destination_currency, network)
    treasury_in_ledger = services._ledger_of(treasury_in, source_currency)
    treasury_out_ledger = services._ledger_of(treasury_out, destination_currency)
    # The entries below lock their accounts one entry at a time; taking every account of the
    # exchange first, in one fixed order, keeps a buy and a sell running at once (treasury EUR
    # then USDC, and USDC then EUR) from deadlocking.
    accounts = {
        exchange.source_ledger_account_id,
        exchange.destination_ledger_account_id,
        treasury_in_ledger.pk,
        treasury_out_ledger.pk,
        services.fee_account(source_currency, owner=exchange.customer_id).pk,
    }
    list(LedgerAccount.objects.select_for_update().filter(pk__in=accounts).order_by("pk"))
    source_end = _customer_end(exchange, spec.source_kind)
    label = f"Exchange {exchange.pk}"
    steps = [
        (
            Step.DEBIT if spec.source_kind == FIAT else Step.COLLECT,
            source_end,
            treasury_in,
            source_currency,
            execution.reserve,
            post_entry(
                legs=services._collect_legs(exchange, treasury_in_ledger, amount=execution.reserve),
                kind=JournalEntry.Kind.ORDER_SETTLEMENT,
                reference_id=exchange.pk,
                description=f"{label}: {source_currency} from the customer (fees to fee income)",
            ),
        ),
        (
            Step.DELIVER,
            treasury_out,
            _customer_end(exchange, spec.destination_kind),
            destination_currency,
            execution.destination_amount,
            post_entry(
                legs=transfer_legs(
                    treasury_out_ledger,
                    exchange.destination_ledger_account,
                    execution.destination_amount,
                ),
                kind=JournalEntry.Kind.ORDER_SETTLEMENT,
                reference_id=exchange.pk,
                description=f"{label}: {destination_currency} delivered",
            ),
        ),
    ]
    if execution.adjustment > 0:
        steps.append(
            (
                Step.ADJUST,
                treasury_in,
                source_end,
                source_currency,
                execution.adjustment,
                post_entry(
                    legs=transfer_legs(
                        treasury_in_ledger, exchange.source_ledger_account, execution.adjustment
                    ),
                    kind=JournalEntry.Kind.MARKET_ADJUSTMENT,
                    reference_id=exchange.pk,
                    description=f"{label}: unused slippage buffer credited back",
                ),
            )
        )
    for step, source, destination, asset, amount, entry in steps:
        settlement.booked_step_create(
            exchange,
            step,
            source=source,
            destination=destination,
            asset=asset,
            amount=amount,
            entry=entry,
        )


QUOTED_FIGURES = ("mid_rate", "reference_rate", "indicative_rate", "ttl_expires_at")


def _execute(exchange: MarketExchange, execution: Execution, actor: Actor) -> None:
    if execution.price is not None:  # FIX_DESTINATION: the source and fees are the live ones
        # ``_apply_price`` copies a whole price; the quote's own figures (its mid, rates and
        # TTL) stay as quoted beside the final ones.
        quoted = {name: getattr(exchange, name) for name in QUOTED_FIGURES}
        fees = services._apply_price(exchange, execution.price)
        for name, value in quoted.items():
            setattr(exchange, name, value)
        exchange.eur_equivalent = services._eur_equivalent(exchange.pair, execution.price)
    try:
        with transaction.atomic():
            _book(exchange, execution)
    except InsufficientFunds as exc:
        short = getattr(exc, "account_code", "") or (exc.details or {}).get("account")
        if short == exchange.source_ledger_account.code:
            raise services._source_insufficient(exchange) from None
        raise  # a treasury account the check before could not see being emptied: retryable
    if execution.price is not None:
        services._store_fees(exchange, fees, replace=True)
    exchange.final_mid_rate = execution.mid
    exchange.final_reference_rate = execution.reference_rate
    exchange.final_rate = execution.rate
    exchange.final_destination_amount = execution.destination_amount
    exchange.completed_at = timezone.now()
    rate, mid = money.format_rate(execution.rate), money.format_rate(execution.mid)
    reason = f"Executed at {rate} (mid {mid})."
    if execution.adjustment > 0:
        reason += (
            f" Unused buffer {money.format_amount(execution.adjustment, exchange.source_currency)} "
            f"{exchange.source_currency} credited back."
        )
    services._transition(exchange, exchange.execute, actor, reason=reason)
    settlement.kick(exchange.pk)  # the provider steps, once this commits


def exchange_accept(
    *,
    exchange_id: uuid.UUID,
    customer: Customer,
    actor: Actor,
    maximum_slippage: int = DEFAULT_SLIPPAGE_BPS,
) -> MarketExchange:
    """Accept a quoted exchange: it executes at once at the live price (EXECUTED) or fails
    with its reason and moves nothing (FAILED). ``400 QUOTE_EXPIRED`` past the quote's TTL,
    ``409 EXCHANGE_NOT_ACCEPTABLE`` once it is no longer quoted, ``422
    SOURCE_INSUFFICIENT_FUNDS`` / ``DAILY_LIMIT_EXCEEDED`` (the exchange stays QUOTED)."""
    services._check_kyc(customer)
    current = services._owned_for_pricing(MarketExchange, exchange_id, customer)
    if current is None:
        raise exchange_not_found()
    mid = terms = None
    if current.status == Status.QUOTED:
        # Everything that asks a provider happens before any row is locked: the resources
        # again (they may have changed since the quote), custody's live balance for a wallet
        # source, the market's price.
        resources = services._resolve_resources(
            customer, current.pair, current.side, current.fiat_account_id, current.wallet_id
        )
        if not SIDES[current.side].collects_at_confirm:
            needed = current.source_amount
            if current.fixed_side == FixedSide.DESTINATION:
                needed += slippage_buffer(current, maximum_slippage)
            # What confirmed OTC sells hold of the wallet is not the exchange's to take.
            held = held_balance(resources.source_ledger)
            services._check_wallet_covers(current.wallet, current.source_currency, needed, held)
        mid = services.live_mid(current.pair)
        if current.fixed_side == FixedSide.DESTINATION:
            terms = services.fee_terms(customer, current.pair, current.wallet.network)
    with transaction.atomic():
        exchange = _lock(exchange_id, customer)
        now = timezone.now()
        if exchange.status == Status.EXPIRED or (
            exchange.status == Status.QUOTED and exchange.ttl_expires_at <= now
        ):
            raise error("QUOTE_EXPIRED", 400, "The quote has expired; create a new exchange.")
        if not can_proceed(exchange.execute) or mid is None:
            raise _only_quoted(exchange, "EXCHANGE_NOT_ACCEPTABLE", "accepted")
        # The customer's row serialises their accepts and confirms (the daily limit), as in
        # ``services.order_confirm``.
        Customer.objects.select_for_update(no_key=True).filter(pk=customer.pk).first()
        services._check_daily_limit(customer, exchange.eur_equivalent)
        exchange.max_slippage_bps = maximum_slippage
        exchange.confirmed_at = now
        execution = execution_at(
            exchange,
            mid=mid,
            maximum_slippage=maximum_slippage,
            terms=terms,
            at=exchange.created_at,
        )
        if _beyond_slippage(execution, maximum_slippage):
            _fail(
                exchange,
                actor,
                "SLIPPAGE_EXCEEDED",
                f"The live price is {execution.worse_bps} bps worse than quoted, beyond your "
                f"maximum_slippage of {maximum_slippage} bps; nothing was moved.",
            )
            return exchange
        try:
            services._check_treasury_covers(exchange, execution.destination_amount)
        except DomainError as exc:
            _fail(
                exchange,
                actor,
                "TREASURY_INSUFFICIENT",
                "The desk's treasury cannot deliver this exchange right now "
                f"({exc.details['available']} {exchange.destination_currency} available, "
                f"{exc.details['required']} needed); nothing was moved.",
            )
            return exchange
        _execute(exchange, execution, actor)
    return exchange


def exchange_cancel(*, exchange_id: uuid.UUID, customer: Customer, actor: Actor) -> MarketExchange:
    """(extension) Withdraw a quoted exchange; ``409 EXCHANGE_NOT_CANCELLABLE`` otherwise."""
    with transaction.atomic():
        exchange = _lock(exchange_id, customer)
        if not can_proceed(exchange.cancel_exchange):
            raise _only_quoted(exchange, "EXCHANGE_NOT_CANCELLABLE", "cancelled")
        services._transition(exchange, exchange.cancel_exchange, actor)
    return exchange


# --- reads ------------------------------------------------------------------------------------


def exchanges_for(customer: Customer):
    """The customer's market exchanges with what rendering them needs (fee lines, steps)."""
    return (
        MarketExchange.objects.filter(customer=customer)
        .select_related("pair")
        .prefetch_related("fees", "provider_transfers")
        .order_by("-created_at", "-id")
    )


def exchange_get(*, exchange_id: uuid.UUID, customer: Customer) -> MarketExchange:
    exchange = exchanges_for(customer).filter(pk=exchange_id).first()
    if exchange is None:
        raise exchange_not_found()
    return exchange


# --- the POSTs, at most once per Idempotency-Key ------------------------------------------------


def _once(
    customer: Customer, key, path: str, request: dict, *, status: int, service, **arguments
) -> idempotency.StoredResponse:
    """Run ``service(customer=..., **arguments)`` and answer ``status`` with the exchange it
    returns. With a key, the OTC confirm's guarantees (``idempotency.run_once``); the key is
    optional on these routes, and without one the call simply runs."""
    from .representations import exchange_representation

    def action() -> tuple[int, dict]:
        return status, exchange_representation(service(customer=customer, **arguments))

    if key is None:
        status, body = action()
        return idempotency.StoredResponse(status, idempotency.render(body), False)
    return idempotency.run_once(
        customer=customer,
        key=key,
        action=action,
        request_fingerprint=idempotency.fingerprint("POST", path, request),
    )


def exchange_create_once(
    *,
    customer: Customer,
    key: uuid.UUID | None,
    source_account_id: uuid.UUID,
    destination_account_id: uuid.UUID,
    action: str,
    amount: Decimal,
    actor: Actor,
) -> idempotency.StoredResponse:
    """``POST /exchanges``: 201 with the exchange, at most once per key."""
    request = {
        "source_account_id": str(source_account_id),
        "destination_account_id": str(destination_account_id),
        "action": action,
        # "1000.00" and "1000" are the same request
        "amount": format(amount.normalize(), "f"),
    }
    return _once(
        customer,
        key,
        "/api/v1/exchanges",
        request,
        status=201,
        service=exchange_create,
        source_account_id=source_account_id,
        destination_account_id=destination_account_id,
        action=action,
        amount=amount,
        actor=actor,
    )


def exchange_accept_once(
    *,
    customer: Customer,
    key: uuid.UUID | None,
    exchange_id: uuid.UUID,
    maximum_slippage: int,
    actor: Actor,
) -> idempotency.StoredResponse:
    """``POST /exchanges/{id}/accept``: 200 with the exchange (EXECUTED or FAILED), at most
    once per key; concurrent accepts of one exchange execute it once whatever the keys."""
    return _once(
        customer,
        key,
        f"/api/v1/exchanges/{exchange_id}/accept",
        {"maximum_slippage": maximum_slippage},
        status=200,
        service=exchange_accept,
        exchange_id=exchange_id,
        actor=actor,
        maximum_slippage=maximum_slippage,
    )
