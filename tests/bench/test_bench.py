"""The benchmark's own machinery (bench/): the bulk copies it measures on, its sweep
comparison, and its way of counting statements. The benchmark itself is run by hand
(``bench/bench_http.py``), not by the suite."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from bench import data, inprocess
from bench.bench_http import sweep_against_raw_update
from bench.locks import LockWaits, normalise_uuid
from otc.models import Order, OrderTransition, Status
from otc.webhooks.models import Event


def test_clone_orders_copies_the_order_and_its_timeline(desk):
    who = data.make_customer("bench-clone")
    template = data.confirmed_order(who)
    template_steps = list(
        OrderTransition.objects.filter(order=template).values_list("from_status", "to_status")
    )

    assert data.clone_orders(template, 25) == 25

    orders = Order.objects.filter(customer_id=who.customer_id)
    assert orders.count() == 26
    assert len(set(orders.values_list("pk", flat=True))) == 26
    for copy in orders.exclude(pk=template.pk):
        assert (copy.status, copy.source_amount, copy.fiat_account_id) == (
            template.status,
            template.source_amount,
            template.fiat_account_id,
        )
        steps = OrderTransition.objects.filter(order=copy).values_list("from_status", "to_status")
        assert list(steps) == template_steps

    api = APIClient()
    api.credentials(HTTP_X_API_KEY=who.api_key)
    body = api.get("/api/v1/otc-exchanges?limit=100").json()
    assert body["meta"]["pagination"]["total"] == 26
    assert body["data"][0]["id"] == str(template.pk)  # the copies are older, one second apart
    assert len({row["createdAt"] for row in body["data"]}) == 26


def test_clone_orders_applies_overrides(desk):
    who = data.make_customer("bench-override")
    template = data.quote(who)

    data.clone_orders(
        template, 3, overrides={"ttl_expires_at": "t.ttl_expires_at - n.g * interval '1 hour'"}
    )

    copies = Order.objects.filter(customer_id=who.customer_id).exclude(pk=template.pk)
    hours_earlier = sorted(
        round((template.ttl_expires_at - c.ttl_expires_at).total_seconds() / 3600) for c in copies
    )
    assert hours_earlier == [1, 2, 3]
    assert data.clone_orders(template, 0) == 0


@pytest.mark.django_db(transaction=True)
def test_sweep_and_raw_update_expire_the_same_rows_each_round_from_the_same_state(desk):
    result = sweep_against_raw_update(data, 30, rounds=2)

    assert len(result["rounds"]) == 2
    for timed in result["rounds"]:
        assert timed["raw_rows"] == timed["sweep_rows"] == 30
        assert timed["batches"] >= 1
        assert timed["factor"] == timed["sweep_s"] / timed["raw_s"]
    assert min(t["factor"] for t in result["rounds"]) <= result["factor"]
    assert result["factor"] <= max(t["factor"] for t in result["rounds"])
    # Put back as they were: open again, nothing of the sweeps' left behind.
    stale = Order.objects.filter(customer__slug="bench-sweep")
    assert stale.count() == 30
    assert set(stale.values_list("status", flat=True)) == {Status.QUOTED}
    assert not OrderTransition.objects.filter(order__in=stale, to_status=Status.EXPIRED).exists()
    assert not Event.objects.filter(order_id__in=stale.values("pk"), type__endswith="expired")


@pytest.mark.django_db(transaction=True)
def test_statement_counts_include_begin_and_commit(desk):
    """The issue's baseline (12 per quote) counts BEGIN and COMMIT; so must the benchmark."""
    who = data.make_customer("bench-count")
    api = inprocess.ApiCaller(who)
    api.quote()

    counted = inprocess.count_statements(api.quote, 3)

    assert counted.kinds["BEGIN"] == 3
    assert counted.kinds["COMMIT"] == 3
    assert counted.counts == [len(counted.sample)] * 3
    with CaptureQueriesContext(connection) as ctx:
        api.quote()
    assert len(ctx.captured_queries) == counted.typical


def test_lock_waits_name_the_row_the_waiters_share():
    waits = LockWaits(samples=4, active=8, waiting=4)
    clearing, mine, yours = (
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
        "33333333-3333-4333-8333-333333333333",
    )
    waits.ids.update([clearing, mine, clearing, yours, clearing, clearing])

    lines = waits.describe({clearing: "clearing:EUR"})

    assert lines[0].startswith("1.00 of 2.00 active backends")
    assert "clearing:EUR 100%" in lines[-1]
    assert normalise_uuid(clearing.replace("-", "")) == clearing


def test_settlement_measures_count_what_the_worker_runs_for_one_buy(desk):
    who = data.make_customer("bench-settle")
    counted, cpu_ms = inprocess.settlement_measures(who, 2)
    assert len(counted.counts) == 2 and cpu_ms > 0
    tables = {inprocess.summarise(sql) for sql in counted.sample}
    assert "INSERT accounts_simbanktransfer" in tables, "the bank's own statements are counted"
    assert "UPDATE otc_order" in tables, "and the order's move to pending approval"
    statuses = set(
        Order.objects.filter(customer_id=who.customer_id).values_list("status", flat=True)
    )
    assert statuses == {Status.PENDING_APPROVAL}, "every measured debit was settled here"
