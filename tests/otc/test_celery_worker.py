"""A real Celery worker on Redis, started in this process (so it uses the test database), with
beat running the real schedule next to it. Nothing is eager here: tasks travel through the
broker. We watch a quote expire on its own and a buy settle from confirm to completed, and
another run's worker on the same Redis database take none of our tasks."""

import re
import time
import uuid
from decimal import Decimal

import pytest
import redis
from celery import Celery
from celery.beat import EmbeddedService
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings

from accounts.models import LedgerAccount
from config.celery import app
from otc import services
from otc.models import Channel, Order, OrderTransition, Status
from tests.conftest import cache_clear
from tests.webhooks.processes import start_worker as start_worker_process
from tests.webhooks.processes import stop, wait_ready

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

DEADLINE = 30.0


def wait_for_status(order_id, status: str, deadline: float = DEADLINE) -> Order:
    """Poll the database until the order reaches ``status`` (fails after ``deadline`` s)."""
    stop = time.monotonic() + deadline
    while True:
        order = Order.objects.get(pk=order_id)
        if order.status == status:
            return order
        if time.monotonic() > stop:
            pytest.fail(f"order stayed {order.status}, expected {status} within {deadline}s")
        time.sleep(0.1)


@pytest.fixture
def worker(settings, real_broker):
    """A worker consuming every queue (settlement, webhooks, default) of this run's namespace."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with start_worker(
        app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
    ) as running:
        yield running


@pytest.fixture
def beat(worker, tmp_path):
    service = EmbeddedService(app, thread=True, schedule_filename=str(tmp_path / "beat"))
    service.start()
    yield service
    service.stop()
    service.join(10)


def balance(owner) -> Decimal:
    return LedgerAccount.objects.get(pk=owner.ledger_account_id).balance


def test_beat_and_the_worker_expire_a_quote_left_alone(acme, settings, buy_quote, beat):
    settings.OTC_QUOTE_TTL_SECONDS = 1
    stale = buy_quote(acme, "100.00")
    settings.OTC_QUOTE_TTL_SECONDS = 60
    fresh = buy_quote(acme, "100.00")

    expired = wait_for_status(stale.pk, Status.EXPIRED)

    entry = OrderTransition.objects.get(order=expired, to_status=Status.EXPIRED)
    assert (entry.from_status, entry.actor, entry.channel) == (
        Status.QUOTED,
        "system:quote-sweeper",
        Channel.TASK,
    )
    assert Order.objects.get(pk=fresh.pk).status == Status.QUOTED
    response = acme.client().post(
        "/api/v1/otc-exchanges",
        {"quoteId": str(stale.pk)},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "QUOTE_EXPIRED")


def test_the_sweep_task_sent_through_the_broker_expires_stale_quotes(
    acme, settings, buy_quote, worker
):
    settings.OTC_QUOTE_TTL_SECONDS = 0
    stale = buy_quote(acme, "100.00")
    from otc.tasks import expire_quotes

    expire_quotes.delay()
    assert wait_for_status(stale.pk, Status.EXPIRED).status == Status.EXPIRED


def test_the_worker_settles_a_buy_from_confirm_to_completed(acme, desk, operator, worker):
    master, wallet = balance(acme.eur_master), balance(acme.wallet)
    treasury_eur, treasury_usdc = balance(desk["eur"]), balance(desk["usdc"])
    api = acme.client()
    quote = api.post(
        "/api/v1/otc-exchanges/quote",
        {
            "sourceFrAccountId": str(acme.eur_master.pk),
            "destinationUtilaWalletId": str(acme.wallet.pk),
            "sourceAmountEur": "2000.00",
        },
        format="json",
    ).json()["data"]

    confirm = api.post(
        "/api/v1/otc-exchanges",
        {"quoteId": quote["quoteId"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert confirm.json()["data"]["status"] == "debit_pending"  # the worker has not run yet

    waiting = wait_for_status(quote["quoteId"], Status.PENDING_APPROVAL)
    assert waiting.transitions.get(to_status=Status.PENDING_APPROVAL).actor == "system:fiat-rail"
    assert balance(desk["eur"]) == treasury_eur + Decimal("2000.00")

    approved = services.order_approve(
        order_id=quote["quoteId"], actor=services.Actor.for_user(operator, Channel.OPS)
    )
    assert approved.status == Status.APPROVED

    done = wait_for_status(quote["quoteId"], Status.COMPLETED)
    shown = api.get(f"/api/v1/otc-exchanges/{quote['quoteId']}").json()["data"]
    assert shown["status"] == "completed"
    assert shown["destinationAmount"] == "2149.200000"  # 2000 x 1.0746
    assert done.completed_at is not None
    assert balance(acme.eur_master) == master - Decimal("2000.00")
    assert balance(acme.wallet) == wallet + Decimal("2149.200000")
    assert balance(desk["usdc"]) == treasury_usdc - Decimal("2149.200000")


def test_another_runs_worker_on_the_same_redis_db_takes_none_of_our_tasks(
    acme, settings, worker, tmp_path
):
    """Two test runs share this Redis database: ours (the in-process worker) and another one,
    whose worker consumes queues of the same names under its own namespace."""
    other = f"other-run-{uuid.uuid4().hex[:8]}"
    assert settings.REDIS_NAMESPACE and other != settings.REDIS_NAMESPACE
    log = tmp_path / "other-run.log"
    theirs = start_worker_process(log, name="other-run", OTC_REDIS_NAMESPACE=other)
    try:
        wait_ready(log, theirs)
        # What the other run sends reaches its worker (the control: it is listening) ...
        other_app = Celery("other-run", broker=django_settings.REDIS_URL, set_as_current=False)
        other_app.conf.broker_transport_options = {"global_keyprefix": f"{other}:"}
        sent = other_app.send_task("otc.tasks.expire_quotes", queue="settlement")
        stop_at = time.monotonic() + DEADLINE
        while f"[{sent.id}] received" not in log.read_text(errors="replace"):
            assert time.monotonic() < stop_at, log.read_text()[-3000:]
            time.sleep(0.1)

        # ... and what we send reaches only ours.
        quote = (
            acme.client()
            .post(
                "/api/v1/otc-exchanges/quote",
                {
                    "sourceFrAccountId": str(acme.eur_master.pk),
                    "destinationUtilaWalletId": str(acme.wallet.pk),
                    "sourceAmountEur": "500.00",
                },
                format="json",
            )
            .json()["data"]
        )
        acme.client().post(
            "/api/v1/otc-exchanges",
            {"quoteId": quote["quoteId"]},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        wait_for_status(quote["quoteId"], Status.PENDING_APPROVAL)
    finally:
        stop(theirs)
    received = re.findall(r"Task (\S+)\[[^\]]+\] received", log.read_text(errors="replace"))
    assert received == ["otc.tasks.expire_quotes"]  # only its own
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.delete(*client.keys(f"{other}:*") or [f"{other}:none"])


def test_clearing_the_cache_leaves_other_runs_keys_alone(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL)")
    client = redis.Redis.from_url(settings.REDIS_URL)
    theirs = f"other-run-{uuid.uuid4().hex[:8]}:settlement"
    client.lpush(theirs, "a message of another run")
    from django.core.cache import cache

    cache.set("ours", 1)
    try:
        cache_clear()
        assert cache.get("ours") is None
        assert client.llen(theirs) == 1
    finally:
        client.delete(theirs)
