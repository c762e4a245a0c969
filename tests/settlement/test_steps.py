"""Settlement as recorded steps: the process dies at every point between two moves of every
step (row written, call claimed, provider done, ledger written) and a restarted worker
finishes the order; the money moves once and the ledger and the providers agree."""

from decimal import Decimal

import pytest

from accounts.models import JournalEntry, SimBankTransfer
from accounts.providers import ProviderRejected, fiat_rail
from otc import services, settlement, tasks
from otc.models import Order, ProviderTransfer, Side, Status
from wallets.models import SimChainTransfer
from wallets.providers import custody

from .conftest import Crash, assert_books_agree, ledger_balance, ops, provider_balance, run_resuming

pytestmark = pytest.mark.django_db

Kind = JournalEntry.Kind
State = ProviderTransfer.State

# Each step passes four checkpoints: planned (row written), sent (claimed), called (the
# provider did it), settled (ledger written). Two steps per order: eight points.
POINTS = range(1, 9)


def provider_rows(order: Order) -> dict[str, int]:
    """How many times each provider recorded each of the order's references."""
    rows = {}
    for model in (SimBankTransfer, SimChainTransfer):
        for reference in model.objects.filter(reference__startswith=f"order:{order.pk}:"):
            rows[reference.reference] = rows.get(reference.reference, 0) + 1
    return rows


def entry_kinds(order: Order) -> list[str]:
    return sorted(JournalEntry.objects.filter(reference_id=order.pk).values_list("kind", flat=True))


@pytest.mark.parametrize("point", POINTS)
def test_a_buy_killed_anywhere_finishes_once(
    point, acme, desk, operator, confirmed, approve, crash_at
):
    master, wallet = ledger_balance(acme.eur_master), ledger_balance(acme.wallet)
    order = confirmed(acme, Side.BUY, "1000.00")
    seen = crash_at(point)

    run_resuming(settlement.advance, order.pk)
    assert Order.objects.get(pk=order.pk).status == Status.PENDING_APPROVAL, seen
    approve(order, operator)
    run_resuming(settlement.advance, order.pk)

    done = Order.objects.get(pk=order.pk)
    assert done.status == Status.COMPLETED, seen
    assert seen[point - 1] in {"planned", "sent", "called", "settled"}
    assert provider_rows(order) == {
        f"order:{order.pk}:debit": 1,
        f"order:{order.pk}:deliver": 1,
    }
    assert entry_kinds(order) == sorted(
        [Kind.ORDER_DEBIT, Kind.DEBIT_SETTLED, Kind.ORDER_SETTLEMENT]
    )
    steps = ProviderTransfer.objects.filter(order=order)
    assert {(t.step, t.state) for t in steps} == {
        ("debit", State.SETTLED),
        ("deliver", State.SETTLED),
    }
    assert all(t.provider_reference and t.journal_entry_id for t in steps)
    assert ledger_balance(acme.eur_master) == master - Decimal("1000.00")
    assert ledger_balance(acme.wallet) == wallet + done.final_destination_amount
    assert provider_balance(acme.eur_master) == ledger_balance(acme.eur_master)
    assert provider_balance(acme.wallet) == ledger_balance(acme.wallet)
    assert_books_agree()


@pytest.mark.parametrize("point", POINTS)
def test_a_sell_killed_anywhere_finishes_once(
    point, acme, desk, operator, confirmed, approve, crash_at
):
    order = confirmed(acme, Side.SELL, "500.000000")
    approve(order, operator)
    seen = crash_at(point)

    run_resuming(settlement.advance, order.pk)

    done = Order.objects.get(pk=order.pk)
    assert done.status == Status.COMPLETED, seen
    assert provider_rows(order) == {
        f"order:{order.pk}:collect": 1,
        f"order:{order.pk}:deliver": 1,
    }
    assert entry_kinds(order) == [Kind.HOLD, Kind.ORDER_SETTLEMENT, Kind.ORDER_SETTLEMENT]
    assert ledger_balance(acme.wallet) == Decimal("99500.000000")
    assert ledger_balance(acme.eur_master) == Decimal("250000.00") + done.final_destination_amount
    assert provider_balance(acme.eur_master) == ledger_balance(acme.eur_master)
    assert provider_balance(acme.wallet) == ledger_balance(acme.wallet)
    assert_books_agree()


