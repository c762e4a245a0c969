"""Money: currencies, their precision, parsing and rounding. ``Decimal`` only, never float.

Destination amounts are rounded *down*: the desk never pays out more than the rate implies,
and the customer never sees a figure the desk cannot honour.
"""

import re
from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation

EUR = "EUR"
USDC = "USDC"
USD = "USD"


class _Precision(dict):
    """Decimals per currency. The common ones are known here; any other is read once from the
    ``Asset`` table (an asset's decimals never change once it exists, so every process may keep
    what it read)."""

    def __missing__(self, currency: str) -> int:
        from .models import Asset

        try:
            decimals = Asset.objects.values_list("decimals", flat=True).get(pk=currency)
        except Asset.DoesNotExist:
            raise KeyError(currency) from None
        self[currency] = decimals
        return decimals


PRECISION: dict[str, int] = _Precision({EUR: 2, USDC: 6, USD: 2})
RATE_DECIMALS = 6
BPS = Decimal(10_000)


def exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-PRECISION[currency])


def quantize_down(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` down (towards zero) to the currency's number of decimals."""
    return amount.quantize(exponent(currency), rounding=ROUND_DOWN)


def quantize_up(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` up (away from zero) to the currency's decimals: what the desk
    collects is never less than the figures imply."""
    return amount.quantize(exponent(currency), rounding=ROUND_UP)


def minor_unit(currency: str) -> Decimal:
    return exponent(currency)


def quantize_rate(rate: Decimal) -> Decimal:
    return rate.quantize(Decimal(1).scaleb(-RATE_DECIMALS), rounding=ROUND_DOWN)


def format_amount(amount: Decimal, currency: str) -> str:
    """The API's string form: fixed decimals for the currency (``"100.00"``, ``"1.500000"``)."""
    return f"{amount.quantize(exponent(currency)):f}"


def format_rate(rate: Decimal) -> str:
    return f"{quantize_rate(rate):f}"


# The amount columns (``accounts.models.AMOUNT_FIELD``: 24 digits, 6 of them decimals) hold at
# most 18 digits before the point; a longer amount could never be booked.
MAX_INTEGER_DIGITS = 18

PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


class AmountError(ValueError):
    """An amount that is not a valid money string for its currency."""


def parse_amount(raw: object, currency: str) -> Decimal:
    """Parse a client-supplied amount. Strings (or ints) only: a JSON float is refused so that
    no binary rounding can sneak in; more decimals than the currency has are refused."""
    if isinstance(raw, bool | float):
        raise AmountError('Send the amount as a decimal string, for example "100.00".')
    if isinstance(raw, int):
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise AmountError('Send the amount as a decimal string, for example "100.00".')
    text = raw.strip()
    if not PLAIN_DECIMAL.fullmatch(text):
        # Decimal() alone would also take "1_000", non-ASCII digits, exponents, NaN.
        raise AmountError("Not a decimal number.")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise AmountError("Not a decimal number.") from None
    if not value.is_finite() or "e" in text.lower():
        raise AmountError("Not a decimal number.")
    if value <= 0:
        raise AmountError("Must be greater than zero.")
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        raise AmountError(f"Amounts have at most {MAX_INTEGER_DIGITS} digits before the point.")
    if -value.as_tuple().exponent > PRECISION[currency]:  # type: ignore[operator]
        raise AmountError(f"{currency} amounts have at most {PRECISION[currency]} decimals.")
    return value.quantize(exponent(currency))
