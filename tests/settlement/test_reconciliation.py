"""Reconciliation: a clean day has no break; each kind of break, injected on one side only, is
reported; the command, the daily beat task, the console list, detail, resolve and the alert
on every console page; the money trail on orders."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.ledger import post_entry, transfer_legs
from accounts.models import JournalEntry, SimBankTransfer
from accounts.providers import fiat_rail
from otc import reconciliation, settlement, tasks
from otc.models import ProviderTransfer, ReconciliationBreak, ReconciliationReport, Side
from tests import factories
from wallets.models import SimChainTransfer

from .conftest import Crash, api_actor  # noqa: F401

pytestmark = pytest.mark.django_db

Kind = ReconciliationBreak.Kind


def today():
    return reconciliation.desk_today()


def breaks(report) -> list[tuple[str, str, str]]:
    return sorted((b.kind, b.position, b.reference) for b in report.breaks.all())


@pytest.fixture
def settled_day(acme, desk, operator, confirmed, approve):
    """A day's business: a buy and a sell settled, a rejected buy refunded."""
    buy = confirmed(acme, Side.BUY, "1000.00")
    settlement.advance(buy.pk)
    approve(buy, operator)
    settlement.advance(buy.pk)
    sell = confirmed(acme, Side.SELL, "250.000000")
    approve(sell, operator)
    settlement.advance(sell.pk)
    rejected = confirmed(acme, Side.BUY, "300.00")
    settlement.advance(rejected.pk)
    from otc import services

    from .conftest import ops

    services.order_reject(order_id=rejected.pk, actor=ops(operator), reason="No.")
    pending = confirmed(acme, Side.BUY, "120.00")  # still in clearing: the bank has not moved
    return {"buy": buy, "sell": sell, "rejected": rejected, "pending": pending}


def test_a_clean_day_reports_zero_breaks(settled_day):
    report = reconciliation.reconcile(today())
    assert breaks(report) == []
    # 5 deposits of acme + 2 of the desk + debit/deliver + collect/deliver + debit/refund,
    # each seen from both ends where both ends are positions.
    assert report.matched >= 12
    assert report.break_count == 0 and report.positions > 5


def test_a_movement_only_the_provider_has_is_missing_in_ledger(settled_day, acme, globex):
    fiat_rail().transfer(
        source=acme.eur_secondary,
        destination=globex.eur_master,
        amount=Decimal("5.00"),
        reference="unknown-to-the-desk",
    )
    report = reconciliation.reconcile(today())
    kinds = {(b.kind, b.reference) for b in report.breaks.all()}
    assert (Kind.MISSING_IN_LEDGER, "unknown-to-the-desk") in kinds
    assert {b.kind for b in report.breaks.filter(reference="")} == {Kind.BALANCE_MISMATCH}
    assert report.breaks.filter(kind=Kind.MISSING_IN_LEDGER).count() == 2  # both accounts


def test_a_movement_the_provider_lost_is_missing_in_provider(settled_day, acme):
    reference = f"order:{settled_day['buy'].pk}:deliver"
    SimChainTransfer.objects.filter(reference=reference).delete()
    report = reconciliation.reconcile(today())
    missing = report.breaks.filter(kind=Kind.MISSING_IN_PROVIDER, reference=reference)
    assert missing.count() == 2  # the treasury wallet and the customer's
    assert missing.first().order_id == settled_day["buy"].pk


def test_a_different_amount_at_the_provider_is_a_mismatch(settled_day):
    reference = f"order:{settled_day['sell'].pk}:deliver"
    SimBankTransfer.objects.filter(reference=reference).update(amount=Decimal("1.00"))
    report = reconciliation.reconcile(today())
    mismatch = report.breaks.filter(kind=Kind.AMOUNT_MISMATCH, reference=reference)
    assert mismatch.count() == 2
    customer_side = mismatch.get(position__contains="Acme")
    assert customer_side.provider_amount == Decimal("1.000000")
    settled_day["sell"].refresh_from_db()
    assert customer_side.ledger_amount == settled_day["sell"].final_destination_amount


