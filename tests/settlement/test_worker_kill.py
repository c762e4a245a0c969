"""kill -9 a real Celery worker (a separate process on Redis, on the test database) while the
custodian is in the middle of collecting a sell's USDC: the custodian has done it, our ledger
has not heard back. A fresh worker (the broker redelivers; the resume task would too)
finishes the order; the custodian records the collect once and the books agree."""

import os
import signal
import time
from decimal import Decimal

import pytest

from accounts.models import JournalEntry, LedgerAccount, SimBankTransfer
from accounts.simulated import set_simulated_pause
from otc import services, tasks
from otc.models import Order, ProviderTransfer, Side, Status
from tests.webhooks.processes import start_worker, wait_ready
from wallets.models import SimChainTransfer

from .conftest import api_actor, assert_books_agree, ledger_balance, ops, provider_balance

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

DEADLINE = 90.0


def wait_until(check, what: str, deadline: float = DEADLINE):
    stop = time.monotonic() + deadline
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > stop:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def workers(settings, tmp_path, real_broker):
    """Worker processes (``celery worker -Q settlement,default``) on the test database and
    this run's Redis namespace; each is killed with its pool at the end."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    running = []

    def start():
        log = tmp_path / f"worker-{len(running)}.log"
        process = start_worker(log, queues="settlement,default", name=f"kill-{len(running)}")
        running.append(process)
        wait_ready(log, process)
        return process

    try:
        yield start
    finally:
        for process in running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        set_simulated_pause("custody", 0)


def test_a_worker_killed_while_the_custodian_collects_is_resumed_and_settles_once(
    acme, desk, operator, settings, workers
):
    order = services.quote_create(
        customer=acme.customer,
        side=Side.SELL,
        fiat_account_id=acme.eur_master.pk,
        wallet_id=acme.wallet.pk,
        amount=Decimal("500.000000"),
        actor=api_actor(),
    )
    services.order_confirm(
        order_id=order.pk, customer=acme.customer, side=Side.SELL, actor=api_actor()
    )
    set_simulated_pause("custody", 300)  # the custodian records the collect, then hangs
    first = workers()
    services.order_approve(order_id=order.pk, actor=ops(operator))  # settle_order -> broker

    collect = f"order:{order.pk}:collect"
    wait_until(lambda: SimChainTransfer.objects.filter(reference=collect).exists(), "the collect")
    os.killpg(first.pid, signal.SIGKILL)  # kill -9 the worker and its pool process
    first.wait(10)

    step = ProviderTransfer.objects.get(reference=collect)
    assert step.state == ProviderTransfer.State.SENT  # the custodian did it; we never heard
    assert Order.objects.get(pk=order.pk).status == Status.APPROVED
    # Only the confirm's hold is booked; the collect is not.
    assert [e.kind for e in JournalEntry.objects.filter(reference_id=order.pk)] == ["hold"]
    assert provider_balance(acme.wallet) == Decimal("99500.000000")
    held = LedgerAccount.objects.get(held_for_id=acme.wallet.ledger_account_id)
    assert ledger_balance(acme.wallet) + held.balance == Decimal("100000.000000")  # disagree

    set_simulated_pause("custody", 0)
    workers()
    # The broker hands the killed worker's message to the new one; the beat's safety net
    # (called at once here) would resume the open step too. Either asks the custodian again
    # with the same reference.
    settings.OTC_SETTLEMENT_RESUME_AFTER_SECONDS = 0
    tasks.resume_settlement()

    wait_until(
        lambda: Order.objects.get(pk=order.pk).status == Status.COMPLETED, "the order to complete"
    )
    assert SimChainTransfer.objects.filter(reference=collect).count() == 1
    assert SimBankTransfer.objects.filter(reference=f"order:{order.pk}:deliver").count() == 1
    step.refresh_from_db()
    assert step.state == ProviderTransfer.State.SETTLED and step.attempts == 2
    kinds = list(JournalEntry.objects.filter(reference_id=order.pk).values_list("kind", flat=True))
    assert sorted(kinds) == [JournalEntry.Kind.HOLD] + [JournalEntry.Kind.ORDER_SETTLEMENT] * 2
    held.refresh_from_db()
    assert held.balance == 0  # the collect consumed the hold
    assert ledger_balance(acme.wallet) == provider_balance(acme.wallet) == Decimal("99500.000000")
    assert ledger_balance(acme.eur_master) == provider_balance(acme.eur_master)
    assert_books_agree()
