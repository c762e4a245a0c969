"""Celery tasks: each loads by primary key and calls one service, so running twice is
harmless. Provider outages are retried with exponential backoff and jitter; when retries run
out the order fails (and a buy's EUR is refunded). Settlement resumes from its recorded
provider steps (``otc.settlement``): a task killed mid-step is simply run again."""

import logging
from datetime import timedelta

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.utils import timezone

from accounts.errors import ProviderUnavailable

from . import services
from .models import IdempotencyRecord, Order, Status

logger = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (ProviderUnavailable,),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task
def expire_quotes() -> int:
    return services.quotes_expire()


@shared_task
def sweep_deadlines() -> int:
    """Cancel (and refund) reviews past their TTL and orders past their approval deadline."""
    return services.orders_sweep()


class SettlementTask(DjangoTask):
    """When every retry of a settlement step failed, the order fails (buy: EUR refunded)."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        order_id = args[0] if args else kwargs.get("order_id")
        if isinstance(exc, ProviderUnavailable) and order_id:
            # Plain words for the customer; the provider's own message is in the worker's log.
            logger.warning("settlement of %s gave up: %s", order_id, exc.message)
            services.order_fail(
                order_id=order_id,
                reason="Provider unavailable: the bank or custodian did not answer in time.",
            )


@shared_task(base=SettlementTask, **RETRY)
def settle_order_debit(order_id: str) -> str | None:
    order = services.order_debit_settle(order_id=order_id)
    return order.status if order else None


@shared_task(base=SettlementTask, **RETRY)
def settle_order(order_id: str) -> str | None:
    order = services.order_settle(order_id=order_id)
    return order.status if order else None


@shared_task(base=SettlementTask, **RETRY)
def advance_settlement(order_id: str) -> str | None:
    """Whatever step the order needs next (a refund after a rejection, say)."""
    from . import settlement

    order = settlement.advance(order_id)
    return order.status if order else None


@shared_task
def resume_settlement() -> int:
    """Safety net for steps left ``pending`` or ``sent`` (a worker died mid-call, a task was
    lost): run each such order's settlement again; the provider answers a repeated reference
    with its first answer, so nothing moves twice."""
    from django.conf import settings

    from . import settlement

    ids = settlement.open_transfers_older_than(settings.OTC_SETTLEMENT_RESUME_AFTER_SECONDS)
    for order_id in ids:
        advance_settlement.delay(str(order_id))
    return len(ids)


@shared_task
def reconcile_daily() -> str | None:
    """Once a day (the beat asks hourly; the first run after ``OTC_RECONCILE_HOUR`` desk time
    does it): reconcile yesterday, unless it has a report already."""
    from . import reconciliation

    report = reconciliation.reconcile_yesterday_if_due()
    return str(report.pk) if report else None


@shared_task
def settle_pending_debits() -> int:
    """Safety net for debits whose task was lost: enqueue them again (idempotent)."""
    quiet_since = timezone.now() - timedelta(seconds=60)
    ids = list(
        Order.objects.filter(status=Status.DEBIT_PENDING, updated_at__lt=quiet_since).values_list(
            "pk", flat=True
        )
    )
    for order_id in ids:
        settle_order_debit.delay(str(order_id))
    return len(ids)


@shared_task
def settle_approved_orders() -> int:
    """Safety net for approved orders whose settlement task was lost."""
    quiet_since = timezone.now() - timedelta(seconds=60)
    ids = list(
        Order.objects.filter(status=Status.APPROVED, updated_at__lt=quiet_since).values_list(
            "pk", flat=True
        )
    )
    for order_id in ids:
        settle_order.delay(str(order_id))
    return len(ids)


@shared_task
def purge_idempotency_keys() -> int:
    from django.conf import settings

    cutoff = timezone.now() - settings.OTC_IDEMPOTENCY_RETENTION
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
