"""The quote sweep's outbox events: derived in SQL from each order's last event, they must be
exactly what rendering the expired order would give (``_order_event``), for every kind of
quote; where the last event no longer shows the order as it was, or is gone, the order is
rendered instead; and the deliveries to subscribed endpoints are written either way."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from otc import services
from otc.models import Channel, FixedSide, Kind, Order, Side, Status
from otc.webhooks.models import Delivery, Event
from otc.webhooks.services import _order_event, endpoint_create

pytestmark = pytest.mark.django_db

ACTOR = services.Actor(label="test", channel=Channel.API)


def quote(world, side=Side.BUY, amount="1000.00", **options) -> Order:
    return services.quote_create(
        customer=world.customer,
        side=side,
        fiat_account_id=world.eur_master.pk,
        wallet_id=world.wallet.pk,
        amount=Decimal(amount),
        actor=ACTOR,
        **options,
    )


def every_kind_of_quote(world) -> dict[str, Order]:
    requoted = quote(world, amount="300.00")
    services.order_requote(order_id=requoted.pk, customer=world.customer, actor=ACTOR)
    return {
        "buy": quote(world),
        "buy, destination fixed": quote(
            world, amount="500.000000", fixed_side=FixedSide.DESTINATION
        ),
        "sell": quote(world, Side.SELL, "700.000000"),
        "requoted": requoted,
        "market buy": quote(world, amount="250.00", kind=Kind.MARKET),
        "market sell": quote(world, Side.SELL, "90.000000", kind=Kind.MARKET),
    }


def sweep_later() -> int:
    """The sweep as it runs once every quote's TTL has passed (nothing about the orders is
    changed to make them stale: their last event shows them as they are)."""
    return services.quotes_expire(now=timezone.now() + timedelta(days=1))


def expiry_event(order: Order) -> Event:
    return Event.objects.get(order_id=order.pk, type__endswith=".expired")


def rendered(order: Order, previous: str):
    """What rendering the expired order gives: the data and the type."""
    fresh = Order.objects.select_related("pair").get(pk=order.pk)
    event = _order_event(fresh, previous)
    return event.type, event.data


def test_every_expiry_event_is_the_expired_order_as_rendering_shows_it(acme, fees):
    quotes = every_kind_of_quote(acme)
    statuses = dict(Order.objects.values_list("pk", "status"))
    previous = {name: statuses[order.pk] for name, order in quotes.items()}

    with CaptureQueriesContext(connection) as ctx:
        assert sweep_later() == len(quotes)

    # Derived in SQL: the orders were not read back to render them.
    reads = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    assert reads == [], reads
    for name, order in quotes.items():
        event = expiry_event(order)
        assert (event.type, event.data) == rendered(order, previous[name]), name
        assert event.customer_id == acme.customer.pk and event.txid > 0
    assert expiry_event(quotes["buy"]).data["fees"]["lines"], "the fee lines came along"
    market = expiry_event(quotes["market sell"]).data
    assert (market["status"], market["previous_status"]) == ("EXPIRED", "QUOTED")
    assert expiry_event(quotes["requoted"]).data["previousStatus"] == Status.REQUOTED


def test_an_order_changed_after_its_last_event_or_without_one_is_rendered(acme):
    behind, without, current = (
        quote(acme),
        quote(acme, amount="200.00"),
        quote(acme, amount="300.00"),
    )
    # A write that moved ``updated_at`` but wrote no event (the sweep must not trust the event).
    Order.objects.filter(pk=behind.pk).update(
        updated_at=behind.updated_at + timedelta(seconds=1), source_amount=Decimal("1111.00")
    )
    Event.objects.filter(order_id=without.pk).delete()  # purged, say

    assert sweep_later() == 3

    for order in (behind, without, current):
        event = expiry_event(order)
        assert (event.type, event.data) == rendered(order, Status.QUOTED)
    assert expiry_event(behind).data["sourceAmount"] == "1111.00"


def test_the_last_event_is_trusted_only_while_it_shows_the_status_left(acme):
    """An event of another status with the same ``updated_at`` (as two transitions in one
    millisecond would leave) is not the order as it was."""
    order = quote(acme)
    last = Event.objects.get(order_id=order.pk)
    last.data = {**last.data, "status": "requoted", "sourceAmount": "9.99"}
    last.save()

    assert sweep_later() == 1

    assert expiry_event(order).data == rendered(order, Status.QUOTED)[1]


def test_derived_events_are_delivered_to_the_endpoints_that_want_them(acme, globex, settings):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True
    wants = endpoint_create(customer=acme.customer, url="http://127.0.0.1:9/all")
    expired_only = endpoint_create(
        customer=acme.customer, url="http://127.0.0.1:9/expired", events=["otc_order.expired"]
    )
    other = endpoint_create(
        customer=acme.customer, url="http://127.0.0.1:9/other", events=["otc_order.completed"]
    )
    endpoint_create(customer=globex.customer, url="http://127.0.0.1:9/globex")
    order, exchange = quote(acme), quote(acme, amount="50.00", kind=Kind.MARKET)
    Delivery.objects.all().delete()  # the quotes' own

    assert sweep_later() == 2

    delivered = set(Delivery.objects.values_list("endpoint_id", "event__order_id"))
    assert delivered == {
        (wants.pk, order.pk),
        (wants.pk, exchange.pk),
        (expired_only.pk, order.pk),
    }
    assert not Delivery.objects.filter(endpoint=other).exists()
    assert {d.status for d in Delivery.objects.all()} == {Delivery.Status.PENDING}


@pytest.mark.parametrize(
    "moment",
    [
        "2026-12-02T14:15:39.184931+00:00",
        "2026-12-02T23:59:59.999999+00:00",  # truncated, never rounded into the next day
        "2026-03-29T01:30:00.000500+01:00",  # not UTC
        "2026-01-01T00:00:00+00:00",
    ],
)
def test_iso_ms_in_sql_is_iso_ms(db, moment):
    from datetime import datetime

    from otc.representations import iso_ms, iso_ms_sql

    value = datetime.fromisoformat(moment)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {iso_ms_sql('%s::timestamptz')}", [value])
        assert cursor.fetchone()[0] == iso_ms(value)
