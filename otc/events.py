"""Order events: the hook every transition calls inside its own transaction.

The domain announces a transition here and knows nothing of who listens: the webhooks app
connects its outbox writer in ``OtcWebhooksConfig.ready`` (so ``otc`` never imports
``otc.webhooks``, and the arrow points one way). Receivers run synchronously inside the
transition's transaction, so an outbox event exists exactly when its transition committed.
"""

from django.dispatch import Signal

from .models import Order

order_transition = Signal()  # sender=Order, order=..., previous_status=...


def order_transitioned(*, order: Order, previous_status: str) -> None:
    order_transition.send(sender=Order, order=order, previous_status=previous_status)


# A batch of transitions written together (the quote sweep): transitions=[(order, previous)].
orders_transition = Signal()


def orders_transitioned(*, transitions: list[tuple[Order, str]]) -> None:
    if transitions:
        orders_transition.send(sender=Order, transitions=transitions)
