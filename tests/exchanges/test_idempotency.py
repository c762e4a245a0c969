"""An Idempotency-Key on both POSTs, with the OTC confirm's guarantees: the stored response is
replayed byte for byte and acts on nothing, another body with the key is 422, and under real
concurrency on PostgreSQL an exchange executes once and money moves once."""

import json
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import JournalEntry
from otc.models import IdempotencyRecord, Kind, MarketExchange, Order, OrderTransition, Status
from tests.conftest import assert_ledger_invariants

from .conftest import BASE, balance, buy_body, exchange_key, new_key, sell_body


def error_code(response) -> str:
    return response.json()["error"]["code"]


@pytest.mark.django_db
def test_a_repeated_create_replays_the_stored_response(acme, create):
    key = new_key()
    first = create(buy_body(acme), key=key)
    again = create(buy_body(acme), key=key)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Order.objects.filter(kind=Kind.MARKET).count() == 1


@pytest.mark.django_db
def test_the_same_amount_written_differently_is_the_same_request(acme, create):
    key = new_key()
    first = create(buy_body(acme, "1000.00"), key=key)
    assert create(buy_body(acme, "1000"), key=key).content == first.content


@pytest.mark.django_db
def test_a_key_reused_with_another_body_is_refused(acme, create):
    key = new_key()
    create(buy_body(acme, "1000.00"), key=key)
    again = create(buy_body(acme, "1001.00"), key=key)
    assert (again.status_code, error_code(again)) == (422, "IDEMPOTENCY_KEY_REUSED")
    elsewhere = create(sell_body(acme), key=key)
    assert error_code(elsewhere) == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.django_db
def test_an_error_is_stored_and_replayed_too(acme, create):
    key = new_key()
    first = create(buy_body(acme, "5.00"), key=key)
    assert (first.status_code, error_code(first)) == (422, "AMOUNT_OUT_OF_RANGE")
    again = create(buy_body(acme, "5.00"), key=key)
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_a_key_that_is_not_a_uuid_v4_is_refused(acme, create, accept, quoted):
    for key in ("not-a-key", str(uuid.uuid1()), "", "  "):  # blank is not "no key"
        response = create(buy_body(acme), key=key)
        assert (response.status_code, error_code(response)) == (400, "IDEMPOTENCY_KEY_INVALID")
    for key in ("123", ""):
        response = accept(quoted(buy_body(acme)), key=key)
        assert (response.status_code, error_code(response)) == (400, "IDEMPOTENCY_KEY_INVALID")


@pytest.mark.django_db
def test_a_repeated_accept_replays_and_moves_money_once(acme, quoted, accept):
    exchange_id = quoted(buy_body(acme, "1000.00"))
    eur = balance(acme.eur_master)
    key = new_key()
    first = accept(exchange_id, {"maximum_slippage": 50}, key=key)
    again = accept(exchange_id, {"maximum_slippage": 50}, key=key)
    assert first.json()["status"] == "EXECUTED"
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert balance(acme.eur_master) == eur - Decimal("1000.00")
    reused = accept(exchange_id, {"maximum_slippage": 60}, key=key)
    assert (reused.status_code, error_code(reused)) == (422, "IDEMPOTENCY_KEY_REUSED")
    # a fresh key cannot execute it twice either
    fresh = accept(exchange_id, key=new_key())
    assert (fresh.status_code, error_code(fresh)) == (409, "EXCHANGE_NOT_ACCEPTABLE")


@pytest.mark.django_db
def test_an_otc_confirms_key_is_not_an_exchanges(acme, create):
    key = new_key()
    IdempotencyRecord.objects.create(customer=acme.customer, key=key, fingerprint="otc confirm")
    assert error_code(create(buy_body(acme), key=key)) == "IDEMPOTENCY_KEY_REUSED"


# --- real threads on PostgreSQL -----------------------------------------------------------------

THREADS = 8


def post_accept(idempotency_key: str, key_value: str, exchange_id: str, slippage: int = 100):
    def call():
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=key_value)
        response = client.post(
            f"{BASE}/{exchange_id}/accept",
            {"maximum_slippage": slippage},
            format="json",
            HTTP_IDEMPOTENCY_KEY=idempotency_key,
        )
        return response.status_code, response.content, response.get("Idempotent-Replayed")

    return call