@pytest.mark.parametrize("point", range(1, 5))
def test_a_rejected_buy_killed_anywhere_in_its_refund_is_refunded_once(
    point, acme, desk, operator, confirmed, crash_at, django_capture_on_commit_callbacks
):
    order = confirmed(acme, Side.BUY, "1234.56")
    settlement.advance(order.pk)  # the debit settles: the EUR is in the treasury
    seen = crash_at(point)

    with pytest.raises(Crash):
        services.order_reject(order_id=order.pk, actor=ops(operator), reason="Source of funds.")
    if point == 1:
        # Died while writing the refund row, inside the rejection's transaction: nothing
        # happened, and the operator simply rejects again.
        assert Order.objects.get(pk=order.pk).status == Status.PENDING_APPROVAL
        assert not ProviderTransfer.objects.filter(order=order, step="refund").exists()
        services.order_reject(order_id=order.pk, actor=ops(operator), reason="Source of funds.")
    assert Order.objects.get(pk=order.pk).status == Status.REJECTED
    run_resuming(tasks.advance_settlement, str(order.pk))

    assert provider_rows(order) == {
        f"order:{order.pk}:debit": 1,
        f"order:{order.pk}:refund": 1,
    }, seen
    assert entry_kinds(order) == sorted([Kind.ORDER_DEBIT, Kind.DEBIT_SETTLED, Kind.REFUND])
    assert ledger_balance(acme.eur_master) == Decimal("250000.00")
    assert provider_balance(acme.eur_master) == Decimal("250000.00")
    assert_books_agree()


@pytest.mark.parametrize("point", range(1, 9))
def test_a_delivery_the_custodian_refuses_fails_and_refunds_once_whatever_dies(
    point, acme, desk, operator, confirmed, approve, crash_at
):
    # The custodian's treasury is short (its books, not ours): it refuses the delivery for
    # good, the order fails and the EUR goes back through the bank.
    order = confirmed(acme, Side.BUY, "1000.00")
    settlement.advance(order.pk)
    approve(order, operator)
    custody().debit(
        source=desk["usdc"],
        amount=provider_balance(desk["usdc"]),
        reference="drained",
        asset="USDC",
    )
    seen = crash_at(point)

    run_resuming(settlement.advance, order.pk)

    failed = Order.objects.get(pk=order.pk)
    assert failed.status == Status.FAILED, seen
    assert "insufficient funds" in failed.failure_reason.lower()
    deliver = ProviderTransfer.objects.get(order=order, step="deliver")
    assert deliver.state == State.FAILED and not deliver.journal_entry_id
    assert provider_rows(order) == {
        f"order:{order.pk}:debit": 1,
        f"order:{order.pk}:refund": 1,
    }
    assert ledger_balance(acme.eur_master) == Decimal("250000.00")
    assert provider_balance(acme.eur_master) == Decimal("250000.00")
    assert ledger_balance(acme.wallet) == provider_balance(acme.wallet) == Decimal("100000.000000")


def test_a_debit_whose_worker_died_mid_call_is_voided_only_when_the_bank_never_did_it(
    acme, desk, confirmed, settings, crash_at
):
    order = confirmed(acme, Side.BUY, "1000.00")
    crash_at(2)  # claimed ("sent"), the bank never called
    with pytest.raises(Crash):
        settlement.advance(order.pk)
    debit = ProviderTransfer.objects.get(order=order, step="debit")
    assert debit.state == State.SENT
    # Failing now would race a call that may still land: refused until the call timed out.
    with pytest.raises(settlement.StepInFlight):
        services.order_fail(order_id=order.pk, reason="Provider unavailable")
    settings.OTC_PROVIDER_CALL_TIMEOUT_SECONDS = 0
    failed = services.order_fail(order_id=order.pk, reason="Provider unavailable")
    assert failed.status == Status.FAILED
    debit.refresh_from_db()
    assert debit.state == State.CANCELLED
    assert fiat_rail().lookup(debit.reference) is None
    assert (
        ledger_balance(acme.eur_master) == provider_balance(acme.eur_master) == Decimal("250000.00")
    )
    # A late worker cannot send a voided step.
    assert settlement._call(debit) is None


