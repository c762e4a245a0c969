"""kill -9 a real Celery worker (a separate process on Redis, on the test database) while the
custodian is in the middle of collecting a sell's USDC: the custodian has done it, our ledger
has not heard back. A fresh worker, set going by the resume task, finishes the order; the
custodian is not asked twice and the books agree."""

import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from accounts.models import JournalEntry, SimBankTransfer
from accounts.simulated import set_simulated_pause
from config.celery import app
from otc import services, tasks
from otc.models import Order, ProviderTransfer, Side, Status
from wallets.models import SimChainTransfer

from .conftest import api_actor, assert_books_agree, ledger_balance, ops, provider_balance

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
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


class Workers:
    """Celery worker processes on the test database, each killable by its pid."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.running: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        database = dict(connection.settings_dict)
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "OTC_VAR_DIR": str(self.tmp_path),
        }
        log = open(self.tmp_path / f"worker-{len(self.running)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"kill-test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)


@pytest.fixture
def workers(settings, tmp_path):
    if not django_settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("the worker test runs on the Redis broker (set REDIS_URL)")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    app.control.purge()
    pool = Workers(tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
        set_simulated_pause("custody", 0)
        app.conf.task_always_eager = True


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
    first = workers.start()
    services.order_approve(order_id=order.pk, actor=ops(operator))  # settle_order -> broker

    collect = f"order:{order.pk}:collect"
    wait_until(lambda: SimChainTransfer.objects.filter(reference=collect).exists(), "the collect")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)

    step = ProviderTransfer.objects.get(reference=collect)
    assert step.state == ProviderTransfer.State.SENT  # the custodian did it; we never heard
    assert Order.objects.get(pk=order.pk).status == Status.APPROVED
    assert not JournalEntry.objects.filter(reference_id=order.pk).exists()
    assert provider_balance(acme.wallet) == Decimal("99500.000000")
    assert ledger_balance(acme.wallet) == Decimal("100000.000000")  # the books disagree now

    set_simulated_pause("custody", 0)
    workers.start()
    settings.OTC_SETTLEMENT_RESUME_AFTER_SECONDS = 0
    assert tasks.resume_settlement() == 1  # the beat's safety net, called at once

    wait_until(
        lambda: Order.objects.get(pk=order.pk).status == Status.COMPLETED, "the order to complete"
    )
    assert SimChainTransfer.objects.filter(reference=collect).count() == 1
    assert SimBankTransfer.objects.filter(reference=f"order:{order.pk}:deliver").count() == 1
    step.refresh_from_db()
    assert step.state == ProviderTransfer.State.SETTLED and step.attempts == 2
    kinds = list(JournalEntry.objects.filter(reference_id=order.pk).values_list("kind", flat=True))
    assert kinds == [JournalEntry.Kind.ORDER_SETTLEMENT] * 2
    assert ledger_balance(acme.wallet) == provider_balance(acme.wallet) == Decimal("99500.000000")
    assert ledger_balance(acme.eur_master) == provider_balance(acme.eur_master)
    assert_books_agree()
