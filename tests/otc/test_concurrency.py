"""Races with real threads on PostgreSQL: every request or service call below runs on its own
thread and database connection, released together by a barrier, in real transactions
(``transaction=True``). Under no interleaving may an order move twice or money move twice."""

import json
import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import money
from accounts.errors import DomainError
from accounts.models import JournalEntry, LedgerAccount
from config.celery import app
from otc import idempotency, services, tasks
from otc.models import Channel, IdempotencyRecord, Order, OrderTransition, Status
from tests import factories
from tests.conftest import assert_ledger_invariants

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the races are run against PostgreSQL")


def balance(ledger_owner) -> Decimal:
    return LedgerAccount.objects.get(pk=ledger_owner.ledger_account_id).balance


def post_confirm(world, order, key: str):
    """One confirm over HTTP from a fresh client; returns what the client saw."""

    def call():
        api = APIClient()
        api.credentials(HTTP_X_API_KEY=world.write_key)
        response = api.post(
            "/api/v1/otc-exchanges",
            {"quoteId": str(order.pk), "side": order.side},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )
        return response.status_code, response.content, response.get("Idempotent-Replayed")

    return call


def code_of(content: bytes) -> str:
    return json.loads(content)["error"]["code"]


def transitions(order, to_status: str) -> int:
    return OrderTransition.objects.filter(order=order, to_status=to_status).count()


def moves(order, kind: str) -> int:
    return JournalEntry.objects.filter(reference_id=order.pk, kind=kind).count()


def operator(username: str):
    return factories.UserFactory(username=username, is_staff=True)


def ops_actor(user):
    return services.Actor.for_user(user, Channel.OPS)


def pending_buy(world, buy_quote, amount="1000.00"):
    """A buy confirmed and settled by the bank: waiting for an operator."""
    order = buy_quote(world, amount)
    services.order_confirm(
        order_id=order.pk,
        customer=world.customer,
        side=order.side,
        actor=services.Actor.for_user(world.user, Channel.API),
    )
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL  # the debit task ran at commit (eager)
    return order


# --- confirm ------------------------------------------------------------------------------


def test_many_confirms_with_one_key_debit_once_and_replay_identical_bytes(
    acme, desk, buy_quote, run_concurrently
):
    master_before = balance(acme.eur_master)
    treasury_before = balance(desk["eur"])
    order = buy_quote(acme, "1000.00")
    key = str(uuid.uuid4())

    results = run_concurrently([post_confirm(acme, order, key) for _ in range(THREADS)])

    assert all(kind == "ok" for kind, _ in results), results
    seen = [value for _, value in results]
    created = [(status, body, replayed) for status, body, replayed in seen if status == 201]
    busy = [(status, body) for status, body, _ in seen if status != 201]
    assert created, seen
    assert len({body for _, body, _ in created}) == 1, "replays differ from the original"
    assert [replayed for _, _, replayed in created].count(None) == 1, "exactly one original"
    for status, body in busy:
        assert (status, code_of(body)) == (409, "IDEMPOTENCY_KEY_IN_PROGRESS")

    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL
    assert moves(order, JournalEntry.Kind.ORDER_DEBIT) == 1
    assert moves(order, JournalEntry.Kind.DEBIT_SETTLED) == 1
    assert transitions(order, Status.DEBIT_PENDING) == 1
    assert IdempotencyRecord.objects.filter(customer=acme.customer, key=key).count() == 1
    assert balance(acme.eur_master) == master_before - Decimal("1000.00")
    assert balance(desk["eur"]) == treasury_before + Decimal("1000.00")
    assert_ledger_invariants()


def test_many_confirms_with_many_keys_exactly_one_wins(acme, desk, buy_quote, run_concurrently):
    master_before = balance(acme.eur_master)
    order = buy_quote(acme, "2500.00")

    results = run_concurrently(
        [post_confirm(acme, order, str(uuid.uuid4())) for _ in range(THREADS)]
    )

    assert all(kind == "ok" for kind, _ in results), results
    statuses = sorted(status for _, (status, _, _) in results)
    assert statuses == [201] + [409] * (THREADS - 1), statuses
    for _, (status, body, replayed) in results:
        assert replayed is None
        if status == 409:
            assert code_of(body) == "ORDER_NOT_CONFIRMABLE"

    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL
    assert moves(order, JournalEntry.Kind.ORDER_DEBIT) == 1
    assert transitions(order, Status.DEBIT_PENDING) == 1
    # Every key stored its own outcome: a retry with any of them replays it.
    assert IdempotencyRecord.objects.filter(customer=acme.customer).count() == THREADS
    assert balance(acme.eur_master) == master_before - Decimal("2500.00")
    assert_ledger_invariants()


