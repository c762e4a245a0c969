"""Order events: the hook every transition calls inside its own transaction.

This is where the webhook outbox is written, so an event exists exactly when its transition
committed.
"""

from .models import Order


def order_transitioned(*, order: Order, previous_status: str) -> None:
    """Called by every transition, inside its transaction. Writes the outbox event
    ``otc_order.<new status>`` (the order as the API shows it, plus ``previousStatus``) and its
    deliveries in that same transaction; the delivery tasks are enqueued on commit, so a
    transition that rolls back emits nothing."""
    from otc.webhooks.services import order_event_emit

    order_event_emit(order=order, previous_status=previous_status)
