"""A real Celery worker on Redis, killed (SIGKILL) in the middle of a delivery, and a new
worker that finishes it: late acknowledgement means the message was never lost, and the
attempt's lease means the two never send at the same time."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from config.celery import app
from otc.webhooks import services
from otc.webhooks.models import Delivery

from .test_delivery import quote_buy

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def worker_env() -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="false",
        OTC_WEBHOOKS_ALLOW_PRIVATE="true",
        OTC_WEBHOOKS_TIMEOUT_SECONDS="2",
        OTC_PRICE_FEED="static:1.080000",
        CONN_MAX_AGE="0",
    )
    return env


def start_worker(log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.webhooks.worker_app",
            "worker",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=worker_env(),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killed with its pool child
    )


def wait_ready(log: Path, process: subprocess.Popen, marker: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{log.read_text()[-3000:]}")
        if log.read_text(errors="replace").count("ready.") >= int(marker):
            return
        time.sleep(0.2)
    raise AssertionError(f"worker not ready:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """Warm shutdown (SIGTERM to the main process), then the whole group if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture
def real_broker():
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL)")
    # Nothing left over from an earlier run: queued messages, and unacknowledged ones a
    # killed worker left behind (kombu's Redis transport keeps them in these two keys).
    app.control.purge()
    redis.Redis.from_url(settings.REDIS_URL).delete("unacked", "unacked_index")
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


def test_a_worker_killed_mid_delivery_does_not_lose_it(acme, receiver, real_broker, tmp_path):
    log = tmp_path / "worker.log"
    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    # The first request hangs long enough to kill the worker while it waits for the answer.
    receiver.answer((200, 5, b"too slow"))
    first = start_worker(log)
    second = None
    try:
        wait_ready(log, first, "1")
        quote_buy(acme)  # commits; the delivery task is published to Redis on commit
        receiver.wait_for(1, timeout=30)
        os.killpg(first.pid, signal.SIGKILL)  # no warm shutdown, no acknowledgement
        first.wait(timeout=10)
        delivery = Delivery.objects.get(endpoint=endpoint)
        assert delivery.status == Delivery.Status.PENDING
        [interrupted] = delivery.attempts.all()
        assert interrupted.finished_at is None  # the log shows the attempt that never ended

        second = start_worker(log)
        wait_ready(log, second, "2")
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            delivery.refresh_from_db()
            if delivery.status == Delivery.Status.SUCCEEDED:
                break
            time.sleep(0.3)
        assert delivery.status == Delivery.Status.SUCCEEDED, log.read_text()[-4000:]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        if second is not None:
            stop(second)

    attempts = list(delivery.attempts.order_by("number"))
    assert [a.succeeded for a in attempts] == [False] * (len(attempts) - 1) + [True]
    assert attempts[0].finished_at is None
    assert len(receiver.requests) == len(attempts)  # never two sends for one attempt
    event_ids = {r.verify(endpoint.secret)["id"] for r in receiver.requests}
    assert event_ids == {str(delivery.event_id)}
