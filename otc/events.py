"""Order events: the hook every transition calls inside its own transaction.

The domain announces a transition here and knows nothing of who listens: the webhooks app
connects its outbox writer in ``OtcWebhooksConfig.ready`` (so ``otc`` never imports
``otc.webhooks``, and the arrow points one way). Receivers run synchronously inside the
transition's transaction, so an outbox event exists exactly when its transition committed.
"""

import functools
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.dispatch import Signal

from .models import Order

order_transition = Signal()  # sender=Order, order=..., previous_status=...


def order_transitioned(*, order: Order, previous_status: str) -> None:
    order_transition.send(sender=Order, order=order, previous_status=previous_status)


# A batch of orders whose status alone changed, in one statement (the quote sweep's expire):
# nothing but ``status`` and ``updated_at`` moved, so a listener may derive what it shows of
# each order from what it showed before, without loading the orders.
orders_status_change = Signal()  # sender=Order, changes=StatusChanges, status=..., at=...


@dataclass(frozen=True)
class StatusChange:
    order_id: uuid.UUID
    customer_id: uuid.UUID
    kind: str
    previous_status: str
    previous_updated_at: datetime  # the order's ``updated_at`` before this change


class StatusChanges:
    """A batch of ``StatusChange``, as one JSON document: a list of objects with its fields,
    the form a set-based write returns it in and a listener hands to a statement of its own,
    with no Python per order (``rows`` parses it for whoever needs the orders one by one)."""

    def __init__(self, document: str, count: int) -> None:
        self.document = document
        self.count = count

    def __len__(self) -> int:
        return self.count

    @functools.cached_property
    def rows(self) -> list[StatusChange]:
        return [
            StatusChange(
                order_id=uuid.UUID(item["order_id"]),
                customer_id=uuid.UUID(item["customer_id"]),
                kind=item["kind"],
                previous_status=item["previous_status"],
                previous_updated_at=datetime.fromisoformat(item["previous_updated_at"]),
            )
            for item in json.loads(self.document)
        ]


def orders_status_changed(*, changes: StatusChanges, status: str, at: datetime) -> None:
    """``changes`` moved to ``status`` with ``updated_at = at``, and nothing else changed."""
    if len(changes):
        orders_status_change.send(sender=Order, changes=changes, status=status, at=at)
