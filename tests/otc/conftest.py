"""Local fixtures for the order tests: quotes made through the service, and a runner that lines
real threads up on a barrier (each with its own database connection, closed at the end)."""

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connections

from otc import services
from otc.models import Channel, Side


@pytest.fixture
def buy_quote():
    def make(world, amount="1000.00", account=None, wallet=None):
        return services.quote_create(
            customer=world.customer,
            side=Side.BUY,
            fiat_account_id=(account or world.eur_master).pk,
            wallet_id=(wallet or world.wallet).pk,
            amount=Decimal(amount),
            actor=services.Actor(label="test", channel=Channel.API),
        )

    return make


@pytest.fixture
def sell_quote():
    def make(world, amount="1000.000000", account=None, wallet=None):
        return services.quote_create(
            customer=world.customer,
            side=Side.SELL,
            fiat_account_id=(account or world.eur_master).pk,
            wallet_id=(wallet or world.wallet).pk,
            amount=Decimal(amount),
            actor=services.Actor(label="test", channel=Channel.API),
        )

    return make


@pytest.fixture
def run_concurrently():
    """Run the callables at once on real threads released together by a barrier. Returns, in
    order, ``("ok", value)`` or ``("error", exception)`` for each."""

    def run(callables: list[Callable[[], object]], timeout: float = 60) -> list[tuple]:
        barrier = threading.Barrier(len(callables))
        results: list[tuple] = [("error", RuntimeError("thread did not finish"))] * len(callables)

        def work(index: int, fn: Callable[[], object]) -> None:
            try:
                barrier.wait(timeout)
                results[index] = ("ok", fn())
            except BaseException as exc:
                results[index] = ("error", exc)
            finally:
                connections.close_all()

        threads = [
            threading.Thread(target=work, args=(i, fn), daemon=True)
            for i, fn in enumerate(callables)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
        assert not any(t.is_alive() for t in threads), "a racing thread hung"
        return results

    return run
