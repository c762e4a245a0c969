"""The desk's business actions end to end: quote and confirm over the API, the operator's
decision through the service, settlement by the tasks (eager, run at commit), and the
provider failure paths. Balances must move by exactly the amounts the API shows."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.signals import task_retry
from django.utils import timezone

from accounts import money
from accounts.errors import DomainError, InsufficientFunds, ProviderUnavailable
from accounts.ledger import held_balance, post_entry, transfer_legs
from accounts.models import JournalEntry, LedgerAccount
from otc import services, tasks
from otc.models import Channel, IdempotencyRecord, Order, ProviderTransfer, Status
from tests import factories

pytestmark = pytest.mark.django_db

Kind = JournalEntry.Kind


def balance(owner) -> Decimal:
    return LedgerAccount.objects.get(pk=owner.ledger_account_id).balance


def ops(user):
    return services.Actor.for_user(user, Channel.OPS)


def api_quote(world, body: dict) -> dict:
    response = world.client().post("/api/v1/otc-exchanges/quote", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def api_confirm(world, quote: dict, capture, side="buy", execute=True) -> dict:
    with capture(execute=execute):
        response = world.client().post(
            "/api/v1/otc-exchanges",
            {"quoteId": quote["quoteId"], "side": side},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
    assert response.status_code == 201, response.content
    return response.json()["data"]


def api_order(world, order_id: str) -> dict:
    response = world.client().get(f"/api/v1/otc-exchanges/{order_id}")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def approve(order_id, operator, capture, **kwargs) -> Order:
    with capture(execute=True):
        services.order_approve(order_id=order_id, actor=ops(operator), **kwargs)
    return Order.objects.get(pk=order_id)


def buy_body(world, amount="1000.00") -> dict:
    return {
        "side": "buy",
        "sourceFrAccountId": str(world.eur_master.pk),
        "destinationUtilaWalletId": str(world.wallet.pk),
        "sourceAmountEur": amount,
    }


def sell_body(world, amount="500.000000") -> dict:
    return {
        "side": "sell",
        "sourceUtilaWalletId": str(world.wallet.pk),
        "destinationFrAccountId": str(world.eur_master.pk),
        "sourceAmountUsdc": amount,
    }


# --- the happy paths ------------------------------------------------------------------------


def test_a_buy_completes_at_the_live_rate_and_balances_move_by_the_amounts_shown(
    acme, desk, operator, settings, django_capture_on_commit_callbacks
):
    master, wallet = balance(acme.eur_master), balance(acme.wallet)
    treasury_eur, treasury_usdc = balance(desk["eur"]), balance(desk["usdc"])

    quote = api_quote(acme, buy_body(acme, "1000.00"))
    assert (quote["rate"], quote["destinationAmount"]) == ("1.074600", "1074.600000")
    assert api_confirm(acme, quote, django_capture_on_commit_callbacks)["status"] == "debit_pending"
    assert api_order(acme, quote["quoteId"])["status"] == "pending_approval"
    assert balance(acme.eur_master) == master - Decimal("1000.00")

    # The market moves between the quote and the approval: the live feed decides.
    settings.OTC_PRICE_FEED = "static:1.100000"
    order = approve(quote["quoteId"], operator, django_capture_on_commit_callbacks)
    assert order.status == Status.COMPLETED
    assert order.final_mid_rate == Decimal("1.100000")

    shown = api_order(acme, quote["quoteId"])
    assert shown["status"] == "completed"
    assert shown["rate"] == "1.094500"  # 1.10 less 50 bps
    assert shown["destinationAmount"] == "1094.500000"
    assert shown["sourceAmount"] == "1000.00"
    assert balance(acme.eur_master) == master - Decimal(shown["sourceAmount"])
    assert balance(acme.wallet) == wallet + Decimal(shown["destinationAmount"])
    assert balance(desk["eur"]) == treasury_eur + Decimal("1000.00")
    assert balance(desk["usdc"]) == treasury_usdc - Decimal("1094.500000")
    assert balance_of_clearing() == 0


def balance_of_clearing() -> Decimal:
    """What all clearing accounts hold (the desk-wide one and each customer's)."""
    return sum(
        LedgerAccount.objects.filter(
            kind=LedgerAccount.Kind.CLEARING, currency=money.EUR
        ).values_list("balance", flat=True),
        Decimal(0),
    )


def test_a_sell_completes_at_the_live_rate_and_balances_move_by_the_amounts_shown(
    acme, desk, operator, settings, django_capture_on_commit_callbacks
):
    master, wallet = balance(acme.eur_master), balance(acme.wallet)
    treasury_eur, treasury_usdc = balance(desk["eur"]), balance(desk["usdc"])

    quote = api_quote(acme, sell_body(acme, "500.000000"))
    assert (quote["rate"], quote["destinationAmount"]) == ("0.921296", "460.64")
    confirmed = api_confirm(acme, quote, django_capture_on_commit_callbacks, side="sell")
    assert confirmed["status"] == "pending_approval"
    # Nothing sent: the USDC is held in the wallet (available -> held).
    assert (balance(acme.wallet), balance(acme.eur_master)) == (
        wallet - Decimal("500.000000"),
        master,
    )
    assert held_balance(LedgerAccount.objects.get(pk=acme.wallet.ledger_account_id)) == Decimal(
        "500.000000"
    )

    settings.OTC_PRICE_FEED = "static:1.050000"
    order = approve(quote["quoteId"], operator, django_capture_on_commit_callbacks)
    assert order.status == Status.COMPLETED

    shown = api_order(acme, quote["quoteId"])
    assert shown["rate"] == "0.947619"  # 1 / 1.05 less 50 bps, rounded down
    assert shown["destinationAmount"] == "473.80"  # 473.8095 rounded down
    assert balance(acme.wallet) == wallet - Decimal("500.000000")
    assert balance(acme.eur_master) == master + Decimal(shown["destinationAmount"])
    assert balance(desk["usdc"]) == treasury_usdc + Decimal("500.000000")
    assert balance(desk["eur"]) == treasury_eur - Decimal("473.80")


def test_approval_refuses_when_the_live_rate_moved_beyond_what_the_operator_saw(
    acme, desk, operator, settings, django_capture_on_commit_callbacks
):
    quote = api_quote(acme, buy_body(acme))
    api_confirm(acme, quote, django_capture_on_commit_callbacks)
    settings.OTC_PRICE_FEED = "static:1.100000"
    with pytest.raises(DomainError) as caught:
        approve(
            quote["quoteId"],
            operator,
            django_capture_on_commit_callbacks,
            shown_rate=Decimal(quote["rate"]),
        )
    assert (caught.value.code, caught.value.status) == ("RATE_MOVED", 409)
    assert caught.value.details["rate"] == "1.094500"
    order = Order.objects.get(pk=quote["quoteId"])
    assert order.status == Status.PENDING_APPROVAL
    assert order.final_rate is None
    # Within the tolerance it goes through, at the live rate, not the shown one.
    order = approve(
        quote["quoteId"], operator, django_capture_on_commit_callbacks, shown_rate=Decimal("1.0945")
    )
    assert order.status == Status.COMPLETED


def test_approval_with_the_price_feed_down_changes_nothing(
    acme, desk, operator, settings, django_capture_on_commit_callbacks
):
    quote = api_quote(acme, buy_body(acme))
    api_confirm(acme, quote, django_capture_on_commit_callbacks)
    settings.OTC_PRICE_FEED = "static:0"
    with pytest.raises(ProviderUnavailable):
        approve(quote["quoteId"], operator, django_capture_on_commit_callbacks)
    order = Order.objects.get(pk=quote["quoteId"])
    assert order.status == Status.PENDING_APPROVAL
    assert order.transitions.count() == 3


def test_a_rejected_buy_gets_its_eur_back(acme, desk, operator, django_capture_on_commit_callbacks):
    master, treasury = balance(acme.eur_master), balance(desk["eur"])
    quote = api_quote(acme, buy_body(acme, "1234.56"))
    api_confirm(acme, quote, django_capture_on_commit_callbacks)
    assert balance(acme.eur_master) == master - Decimal("1234.56")

    order = services.order_reject(
        order_id=quote["quoteId"], actor=ops(operator), reason="Source of funds unclear."
    )

    assert order.status == Status.REJECTED
    shown = api_order(acme, quote["quoteId"])
    assert shown["status"] == "rejected"
    assert shown["rejectionReason"] == "Source of funds unclear."
    assert balance(acme.eur_master) == master
    assert balance(desk["eur"]) == treasury
    assert balance(acme.wallet) == Decimal("100000.000000")


def test_a_rejected_sell_moves_nothing(acme, desk, operator, django_capture_on_commit_callbacks):
    quote = api_quote(acme, sell_body(acme))
    api_confirm(acme, quote, django_capture_on_commit_callbacks, side="sell")
    wallet = balance(acme.wallet)
    services.order_reject(order_id=quote["quoteId"], actor=ops(operator), reason="No.")
    assert factories.order_entry_kinds(quote["quoteId"]) == factories.HELD_AND_RELEASED
    assert balance(acme.wallet) == wallet + Decimal(quote["sourceAmountUsdc"])


def test_a_rejection_needs_a_reason(acme, desk, operator, django_capture_on_commit_callbacks):
    quote = api_quote(acme, buy_body(acme))
    api_confirm(acme, quote, django_capture_on_commit_callbacks)
    with pytest.raises(DomainError) as caught:
        services.order_reject(order_id=quote["quoteId"], actor=ops(operator), reason="   ")
    assert caught.value.code == "REASON_REQUIRED"
    assert Order.objects.get(pk=quote["quoteId"]).status == Status.PENDING_APPROVAL


def test_a_rejection_while_the_bank_is_down_is_recorded_and_refunded_when_the_bank_is_back(
    acme, desk, operator, settings, django_capture_on_commit_callbacks
):
    # The refund is a recorded step called after the rejection commits (no bank call under
    # the order's lock): a bank outage delays the refund, never the decision.
    quote = api_quote(acme, buy_body(acme))
    api_confirm(acme, quote, django_capture_on_commit_callbacks)
    master = balance(acme.eur_master)
    settings.OTC_SIMULATE_FIAT_OUTAGE = True
    order = services.order_reject(order_id=quote["quoteId"], actor=ops(operator), reason="No.")
    assert order.status == Status.REJECTED
    assert balance(acme.eur_master) == master
    refund = ProviderTransfer.objects.get(order=order, step="refund")
    assert (refund.state, refund.attempts > 0) == ("pending", True)

    settings.OTC_SIMULATE_FIAT_OUTAGE = False
    assert tasks.advance_settlement(quote["quoteId"]) == Status.REJECTED
    assert balance(acme.eur_master) == master + Decimal("1000.00")
    refund.refresh_from_db()
    assert refund.state == "settled" and refund.provider_reference.startswith("simbank_")


# --- provider failures ----------------------------------------------------------------------


@pytest.fixture
def retries():
    seen: list[str] = []

    def on_retry(sender=None, request=None, **kwargs):
        seen.append(sender.name)

    task_retry.connect(on_retry, weak=False)
    yield seen
    task_retry.disconnect(on_retry)


def test_settlement_during_a_custody_outage_retries_then_fails_and_refunds_a_buy(
    acme, desk, operator, settings, retries, django_capture_on_commit_callbacks
):
    master, wallet, treasury = balance(acme.eur_master), balance(acme.wallet), balance(desk["eur"])
    quote = api_quote(acme, buy_body(acme, "1000.00"))
    api_confirm(acme, quote, django_capture_on_commit_callbacks)
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True

    order = approve(quote["quoteId"], operator, django_capture_on_commit_callbacks)

    assert retries == ["otc.tasks.settle_order"] * tasks.RETRY["max_retries"]
    assert order.status == Status.FAILED
    assert "unavailable" in order.failure_reason.lower()
    assert list(order.transitions.values_list("from_status", "to_status"))[-2:] == [
        (Status.PENDING_APPROVAL, Status.APPROVED),
        (Status.APPROVED, Status.FAILED),
    ]
    assert balance(acme.eur_master) == master
    assert balance(acme.wallet) == wallet
    assert balance(desk["eur"]) == treasury
    shown = api_order(acme, quote["quoteId"])
    assert shown["status"] == "failed"


def test_a_sell_settlement_during_a_custody_outage_fails_and_moves_nothing(
    acme, desk, operator, settings, retries, django_capture_on_commit_callbacks
):
    quote = api_quote(acme, sell_body(acme))
    api_confirm(acme, quote, django_capture_on_commit_callbacks, side="sell")
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
    order = approve(quote["quoteId"], operator, django_capture_on_commit_callbacks)
    assert order.status == Status.FAILED
    assert len(retries) == tasks.RETRY["max_retries"]
    assert factories.order_entry_kinds(order.pk) == factories.HELD_AND_RELEASED
    assert balance(acme.wallet) == Decimal("100000.000000")


def test_a_debit_the_bank_never_settles_fails_and_is_refunded_from_clearing(
    acme, desk, settings, retries, django_capture_on_commit_callbacks
):
    master = balance(acme.eur_master)
    settings.OTC_SIMULATE_FIAT_OUTAGE = True
    quote = api_quote(acme, buy_body(acme))
    api_confirm(acme, quote, django_capture_on_commit_callbacks)
    assert retries == ["otc.tasks.settle_order_debit"] * tasks.RETRY["max_retries"]
    order = Order.objects.get(pk=quote["quoteId"])
    assert order.status == Status.FAILED
    assert balance(acme.eur_master) == master
    assert balance_of_clearing() == 0


def test_the_failure_handler_is_idempotent(acme, desk, django_capture_on_commit_callbacks):
    quote = api_quote(acme, buy_body(acme))
    api_confirm(acme, quote, django_capture_on_commit_callbacks, execute=False)
    order_id = quote["quoteId"]
    assert Order.objects.get(pk=order_id).status == Status.DEBIT_PENDING
    failure = ProviderUnavailable("The bank is unavailable.")
    for _ in range(2):
        tasks.settle_order_debit.on_failure(failure, "task-id", (order_id,), {}, None)
    order = Order.objects.get(pk=order_id)
    assert order.status == Status.FAILED
    assert JournalEntry.objects.filter(reference_id=order_id, kind=Kind.REFUND).count() == 1
    # A late settlement task for a failed order does nothing.
    assert tasks.settle_order_debit(order_id) == Status.FAILED
    assert balance(acme.eur_master) == Decimal("250000.00")


def test_usdc_moved_away_after_a_sell_confirm_cannot_take_the_sells_hold(
    acme, desk, operator, django_capture_on_commit_callbacks
):
    quote = api_quote(acme, sell_body(acme, "500.000000"))
    api_confirm(acme, quote, django_capture_on_commit_callbacks, side="sell")
    # The customer moves everything that is available elsewhere before the desk approves:
    # the sell's 500 are held and stay.
    post_entry(
        legs=transfer_legs(
            acme.wallet.ledger_account, acme.wallet_secondary.ledger_account, balance(acme.wallet)
        ),
        kind=Kind.DEPOSIT,
        description="customer moved funds",
    )
    with pytest.raises(InsufficientFunds):
        post_entry(
            legs=transfer_legs(
                acme.wallet.ledger_account, acme.wallet_secondary.ledger_account, Decimal("1")
            ),
            kind=Kind.DEPOSIT,
            description="the held part cannot be moved",
        )

    order = approve(quote["quoteId"], operator, django_capture_on_commit_callbacks)

    assert order.status == Status.COMPLETED
    assert balance(acme.wallet) == 0
    assert held_balance(LedgerAccount.objects.get(pk=acme.wallet.ledger_account_id)) == 0


def test_a_buy_the_treasury_can_no_longer_deliver_at_settlement_fails_and_is_refunded(
    acme, desk, operator, django_capture_on_commit_callbacks
):
    # Approval checks the treasury covers the order (tests/otc/test_treasury_guard.py); the
    # treasury can still be drained between approval and settlement.
    master = balance(acme.eur_master)
    quote = api_quote(acme, buy_body(acme, "1000.00"))
    api_confirm(acme, quote, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        services.order_approve(order_id=quote["quoteId"], actor=ops(operator))
    post_entry(
        legs=transfer_legs(
            desk["usdc"].ledger_account, acme.wallet_secondary.ledger_account, balance(desk["usdc"])
        ),
        kind=Kind.DEPOSIT,
        description="treasury drained",
    )
    assert tasks.settle_order(quote["quoteId"]) == Status.FAILED
    assert balance(acme.eur_master) == master


def test_settlement_runs_once_even_if_the_task_is_delivered_twice(
    acme, desk, operator, django_capture_on_commit_callbacks
):
    quote = api_quote(acme, buy_body(acme))
    api_confirm(acme, quote, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        services.order_approve(order_id=quote["quoteId"], actor=ops(operator))
    assert tasks.settle_order(quote["quoteId"]) == Status.COMPLETED
    assert tasks.settle_order(quote["quoteId"]) == Status.COMPLETED
    assert tasks.settle_order_debit(quote["quoteId"]) == Status.COMPLETED
    assert (
        JournalEntry.objects.filter(
            reference_id=quote["quoteId"], kind=Kind.ORDER_SETTLEMENT
        ).count()
        == 1
    )


# --- housekeeping ---------------------------------------------------------------------------


def test_purge_removes_idempotency_keys_older_than_the_retention_and_keeps_newer(acme, settings):
    settings.OTC_IDEMPOTENCY_RETENTION = timedelta(hours=24)
    now = timezone.now()
    ages = {"old": timedelta(hours=25), "edge": timedelta(hours=23, minutes=59), "new": timedelta()}
    records = {}
    for name, age in ages.items():
        record = IdempotencyRecord.objects.create(
            customer=acme.customer, key=uuid.uuid4(), fingerprint=name, status_code=201
        )
        IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=now - age)
        records[name] = record.pk

    assert tasks.purge_idempotency_keys() == 1

    left = set(IdempotencyRecord.objects.values_list("fingerprint", flat=True))
    assert left == {"edge", "new"}
    settings.OTC_IDEMPOTENCY_RETENTION = timedelta(hours=1)
    assert tasks.purge_idempotency_keys.delay().get() == 1
    assert set(IdempotencyRecord.objects.values_list("fingerprint", flat=True)) == {"new"}


def test_beat_runs_the_sweep_every_few_seconds_and_every_scheduled_task_exists(settings):
    from config.celery import app

    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    by_task = {entry["task"]: entry["schedule"] for entry in schedule.values()}
    assert by_task["otc.tasks.expire_quotes"] <= 10
    assert by_task["otc.tasks.purge_idempotency_keys"] <= 24 * 3600
    assert "otc.tasks.settle_pending_debits" in by_task
    assert "otc.tasks.settle_approved_orders" in by_task
    for name in by_task:
        assert name in app.tasks, f"beat schedules {name}, which no worker knows"


def test_the_safety_nets_pick_up_orders_whose_task_was_lost(
    acme, desk, operator, django_capture_on_commit_callbacks
):
    quote = api_quote(acme, buy_body(acme))
    api_confirm(acme, quote, django_capture_on_commit_callbacks, execute=False)  # task lost
    order_id = quote["quoteId"]
    assert tasks.settle_pending_debits() == 0  # too recent: its task may still be on the way
    Order.objects.filter(pk=order_id).update(updated_at=timezone.now() - timedelta(minutes=2))
    assert tasks.settle_pending_debits() == 1
    assert Order.objects.get(pk=order_id).status == Status.PENDING_APPROVAL

    with django_capture_on_commit_callbacks(execute=False):  # the settlement task is lost too
        services.order_approve(order_id=order_id, actor=ops(operator))
    assert tasks.settle_approved_orders() == 0
    Order.objects.filter(pk=order_id).update(updated_at=timezone.now() - timedelta(minutes=2))
    assert tasks.settle_approved_orders() == 1
    assert Order.objects.get(pk=order_id).status == Status.COMPLETED
    assert tasks.settle_approved_orders() == 0
    assert JournalEntry.objects.filter(reference_id=order_id).count() == 3
