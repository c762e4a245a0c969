"""Fixtures for the settlement tests: orders driven through the services step by step (no
on-commit task), a way to make the process "die" at any point between two moves of a step,
and a check that the ledger and the simulated providers agree."""

from decimal import Decimal

import pytest

from accounts.models import LedgerAccount
from accounts.providers import fiat_rail
from otc import reconciliation, services, settlement
from otc.models import Channel, Order, Side
from tests.otc.conftest import run_concurrently  # noqa: F401  (real threads on a barrier)
from wallets.providers import custody


class Crash(BaseException):
    """The process dies here: nothing catches it, open transactions roll back."""


@pytest.fixture
def crash_at(monkeypatch):
    """``crash_at(n)``: the n-th checkpoint reached from now on kills the "process" once.
    Returns the list of checkpoint names seen (for the test's message)."""
    seen: list[str] = []

    def arm(n: int) -> list[str]:
        def checkpoint(name: str) -> None:
            seen.append(name)
            if len(seen) == n:
                raise Crash(name)

        monkeypatch.setattr(settlement, "checkpoint", checkpoint)
        return seen

    return arm


def run_resuming(fn, *args, attempts: int = 3, **kwargs):
    """Run ``fn``; when the process "dies", run it again, as a restarted worker would."""
    for _ in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Crash:
            continue
    return fn(*args, **kwargs)


def ops(user) -> services.Actor:
    return services.Actor.for_user(user, Channel.OPS)


def api_actor() -> services.Actor:
    return services.Actor(label="test", channel=Channel.API)


@pytest.fixture
def confirmed(django_capture_on_commit_callbacks):
    """A confirmed order of ``side`` (no settlement task run: the tests drive it)."""

    def make(world, side: str, amount: str) -> Order:
        order = services.quote_create(
            customer=world.customer,
            side=side,
            fiat_account_id=world.eur_master.pk,
            wallet_id=world.wallet.pk,
            amount=Decimal(amount),
            actor=api_actor(),
        )
        with django_capture_on_commit_callbacks(execute=False):
            services.order_confirm(
                order_id=order.pk, customer=world.customer, side=side, actor=api_actor()
            )
        return Order.objects.get(pk=order.pk)

    return make


@pytest.fixture
def approve(django_capture_on_commit_callbacks):
    def run(order: Order, operator) -> Order:
        with django_capture_on_commit_callbacks(execute=False):
            services.order_approve(order_id=order.pk, actor=ops(operator))
        return Order.objects.get(pk=order.pk)

    return run


def ledger_balance(resource, asset: str | None = None) -> Decimal:
    from wallets.services import wallet_holding_account

    if hasattr(resource, "currency") or (asset or "USDC") == "USDC":
        return LedgerAccount.objects.get(pk=resource.ledger_account_id).balance
    return LedgerAccount.objects.get(pk=wallet_holding_account(resource, asset).pk).balance


def provider_balance(resource, asset: str = "USDC") -> Decimal:
    if hasattr(resource, "currency"):
        return fiat_rail().balance(resource)
    return custody().balance(resource, asset)


def assert_books_agree() -> None:
    """Today's reconciliation finds nothing: every movement matched, every balance agrees."""
    report = reconciliation.reconcile(reconciliation.desk_today())
    breaks = [(b.kind, b.position, b.reference, b.detail) for b in report.breaks.all()]
    assert breaks == [], breaks
    assert report.matched > 0


__all__ = ["Crash", "Side"]
