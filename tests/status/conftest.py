"""Status fixtures: the heartbeat sent and run for real, a port nobody listens on."""

import socket

import pytest

from config.celery import app
from otc import status
from otc.status import heartbeat


def send_heartbeats(queues: list[str] | None = None) -> None:
    """Send the heartbeat through the broker to each queue, as beat does (which stamps beat's
    heartbeat), and run it as a worker on that queue does (which stamps the queue's)."""
    queues = status._queues() if queues is None else queues
    app.conf.task_always_eager = False
    try:
        for queue in queues:
            heartbeat.apply_async(queue=queue)
    finally:
        app.conf.task_always_eager = True
    for queue in queues:
        heartbeat.apply(routing_key=queue)


@pytest.fixture
def heartbeats():
    send_heartbeats()
    yield send_heartbeats
    app.control.purge()  # the published messages: no worker here takes them


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