def test_a_ledger_posting_with_no_provider_movement_is_missing_in_provider(settled_day, acme):
    post_entry(
        legs=transfer_legs(
            acme.eur_master.ledger_account, acme.eur_secondary.ledger_account, Decimal("7.00")
        ),
        kind=JournalEntry.Kind.MARKET_ADJUSTMENT,
        description="manual correction",
    )
    report = reconciliation.reconcile(today())
    found = report.breaks.filter(kind=Kind.MISSING_IN_PROVIDER, reference__startswith="entry:")
    assert sorted(found.values_list("ledger_amount", flat=True)) == [Decimal("-7"), Decimal("7")]
    assert report.breaks.filter(kind=Kind.BALANCE_MISMATCH).count() == 2


def test_a_step_the_provider_did_but_the_ledger_did_not_record_is_reported_until_resumed(
    acme, desk, operator, confirmed, approve, crash_at
):
    order = confirmed(acme, Side.SELL, "100.000000")
    approve(order, operator)
    crash_at(3)
    with pytest.raises(Crash):
        settlement.advance(order.pk)
    report = reconciliation.reconcile(today())
    reference = f"order:{order.pk}:collect"
    found = report.breaks.filter(kind=Kind.MISSING_IN_LEDGER, reference=reference)
    assert found.count() == 2 and "step is sent" in found.first().detail
    settlement.advance(order.pk)
    assert reconciliation.reconcile(today()).break_count == 0
    # the first report's breaks are superseded by the clean one
    assert not reconciliation.unresolved_breaks().exists()


def test_the_command_reconciles_a_day_and_lists_its_breaks(settled_day, acme):
    SimBankTransfer.objects.filter(reference=f"order:{settled_day['rejected'].pk}:refund").delete()
    out = StringIO()
    call_command("reconcile", "--date", today().isoformat(), stdout=out)
    assert "missing_in_provider" in out.getvalue()
    assert ReconciliationReport.objects.get().day == today()
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("reconcile", "--date", "31/12/2026")


def test_a_day_without_business_is_clean(settled_day):
    report = reconciliation.reconcile(today() + timedelta(days=1))
    assert report.break_count == 0 and report.matched == 0


def test_the_daily_task_reconciles_yesterday_once(desk, settings):
    settings.OTC_RECONCILE_HOUR = 0
    first = tasks.reconcile_daily()
    assert first is not None
    assert ReconciliationReport.objects.get().day == today() - timedelta(days=1)
    assert tasks.reconcile_daily() is None
    assert "otc.tasks.reconcile_daily" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }


# --- the console ------------------------------------------------------------------------------


@pytest.fixture
def console(client, operator):
    from django.contrib.auth.models import Permission

    operator.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_order", "approve_order"])
    )
    client.force_login(operator)
    return client


def test_the_console_lists_reports_and_a_break_raises_an_alert_on_every_page(
    settled_day, console, globex
):
    assert "reconciliation-alert" not in console.get("/ops/").content.decode()
    fiat_rail().transfer(
        source=globex.eur_master,
        destination=globex.eur_secondary,
        amount=Decimal("3.00"),
        reference="stray",
    )
    response = console.post("/ops/reconciliation/run/", {"date": today().isoformat()})
    report = ReconciliationReport.objects.get()
    assert response.status_code == 302 and str(report.pk) in response["Location"]
    for path in ("/ops/", "/ops/orders/", "/ops/treasury/", "/ops/reconciliation/"):
        page = console.get(path).content.decode()
        assert 'data-testid="reconciliation-alert"' in page, path
        assert "unresolved break" in page
    detail = console.get(f"/ops/reconciliation/{report.pk}/").content.decode()
    assert "stray" in detail and "Missing in ledger" in detail

    for item in report.breaks.all():
        refused = console.post(f"/ops/reconciliation/breaks/{item.pk}/resolve/", {"note": " "})
        assert refused.status_code == 302
        item.refresh_from_db()
        assert item.resolved_at is None
        console.post(
            f"/ops/reconciliation/breaks/{item.pk}/resolve/",
            {"note": "Globex moved it at the bank directly; booked the transfer."},
        )
    assert "reconciliation-alert" not in console.get("/ops/").content.decode()
    assert (
        console.post("/ops/reconciliation/breaks/999999/resolve/", {"note": "x"}).status_code == 404
    )