@pytest.fixture
def racing(acme):
    if connection.vendor != "postgresql":
        pytest.skip("the races are run against PostgreSQL")
    key_value = exchange_key(acme)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key_value)
    response = client.post(BASE, buy_body(acme, "1000.00"), format="json")
    assert response.status_code == 201
    return key_value, response.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_racing_accepts_with_one_key_execute_once_and_all_see_the_same_answer(
    acme, racing, run_concurrently
):
    key_value, exchange_id = racing
    eur = balance(acme.eur_master)
    idem = new_key()
    results = run_concurrently([post_accept(idem, key_value, exchange_id)] * THREADS)
    assert all(kind == "ok" for kind, _ in results), results
    answers = [value for _, value in results]
    statuses = {status for status, _, _ in answers}
    bodies = {body for status, body, _ in answers if status == 200}
    # each either ran, replayed the stored answer, or gave up waiting (409 in progress)
    assert statuses <= {200, 409}
    assert len(bodies) == 1 and json.loads(bodies.pop())["status"] == "EXECUTED"
    ran = [answer for answer in answers if answer[0] == 200 and answer[2] is None]
    assert len(ran) == 1  # the others replayed its stored answer
    assert balance(acme.eur_master) == eur - Decimal("1000.00")
    assert JournalEntry.objects.filter(reference_id=exchange_id).count() == 2
    executed = OrderTransition.objects.filter(order_id=exchange_id, to_status=Status.EXECUTED)
    assert executed.count() == 1
    assert_ledger_invariants()


@pytest.mark.django_db(transaction=True)
def test_racing_accepts_with_different_keys_execute_once(acme, racing, run_concurrently):
    key_value, exchange_id = racing
    eur = balance(acme.eur_master)
    calls = [post_accept(new_key(), key_value, exchange_id) for _ in range(THREADS)]
    results = run_concurrently(calls)
    assert all(kind == "ok" for kind, _ in results), results
    statuses = sorted(status for _, (status, _, _) in results)
    assert statuses == [200] + [409] * (THREADS - 1)
    losers = [json.loads(body) for _, (status, body, _) in results if status == 409]
    assert {body["error"]["code"] for body in losers} == {"EXCHANGE_NOT_ACCEPTABLE"}
    assert balance(acme.eur_master) == eur - Decimal("1000.00")
    assert MarketExchange.objects.get(pk=exchange_id).status == Status.EXECUTED
    assert JournalEntry.objects.filter(reference_id=exchange_id).count() == 2
    assert_ledger_invariants()


@pytest.mark.django_db(transaction=True)
def test_racing_creates_with_one_key_create_one_exchange(acme, run_concurrently):
    if connection.vendor != "postgresql":
        pytest.skip("the races are run against PostgreSQL")
    key_value, idem = exchange_key(acme), new_key()

    def create():
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=key_value)
        response = client.post(
            BASE, buy_body(acme, "250.00"), format="json", HTTP_IDEMPOTENCY_KEY=idem
        )
        return response.status_code, response.content

    results = run_concurrently([create] * THREADS)
    bodies = {body for _, (status, body) in results if status == 201}
    assert len(bodies) == 1
    assert Order.objects.filter(kind=Kind.MARKET).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_that_waits_too_long_gets_in_progress(acme, run_concurrently, monkeypatch):
    """The first request still holds the key; a duplicate gives up after the lock wait."""
    import threading

    from django.db import transaction

    from otc import idempotency

    if connection.vendor != "postgresql":
        pytest.skip("the races are run against PostgreSQL")
    monkeypatch.setattr(idempotency, "LOCK_WAIT", "300ms")
    key_value, idem = exchange_key(acme), new_key()
    claimed, duplicate_done = threading.Event(), threading.Event()

    def first_holds_the_key():
        with transaction.atomic():
            IdempotencyRecord.objects.create(customer=acme.customer, key=idem, fingerprint="x")
            claimed.set()
            assert duplicate_done.wait(30)
            transaction.set_rollback(True)

    def duplicate():
        assert claimed.wait(30)
        try:
            client = APIClient()
            client.credentials(HTTP_X_API_KEY=key_value)
            response = client.post(BASE, buy_body(acme), format="json", HTTP_IDEMPOTENCY_KEY=idem)
            return response.status_code, response.json()["error"]["code"]
        finally:
            duplicate_done.set()

    _, (_, answer) = run_concurrently([first_holds_the_key, duplicate])
    assert answer == (409, "IDEMPOTENCY_KEY_IN_PROGRESS")
    assert not Order.objects.filter(kind=Kind.MARKET).exists()


@pytest.mark.django_db(transaction=True)
def test_buys_and_sells_executing_at_once_all_execute(acme, globex, run_concurrently):
    """They take the treasury's EUR and USDC accounts in opposite roles: no deadlock."""
    if connection.vendor != "postgresql":
        pytest.skip("the races are run against PostgreSQL")
    calls = []
    for world, body, amount in ((acme, buy_body, "100.00"), (globex, sell_body, "100.000000")):
        key_value = exchange_key(world)
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=key_value)
        for _ in range(THREADS // 2):
            response = client.post(BASE, body(world, amount), format="json")
            calls.append(post_accept(new_key(), key_value, response.json()["id"]))
    results = run_concurrently(calls)
    assert [status for _, (status, _, _) in results] == [200] * THREADS, results
    bodies = [json.loads(body) for _, (_, body, _) in results]
    assert {body["status"] for body in bodies} == {"EXECUTED"}
    assert_ledger_invariants()
