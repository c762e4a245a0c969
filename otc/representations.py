"""How the desk shows a quote, an order and an error: one module the API, the webhooks outbox
and the idempotency store all render with, so a replayed response, an event payload and a
GET of the same order agree field for field. The domain owns this; the API layer imports it,
never the other way round."""

from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from accounts import money

from .models import FixedSide, Order, Side

# Seed 000 names the amounts after their currencies on the EUR/USDC pair.
SEED_SOURCE_FIELD = {Side.BUY: "sourceAmountEur", Side.SELL: "sourceAmountUsdc"}
SEED_DESTINATION_FIELD = {Side.BUY: "destinationAmountUsdc", Side.SELL: "destinationAmountEur"}
RESOURCE_FIELDS = {  # (fiat account field, wallet field) per side
    Side.BUY: ("sourceFrAccountId", "destinationUtilaWalletId"),
    Side.SELL: ("destinationFrAccountId", "sourceUtilaWalletId"),
}


def iso_ms(value: datetime | None) -> str | None:
    """``2026-05-30T00:01:00.000Z``: UTC, milliseconds, ``Z``."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def iso_ms_sql(expression: str) -> str:
    """``iso_ms`` in PostgreSQL, for a ``timestamptz`` SQL expression (``to_char``'s ``MS``
    truncates to the millisecond, as ``iso_ms`` does)."""
    return f"""to_char(({expression}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""


def error_envelope(code: str, message: str, details: Any = None) -> dict:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def fee_lines_representation(currency: str, total, lines) -> dict:
    """``fees: {currency, total, lines: [{type, description, amount | bps}]}``; ``lines`` are
    ``OrderFee`` rows or ``pricing.FeeLine`` values (same attribute names)."""
    rendered = []
    for line in lines:
        item = {"type": line.type, "description": line.description}
        if line.amount is not None:
            item["amount"] = money.format_amount(line.amount, currency)
        if line.bps is not None:
            item["bps"] = line.bps
        rendered.append(item)
    return {
        "currency": currency,
        "total": money.format_amount(total, currency),
        "lines": rendered,
    }


def _fees(order: Order) -> dict:
    return fee_lines_representation(order.source_currency, order.fee_total, order.fees.all())


def limits_representation(limits) -> dict | None:
    """``limits: {dailyMax, dailyUsed, dailyRemaining}`` (EUR) from ``services.DailyLimits``."""
    return limits.as_details() if limits is not None else None


def rejection_representation(order: Order) -> dict | None:
    if not order.rejection_code and not order.rejection_reason:
        return None
    from .services import rejection_remediation

    code = order.rejection_code or "OTHER"
    return {
        "code": code,
        "message": order.rejection_reason,
        "remediation": rejection_remediation(code),
    }


def review_representation(order: Order) -> dict:
    """``GET otc-exchanges/{id}/review``: the quoted figures beside the firm review price."""
    return {
        "orderId": str(order.pk),
        "previousRate": money.format_rate(order.indicative_rate),
        "previousDestinationAmount": money.format_amount(
            order.indicative_destination_amount, order.destination_currency
        ),
        "referenceRate": money.format_rate(order.review_reference_rate),
        "rate": money.format_rate(order.review_rate),
        "sourceAmount": money.format_amount(order.source_amount, order.source_currency),
        "sourceCurrency": order.source_currency,
        "destinationAmount": money.format_amount(
            order.review_destination_amount, order.destination_currency
        ),
        "destinationCurrency": order.destination_currency,
        "fees": _fees(order),
        "maxSlippageBps": order.max_slippage_bps,
        "expiresAt": iso_ms(order.review_expires_at),
    }


def quote_representation(order: Order, limits=None) -> dict:
    source = money.format_amount(order.source_amount, order.source_currency)
    destination = money.format_amount(
        order.indicative_destination_amount, order.destination_currency
    )
    body = {
        "quoteId": str(order.pk),
        "side": order.side,
        "pair": order.pair.code,
        "status": order.status,
        "fixedSide": order.fixed_side,
        "referenceRate": money.format_rate(order.reference_rate),
        "rate": money.format_rate(order.indicative_rate),
        "sourceAmount": source,
        "destinationAmount": destination,
        SEED_SOURCE_FIELD[order.side]: source,
        "sourceCurrency": order.source_currency,
        "destinationCurrency": order.destination_currency,
        "fees": _fees(order),
        "ttlExpiresAt": iso_ms(order.ttl_expires_at),
        "ttlSeconds": settings.OTC_QUOTE_TTL_SECONDS,
        "indicative": True,
    }
    if order.fixed_side == FixedSide.DESTINATION:
        body[SEED_DESTINATION_FIELD[order.side]] = destination
    if limits is not None:
        body["limits"] = limits_representation(limits)
    return body


def _money_trail(order: Order) -> tuple[str | None, str | None]:
    """The ledger entries that moved the order's money (annotated by the selectors; one
    query for an order that was not read through them)."""
    if not hasattr(order, "destination_transaction_id"):
        from .selectors import ORDER_MONEY_TRAIL

        if order.confirmed_at is None:
            return None, None  # nothing has moved
        trail = ORDER_MONEY_TRAIL.first(order_id=order.pk)
        if trail is None:
            raise Order.DoesNotExist(order.pk)
        order.source_transaction_id, order.destination_transaction_id = trail
    return tuple(
        str(value) if value else None
        for value in (order.source_transaction_id, order.destination_transaction_id)
    )


def order_representation(order: Order, limits=None) -> dict:
    account_field, wallet_field = RESOURCE_FIELDS[order.side]
    source_transaction, destination_transaction = _money_trail(order)
    body = {
        "id": str(order.pk),
        "status": order.status,
        "side": order.side,
        "pair": order.pair.code,
        "fixedSide": order.fixed_side,
        "sourceCurrency": order.source_currency,
        "sourceAmount": money.format_amount(order.source_amount, order.source_currency),
        "destinationCurrency": order.destination_currency,
        "destinationAmount": money.format_amount(
            order.destination_amount, order.destination_currency
        ),
        "rate": money.format_rate(order.rate),
        "referenceRate": money.format_rate(order.shown_reference_rate),
        "fees": _fees(order),
        "indicativeRate": money.format_rate(order.indicative_rate),
        "indicativeDestinationAmount": money.format_amount(
            order.indicative_destination_amount, order.destination_currency
        ),
        "rateFinal": order.final_rate is not None,
        account_field: str(order.fiat_account_id),
        wallet_field: str(order.wallet_id),
        "ttlExpiresAt": iso_ms(order.ttl_expires_at),
        "createdAt": iso_ms(order.created_at),
        "updatedAt": iso_ms(order.updated_at),
        "confirmedAt": iso_ms(order.confirmed_at),
        "approvedAt": iso_ms(order.approved_at),
        "completedAt": iso_ms(order.completed_at),
        "rejectionReason": order.rejection_reason or None,
        "rejection": rejection_representation(order),
        "cancellationCode": order.cancellation_code or None,
        "failureReason": order.failure_reason or None,
        "maxSlippageBps": order.max_slippage_bps,
        "approvalDeadlineAt": iso_ms(order.approval_deadline_at),
        "reviewExpiresAt": iso_ms(order.review_expires_at),
        "sourceTransactionId": source_transaction,
        "destinationTransactionId": destination_transaction,
    }
    if limits is not None:
        body["limits"] = limits_representation(limits)
    return body


# --- market exchanges (seed 001: snake_case, upper-case statuses) ---------------------------

# The exchange's provider steps, by what they are to the customer.
EXCHANGE_TRANSACTION_TYPES = {
    "debit": "SOURCE",
    "collect": "SOURCE",
    "deliver": "DESTINATION",
    "adjust": "MARKET_ADJUSTMENT",
}


def exchange_action(order: Order) -> str:
    return "FIX_SOURCE" if order.fixed_side == FixedSide.SOURCE else "FIX_DESTINATION"


def exchange_ends(order: Order) -> tuple[str, str]:
    """(source_account_id, destination_account_id): the fiat account and the wallet, in the
    exchange's direction."""
    if order.side == Side.BUY:
        return str(order.fiat_account_id), str(order.wallet_id)
    return str(order.wallet_id), str(order.fiat_account_id)


def exchange_transactions(order: Order) -> list[dict]:
    """The ledger entries that moved the exchange's money, as the customer sees them: the
    source leaving (with the slippage buffer for FIX_DESTINATION), the destination arriving,
    the unused buffer credited back (``MARKET_ADJUSTMENT``). ``provider_status`` says whether
    the bank or custodian has done its part yet (``pending`` for a moment after execution)."""
    rows: list[dict] = []
    if order.completed_at is None:
        return rows  # nothing moves before execution (and no query for it: the quote sweep)
    for transfer in sorted(order.provider_transfers.all(), key=lambda t: (t.created_at, t.pk)):
        kind = EXCHANGE_TRANSACTION_TYPES.get(transfer.step)
        if kind is None or transfer.journal_entry_id is None:
            continue
        leaving = kind == "SOURCE"
        customer_end = (
            transfer.source_account_id or transfer.source_wallet_id
            if leaving
            else transfer.destination_account_id or transfer.destination_wallet_id
        )
        amount = money.format_amount(transfer.amount, transfer.asset)
        rows.append(
            {
                "id": str(transfer.journal_entry_id),
                "type": kind,
                "account_id": str(customer_end),
                "amount": f"-{amount}" if leaving else amount,
                "currency": transfer.asset,
                "provider_status": transfer.state,
                "created_at": iso_ms(transfer.created_at),
            }
        )
    return rows


def exchange_representation(order: Order) -> dict:
    """``POST/GET /exchanges``: the seed's fields (``id … executed_at``), then extensions."""
    source_id, destination_id = exchange_ends(order)
    transactions = exchange_transactions(order)
    first = {}
    for row in transactions:
        first.setdefault(row["type"], row["id"])
    return {
        "id": str(order.pk),
        "source_account_id": source_id,
        "destination_account_id": destination_id,
        "action": exchange_action(order),
        "source_amount": money.format_amount(order.source_amount, order.source_currency),
        "source_currency": order.source_currency,
        "destination_amount": money.format_amount(
            order.destination_amount, order.destination_currency
        ),
        "destination_currency": order.destination_currency,
        "rate": money.format_rate(order.rate),
        "fee": money.format_amount(order.fee_total, order.source_currency),
        "status": order.status.upper(),
        "quote_expires_at": iso_ms(order.ttl_expires_at),
        "created_at": iso_ms(order.created_at),
        "accepted_at": iso_ms(order.confirmed_at),
        "executed_at": iso_ms(order.completed_at),
        "source_transaction_id": first.get("SOURCE"),
        "destination_transaction_id": first.get("DESTINATION"),
        # extensions
        "pair": order.pair.code,
        "reference_rate": money.format_rate(order.shown_reference_rate),
        "fee_currency": order.source_currency,
        "fees": _fees(order),
        "maximum_slippage": order.max_slippage_bps,
        "failure_code": order.failure_code or None,
        "failure_reason": order.failure_reason or None,
        "transactions": transactions,
        "updated_at": iso_ms(order.updated_at),
    }
