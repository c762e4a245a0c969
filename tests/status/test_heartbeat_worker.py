"""The heartbeat end to end: beat (embedded, on its own thread) sends ``otc.status.heartbeat``
through Redis to a real worker; /status sees both alive, and sees beat stop."""

import time

import pytest
from celery.beat import EmbeddedService
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings

from config.celery import app
from otc import status
from otc.status import HEARTBEAT_TASK

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def components() -> dict[str, dict]:
    return {c["name"]: c for c in status.status_check()["components"]}


def wait_until(predicate, deadline: float = 30.0) -> dict[str, dict]:
    stop = time.monotonic() + deadline
    while True:
        seen = components()
        if predicate(seen):
            return seen
        if time.monotonic() > stop:
            pytest.fail(f"not reached within {deadline}s: {seen['workers']}, {seen['beat']}")
        time.sleep(0.2)


@pytest.fixture
def worker_and_beat(settings, tmp_path):
    if not django_settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("the worker test runs on the Redis broker (set REDIS_URL)")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.OTC_HEARTBEAT_SECONDS = 1  # fresh up to 3 s, late up to 12 s
    app.conf.task_always_eager = False
    schedule = app.conf.beat_schedule
    app.conf.beat_schedule = {
        f"status-heartbeat-{queue}": {
            "task": HEARTBEAT_TASK,
            "schedule": 1.0,
            "options": {"queue": queue},
        }
        for queue in ("default", "settlement", "webhooks")
    }
    app.control.purge()
    beat = EmbeddedService(app, thread=True, schedule_filename=str(tmp_path / "beat"))
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
        ) as worker:
            beat.start()
            yield worker, beat
            beat.stop()
            beat.join(10)
    finally:
        app.conf.beat_schedule = schedule
        app.conf.task_always_eager = True


def test_beat_and_a_worker_keep_the_heartbeat_and_a_stopped_beat_shows(worker_and_beat):
    worker, beat = worker_and_beat
    alive = wait_until(
        lambda c: c["workers"]["status"] == "operational" and c["beat"]["status"] == "operational"
    )
    assert alive["workers"]["detail"].startswith("Processing every queue.")
    for queue in ("default", "settlement", "webhooks"):
        assert f"{queue}: last heartbeat" in alive["workers"]["detail"]
    assert worker.hostname.split("@")[-1] in alive["workers"]["detail"]  # who ran it

    beat.stop()
    beat.join(10)
    stopped = wait_until(lambda c: c["beat"]["status"] == "degraded", deadline=15)
    assert "periodic tasks are not running" in stopped["beat"]["detail"]
    # Nothing schedules the heartbeat now, so the workers' stamp ages too.
    assert stopped["workers"]["status"] in ("operational", "degraded")
    wait_until(lambda c: c["workers"]["status"] == "degraded", deadline=15)
