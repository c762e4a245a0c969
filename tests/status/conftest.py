"""Status fixtures: the heartbeat sent and run for real, a port nobody listens on."""

import socket

import pytest

from config.celery import app
from otc.status import heartbeat


@pytest.fixture
def heartbeats():
    """Send the heartbeat through the broker, as beat does (which stamps beat's heartbeat),
    and run it as a worker does (which stamps the workers')."""

    def beat_and_worker() -> None:
        app.conf.task_always_eager = False
        try:
            heartbeat.apply_async()
        finally:
            app.conf.task_always_eager = True
        heartbeat.apply()

    beat_and_worker()
    yield beat_and_worker
    app.control.purge()  # the published message: no worker here takes it


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
