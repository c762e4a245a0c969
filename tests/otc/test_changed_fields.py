"""A transition writes the fields that changed since the order was read (and ``updated_at``),
not the whole row: a column another writer set meanwhile is not put back, and nothing
assigned before the transition is lost."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from otc import services
from otc.models import Channel, Order, Status

pytestmark = pytest.mark.django_db

ACTOR = services.Actor(label="test", channel=Channel.API)


def order_updates(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if q["sql"].startswith('UPDATE "otc_order"')]


def test_a_transition_writes_what_changed_and_leaves_the_rest(acme, desk, buy_quote):
    order = Order.objects.get(pk=buy_quote(acme, "250.00").pk)
    # Another writer sets a column after this order was read.
    Order.objects.filter(pk=order.pk).update(rejection_reason="set elsewhere")
    order.cancellation_code = "CUSTOMER_CANCELLED"
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        services._transition(order, order.cancel, ACTOR)
    (update,) = order_updates(ctx)
    assert '"status"' in update and '"cancellation_code"' in update and '"updated_at"' in update
    assert '"rejection_reason"' not in update and '"source_amount"' not in update
    stored = Order.objects.get(pk=order.pk)
    assert stored.status == Status.CANCELLED
    assert stored.cancellation_code == "CUSTOMER_CANCELLED"
    assert stored.rejection_reason == "set elsewhere", "the other writer's value stays"
    assert stored.updated_at == order.updated_at


def test_saved_values_are_the_baseline_and_refresh_keeps_unsaved_changes(acme, desk, buy_quote):
    order = Order.objects.get(pk=buy_quote(acme, "250.00").pk)
    order.cancellation_code = "FIRST"
    order.save(update_fields=order.changed_fields())
    assert order.changed_fields() == ["updated_at"], "saved values are the new baseline"
    order.failure_reason = "assigned, not saved"
    order.refresh_from_db(fields=["status"])
    assert "failure_reason" in order.changed_fields(), "a refresh of other fields keeps it"
    order.refresh_from_db()
    assert order.failure_reason == "" and order.changed_fields() == ["updated_at"]


def test_an_order_not_read_from_the_database_is_saved_whole(acme, desk):
    assert Order().changed_fields() is None