def test_many_sell_confirms_with_many_keys_exactly_one_wins_and_holds_once(
    acme, desk, sell_quote, run_concurrently
):
    wallet_before = balance(acme.wallet)
    order = sell_quote(acme, "300.000000")

    results = run_concurrently(
        [post_confirm(acme, order, str(uuid.uuid4())) for _ in range(THREADS)]
    )

    statuses = sorted(value[0] for _, value in results)
    assert statuses == [201] + [409] * (THREADS - 1), results
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL
    assert transitions(order, Status.PENDING_APPROVAL) == 1
    assert moves(order, JournalEntry.Kind.HOLD) == 1  # held once, sent nowhere
    assert balance(acme.wallet) == wallet_before - Decimal("300.000000")


# --- operators ----------------------------------------------------------------------------


def test_two_operators_approving_at_once_approve_once(acme, desk, buy_quote, run_concurrently):
    order = pending_buy(acme, buy_quote, "1000.00")
    wallet_before = balance(acme.wallet)
    alice, bob = operator("op-alice"), operator("op-bob")

    results = run_concurrently(
        [
            lambda: services.order_approve(order_id=order.pk, actor=ops_actor(alice)),
            lambda: services.order_approve(order_id=order.pk, actor=ops_actor(bob)),
        ]
    )

    winners = [value for kind, value in results if kind == "ok"]
    losers = [value for kind, value in results if kind == "error"]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], DomainError)
    assert (losers[0].code, losers[0].status) == ("ORDER_NOT_APPROVABLE", 409)

    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    assert order.approved_by_id == winners[0].approved_by_id
    assert transitions(order, Status.APPROVED) == 1
    assert moves(order, JournalEntry.Kind.ORDER_SETTLEMENT) == 1
    assert balance(acme.wallet) == wallet_before + order.final_destination_amount
    assert_ledger_invariants()


def test_approve_races_reject_and_exactly_one_decides(acme, desk, buy_quote, run_concurrently):
    alice, bob = operator("op-alice"), operator("op-bob")
    outcomes = set()
    for _ in range(4):
        master_before = balance(acme.eur_master)
        wallet_before = balance(acme.wallet)
        order = pending_buy(acme, buy_quote, "400.00")

        results = run_concurrently(
            [
                lambda order=order: services.order_approve(
                    order_id=order.pk, actor=ops_actor(alice)
                ),
                lambda order=order: services.order_reject(
                    order_id=order.pk, actor=ops_actor(bob), reason="Compliance hold."
                ),
            ]
        )

        (approve_kind, approve_value), (reject_kind, reject_value) = results
        assert [approve_kind, reject_kind].count("ok") == 1, results
        order.refresh_from_db()
        decided = OrderTransition.objects.filter(
            order=order, from_status=Status.PENDING_APPROVAL
        ).count()
        assert decided == 1
        if approve_kind == "ok":
            assert (reject_value.code, reject_value.status) == ("ORDER_NOT_REJECTABLE", 409)
            assert order.status == Status.COMPLETED
            assert balance(acme.eur_master) == master_before - Decimal("400.00")
            assert balance(acme.wallet) == wallet_before + order.final_destination_amount
            assert moves(order, JournalEntry.Kind.REFUND) == 0
        else:
            assert (approve_value.code, approve_value.status) == ("ORDER_NOT_APPROVABLE", 409)
            assert order.status == Status.REJECTED
            assert balance(acme.eur_master) == master_before
            assert balance(acme.wallet) == wallet_before
            assert moves(order, JournalEntry.Kind.REFUND) == 1
            assert moves(order, JournalEntry.Kind.ORDER_SETTLEMENT) == 0
        outcomes.add(order.status)
    assert outcomes <= {Status.COMPLETED, Status.REJECTED}
    assert_ledger_invariants()


