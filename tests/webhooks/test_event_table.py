"""The event table carries what its readers use and no more: each event written (one per
expired quote in the sweep) maintains six indexes and checks no constraint of its own, and a
customer's events still go with the customer."""

import pytest
from django.db import connection

from accounts.models import Customer
from otc.webhooks.models import Event
from otc.webhooks.services import event_emit
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_customers_events_are_deleted_with_the_customer(desk):
    customer = factories.CustomerFactory(slug="leaving")
    other = factories.CustomerFactory(slug="staying")
    event_emit(customer=customer, type="otc_order.quoted", data={"n": 1})
    kept = event_emit(customer=other, type="otc_order.quoted", data={"n": 2})

    Customer.objects.filter(pk=customer.pk).delete()

    assert list(Event.objects.values_list("pk", flat=True)) == [kept.pk]


def test_the_event_table_has_only_the_indexes_its_readers_use():
    if connection.vendor != "postgresql":
        pytest.skip("index names and LIKE indexes are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'webhooks_event'")
        columns = sorted(row[0].split("(", 1)[1].rstrip(")") for row in cursor.fetchall())
        cursor.execute(
            "SELECT count(*) FROM pg_constraint "
            "WHERE conrelid = 'webhooks_event'::regclass AND contype = 'f'"
        )
        (foreign_keys,) = cursor.fetchone()
    assert columns == [
        "created_at",
        "customer_id, created_at, id",
        "customer_id, txid, created_at, id",
        "id",
        "order_id, created_at, id",
        "type",
    ]
    assert foreign_keys == 0