def test_resolving_twice_or_without_a_note_is_refused(settled_day, operator, globex):
    from accounts.errors import DomainError

    fiat_rail().transfer(
        source=globex.eur_master,
        destination=globex.eur_secondary,
        amount=Decimal("3.00"),
        reference="stray",
    )
    item = reconciliation.reconcile(today()).breaks.first()
    with pytest.raises(DomainError) as caught:
        reconciliation.break_resolve(break_id=item.pk, user=operator, note="")
    assert (caught.value.code, caught.value.status) == ("RESOLUTION_REQUIRED", 400)
    reconciliation.break_resolve(break_id=item.pk, user=operator, note="checked")
    with pytest.raises(DomainError) as caught:
        reconciliation.break_resolve(break_id=item.pk, user=operator, note="again")
    assert (caught.value.code, caught.value.status) == ("BREAK_ALREADY_RESOLVED", 409)
    with pytest.raises(DomainError) as caught:
        reconciliation.break_resolve(break_id=10**9, user=operator, note="x")
    assert (caught.value.code, caught.value.status) == ("BREAK_NOT_FOUND", 404)


def test_a_customer_user_never_sees_the_reconciliation(settled_day, client, acme):
    client.force_login(acme.user)
    assert client.get("/ops/reconciliation/").status_code == 403


def test_the_order_page_shows_its_provider_transfers(settled_day, console):
    buy = settled_day["buy"]
    page = console.get(f"/ops/orders/{buy.pk}/").content.decode()
    for step in ProviderTransfer.objects.filter(order=buy):
        assert step.reference in page
        assert step.provider_reference in page


# --- the money trail on orders ----------------------------------------------------------------


def test_orders_show_the_ledger_entries_that_moved_their_money(settled_day, acme):
    buy, sell, pending = settled_day["buy"], settled_day["sell"], settled_day["pending"]
    api = acme.client()
    shown = api.get(f"/api/v1/otc-exchanges/{buy.pk}").json()["data"]
    debit = JournalEntry.objects.get(reference_id=buy.pk, kind=JournalEntry.Kind.ORDER_DEBIT)
    deliver = ProviderTransfer.objects.get(order=buy, step="deliver")
    assert shown["sourceTransactionId"] == str(debit.pk)
    assert shown["destinationTransactionId"] == str(deliver.journal_entry_id)

    listed = {o["id"]: o for o in api.get("/api/v1/otc-exchanges?limit=50").json()["data"]}
    collect = ProviderTransfer.objects.get(order=sell, step="collect")
    assert listed[str(sell.pk)]["sourceTransactionId"] == str(collect.journal_entry_id)
    assert listed[str(pending.pk)]["destinationTransactionId"] is None
    assert listed[str(pending.pk)]["sourceTransactionId"] is not None


def test_a_deposit_reaches_the_provider_books(acme):
    account = factories.make_account(acme.customer, label="Fresh", balance="42.00")
    assert fiat_rail().balance(account) == Decimal("42.00")
    line = fiat_rail().statement(account, today()).lines[0]
    entry = JournalEntry.objects.get(
        kind=JournalEntry.Kind.DEPOSIT, postings__ledger_account=account.ledger_account
    )
    assert line.reference == f"deposit:{entry.pk}"
    assert fiat_rail().statement(account, today() - timedelta(days=1)).closing == 0
