"""Fees are booked: a buy's fees leave the customer with the source, in the same journal
entry, into the fee-income account; a rejection refunds them too; a sell books its
stablecoin fees at settlement. The ledger invariants (the autouse fixture) hold after each.

Figures: EUR/USDC with a 2.00 EUR platform fee and a 10 bps client percentage fee; mid 1.08.
- buy 1000.00 EUR: fees 2.00 + 1.00 = 3.00 EUR
- sell 500.000000 USDC: fees 2.00 EUR * 1.08 = 2.160000 + 0.500000 = 2.660000 USDC
"""

import uuid
from decimal import Decimal

import pytest

from accounts.ledger import clearing_account
from accounts.models import JournalEntry, LedgerAccount
from otc import services
from otc.models import Channel, CustomerFeeSchedule, Order, Pair, Status

pytestmark = pytest.mark.django_db

D = Decimal
Kind = JournalEntry.Kind


def balance(account: LedgerAccount) -> Decimal:
    return LedgerAccount.objects.get(pk=account.pk).balance


def postings(order_id, kind) -> dict[str, Decimal]:
    """Every posting of the order's entries of ``kind`` (a sell settles in two: collect, then
    pay out), by ledger account code."""
    found: dict[str, Decimal] = {}
    for entry in JournalEntry.objects.filter(reference_id=order_id, kind=kind):
        for p in entry.postings.select_related("ledger_account"):
            found[p.ledger_account.code] = found.get(p.ledger_account.code, 0) + p.amount
    return found


