"""Order events: the hook every transition calls inside its own transaction.

This is where the webhook outbox is written, so an event exists exactly when its transition
committed.
"""

from .models import Order


def order_transitioned(*, order: Order, previous_status: str) -> None:
    """Called by every transition, inside its transaction. Outbox writes go here."""
