"""Fixtures for the operator console: staff users in the desk's groups, pending orders made
through the services, signed-in clients, and a runner that races real threads."""

import importlib
import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connections
from django.test import Client
from django.utils.crypto import get_random_string

from otc import services
from otc.models import Channel, Order, Side, Status
from tests import factories

GROUPS = importlib.import_module("otc.migrations.0003_operator_groups")


def ensure_group(name: str) -> Group:
    """The group as the data migration made it. Transactional tests flush the database (the
    migration's rows with it), so recreate it from the migration's own lists when missing."""
    group, created = Group.objects.get_or_create(name=name)
    if created:
        pairs = [
            (app, f"view_{model}") for app, models in GROUPS.VIEW_MODELS.items() for model in models
        ]
        pairs += GROUPS.OPERATOR_EXTRA
        if name == "supervisors":
            pairs += GROUPS.SUPERVISOR_EXTRA
        for app_label, codename in pairs:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
    return group


def make_staff(username: str, group: str | None = "operators"):
    user = factories.UserFactory(username=username, is_staff=True)
    if group:
        user.groups.add(ensure_group(group))
    return user


@pytest.fixture
def alice(db):
    return make_staff("op-alice")


@pytest.fixture
def bob(db):
    return make_staff("op-bob")


@pytest.fixture
def supervisor(db):
    return make_staff("sup-carol", "supervisors")


def signed_in(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_post(client: Client, path: str, data: dict | None = None, **extra):
    """POST as a browser would: with the CSRF token from the cookie a GET set."""
    token = client.cookies["csrftoken"].value if "csrftoken" in client.cookies else None
    if token is None:
        token = get_random_string(32)
        client.cookies["csrftoken"] = token
    return client.post(path, {**(data or {}), "csrfmiddlewaretoken": token}, **extra)


def pending_order(world, *, side: str = Side.BUY, amount: str | None = None) -> Order:
    """A quote confirmed through the services and, for a buy, its EUR debit settled: an
    order in pending_approval, as the customer API would leave it."""
    actor = services.Actor(label=f"{world.customer.slug}-api", channel=Channel.API)
    amount = amount or ("1000.00" if side == Side.BUY else "1000.000000")
    quote = services.quote_create(
        customer=world.customer,
        side=side,
        fiat_account_id=world.eur_master.pk,
        wallet_id=world.wallet.pk,
        amount=Decimal(amount),
        actor=actor,
    )
    services.order_confirm(order_id=quote.pk, customer=world.customer, side=side, actor=actor)
    services.order_debit_settle(order_id=quote.pk)  # a no-op when on-commit already did it
    order = Order.objects.get(pk=quote.pk)
    assert order.status == Status.PENDING_APPROVAL
    return order


@pytest.fixture
def run_concurrently():
    """Run the callables at once on real threads released together by a barrier; each gets
    its own database connection. Returns each one's result or exception, in order."""

    def run(callables: list[Callable[[], object]], timeout: float = 60) -> list:
        barrier = threading.Barrier(len(callables))
        results: list = [RuntimeError("thread did not finish")] * len(callables)

        def work(index: int, fn: Callable[[], object]) -> None:
            try:
                barrier.wait(timeout)
                results[index] = fn()
            except BaseException as exc:
                results[index] = exc
            finally:
                connections.close_all()

        threads = [threading.Thread(target=work, args=(i, fn)) for i, fn in enumerate(callables)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
        assert not any(thread.is_alive() for thread in threads), "a racing thread hung"
        return results

    return run