def test_a_debit_the_bank_did_before_the_worker_died_is_settled_not_failed(
    acme, desk, confirmed, crash_at
):
    order = confirmed(acme, Side.BUY, "1000.00")
    crash_at(3)  # the bank did it; our ledger did not hear back
    with pytest.raises(Crash):
        settlement.advance(order.pk)
    assert ProviderTransfer.objects.get(order=order, step="debit").state == State.SENT
    # Retries "ran out" and the order is to fail: the bank's record wins. The debit is
    # settled from its lookup and the order goes on to approval instead of failing.
    shown = services.order_fail(order_id=order.pk, reason="Provider unavailable")
    assert shown.status == Status.PENDING_APPROVAL
    debit = ProviderTransfer.objects.get(order=order, step="debit")
    assert debit.state == State.SETTLED and debit.journal_entry_id
    assert provider_rows(order) == {f"order:{order.pk}:debit": 1}
    assert (
        ledger_balance(acme.eur_master) == provider_balance(acme.eur_master) == Decimal("249000.00")
    )
    assert_books_agree()


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_the_same_step_move_the_money_once(
    acme, desk, operator, confirmed, approve, run_concurrently
):
    order = confirmed(acme, Side.SELL, "500.000000")
    approve(order, operator)
    results = run_concurrently([lambda: settlement.advance(order.pk)] * 2)
    assert all(kind == "ok" for kind, _ in results), results
    assert Order.objects.get(pk=order.pk).status == Status.COMPLETED
    assert provider_rows(order) == {
        f"order:{order.pk}:collect": 1,
        f"order:{order.pk}:deliver": 1,
    }
    assert entry_kinds(order) == [Kind.HOLD, Kind.ORDER_SETTLEMENT, Kind.ORDER_SETTLEMENT]


def test_the_provider_answers_a_repeated_reference_with_its_first_answer(acme):
    first = fiat_rail().transfer(
        source=acme.eur_master,
        destination=acme.eur_secondary,
        amount=Decimal("10.00"),
        reference="r1",
    )
    again = fiat_rail().transfer(
        source=acme.eur_master,
        destination=acme.eur_secondary,
        amount=Decimal("10.00"),
        reference="r1",
    )
    assert first == again
    assert fiat_rail().balance(acme.eur_master) == Decimal("249990.00")
    with pytest.raises(ProviderRejected):
        fiat_rail().transfer(
            source=acme.eur_master,
            destination=acme.eur_secondary,
            amount=Decimal("11.00"),
            reference="r1",
        )
    with pytest.raises(ProviderRejected):
        fiat_rail().transfer(
            source=acme.eur_master,
            destination=acme.eur_secondary,
            amount=Decimal("250000.00"),
            reference="r2",
        )
    assert SimBankTransfer.objects.filter(reference__in=["r1", "r2"]).count() == 1


def test_the_resume_task_picks_up_a_step_left_open(
    acme, desk, operator, confirmed, approve, crash_at, settings
):
    order = confirmed(acme, Side.SELL, "500.000000")
    approve(order, operator)
    crash_at(3)  # the custodian collected; the worker died
    with pytest.raises(Crash):
        settlement.advance(order.pk)
    settings.OTC_SETTLEMENT_RESUME_AFTER_SECONDS = 0
    assert tasks.resume_settlement() == 1
    assert Order.objects.get(pk=order.pk).status == Status.COMPLETED
    assert tasks.resume_settlement() == 0