def quote_and_confirm(world, body: dict, capture, execute=True) -> dict:
    client = world.client()
    response = client.post("/api/v1/otc-exchanges/quote", body, format="json")
    assert response.status_code == 200, response.content
    quoted = response.json()["data"]
    with capture(execute=execute):
        response = client.post(
            "/api/v1/otc-exchanges",
            {"side": body["side"], "quoteId": quoted["quoteId"]},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
    assert response.status_code == 201, response.content
    return quoted


def buy(world, amount="1000.00") -> dict:
    return {
        "side": "buy",
        "sourceFrAccountId": str(world.eur_master.pk),
        "destinationUtilaWalletId": str(world.wallet.pk),
        "sourceAmountEur": amount,
    }


def sell(world, amount="500.000000") -> dict:
    return {
        "side": "sell",
        "sourceUtilaWalletId": str(world.wallet.pk),
        "destinationFrAccountId": str(world.eur_master.pk),
        "sourceAmountUsdc": amount,
    }


def ops(user):
    return services.Actor.for_user(user, Channel.OPS)


def test_a_confirmed_buy_books_its_fees_in_the_same_entry_as_the_debit(
    fees, acme, django_capture_on_commit_callbacks
):
    quoted = quote_and_confirm(acme, buy(acme), django_capture_on_commit_callbacks, execute=False)
    assert quoted["fees"]["total"] == "3.00"
    entry = postings(quoted["quoteId"], Kind.ORDER_DEBIT)
    assert entry == {
        acme.eur_master.ledger_account.code: D("-1000.00"),
        f"clearing:EUR:{acme.customer.pk}": D("997.00"),
        f"fees:EUR:{acme.customer.pk}": D("3.00"),
    }
    assert services.fee_income("EUR") == D("3.00")
    # The customer's own fee-income account: customers paying fees at once share no row.
    fee_account = services.fee_account("EUR", owner=acme.customer.pk)
    assert balance(fee_account) == D("3.00")
    assert fee_account.kind == LedgerAccount.Kind.FEES and not fee_account.allow_negative


def test_the_bank_settles_the_amount_net_of_fees_into_the_treasury(
    fees, acme, desk, django_capture_on_commit_callbacks
):
    treasury = balance(desk["eur"].ledger_account)
    quoted = quote_and_confirm(acme, buy(acme), django_capture_on_commit_callbacks)
    assert Order.objects.get(pk=quoted["quoteId"]).status == Status.PENDING_APPROVAL
    assert postings(quoted["quoteId"], Kind.DEBIT_SETTLED) == {
        f"clearing:EUR:{acme.customer.pk}": D("-997.00"),
        desk["eur"].ledger_account.code: D("997.00"),
    }
    assert balance(clearing_account("EUR", owner=acme.customer.pk)) == 0
    assert balance(desk["eur"].ledger_account) == treasury + D("997.00")


def test_a_rejected_buy_refunds_the_fees_too(
    fees, acme, desk, operator, django_capture_on_commit_callbacks
):
    before = balance(acme.eur_master.ledger_account)
    treasury = balance(desk["eur"].ledger_account)
    quoted = quote_and_confirm(acme, buy(acme), django_capture_on_commit_callbacks)
    services.order_reject(order_id=quoted["quoteId"], actor=ops(operator), reason="KYC")
    assert postings(quoted["quoteId"], Kind.REFUND) == {
        acme.eur_master.ledger_account.code: D("1000.00"),
        desk["eur"].ledger_account.code: D("-997.00"),
        f"fees:EUR:{acme.customer.pk}": D("-3.00"),
    }
    assert balance(acme.eur_master.ledger_account) == before
    assert services.fee_income("EUR") == 0
    assert balance(desk["eur"].ledger_account) == treasury


def test_a_buy_failed_before_the_bank_settled_refunds_the_fees_from_clearing(
    fees, acme, django_capture_on_commit_callbacks
):
    before = balance(acme.eur_master.ledger_account)
    quoted = quote_and_confirm(acme, buy(acme), django_capture_on_commit_callbacks, execute=False)
    services.order_fail(order_id=quoted["quoteId"], reason="The bank refused the debit.")
    assert postings(quoted["quoteId"], Kind.REFUND)[f"fees:EUR:{acme.customer.pk}"] == D("-3.00")
    assert balance(acme.eur_master.ledger_account) == before
    assert balance(clearing_account("EUR", owner=acme.customer.pk)) == 0


def test_a_completed_buy_keeps_its_fees(
    fees, acme, desk, operator, django_capture_on_commit_callbacks
):
    quoted = quote_and_confirm(acme, buy(acme), django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.order_approve(order_id=quoted["quoteId"], actor=ops(operator))
    order = Order.objects.get(pk=quoted["quoteId"])
    assert order.status == Status.COMPLETED
    # 997.00 * 1.0746 = 1071.3762 USDC delivered; the fees stay as income.
    assert order.final_destination_amount == D("1071.376200")
    assert services.fee_income("EUR") == D("3.00")


def test_a_sell_books_its_usdc_fees_at_settlement(
    fees, acme, desk, operator, django_capture_on_commit_callbacks
):
    wallet = balance(acme.wallet.ledger_account)
    treasury = balance(desk["usdc"].ledger_account)
    quoted = quote_and_confirm(acme, sell(acme), django_capture_on_commit_callbacks)
    assert quoted["fees"] == {
        "currency": "USDC",
        "total": "2.660000",
        "lines": [
            {"type": "platform_fixed", "description": "Platform fee", "amount": "2.160000"},
            {
                "type": "client_percentage",
                "description": "Your account's percentage fee (0.1%)",
                "amount": "0.500000",
                "bps": 10,
            },
            {"type": "fx_markup", "description": "Desk FX markup", "bps": 50},
        ],
    }
    # Confirmed: the USDC is held in the wallet (nothing sent yet), no fee booked.
    assert services.fee_income("USDC") == 0
    assert balance(acme.wallet.ledger_account) == wallet - D("500.000000")
    held = LedgerAccount.objects.get(held_for_id=acme.wallet.ledger_account_id)
    assert balance(held) == D("500.000000")

    with django_capture_on_commit_callbacks(execute=True):
        services.order_approve(order_id=quoted["quoteId"], actor=ops(operator))
    order = Order.objects.get(pk=quoted["quoteId"])
    assert order.status == Status.COMPLETED
    entry = postings(order.pk, Kind.ORDER_SETTLEMENT)
    assert entry[held.code] == D("-500.000000")  # the collect consumes the hold
    assert entry[desk["usdc"].ledger_account.code] == D("497.340000")
    assert entry[f"fees:USDC:{acme.customer.pk}"] == D("2.660000")
    # 497.34 * 0.921296 = 458.19735... -> 458.19 EUR (down)
    assert order.final_destination_amount == D("458.19")
    assert entry[acme.eur_master.ledger_account.code] == D("458.19")
    assert services.fee_income("USDC") == D("2.660000")
    assert balance(acme.wallet.ledger_account) == wallet - D("500.000000")
    assert balance(held) == 0
    assert balance(desk["usdc"].ledger_account) == treasury + D("497.340000")


def test_a_rejected_sell_books_no_fee(fees, acme, operator, django_capture_on_commit_callbacks):
    quoted = quote_and_confirm(acme, sell(acme), django_capture_on_commit_callbacks)
    services.order_reject(order_id=quoted["quoteId"], actor=ops(operator), reason="No")
    assert services.fee_income("USDC") == 0
    kinds = JournalEntry.objects.filter(reference_id=quoted["quoteId"]).values_list("kind")
    assert sorted(k for (k,) in kinds) == [Kind.HOLD, Kind.HOLD_RELEASE]


def test_a_fixed_destination_buy_delivers_exactly_its_destination_at_approval(
    acme, desk, operator, django_capture_on_commit_callbacks
):
    body = buy(acme)
    del body["sourceAmountEur"]
    body["destinationAmountUsdc"] = "1000.000000"
    wallet = balance(acme.wallet.ledger_account)
    quoted = quote_and_confirm(acme, body, django_capture_on_commit_callbacks)
    assert quoted["sourceAmountEur"] == "930.58"
    with django_capture_on_commit_callbacks(execute=True):
        services.order_approve(order_id=quoted["quoteId"], actor=ops(operator))
    order = Order.objects.get(pk=quoted["quoteId"])
    # 930.58 * 1.0746 = 1000.001268 would over-deliver; the customer fixed 1000.000000.
    assert order.final_destination_amount == D("1000.000000")
    assert balance(acme.wallet.ledger_account) == wallet + D("1000.000000")
    shown = acme.client().get(f"/api/v1/otc-exchanges/{order.pk}").json()["data"]
    assert (shown["status"], shown["destinationAmount"]) == ("completed", "1000.000000")


# --- fee income per customer (issue 12: no shared hot row) -----------------------------------


def test_each_customer_books_fees_to_an_account_of_their_own(
    fees, acme, globex, django_capture_on_commit_callbacks
):
    """Two customers' buys with fees lock no common fee row (each confirm's entry books to
    the customer's own fee-income account); the desk's fee income is their sum."""
    pair = Pair.objects.get(code="EUR/USDC")
    CustomerFeeSchedule.objects.create(customer=globex.customer, pair=pair, percentage_bps=10)
    mine = quote_and_confirm(acme, buy(acme), django_capture_on_commit_callbacks, execute=False)
    theirs = quote_and_confirm(
        globex, buy(globex), django_capture_on_commit_callbacks, execute=False
    )
    acme_fees = postings(mine["quoteId"], Kind.ORDER_DEBIT)
    globex_fees = postings(theirs["quoteId"], Kind.ORDER_DEBIT)
    assert acme_fees[f"fees:EUR:{acme.customer.pk}"] == D("3.00")
    assert globex_fees[f"fees:EUR:{globex.customer.pk}"] == D("3.00")
    assert not any(code == "fees:EUR" for code in {*acme_fees, *globex_fees})
    assert services.fee_income("EUR") == D("6.00")


def test_a_refund_takes_the_fees_back_from_the_account_they_were_booked_to(
    fees, acme, desk, operator, monkeypatch, django_capture_on_commit_callbacks
):
    """An order whose fees went to the desk-wide account (confirmed before customers had
    their own) is refunded from that account, not from the customer's new one."""
    real = services.fee_account
    with monkeypatch.context() as before_per_customer_accounts:
        before_per_customer_accounts.setattr(
            services, "fee_account", lambda currency, owner=None, create=True: real(currency)
        )
        quoted = quote_and_confirm(acme, buy(acme), django_capture_on_commit_callbacks)
    shared = services.fee_account("EUR")
    assert postings(quoted["quoteId"], Kind.ORDER_DEBIT)["fees:EUR"] == D("3.00")
    services.order_reject(order_id=quoted["quoteId"], actor=ops(operator), reason="KYC")
    assert postings(quoted["quoteId"], Kind.REFUND)["fees:EUR"] == D("-3.00")
    assert balance(shared) == 0
    assert not LedgerAccount.objects.filter(code=f"fees:EUR:{acme.customer.pk}").exists()
