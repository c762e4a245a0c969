"""The rest of an exchange's life: the quote sweep expires it, webhooks announce every
transition in the seed's style through the outbox, and reconciliation finds the books and the
providers in agreement after exchanges executed."""

import csv
import io
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from otc import reconciliation, services, settlement, tasks
from otc.models import MarketExchange, ProviderTransfer, Status
from otc.webhooks.models import Delivery, Event
from otc.webhooks.services import EXCHANGE_EVENT_TYPES, endpoint_create
from tests import factories

from .conftest import BASE, buy_body, sell_body

pytestmark = pytest.mark.django_db


# --- the sweep --------------------------------------------------------------------------------


def test_the_quote_sweep_expires_quoted_exchanges_only(acme, quoted, accept):
    stale = quoted(buy_body(acme))
    done = quoted(buy_body(acme, "100.00"))
    assert accept(done).json()["status"] == "EXECUTED"
    fresh = quoted(buy_body(acme, "200.00"))
    MarketExchange.objects.filter(pk__in=[stale, done]).update(
        ttl_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.quotes_expire() == 1
    statuses = dict(MarketExchange.objects.values_list("pk", "status"))
    assert statuses == {
        MarketExchange.objects.get(pk=stale).pk: Status.EXPIRED,
        MarketExchange.objects.get(pk=done).pk: Status.EXECUTED,
        MarketExchange.objects.get(pk=fresh).pk: Status.QUOTED,
    }
    response = accept(stale)
    assert (response.status_code, response.json()["error"]["code"]) == (400, "QUOTE_EXPIRED")


def test_the_beat_task_is_the_same_sweep(acme, quoted, api):
    stale = quoted(buy_body(acme))
    MarketExchange.objects.filter(pk=stale).update(ttl_expires_at=timezone.now())
    tasks.expire_quotes()
    assert api.get(f"{BASE}/{stale}").json()["status"] == "EXPIRED"


# --- webhooks ----------------------------------------------------------------------------------


@pytest.fixture
def receiver(settings):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append((dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    server.shutdown()
    server.server_close()


def test_every_transition_is_an_exchange_event_in_the_outbox(acme, quoted, accept, market):
    executed = quoted(buy_body(acme))
    accept(executed)
    failed = quoted(sell_body(acme))
    market(Decimal("1.200000"))
    accept(failed)
    types = list(Event.objects.order_by("created_at").values_list("type", "order_id"))
    assert [t for t, _ in types] == [
        "exchange.quoted",
        "exchange.executed",
        "exchange.quoted",
        "exchange.failed",
    ]
    event = Event.objects.get(type="exchange.executed")
    assert event.data["status"] == "EXECUTED" and event.data["previous_status"] == "QUOTED"
    assert event.data["source_transaction_id"] and event.data["action"] == "FIX_SOURCE"
    assert Event.objects.get(type="exchange.failed").data["failure_code"] == "SLIPPAGE_EXCEEDED"


def test_a_subscribed_endpoint_receives_the_exchange_signed(
    acme, quoted, accept, receiver, django_capture_on_commit_callbacks
):
    url, received = receiver
    endpoint = endpoint_create(customer=acme.customer, url=url, events=["exchange.executed"])
    exchange_id = quoted(buy_body(acme))
    with django_capture_on_commit_callbacks(execute=True):
        accept(exchange_id)
    assert Delivery.objects.filter(endpoint=endpoint).count() == 1  # only what it asked for
    deadline = timezone.now() + timedelta(seconds=10)
    while not received and timezone.now() < deadline:
        threading.Event().wait(0.05)
    [(headers, body)] = received
    payload = Webhook(endpoint.secret).verify(body, {k.lower(): v for k, v in headers.items()})
    assert payload["type"] == "exchange.executed"
    assert payload["data"]["id"] == exchange_id and payload["data"]["status"] == "EXECUTED"


def test_exchange_events_are_subscribable_and_in_the_feed(acme, quoted):
    hooks = acme.client(
        factories.make_key(acme.customer, ["webhooks:read", "webhooks:write", "otc-exchanges:read"])
    )
    response = hooks.post(
        "/api/v1/webhook-endpoints",
        {"url": "https://hooks.example.com/x", "events": list(EXCHANGE_EVENT_TYPES)},
        format="json",
    )
    assert response.status_code == 201, response.content
    quoted(buy_body(acme))
    feed = hooks.get("/api/v1/events?type=exchange.quoted").json()["data"]
    assert [event["type"] for event in feed] == ["exchange.quoted"]


# --- reconciliation ------------------------------------------------------------------------------


def test_executed_exchanges_reconcile_without_breaks(
    acme, globex, quoted, accept, market, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for body, slippage in (
            (buy_body(acme, "1000.00"), 100),
            (sell_body(acme, "800.000000"), 100),
            (buy_body(acme, "500.000000", "FIX_DESTINATION"), 100),
            (sell_body(acme, "300.00", "FIX_DESTINATION"), 50),
        ):
            exchange_id = quoted(body)
            market(Decimal("1.078000"))  # the market moved a little: buffers partly used
            assert accept(exchange_id, {"maximum_slippage": slippage}).json()["status"] == (
                "EXECUTED"
            )
            market(Decimal("1.080000"))
    assert set(ProviderTransfer.objects.values_list("state", flat=True)) == {"settled"}
    assert ProviderTransfer.objects.filter(step="adjust").count() == 2
    report = reconciliation.reconcile(reconciliation.desk_today())
    assert list(report.breaks.values_list("kind", "position", "reference")) == []
    assert report.matched > 0


def test_an_exchange_whose_provider_step_is_still_pending_is_a_break_until_resumed(
    acme, quoted, accept, settings, django_capture_on_commit_callbacks
):
    exchange_id = quoted(buy_body(acme, "100.00"))
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
    settings.OTC_SIMULATE_FIAT_OUTAGE = True
    with django_capture_on_commit_callbacks(execute=True):
        accept(exchange_id)
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = False
    settings.OTC_SIMULATE_FIAT_OUTAGE = False
    assert reconciliation.reconcile(reconciliation.desk_today()).break_count > 0
    settlement.advance(exchange_id)
    assert reconciliation.reconcile(reconciliation.desk_today()).break_count == 0


# --- statements ----------------------------------------------------------------------------------


def test_the_statement_lists_the_exchange_and_its_movements(acme, quoted, accept):
    exchange_id = quoted(buy_body(acme, "500.000000", "FIX_DESTINATION"))
    accept(exchange_id)
    today = reconciliation.desk_today().isoformat()
    response = acme.client(acme.read_key).get(
        "/api/v1/statements", {"from": today, "to": today, "format": "csv"}
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    [order] = [row for row in rows if row["record"] == "order"]
    assert (order["order_id"], order["status"]) == (exchange_id, "executed")
    kinds = [
        (row["kind"], row["amount"])
        for row in rows
        if row["record"] == "movement"
        and row["order_id"] == exchange_id
        and row["currency"] == "EUR"
    ]
    assert kinds == [("order_settlement", "-469.95"), ("market_adjustment", "4.66")]
