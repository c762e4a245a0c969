"""The console's view of price protection: how long an order has left before its approval
deadline (a CSS band per range) and whether the live move is beyond the customer's own
slippage limit."""

from datetime import datetime, timedelta

from django import template
from django.utils import timezone

register = template.Library()

URGENT = timedelta(minutes=15)
SOON = timedelta(hours=1)


def time_left(deadline: datetime | None, now: datetime | None = None) -> timedelta | None:
    if deadline is None:
        return None
    return deadline - (now or timezone.now())


@register.filter
def deadline_band(deadline: datetime | None, now: datetime | None = None) -> str:
    """``deadline-ok`` (an hour or more left), ``deadline-soon`` (under an hour),
    ``deadline-urgent`` (under 15 minutes), ``deadline-passed``; ``deadline-none`` without one."""
    left = time_left(deadline, now)
    if left is None:
        return "deadline-none"
    if left <= timedelta(0):
        return "deadline-passed"
    if left < URGENT:
        return "deadline-urgent"
    if left < SOON:
        return "deadline-soon"
    return "deadline-ok"


@register.filter
def deadline_left(deadline: datetime | None) -> str:
    """``2h 05m left``, ``14m left``, ``passed 3m ago``; an em dash without a deadline."""
    left = time_left(deadline)
    if left is None:
        return "—"
    seconds = int(left.total_seconds())
    text = _short(abs(seconds))
    return f"{text} left" if seconds > 0 else f"passed {text} ago"


def _short(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@register.filter
def beyond_slippage(row) -> bool:
    """Whether approving ``row`` (a ``PricedOrder``) now would send it to price review: the
    live rate worse for the customer than their ``max_slippage_bps`` allows."""
    if row.move_bps is None:
        return False
    return -row.move_bps > row.order.max_slippage_bps
