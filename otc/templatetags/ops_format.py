"""Money and rate formatting for the operator console's templates (the API's own forms)."""

from datetime import timedelta
from decimal import Decimal

from django import template

from accounts import money

register = template.Library()


@register.filter
def amount(value: Decimal | None, currency: str) -> str:
    """``1234.5|amount:"EUR"`` -> ``1,234.50``: fixed decimals, thousands separated."""
    if value is None:
        return "—"
    places = money.PRECISION.get(currency, 2)
    return f"{value.quantize(money.exponent(currency)):,.{places}f}"


@register.filter
def rate(value: Decimal | None) -> str:
    return "—" if value is None else money.format_rate(value)


@register.filter
def bps(value: Decimal | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0.0 bps"
    return f"{value:+.1f} bps"


@register.filter
def age(value: timedelta | None) -> str:
    """A short age: ``45s``, ``12m``, ``3h 05m``, ``2d 4h``."""
    if value is None:
        return "—"
    seconds = max(int(value.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"
