"""What the portal says for each error code the services (and so the API) can return.

Each code maps to the form field it concerns (``None``: the whole form) and a sentence a
treasurer understands. Details such as ``min``/``max``/``available`` are filled in. A code
missing here falls back to the service's own message, which is always a plain sentence.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from accounts.errors import DomainError
from otc.web import numbers

FIAT = "fiat_account"
WALLET = "wallet"
AMOUNT = "amount"

MESSAGES: dict[str, tuple[str | None, str]] = {
    # buy quote
    "SOURCE_NOT_FOUND": (FIAT, "This EUR account does not exist or is not yours."),
    "SOURCE_WRONG_CURRENCY": (FIAT, "This account is not a EUR account; choose a EUR account."),
    "SOURCE_INACTIVE": (FIAT, "This EUR account is not active; choose another account."),
    "DESTINATION_NOT_FOUND": (WALLET, "This wallet does not exist or is not yours."),
    "DESTINATION_NO_USDC_ADDRESS": (WALLET, "This wallet has no USDC address to receive into."),
    # sell quote
    "SOURCE_WALLET_NOT_FOUND": (WALLET, "This wallet does not exist or is not yours."),
    "SOURCE_WALLET_NO_USDC": (WALLET, "This wallet has no USDC address to sell from."),
    "SOURCE_WALLET_INSUFFICIENT": (
        AMOUNT,
        "The wallet holds only {available} USDC, less than this amount.",
    ),
    "SOURCE_WALLET_INSUFFICIENT:wallet": (
        AMOUNT,
        "The wallet has only {available} USDC available ({held} USDC are held by confirmed "
        "sells not yet settled), less than this amount.",
    ),
    "DESTINATION_ACCOUNT_NOT_FOUND": (FIAT, "This EUR account does not exist or is not yours."),
    "DESTINATION_ACCOUNT_WRONG_CURRENCY": (
        FIAT,
        "This account is not a EUR account; choose a EUR account.",
    ),
    "DESTINATION_ACCOUNT_INACTIVE": (FIAT, "This EUR account is not active; choose another."),
    "AMOUNT_OUT_OF_RANGE": (AMOUNT, "Enter an amount between {min} and {max} {currency}."),
    "QUOTE_UNAVAILABLE": (
        None,
        "We cannot price a quote right now (live balance or market price unavailable). "
        "Please try again in a moment.",
    ),
    "VALIDATION_ERROR": (None, "Some of the values are not valid; check the form."),
    "FEES_EXCEED_AMOUNT": (
        AMOUNT,
        "The fees ({totalFees} {currency}) are as large as this amount; enter a larger amount.",
    ),
    "INVALID_CALCULATED_AMOUNT": (
        AMOUNT,
        "This amount is too small: the fees would cost more than what is exchanged.",
    ),
    "CURRENCY_PAIR_NOT_ENABLED": (None, "This currency pair is not open for trading right now."),
    "KYC_NOT_VERIFIED": (
        None,
        "Your company's verification (KYC) is not complete, so it cannot trade yet. "
        "Contact the desk to finish it.",
    ),
    "DAILY_LIMIT_EXCEEDED": (
        AMOUNT,
        "This is more than the {dailyRemaining} EUR left of your daily limit "
        "({dailyMax} EUR); try a smaller amount or tomorrow.",
    ),
    # confirm
    "IDEMPOTENCY_KEY_REQUIRED": (
        None,
        "This confirmation is missing its safety key; reload the quote and confirm again.",
    ),
    "IDEMPOTENCY_KEY_INVALID": (
        None,
        "This confirmation's safety key is not valid; reload the quote and confirm again.",
    ),
    "IDEMPOTENCY_KEY_REUSED": (
        None,
        "This confirmation was already used for another request; reload the quote.",
    ),
    "IDEMPOTENCY_KEY_IN_PROGRESS": (
        None,
        "Your confirmation is still being processed; wait a moment and reload the page.",
    ),
    "QUOTE_EXPIRED": (None, "This quote has expired. Refresh it to get a new rate."),
    "ORDER_NOT_FOUND": (None, "This quote or order does not exist."),
    "SIDE_MISMATCH": (None, "This quote is for the other direction (buy/sell)."),
    "ORDER_NOT_CONFIRMABLE": (
        None,
        "This quote can no longer be confirmed: it is already {status_label}.",
    ),
    "SOURCE_INSUFFICIENT_FUNDS": (
        None,
        "The EUR account holds only {available} EUR, less than this amount. Nothing was debited.",
    ),
    # a sell's confirm: the wallet's available balance (live less what other sells hold)
    "SOURCE_INSUFFICIENT_FUNDS:wallet": (
        None,
        "The wallet has only {available} {currency} available ({held} {currency} are held by "
        "confirmed sells not yet settled), less than this amount. Nothing was held.",
    ),
    # cancel / requote
    "NOT_CANCELLABLE": (None, "This order can no longer be cancelled: it is {status_label}."),
    "NOT_REQUOTABLE": (None, "This order can no longer be requoted: it is {status_label}."),
    "RATE_LIMITED": (None, "Too many requests; wait a moment and try again."),
    # price review
    "REVIEW_NOT_FOUND": (None, "This order has no new price waiting for you any more."),
    "REVIEW_CHANGED": (
        None,
        "The price under review is not the one you accepted; check the new figures below.",
    ),
    "REVIEW_EXPIRED": (
        None,
        "This price has expired, so nothing was executed. Cancel the order (a buy's EUR is "
        "refunded) or wait for the desk to offer a new price.",
    ),
    "TREASURY_INSUFFICIENT": (
        None,
        "The desk cannot execute this right now. Nothing was exchanged; try again in a few "
        "minutes or contact the desk.",
    ),
}


# Details that carry an amount as the API writes it ("1000.00"): shown in the reader's locale.
AMOUNT_DETAILS = ("available", "held", "min", "max", "totalFees")


def _localized(plain: str) -> str:
    try:
        value = Decimal(plain)
    except InvalidOperation:
        return plain
    if not value.is_finite():
        return plain
    decimals = len(plain.partition(".")[2])
    return numbers.format_number(value, decimals)


@dataclass(frozen=True)
class PortalError:
    code: str
    field: str | None
    message: str


class _Details(dict):
    def __missing__(self, key: str) -> str:
        return "…"


def describe(code: str, fallback: str = "", details: dict | None = None) -> PortalError:
    """The portal's field and sentence for ``code``."""
    from otc.models import Status

    values = _Details(details or {})
    # The same code about a wallet's available balance (its details name what is held).
    code_key = f"{code}:wallet" if "held" in values and f"{code}:wallet" in MESSAGES else code
    field, template = MESSAGES.get(code_key, (None, fallback or "The request could not be done."))
    for key in AMOUNT_DETAILS:
        if isinstance(values.get(key), str):
            values[key] = _localized(values[key])
    status = values.get("status")
    if status:
        try:
            values["status_label"] = Status(status).label.lower()
        except ValueError:
            values["status_label"] = str(status)
    else:
        values["status_label"] = "in another state"
    return PortalError(code=code, field=field, message=template.format_map(values))


def describe_exception(exc: DomainError) -> PortalError:
    return describe(exc.code, exc.message, exc.details)
