"""The event feed never lets a reader step past an event whose transaction commits late:
events are ordered by their writing transaction and held back while an older one still runs.
Real transactions on PostgreSQL, two connections."""

import threading

import pytest
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from otc.webhooks.services import event_emit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("transaction ids are PostgreSQL's")


def feed(world, after: str | None = None) -> list[str]:
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=world.read_key)
    url = "/api/v1/events" + (f"?after={after}" if after else "")
    response = api.get(url)
    assert response.status_code == 200, response.content
    return [event["data"]["n"] for event in response.json()["data"]]


def _held_open_writer(world, started: threading.Event, release: threading.Event) -> None:
    try:
        with transaction.atomic():
            event_emit(customer=world.customer, type="otc_order.quoted", data={"n": "A"})
            started.set()
            assert release.wait(15)
    finally:
        connections.close_all()


def test_an_event_committed_late_is_delivered_in_order_not_skipped(acme):
    first = event_emit(customer=acme.customer, type="otc_order.quoted", data={"n": "0"})
    started, release = threading.Event(), threading.Event()
    writer = threading.Thread(target=_held_open_writer, args=(acme, started, release))
    writer.start()
    try:
        assert started.wait(15)
        # B is written and committed while A's transaction (which wrote first) is still open.
        event_emit(customer=acme.customer, type="otc_order.quoted", data={"n": "B"})
        assert feed(acme, after=str(first.pk)) == []  # B waits for A: nothing to skip past
        assert feed(acme) == ["0"]
    finally:
        release.set()
        writer.join(15)
    assert feed(acme, after=str(first.pk)) == ["A", "B"]
    assert feed(acme) == ["0", "A", "B"]


def test_a_rolled_back_transaction_leaves_no_event_and_does_not_block_the_feed(acme):
    with pytest.raises(RuntimeError), transaction.atomic():
        event_emit(customer=acme.customer, type="otc_order.quoted", data={"n": "gone"})
        raise RuntimeError("rolled back")
    event_emit(customer=acme.customer, type="otc_order.quoted", data={"n": "kept"})
    assert feed(acme) == ["kept"]
