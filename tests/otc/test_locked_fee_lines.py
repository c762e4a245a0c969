"""The locked read of an order (confirm, every settlement step) brings the order's fee lines
in the same statement, as of that statement's snapshot. When the lock had to wait for a
transaction that changed the order (a requote writes new lines), the returned row is the new
one while the snapshot still shows the old lines: those lines are then read again, so an
order is never rendered with another quote's fees. Real threads on PostgreSQL."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from otc import services
from otc.models import Order, OrderFee

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the snapshot rule is PostgreSQL's")


def lines_of(order: Order) -> list[tuple]:
    return [(f.position, f.type, f.description, f.amount, f.bps) for f in order.fees.all()]


def test_the_fee_lines_come_with_the_locked_order(acme, desk, buy_quote):
    order = buy_quote(acme, "250.00")
    expected = [
        (f.position, f.type, f.description, f.amount, f.bps)
        for f in OrderFee.objects.filter(order=order).order_by("position")
    ]
    assert expected, "a quote has at least its FX markup line"
    with transaction.atomic():
        services.order_locked(order.pk)  # the pair into the shared cache
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        locked = services.order_locked(order.pk)
        lines = lines_of(locked)
    assert lines == expected
    assert len(ctx.captured_queries) == 1, [q["sql"][:80] for q in ctx.captured_queries]
    assert all(line.order is locked for line in locked.fees.all())


def test_lines_changed_while_the_lock_waited_are_read_again(acme, desk, buy_quote):
    order = buy_quote(acme, "250.00")
    holding, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def requote_like_writer() -> None:
        """Hold the order's row, give it new lines and a new ``updated_at``, then commit."""
        try:
            with transaction.atomic():
                row = Order.objects.select_for_update().get(pk=order.pk)
                OrderFee.objects.filter(order=row).delete()
                OrderFee.objects.create(
                    order=row, position=0, type="fixed", description="New line", amount="1.50"
                )
                row.updated_at = timezone.now()
                row.save(update_fields=["updated_at"])
                holding.set()
                release.wait(10)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    writer = threading.Thread(target=requote_like_writer)
    writer.start()
    assert holding.wait(10)

    def commit_once_blocked() -> None:
        deadline = time.monotonic() + 10
        try:
            with connection.cursor() as cursor:  # this thread's own connection
                while time.monotonic() < deadline:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND query LIKE %s",
                        ["%FOR NO KEY UPDATE OF o%"],
                    )
                    if cursor.fetchone()[0]:
                        break
                    time.sleep(0.02)
        finally:
            release.set()
            connections.close_all()

    watcher = threading.Thread(target=commit_once_blocked)
    watcher.start()
    with transaction.atomic():
        locked = services.order_locked(order.pk)  # waits for the writer's commit
        lines = lines_of(locked)
    writer.join(10)
    watcher.join(10)
    assert not failures, failures
    assert lines == [(0, "fixed", "New line", Decimal("1.50"), None)]
