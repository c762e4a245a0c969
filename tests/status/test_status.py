"""/api/v1/status and /status: every component's states provoked for real, the shared
snapshot honoured, no credentials needed."""

import time
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.providers import set_simulated_outage
from config.celery import app
from otc import pricing, status
from otc.status import heartbeat
from otc.webhooks import services as webhooks
from otc.webhooks.models import Delivery

from .conftest import send_heartbeats

pytestmark = pytest.mark.django_db

URL = "/api/v1/status"
COMPONENTS = [
    "api",
    "database",
    "broker",
    "workers",
    "beat",
    "price_feed",
    "bank_rail",
    "custody",
    "webhooks",
]


def fetch(client: APIClient | None = None) -> dict:
    cache.delete(status.SNAPSHOT_KEY)  # each test reads a fresh round of checks
    response = (client or APIClient()).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data"}
    return body["data"]


def component(data: dict, name: str) -> dict:
    return next(c for c in data["components"] if c["name"] == name)


def test_everything_operational_in_the_envelope(heartbeats):
    data = fetch()
    assert set(data) == {"status", "checkedAt", "components"}
    assert [c["name"] for c in data["components"]] == COMPONENTS
    for item in data["components"]:
        assert set(item) == {"name", "label", "status", "detail"}
        assert item["status"] == "operational", item
        assert item["detail"]
    assert data["status"] == "operational"
    assert data["checkedAt"].endswith("Z")
    assert "EUR/USDC mid 1.08" in component(data, "price_feed")["detail"]


def test_no_credentials_are_needed_and_bad_ones_are_ignored(heartbeats):
    anonymous = APIClient()
    assert fetch(anonymous)["status"] == "operational"
    wrong = APIClient()
    wrong.credentials(HTTP_X_API_KEY="not-a-key", HTTP_AUTHORIZATION="Bearer nonsense")
    assert fetch(wrong)["status"] == "operational"


def test_without_any_heartbeat_workers_and_beat_are_down():
    data = fetch()
    workers, beat = component(data, "workers"), component(data, "beat")
    assert (workers["status"], beat["status"]) == ("down", "down")
    for queue in ("default", "settlement", "webhooks"):
        assert f"{queue}: no worker has run the heartbeat" in workers["detail"]
    assert "beat is not running" in beat["detail"]
    assert data["status"] == "degraded"


@pytest.mark.parametrize(("age", "state"), [(20, "operational"), (45, "degraded"), (300, "down")])
def test_a_stopped_heartbeat_ages_from_operational_to_degraded_to_down(age, state):
    """The stamps a worker and beat left ``age`` seconds ago (period 10 s: fresh up to 30 s,
    late up to 120 s)."""
    with mock.patch("otc.status.time.time", return_value=time.time() - age):
        send_heartbeats()
    app.control.purge()
    data = fetch()
    assert component(data, "workers")["status"] == state
    assert component(data, "beat")["status"] == state
    if state != "operational":
        assert "ago" in component(data, "workers")["detail"]


def test_a_worker_without_beat_is_told_apart(heartbeats):
    cache.delete(status.BEAT_HEARTBEAT_KEY)
    for queue in ("default", "settlement", "webhooks"):
        heartbeat.apply(routing_key=queue)
    data = fetch()
    assert component(data, "workers")["status"] == "operational"
    assert component(data, "beat")["status"] == "down"


def test_a_queue_no_worker_consumes_takes_the_workers_down():
    send_heartbeats(["default", "webhooks"])
    app.control.purge()
    workers = component(fetch(), "workers")
    assert workers["status"] == "down"
    assert workers["detail"].startswith("Tasks are queuing on settlement.")
    assert "settlement: no worker has run the heartbeat" in workers["detail"]
    assert "webhooks: last heartbeat 0 s ago" in workers["detail"]


@pytest.mark.parametrize(("switch", "name"), [("fiat", "bank_rail"), ("custody", "custody")])
def test_a_provider_outage_switch_takes_its_component_down(heartbeats, switch, name):
    set_simulated_outage(switch, True)
    data = fetch()
    assert component(data, name)["status"] == "down"
    assert "Simulated outage" in component(data, name)["detail"]
    others = [c for c in data["components"] if c["name"] != name]
    assert all(c["status"] == "operational" for c in others)
    assert data["status"] == "degraded"
    set_simulated_outage(switch, False)
    assert component(fetch(), name)["status"] == "operational"


def test_the_outage_setting_counts_too(heartbeats, settings):
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
    assert component(fetch(), "custody")["status"] == "down"


