"""Approval refuses an order the treasury cannot pay out, and changes nothing."""

from decimal import Decimal

import pytest

from accounts.ledger import post_entry, transfer_legs
from accounts.models import JournalEntry
from otc import services
from otc.models import Channel, Order, Side, Status

pytestmark = pytest.mark.django_db


def _drain(ledger_account, keep: str) -> None:
    """Move the treasury's money out (to the customer side of the books) leaving ``keep``."""
    from accounts.ledger import external_account

    amount = ledger_account.balance - Decimal(keep)
    post_entry(
        legs=transfer_legs(ledger_account, external_account(ledger_account.currency), amount),
        kind=JournalEntry.Kind.DEPOSIT,
        description="test: treasury paid out elsewhere",
    )


def _pending(world, side: str, amount: str, capture) -> Order:
    actor = services.Actor(label="test", channel=Channel.API)
    order = services.quote_create(
        customer=world.customer,
        side=side,
        actor=actor,
        fiat_account_id=world.eur_master.pk,
        wallet_id=world.wallet.pk,
        amount=Decimal(amount),
    )
    with capture(execute=True):
        services.order_confirm(order_id=order.pk, customer=world.customer, side=side, actor=actor)
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL
    return order


@pytest.mark.parametrize(
    ("side", "treasury", "keep"),
    [
        (Side.BUY, "usdc", "100.000000"),
        (Side.SELL, "eur", "50.00"),
    ],
)
def test_approval_is_refused_when_the_treasury_cannot_pay_out(
    acme, desk, operator, side, treasury, keep, django_capture_on_commit_callbacks
):
    order = _pending(
        acme,
        side,
        "1000.00" if side == Side.BUY else "1000.000000",
        django_capture_on_commit_callbacks,
    )
    ledger_account = desk[treasury].ledger_account
    _drain(ledger_account, keep)
    entries_before = JournalEntry.objects.count()

    with pytest.raises(services.DomainError) as refused:
        services.order_approve(
            order_id=order.pk, actor=services.Actor.for_user(operator, Channel.OPS)
        )

    assert refused.value.code == "TREASURY_INSUFFICIENT"
    assert refused.value.status == 409
    assert refused.value.details["available"] == keep
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL and order.final_rate is None
    assert JournalEntry.objects.count() == entries_before


def test_approval_goes_through_when_the_treasury_covers_exactly(
    acme, desk, operator, django_capture_on_commit_callbacks
):
    order = _pending(acme, Side.BUY, "1000.00", django_capture_on_commit_callbacks)
    # 1000.00 EUR at 1.08 mid less 50 bps = 1074.600000 USDC to pay out.
    _drain(desk["usdc"].ledger_account, "1074.600000")
    with django_capture_on_commit_callbacks(execute=True):
        services.order_approve(
            order_id=order.pk, actor=services.Actor.for_user(operator, Channel.OPS)
        )
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    desk["usdc"].ledger_account.refresh_from_db()
    assert desk["usdc"].ledger_account.balance == 0
