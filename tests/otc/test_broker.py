"""The broker's Redis channel (``config.broker``) keeps one client per connection pool instead
of building one for every publish and acknowledgement, and still moves messages."""

import uuid

import pytest
from django.conf import settings
from kombu import Producer, Queue

from config import broker
from config.celery import app


@pytest.fixture
def channel():
    if not getattr(settings, "CELERY_BROKER_TRANSPORT", None):
        pytest.skip("the embedded broker is a folder, not Redis")
    with app.connection_for_write() as connection:
        yield connection.default_channel


def test_one_client_per_pool_and_a_new_one_for_a_new_pool(channel):
    assert isinstance(channel, broker.Channel)
    first = channel._create_client()
    assert channel._create_client() is first
    assert channel._create_client(asynchronous=True) is not first, "the blocking one is apart"
    channel._pool = None  # what a reconnect does
    again = channel._create_client()
    assert again is not first and again.connection_pool is channel.pool


def test_messages_go_through_the_shared_client(channel):
    queue = Queue(f"test-broker-{uuid.uuid4().hex}", channel=channel)
    queue.declare()
    try:
        producer = Producer(channel)
        for n in range(3):
            producer.publish({"n": n}, routing_key=queue.name, serializer="json")
        received = []
        for _ in range(3):
            message = queue.get(no_ack=False)
            received.append(message.payload["n"])
            message.ack()
        assert received == [0, 1, 2]
        assert queue.get() is None
    finally:
        queue.delete()