def test_an_unreachable_price_feed_is_down(heartbeats, settings, closed_port):
    settings.OTC_PRICE_FEED = "kraken"
    settings.OTC_KRAKEN_API_URL = f"http://127.0.0.1:{closed_port}"
    feed = component(fetch(), "price_feed")
    assert feed["status"] == "down"
    assert "cannot be reached" in feed["detail"] and "kraken feed" in feed["detail"]


def test_a_manual_price_keeps_a_dead_feed_degraded_not_down(heartbeats, settings, closed_port):
    settings.OTC_PRICE_FEED = "kraken"
    settings.OTC_KRAKEN_API_URL = f"http://127.0.0.1:{closed_port}"
    pricing.price_override_store(
        pricing.PriceOverride(
            pair="EUR/USDC",
            rate=Decimal("1.07"),
            set_by="op",
            set_at=timezone.now(),
            expires_at=None,
        ),
        "EUR/USDC",
    )
    feed = component(fetch(), "price_feed")
    assert feed["status"] == "degraded"
    assert "manual price 1.07 in force" in feed["detail"]


def test_an_unreachable_broker_is_down(heartbeats, closed_port):
    app.conf.broker_write_url = f"redis://127.0.0.1:{closed_port}/0"
    try:
        data = fetch()
    finally:
        app.conf.broker_write_url = None
    assert component(data, "broker")["status"] == "down"
    assert component(data, "database")["status"] == "operational"
    assert data["status"] == "degraded"


@pytest.fixture
def endpoint(acme, settings):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True
    return webhooks.endpoint_create(customer=acme.customer, url="http://127.0.0.1:9/hook")


def emit(acme, minutes_ago: float = 0) -> None:
    """An event whose delivery fell due ``minutes_ago`` (never sent: no commit, no task)."""
    moment = timezone.now() - timedelta(minutes=minutes_ago)
    with mock.patch("django.utils.timezone.now", return_value=moment):
        webhooks.event_emit(customer=acme.customer, type="otc_order.completed", data={})


def test_webhook_deliveries_due_now_are_not_a_backlog(heartbeats, acme, endpoint):
    emit(acme)
    hooks = component(fetch(), "webhooks")
    assert hooks["status"] == "operational"
    assert hooks["detail"] == "1 deliveries pending, none overdue."


def test_overdue_webhook_deliveries_degrade_and_a_stall_is_down(heartbeats, acme, endpoint):
    emit(acme)
    emit(acme, minutes_ago=5)
    hooks = component(fetch(), "webhooks")
    assert hooks["status"] == "degraded"
    assert hooks["detail"] == "1 of 2 pending deliveries overdue, the oldest due 5 min ago."
    emit(acme, minutes_ago=30)
    hooks = component(fetch(), "webhooks")
    assert hooks["status"] == "down"
    assert hooks["detail"].startswith("2 of 3 pending deliveries overdue")


def test_a_delivery_a_worker_is_sending_is_not_overdue(heartbeats, acme, endpoint):
    emit(acme, minutes_ago=5)
    Delivery.objects.update(claimed_until=timezone.now() + timedelta(seconds=30))
    assert component(fetch(), "webhooks")["status"] == "operational"


def test_a_second_call_within_the_ttl_is_served_from_the_cache(
    heartbeats, settings, django_assert_num_queries
):
    settings.OTC_STATUS_CACHE_SECONDS = 2
    first = fetch()
    set_simulated_outage("fiat", True)  # not seen until the snapshot expires
    client = APIClient()
    with django_assert_num_queries(0):
        second = client.get(URL).json()["data"]
        page = client.get("/status")
    assert second == first
    assert page.status_code == 200
    time.sleep(2.1)
    heartbeats()
    third = client.get(URL).json()["data"]
    assert third["checkedAt"] != first["checkedAt"]
    assert component(third, "bank_rail")["status"] == "down"


def test_the_status_page_lists_every_component(heartbeats):
    set_simulated_outage("custody", True)
    cache.delete(status.SNAPSHOT_KEY)
    response = APIClient().get("/status")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert 'data-testid="overall" data-status="degraded"' in html
    for name in COMPONENTS:
        assert f'data-component="{name}"' in html
    assert 'data-component="custody" data-status="down"' in html
    assert "Simulated outage" in html
    assert 'http-equiv="refresh"' in html


def test_the_status_route_is_documented_as_public():
    schema = APIClient().get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/status"]["get"]
    assert operation.get("security") in (None, [], [{}])
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    envelope = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(envelope["properties"]) == {"data"}