def test_two_rejects_at_once_refund_once(acme, desk, buy_quote, run_concurrently):
    master_before = balance(acme.eur_master)
    order = pending_buy(acme, buy_quote, "750.00")
    alice, bob = operator("op-alice"), operator("op-bob")

    results = run_concurrently(
        [
            lambda user=user: services.order_reject(
                order_id=order.pk, actor=ops_actor(user), reason=f"No, says {user.username}."
            )
            for user in (alice, bob)
        ]
    )

    assert [kind for kind, _ in results].count("ok") == 1, results
    loser = next(value for kind, value in results if kind == "error")
    assert (loser.code, loser.status) == ("ORDER_NOT_REJECTABLE", 409)
    assert moves(order, JournalEntry.Kind.REFUND) == 1
    assert balance(acme.eur_master) == master_before
    assert_ledger_invariants()


# --- the sweeper ----------------------------------------------------------------------------


def make_stale(*orders) -> None:
    # Only the TTL is backdated; the status still changes through the services alone.
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(
        ttl_expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_customer_cancel_races_the_sweeper_and_exactly_one_wins(
    acme, desk, buy_quote, run_concurrently
):
    for _ in range(6):
        order = buy_quote(acme, "100.00")
        make_stale(order)

        def cancel(order=order):
            api = APIClient()
            api.credentials(HTTP_X_API_KEY=acme.write_key)
            response = api.post(f"/api/v1/otc-exchanges/{order.pk}/cancel")
            return response.status_code, response.json()

        def sweep():
            return services.quotes_expire()

        (cancel_kind, (status, body)), (sweep_kind, expired) = run_concurrently([cancel, sweep])

        assert cancel_kind == sweep_kind == "ok"
        order.refresh_from_db()
        log = OrderTransition.objects.filter(order=order, from_status=Status.QUOTED)
        assert log.count() == 1, list(log)
        if status == 200:
            assert body["data"] == {"orderId": str(order.pk), "status": "cancelled"}
            assert expired == 0
            assert order.status == Status.CANCELLED
        else:
            assert (status, body["error"]["code"]) == (409, "NOT_CANCELLABLE")
            assert expired == 1
            assert order.status == Status.EXPIRED
            assert log.get().actor == "system:quote-sweeper"
    assert not JournalEntry.objects.exclude(kind=JournalEntry.Kind.DEPOSIT).exists()


def test_concurrent_sweepers_expire_each_quote_exactly_once(
    acme, desk, buy_quote, run_concurrently
):
    orders = [buy_quote(acme, "50.00") for _ in range(30)]
    fresh = buy_quote(acme, "50.00")
    make_stale(*orders)

    def sweeper():
        total = 0
        while expired := services.quotes_expire(batch_size=4):
            total += expired
        return total

    results = run_concurrently([sweeper for _ in range(4)])

    assert all(kind == "ok" for kind, _ in results), results
    assert sum(count for _, count in results) == len(orders)
    assert Order.objects.filter(pk__in=[o.pk for o in orders], status=Status.EXPIRED).count() == 30
    for order in orders:
        assert transitions(order, Status.EXPIRED) == 1
    fresh.refresh_from_db()
    assert fresh.status == Status.QUOTED


def test_confirm_races_the_sweeper_and_never_debits_a_stale_quote(
    acme, desk, buy_quote, run_concurrently
):
    master_before = balance(acme.eur_master)
    order = buy_quote(acme, "100.00")
    make_stale(order)

    (confirm_kind, (status, body, _)), (sweep_kind, expired) = run_concurrently(
        [post_confirm(acme, order, str(uuid.uuid4())), services.quotes_expire]
    )

    assert confirm_kind == sweep_kind == "ok"
    assert (status, code_of(body)) == (400, "QUOTE_EXPIRED")
    # If the confirm held the row, the sweeper skipped it; the next sweep expires it.
    assert expired + services.quotes_expire() == 1
    order.refresh_from_db()
    assert order.status == Status.EXPIRED
    assert transitions(order, Status.EXPIRED) == 1
    assert balance(acme.eur_master) == master_before
    assert money.format_amount(balance(acme.eur_master), money.EUR) == "250000.00"


def test_confirm_races_cancel_and_exactly_one_wins(acme, desk, buy_quote, run_concurrently):
    for _ in range(5):
        master_before = balance(acme.eur_master)
        order = buy_quote(acme, "100.00")

        def cancel(order=order):
            api = APIClient()
            api.credentials(HTTP_X_API_KEY=acme.write_key)
            response = api.post(f"/api/v1/otc-exchanges/{order.pk}/cancel")
            return response.status_code, response.content, None

        (_, confirmed), (_, cancelled) = run_concurrently(
            [post_confirm(acme, order, str(uuid.uuid4())), cancel]
        )

        order.refresh_from_db()
        assert OrderTransition.objects.filter(order=order, from_status=Status.QUOTED).count() == 1
        if confirmed[0] == 201:
            assert (cancelled[0], code_of(cancelled[1])) == (409, "NOT_CANCELLABLE")
            assert order.status == Status.PENDING_APPROVAL
            assert balance(acme.eur_master) == master_before - Decimal("100.00")
        else:
            assert (confirmed[0], code_of(confirmed[1])) == (409, "ORDER_NOT_CONFIRMABLE")
            assert cancelled[0] == 200
            assert order.status == Status.CANCELLED
            assert balance(acme.eur_master) == master_before
    assert_ledger_invariants()


def test_concurrent_confirms_of_different_quotes_never_overdraw_the_account(
    acme, desk, buy_quote, run_concurrently
):
    # The secondary account holds 50,000.00: two 20,000.00 buys fit, the other two do not.
    orders = [buy_quote(acme, "20000.00", account=acme.eur_secondary) for _ in range(4)]

    results = run_concurrently([post_confirm(acme, o, str(uuid.uuid4())) for o in orders])

    outcomes = sorted((value[0], value[1]) for _, value in results)
    assert [status for status, _ in outcomes] == [201, 201, 422, 422], outcomes
    for status, body in outcomes:
        if status == 422:
            error = json.loads(body)["error"]
            assert error["code"] == "SOURCE_INSUFFICIENT_FUNDS"
            # What is really left, not a figure read before the other debits committed.
            assert error["details"]["available"] == "10000.00"
    assert balance(acme.eur_secondary) == Decimal("10000.00")
    assert Order.objects.filter(pk__in=[o.pk for o in orders], status=Status.QUOTED).count() == 2
    assert_ledger_invariants()


def test_a_settlement_task_delivered_twice_at_once_settles_once(
    acme, desk, buy_quote, run_concurrently
):
    order = pending_buy(acme, buy_quote, "1000.00")
    wallet_before = balance(acme.wallet)
    # Approve with the settlement task parked on the broker, then deliver it three times at once.
    app.conf.task_always_eager = False
    try:
        services.order_approve(order_id=order.pk, actor=ops_actor(operator("op-alice")))
    finally:
        app.conf.task_always_eager = True
        app.control.purge()
    assert Order.objects.get(pk=order.pk).status == Status.APPROVED

    results = run_concurrently([lambda: tasks.settle_order(str(order.pk)) for _ in range(3)])

    assert [value for _, value in results] == [Status.COMPLETED] * 3, results
    assert moves(order, JournalEntry.Kind.ORDER_SETTLEMENT) == 1
    assert transitions(order, Status.COMPLETED) == 1
    assert balance(acme.wallet) == wallet_before + Decimal("1074.600000")
    assert_ledger_invariants()


def test_a_debit_task_delivered_twice_at_once_settles_once(acme, desk, buy_quote, run_concurrently):
    treasury_before = balance(desk["eur"])
    order = buy_quote(acme, "1000.00")
    app.conf.task_always_eager = False
    try:
        services.order_confirm(
            order_id=order.pk,
            customer=acme.customer,
            side=order.side,
            actor=services.Actor.for_user(acme.user, Channel.API),
        )
    finally:
        app.conf.task_always_eager = True
        app.control.purge()
    assert Order.objects.get(pk=order.pk).status == Status.DEBIT_PENDING

    results = run_concurrently([lambda: tasks.settle_order_debit(str(order.pk)) for _ in range(3)])

    assert [value for _, value in results] == [Status.PENDING_APPROVAL] * 3, results
    assert moves(order, JournalEntry.Kind.DEBIT_SETTLED) == 1
    assert transitions(order, Status.PENDING_APPROVAL) == 1
    assert balance(desk["eur"]) == treasury_before + Decimal("1000.00")
    assert_ledger_invariants()


def test_a_duplicate_that_waits_too_long_gets_in_progress_and_can_retry(
    acme, desk, buy_quote, run_concurrently, monkeypatch
):
    """The first request holds the key (its transaction is still open); a duplicate gives up
    after the lock wait with 409 IDEMPOTENCY_KEY_IN_PROGRESS. When the first rolls back
    (a 5xx stores nothing), the retry with the same key runs, and money moves once."""
    monkeypatch.setattr(idempotency, "LOCK_WAIT", "300ms")
    master_before = balance(acme.eur_master)
    order = buy_quote(acme, "100.00")
    key = str(uuid.uuid4())
    key_claimed, duplicate_done = threading.Event(), threading.Event()

    def first_holds_the_key():
        with transaction.atomic():
            IdempotencyRecord.objects.create(
                customer=acme.customer, key=key, fingerprint="in flight"
            )
            key_claimed.set()
            assert duplicate_done.wait(30)
            transaction.set_rollback(True)  # as if it failed with a 5xx
        return "rolled back"

    def duplicate():
        assert key_claimed.wait(30)
        try:
            return post_confirm(acme, order, key)()
        finally:
            duplicate_done.set()

    (_, first), (_, (status, body, replayed)) = run_concurrently([first_holds_the_key, duplicate])

    assert first == "rolled back"
    assert (status, code_of(body), replayed) == (409, "IDEMPOTENCY_KEY_IN_PROGRESS", None)
    assert balance(acme.eur_master) == master_before
    status, body, replayed = post_confirm(acme, order, key)()
    assert (status, replayed) == (201, None)
    again = post_confirm(acme, order, key)()
    assert (again[0], again[1], again[2]) == (201, body, "true")
    assert balance(acme.eur_master) == master_before - Decimal("100.00")
    assert_ledger_invariants()


def test_two_sells_approved_at_once_from_one_wallet_never_overdraw_it(
    acme, desk, sell_quote, run_concurrently
):
    # 500 USDC in the wallet; each sell wants 250. Each confirm holds its USDC, so both fit;
    # approved at once, both settle from their own holds and the wallet is emptied exactly.
    # (A third sell could not even be confirmed: tests/holds.)
    orders = [sell_quote(acme, "250.000000", wallet=acme.wallet_secondary) for _ in range(2)]
    for order in orders:
        services.order_confirm(
            order_id=order.pk,
            customer=acme.customer,
            side=order.side,
            actor=services.Actor.for_user(acme.user, Channel.API),
        )
    master_before = balance(acme.eur_master)
    alice, bob = operator("op-alice"), operator("op-bob")

    results = run_concurrently(
        [
            lambda order=order, user=user: services.order_approve(
                order_id=order.pk, actor=ops_actor(user)
            )
            for order, user in zip(orders, (alice, bob), strict=True)
        ]
    )

    assert all(kind == "ok" for kind, _ in results), results
    finals = sorted(Order.objects.get(pk=o.pk).status for o in orders)
    assert finals == [Status.COMPLETED, Status.COMPLETED]
    assert balance(acme.wallet_secondary) == 0
    held = LedgerAccount.objects.get(held_for_id=acme.wallet_secondary.ledger_account_id)
    assert held.balance == 0
    paid = sum(Order.objects.get(pk=o.pk).final_destination_amount for o in orders)
    assert balance(acme.eur_master) == master_before + paid
    assert_ledger_invariants()


# --- rate limit ----------------------------------------------------------------------------


def test_the_rate_limit_holds_when_requests_race(acme, monkeypatch, run_concurrently):
    """Many requests of one customer at once (real threads, the shared Redis cache): exactly
    the limit passes, the rest are 429. (DRF's own throttle read and wrote the request list
    without a lock, so racing requests all passed on the same count.)"""
    from otc.api.throttling import CustomerRateThrottle

    monkeypatch.setitem(CustomerRateThrottle.THROTTLE_RATES, "customer", "5/day")

    def call():
        api = APIClient()
        api.credentials(HTTP_X_API_KEY=acme.write_key)
        return api.get("/api/v1/otc-exchanges/accounts").status_code

    results = run_concurrently([call] * 16)
    statuses = sorted(value for outcome, value in results if outcome == "ok")
    assert len(statuses) == 16, results
    assert statuses.count(200) == 5
    assert statuses.count(429) == 11
