"""Amounts and rates as people read and write them: one rule for the portal and the console.

The browser's language (``LocaleMiddleware``: en, de, fr, nl) decides how a number looks:
grouped digits, the locale's decimal and group symbols, and always the currency's own number
of decimals (2 for EUR, 6 for USDC; rates 6). Babel does the locale work. The API never goes
through here: it keeps the contract's plain decimal strings (``accounts.money``).

Parsing is strict: an amount is read only if the locale writes it that way, and a figure that
two conventions read differently ("1,234" is a thousand and more in English, about one in
German) is refused when both readings would be valid amounts, rather than guessed.
"""

import re
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import (
    NumberFormatError,
    format_decimal,
    get_group_symbol,
    parse_decimal,
)
from django.utils import translation

from accounts import money

DEFAULT_LOCALE = "en"
SPACES = " \u00a0\u202f"  # space, no-break space, narrow no-break space
# What an amount may contain before Babel reads it: ASCII digits, the two marks, spaces and a
# sign (a negative amount is refused later with its own message). No exponents, no NaN.
_ALLOWED = re.compile(r"[+-]?[0-9.,\u0020\u00a0\u202f]+")
# One mark with one to three digits before and exactly three after: "1,234", "12.345".
_TWO_READINGS = re.compile(r"[0-9]{1,3}[.,][0-9]{3}")
_EXAMPLE = Decimal("1234.56")


def current_locale() -> Locale:
    """The Babel locale of the active language (the request's, under ``LocaleMiddleware``)."""
    return babel_locale(translation.get_language() or DEFAULT_LOCALE)


def babel_locale(code: str | Locale) -> Locale:
    if isinstance(code, Locale):
        return code
    try:
        return Locale.parse(code.replace("_", "-"), sep="-")
    except (ValueError, UnknownLocaleError):
        return Locale.parse(DEFAULT_LOCALE)


def _pattern(decimals: int) -> str:
    return "#,##0" + ("." + "0" * decimals if decimals else "")


def format_number(value: Decimal, decimals: int, locale: str | Locale | None = None) -> str:
    """``value`` grouped, with exactly ``decimals`` decimals, in ``locale`` (default: active).
    Rounded half-even by Babel only when ``value`` has more decimals than shown, which the
    callers avoid by passing quantized amounts."""
    where = babel_locale(locale) if locale is not None else current_locale()
    return format_decimal(value, format=_pattern(decimals), locale=where)


def format_amount(value: Decimal | None, currency: str, locale: str | Locale | None = None) -> str:
    """``1234.5`` EUR -> ``1,234.50`` (en), ``1.234,50`` (de), ``1 234,50`` (fr)."""
    if value is None:
        return "—"
    places = money.PRECISION.get(currency, 2) if currency else 2
    return format_number(Decimal(value), places, locale)


def format_money(value: Decimal | None, currency: str, locale: str | Locale | None = None) -> str:
    """The amount and its currency code: ``1,234.50 EUR``."""
    if value is None:
        return "—"
    return f"{format_amount(value, currency, locale)} {currency}"


def format_rate(value: Decimal | None, locale: str | Locale | None = None) -> str:
    """A rate with the desk's six decimals: ``1.074600`` (en), ``1,074600`` (de)."""
    if value is None:
        return "—"
    return format_number(money.quantize_rate(Decimal(value)), money.RATE_DECIMALS, locale)


# --- reading what a person typed ------------------------------------------------------------


def how_to_write(currency: str, locale: str | Locale | None = None) -> str:
    """The hint every refusal ends with: ``Write it like 1.234,56 or 1234,56.``"""
    where = babel_locale(locale) if locale is not None else current_locale()
    grouped = format_number(_EXAMPLE, 2, where)
    plain = format_decimal(_EXAMPLE, format="0.00", locale=where)
    return f"Write it like {grouped} or {plain}."


def parse_amount(raw: str, currency: str, locale: str | Locale | None = None) -> Decimal:
    """Read an amount typed in the portal the way ``locale`` writes numbers.

    Raises ``money.AmountError`` with a sentence that says how to write it. The result is
    checked like an API amount (positive, at most the currency's decimals) and quantized.
    """
    where = babel_locale(locale) if locale is not None else current_locale()
    hint = how_to_write(currency, where)
    text = (raw or "").strip(SPACES + "\t\n")
    if not text:
        raise money.AmountError(f"Enter an amount. {hint}")
    if not _ALLOWED.fullmatch(text):
        raise money.AmountError(f"“{raw.strip()}” is not an amount. {hint}")
    group = get_group_symbol(where)
    if group in SPACES:
        # The locale groups with a space (fr: narrow no-break space); people type any space.
        text = re.sub(f"[{SPACES}]", group, text)
    elif any(space in text for space in SPACES):
        raise _not_written_so(raw, where, hint)
    digits = text.lstrip("+-")
    if _TWO_READINGS.fullmatch(digits) and money.PRECISION.get(currency, 2) >= 3:
        as_thousands = Decimal(re.sub("[.,]", "", digits))
        as_fraction = Decimal(digits.replace(",", "."))
        raise money.AmountError(
            f"“{raw.strip()}” could be read two ways. Write "
            f"{format_number(as_thousands, 2, where)} or "
            f"{format_number(as_fraction, 4, where)} to say which you mean."
        )
    try:
        # Babel reads "12.5" in fr too (its group is a space, so the dot can only be the
        # decimal mark there); "1.234,56" and "1,234.56" are refused in fr.
        value = parse_decimal(text, where, strict=True)
    except NumberFormatError:
        raise _not_written_so(raw, where, hint) from None
    try:
        return money.parse_amount(format(value, "f"), currency)
    except money.AmountError as exc:
        if value <= 0:
            raise
        raise money.AmountError(f"{exc} {hint}") from None


def _not_written_so(raw: str, where: Locale, hint: str) -> money.AmountError:
    return money.AmountError(
        f"“{raw.strip()}” is not how amounts are written in {where.english_name}. {hint}"
    )


def example_amount(currency: str, locale: str | Locale | None = None) -> str:
    """A placeholder for an amount field: ``e.g. 1.000,00``."""
    return f"e.g. {format_amount(Decimal(1000), currency, locale)}"
