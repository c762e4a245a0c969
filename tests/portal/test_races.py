"""A double click that really races: two portal confirms of one quote at the same moment, on
real threads with their own PostgreSQL connections."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse

from otc import services
from otc.models import Channel, IdempotencyRecord, OrderTransition, Side, Status
from otc.services import Actor

pytestmark = pytest.mark.django_db(transaction=True)


def race(callables, timeout=60):
    barrier = threading.Barrier(len(callables))
    results = [None] * len(callables)

    def work(index, fn):
        try:
            barrier.wait(timeout)
            results[index] = fn()
        except BaseException as exc:  # reported by the assertions below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i, fn)) for i, fn in enumerate(callables)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads)
    return results


def quote(world):
    return services.quote_create(
        customer=world.customer,
        side=Side.BUY,
        fiat_account_id=world.eur_master.pk,
        wallet_id=world.wallet.pk,
        amount=Decimal("1000.00"),
        actor=Actor.for_user(world.user, Channel.PORTAL),
    )


@pytest.mark.parametrize("same_key", [True, False], ids=["same-key", "fresh-keys"])
def test_racing_confirms_confirm_once_and_debit_once(acme, same_key):
    order = quote(acme)
    url = reverse("portal:quote_confirm", args=[order.pk])
    key = uuid.uuid4()
    clients = [Client(), Client()]
    for client in clients:
        client.force_login(acme.user)

    def click(client):
        data = {"idempotency_key": str(key if same_key else uuid.uuid4()), "side": "buy"}
        return client.post(url, data).status_code

    codes = race([lambda c=c: click(c) for c in clients])
    assert all(isinstance(code, int) for code in codes), codes
    if same_key:
        assert codes == [302, 302]  # the loser waits and replays the winner's answer
    else:
        assert sorted(codes) == [302, 409]  # ORDER_NOT_CONFIRMABLE for the loser
    order.refresh_from_db()
    assert order.status in (Status.DEBIT_PENDING, Status.PENDING_APPROVAL)
    assert OrderTransition.objects.filter(order=order, from_status=Status.QUOTED).count() == 1
    acme.eur_master.ledger_account.refresh_from_db()
    assert acme.eur_master.balance == Decimal("249000.00")
    assert IdempotencyRecord.objects.filter(customer=acme.customer).count() == (
        1 if same_key else 2
    )
