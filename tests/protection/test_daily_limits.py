"""The daily limit per customer (EUR equivalent, counted from midnight in the desk's time
zone): shown on quote and order bodies, enforced at confirm (422 DAILY_LIMIT_EXCEEDED with
the figures in details), and given back by orders that were cancelled or rejected."""

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from accounts.errors import DomainError
from otc import services
from otc.models import Order, Side, Status
from tests.otc.test_api_support import (
    assert_error,
    buy_body,
    buy_quote_id,
    confirm,
    order_url,
    quote,
    sell_quote_id,
)

from .conftest import api_actor, ops_actor, pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit_1500(acme):
    acme.customer.daily_limit_eur = Decimal("1500.00")
    acme.customer.save(update_fields=["daily_limit_eur"])
    return acme


def test_quote_and_order_bodies_show_what_is_left_today(limit_1500):
    acme = limit_1500
    fresh = {"dailyMax": "1500.00", "dailyUsed": "0.00", "dailyRemaining": "1500.00"}
    first = quote(acme, buy_body(acme, "1000.00")).json()["data"]
    assert first["limits"] == fresh

    assert confirm(acme, first["quoteId"]).status_code == 201
    used = {"dailyMax": "1500.00", "dailyUsed": "1000.00", "dailyRemaining": "500.00"}
    assert acme.client().get(order_url(first["quoteId"])).json()["data"]["limits"] == used
    assert quote(acme, buy_body(acme, "100.00")).json()["data"]["limits"] == used
    listed = acme.client().get("/api/v1/otc-exchanges").json()["data"]
    assert all(item["limits"] == used for item in listed)


def test_a_confirm_beyond_the_limit_is_refused_with_the_figures(limit_1500):
    acme = limit_1500
    assert confirm(acme, buy_quote_id(acme, "1000.00")).status_code == 201
    second = buy_quote_id(acme, "600.00")  # quoting is free; confirming counts
    before = acme.eur_master.ledger_account.__class__.objects.get(
        pk=acme.eur_master.ledger_account_id
    ).balance

    err = assert_error(confirm(acme, second), 422, "DAILY_LIMIT_EXCEEDED")

    assert err["details"] == {
        "dailyMax": "1500.00",
        "dailyUsed": "1000.00",
        "dailyRemaining": "500.00",
    }
    assert Order.objects.get(pk=second).status == Status.QUOTED
    acme.eur_master.ledger_account.refresh_from_db()
    assert acme.eur_master.ledger_account.balance == before  # nothing debited
    assert confirm(acme, buy_quote_id(acme, "500.00")).status_code == 201  # exactly the rest


def test_a_sell_counts_at_its_eur_equivalent(limit_1500):
    acme = limit_1500
    # 1620 USDC at the mid 1.08 USDC/EUR is 1500.00 EUR: exactly the limit.
    assert confirm(acme, sell_quote_id(acme, "1620.000000"), side="sell").status_code == 201
    err = assert_error(confirm(acme, buy_quote_id(acme, "10.00")), 422, "DAILY_LIMIT_EXCEEDED")
    assert err["details"]["dailyUsed"] == "1500.00"
    assert err["details"]["dailyRemaining"] == "0.00"


def test_the_desk_default_applies_without_a_customer_limit(acme, settings):
    settings.OTC_DAILY_LIMIT_EUR = Decimal("800.00")
    err = assert_error(confirm(acme, buy_quote_id(acme, "900.00")), 422, "DAILY_LIMIT_EXCEEDED")
    assert err["details"] == {"dailyMax": "800.00", "dailyUsed": "0.00", "dailyRemaining": "800.00"}


def test_the_service_raises_the_same_error(limit_1500):
    acme = limit_1500
    order = services.quote_create(
        customer=acme.customer,
        side=Side.BUY,
        fiat_account_id=acme.eur_master.pk,
        wallet_id=acme.wallet.pk,
        amount=Decimal("1500.01"),
        actor=api_actor(acme),
    )
    with pytest.raises(DomainError) as refused:
        services.order_confirm(
            order_id=order.pk, customer=acme.customer, side=Side.BUY, actor=api_actor(acme)
        )
    assert (refused.value.code, refused.value.status) == ("DAILY_LIMIT_EXCEEDED", 422)


def test_a_rejected_order_gives_its_room_back(limit_1500, operator):
    acme = limit_1500
    order = pending(acme, amount="1000.00")
    assert services.daily_limits(acme.customer).daily_used == Decimal("1000.00")
    services.order_reject(order_id=order.pk, actor=ops_actor(operator), reason="No", code="OTHER")
    assert services.daily_limits(acme.customer).daily_used == Decimal("0.00")
    assert confirm(acme, buy_quote_id(acme, "1500.00")).status_code == 201


def test_a_cancelled_review_and_a_swept_order_give_their_room_back(limit_1500, in_review):
    acme = limit_1500
    reviewed = in_review(acme, amount="700.00")
    swept = pending(acme, amount="700.00")
    assert services.daily_limits(acme.customer).daily_used == Decimal("1400.00")

    services.order_cancel(order_id=reviewed.pk, customer=acme.customer, actor=api_actor(acme))
    services.orders_sweep(now=swept.approval_deadline_at + timedelta(seconds=1))

    swept.refresh_from_db()
    assert swept.status == Status.CANCELLED
    assert services.daily_limits(acme.customer).daily_used == Decimal("0.00")


def test_the_day_starts_at_midnight_in_the_desk_time_zone(acme, settings):
    """An order confirmed between two zones' midnights counts in the zone whose day began
    before it and not in the zone whose day began after it: the setting decides."""
    order = pending(acme, amount="100.00")
    starts = {}
    for zone in ("Europe/Berlin", "America/New_York"):
        settings.OTC_DESK_TIMEZONE = zone
        starts[zone] = services.desk_day_start()
        assert starts[zone].tzinfo == ZoneInfo(zone)
        assert (starts[zone].hour, starts[zone].minute) == (0, 0)
    earlier, later = sorted(starts, key=starts.get)
    assert starts[earlier] != starts[later]
    Order.objects.filter(pk=order.pk).update(confirmed_at=starts[later] - timedelta(minutes=1))

    settings.OTC_DESK_TIMEZONE = earlier
    assert services.daily_limits(acme.customer).daily_used == Decimal("100.00")
    settings.OTC_DESK_TIMEZONE = later
    assert services.daily_limits(acme.customer).daily_used == Decimal("0.00")


def test_yesterdays_orders_do_not_count(acme):
    order = pending(acme, amount="100.00")
    midnight = services.desk_day_start()
    Order.objects.filter(pk=order.pk).update(confirmed_at=midnight - timedelta(microseconds=1))
    assert services.daily_limits(acme.customer).daily_used == Decimal("0.00")
    Order.objects.filter(pk=order.pk).update(confirmed_at=midnight)
    assert services.daily_limits(acme.customer).daily_used == Decimal("100.00")
