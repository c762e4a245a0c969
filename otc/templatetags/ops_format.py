"""The console's own small formats (basis points, ages). Money and rates come from
``{% load money %}``; ``amount`` and ``rate`` here are the same filters, kept for templates
that load only this library."""

from datetime import timedelta
from decimal import Decimal

from django import template

from . import money as money_tags

register = template.Library()


register.filter("amount", money_tags.amount)
register.filter("rate", money_tags.rate)


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


@register.simple_tag
def provider_transfers(order) -> list:
    """The order's provider steps (bank and custody calls) in the order they were written."""
    return list(
        order.provider_transfers.select_related(
            "source_account", "source_wallet", "destination_account", "destination_wallet"
        ).order_by("created_at")
    )
