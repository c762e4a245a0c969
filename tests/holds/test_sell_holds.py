"""Sells hold their USDC (issue 13, item 5): three 15,000 USDC sells on a 25,000 USDC wallet
were all confirmed and approved, and two failed only after approval.

A sell's confirm now moves its USDC from the wallet's available balance to its held balance
(one ledger entry, under the wallet account's row lock), so confirmed sells can never
together exceed the wallet; the collect at settlement consumes the hold; every other ending
(reject, cancel in price review, review expiry, the approval deadline, a failed settlement)
releases it exactly once. The USDC stays in the wallet on chain until the collect, so
reconciliation sees available + held against the custodian's balance."""

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.ledger import held_balance, hold_release, withdraw
from accounts.models import JournalEntry, LedgerAccount, Posting
from otc import reconciliation, services, settlement, statements, tasks
from otc.models import Channel, Order, OrderTransition, ProviderTransfer, Side, Status
from otc.webhooks.models import Event
from tests import factories
from tests.otc.test_api_support import new_key, order_url
from wallets.models import SimChainTransfer
from wallets.providers import SimulatedCustody, custody

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/otc-exchanges"
QUOTE = "/api/v1/otc-exchanges/quote"
# A ledger account's code as the ledger writes it: wallet:<uuid>[:ASSET][:held], clearing:EUR,
# fees:USDC, external:EUR, ... None of these may reach a customer.
LEDGER_CODE = re.compile(r"\b(wallet|clearing|fees|external|treasury):[0-9A-Za-z-]+")


def api(world):
    return world.client()


def portal(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def ops():
    return services.Actor.for_user(
        factories.UserFactory(username="op-holds", is_staff=True), Channel.OPS
    )


def available(wallet) -> Decimal:
    return LedgerAccount.objects.get(pk=wallet.ledger_account_id).balance


def held(wallet) -> Decimal:
    return held_balance(LedgerAccount.objects.get(pk=wallet.ledger_account_id))


def entries(order, kind) -> int:
    return JournalEntry.objects.filter(reference_id=order.pk, kind=kind).count()


@pytest.fixture
def wallet(acme):
    """The issue's wallet: 25,000 USDC."""
    return factories.make_wallet(acme.customer, label="Ops wallet", balance="25000.000000")


def sell_quote(world, wallet, amount="15000.000000") -> str:
    response = api(world).post(
        QUOTE,
        {
            "side": "sell",
            "sourceUtilaWalletId": str(wallet.pk),
            "destinationFrAccountId": str(world.eur_master.pk),
            "sourceAmountUsdc": amount,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["data"]["quoteId"]


def confirm(world, quote_id):
    return api(world).post(
        ORDERS,
        {"side": "sell", "quoteId": quote_id},
        format="json",
        HTTP_IDEMPOTENCY_KEY=new_key(),
    )


def confirmed_sell(world, wallet, amount="15000.000000") -> Order:
    quote_id = sell_quote(world, wallet, amount)
    response = confirm(world, quote_id)
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=quote_id)


def balance_body(world, wallet) -> dict:
    response = api(world).get(f"/api/v1/otc-exchanges/wallets/{wallet.pk}/balance")
    assert response.status_code == 200, response.content
    return response.json()["data"]


def approve_and_settle(order, capture) -> Order:
    with capture(execute=True):
        services.order_approve(order_id=order.pk, actor=ops())
    return Order.objects.get(pk=order.pk)


def assert_released_once(order, wallet, *, available_now, status):
    order.refresh_from_db()
    assert order.status == status
    assert order.source_held == 0
    assert entries(order, JournalEntry.Kind.HOLD) == 1
    assert entries(order, JournalEntry.Kind.HOLD_RELEASE) == 1
    assert available(wallet) == available_now
    assert held(wallet) == 0
    # A second release attempt moves nothing.
    locked = Order.objects.select_related("source_ledger_account").get(pk=order.pk)
    assert services.source_hold_release(locked, why="again") is False
    settlement.refund_start(locked, "again")
    assert entries(order, JournalEntry.Kind.HOLD_RELEASE) == 1
    assert custody().balance(wallet) == Decimal("25000.000000")  # never left on chain


# --- the scenario ----------------------------------------------------------------------


def test_three_15000_sells_on_25000_the_second_confirm_is_refused(acme, desk, wallet):
    quotes = [sell_quote(acme, wallet) for _ in range(3)]  # all quoted before any confirm

    first = confirm(acme, quotes[0])
    second = confirm(acme, quotes[1])
    third = confirm(acme, quotes[2])

    assert first.status_code == 201, first.content
    assert second.status_code == 422, second.content
    error = second.json()["error"]
    assert error["code"] == "SOURCE_INSUFFICIENT_FUNDS"
    assert error["details"] == {
        "available": "10000.000000",
        "held": "15000.000000",
        "currency": "USDC",
    }
    assert not LEDGER_CODE.search(second.content.decode())
    assert third.json()["error"]["code"] == "SOURCE_INSUFFICIENT_FUNDS"
    assert [Order.objects.get(pk=q).status for q in quotes] == [
        Status.PENDING_APPROVAL,
        Status.QUOTED,
        Status.QUOTED,
    ]
    # Nothing moved for the refused ones.
    assert not JournalEntry.objects.filter(reference_id__in=quotes[1:]).exists()
    assert balance_body(acme, wallet) == {
        "walletId": str(wallet.pk),
        "network": wallet.network,
        "usdcBalance": "25000.000000",
        "available": "10000.000000",
        "held": "15000.000000",
    }


def test_a_sell_quote_counts_only_what_is_not_held(acme, desk, wallet):
    confirmed_sell(acme, wallet)
    response = api(acme).post(
        QUOTE,
        {
            "side": "sell",
            "sourceUtilaWalletId": str(wallet.pk),
            "destinationFrAccountId": str(acme.eur_master.pk),
            "sourceAmountUsdc": "10000.000001",
        },
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "SOURCE_WALLET_INSUFFICIENT"
    assert response.json()["error"]["details"] == {
        "available": "10000.000000",
        "held": "15000.000000",
    }
    assert sell_quote(acme, wallet, "10000.000000")  # exactly what is left is fine


def test_a_wallet_without_holds_shows_everything_available(acme, desk, wallet):
    body = balance_body(acme, wallet)
    assert (body["usdcBalance"], body["available"], body["held"]) == (
        "25000.000000",
        "25000.000000",
        "0.000000",
    )


# --- consumed by the settlement -------------------------------------------------------------


def test_approval_and_settlement_consume_the_hold(
    acme, desk, wallet, django_capture_on_commit_callbacks
):
    eur_before = available(acme.eur_master)
    order = confirmed_sell(acme, wallet)
    assert order.source_held == Decimal("15000.000000")

    order = approve_and_settle(order, django_capture_on_commit_callbacks)

    assert order.status == Status.COMPLETED
    assert order.source_held == 0
    assert (available(wallet), held(wallet)) == (Decimal("10000.000000"), 0)
    assert custody().balance(wallet) == Decimal("10000.000000")
    assert available(acme.eur_master) == eur_before + order.final_destination_amount
    assert entries(order, JournalEntry.Kind.HOLD) == 1
    assert entries(order, JournalEntry.Kind.HOLD_RELEASE) == 0
    collect = ProviderTransfer.objects.get(order=order, step=ProviderTransfer.Step.COLLECT)
    hold_account = LedgerAccount.objects.get(held_for_id=wallet.ledger_account_id)
    # The collect takes the USDC from the held balance, not from what is available.
    assert list(
        Posting.objects.filter(entry=collect.journal_entry, amount__lt=0).values_list(
            "ledger_account_id", "amount"
        )
    ) == [(hold_account.pk, Decimal("-15000.000000"))]
    assert balance_body(acme, wallet)["held"] == "0.000000"
    # The wallet can now sell what is left, and no more.
    assert confirmed_sell(acme, wallet, "10000.000000").source_held == Decimal("10000.000000")


def test_a_price_review_keeps_the_hold_and_accept_price_consumes_it(
    acme, desk, wallet, settings, django_capture_on_commit_callbacks
):
    order = confirmed_sell(acme, wallet)
    settings.OTC_PRICE_FEED = "static:1.100000"  # a sell gets fewer EUR: beyond 100 bps
    with django_capture_on_commit_callbacks(execute=True):
        services.order_approve(order_id=order.pk, actor=ops())
    order.refresh_from_db()
    assert order.status == Status.PRICE_REVIEW
    assert (available(wallet), held(wallet)) == (Decimal("10000.000000"), Decimal("15000"))

    with django_capture_on_commit_callbacks(execute=True):
        response = api(acme).post(
            f"{order_url(order.pk)}/accept-price",
            {
                "rate": str(order.review_rate),
                "destinationAmount": str(order.review_destination_amount),
            },
            format="json",
        )
    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    assert (available(wallet), held(wallet)) == (Decimal("10000.000000"), 0)


# --- released by every other ending ------------------------------------------------------------


def test_a_rejection_releases_the_hold_once(acme, desk, wallet):
    order = confirmed_sell(acme, wallet)
    services.order_reject(order_id=order.pk, actor=ops(), reason="Not today.", code="OTHER")
    assert_released_once(
        order, wallet, available_now=Decimal("25000.000000"), status=Status.REJECTED
    )


def test_a_customer_cancel_in_price_review_releases_the_hold_once(acme, desk, wallet, settings):
    order = confirmed_sell(acme, wallet)
    settings.OTC_PRICE_FEED = "static:1.100000"
    services.order_approve(order_id=order.pk, actor=ops())
    response = api(acme).post(f"{order_url(order.pk)}/cancel", format="json")
    assert response.status_code == 200, response.content
    assert_released_once(
        order, wallet, available_now=Decimal("25000.000000"), status=Status.CANCELLED
    )


def test_a_review_expiry_releases_the_hold_once(acme, desk, wallet, settings):
    order = confirmed_sell(acme, wallet)
    settings.OTC_PRICE_FEED = "static:1.100000"
    services.order_approve(order_id=order.pk, actor=ops())
    Order.objects.filter(pk=order.pk).update(review_expires_at=timezone.now())
    assert tasks.sweep_deadlines.delay().get() == 1
    assert_released_once(
        order, wallet, available_now=Decimal("25000.000000"), status=Status.CANCELLED
    )
    assert Order.objects.get(pk=order.pk).cancellation_code == "REVIEW_EXPIRED"


def test_the_approval_deadline_releases_the_hold_once(acme, desk, wallet):
    order = confirmed_sell(acme, wallet)
    Order.objects.filter(pk=order.pk).update(approval_deadline_at=timezone.now())
    assert tasks.sweep_deadlines.delay().get() == 1
    assert tasks.sweep_deadlines.delay().get() == 0
    assert_released_once(
        order, wallet, available_now=Decimal("25000.000000"), status=Status.CANCELLED
    )


def drain_on_chain(wallet, amount: str) -> None:
    """USDC leaves the wallet at the custodian behind the desk's back (the simulator's own
    call): the collect will be refused."""
    SimulatedCustody().debit(
        source=wallet, amount=Decimal(amount), reference=f"drain:{wallet.pk}", asset="USDC"
    )


def test_a_failed_settlement_releases_the_hold_and_says_why_in_plain_words(
    acme, desk, wallet, django_capture_on_commit_callbacks
):
    order = confirmed_sell(acme, wallet)
    drain_on_chain(wallet, "20000.000000")

    order = approve_and_settle(order, django_capture_on_commit_callbacks)

    assert order.status == Status.FAILED
    assert order.failure_reason == (
        "Settlement impossible: the custodian refused the transfer from the source wallet "
        "(insufficient funds)."
    )
    collect = ProviderTransfer.objects.get(order=order, step=ProviderTransfer.Step.COLLECT)
    assert collect.state == ProviderTransfer.State.FAILED
    assert "Insufficient funds at the provider" in collect.last_error  # the desk's side only
    order.refresh_from_db()
    assert order.source_held == 0
    assert entries(order, JournalEntry.Kind.HOLD_RELEASE) == 1
    assert (available(wallet), held(wallet)) == (Decimal("25000.000000"), 0)
    assert not SimChainTransfer.objects.filter(reference__startswith=f"order:{order.pk}").exists()


# --- failure reasons a customer sees never name a ledger account ------------------------------


def customer_texts(world, order) -> list[str]:
    """Everything about ``order`` a customer can read: the API body, the portal's order page,
    the webhook events, the timeline."""
    body = api(world).get(order_url(order.pk)).content.decode()
    page = portal(world.user).get(f"/orders/{order.pk}/")
    assert page.status_code == 200
    events = [str(e.data) for e in Event.objects.filter(order_id=order.pk)]
    reasons = list(OrderTransition.objects.filter(order=order).values_list("reason", flat=True))
    return [body, page.content.decode(), *events, *reasons]


def test_no_failure_reason_names_a_ledger_account(
    acme, desk, wallet, django_capture_on_commit_callbacks
):
    refused = confirmed_sell(acme, wallet)
    drain_on_chain(wallet, "20000.000000")
    approve_and_settle(refused, django_capture_on_commit_callbacks)

    # The treasury cannot pay: the ledger refuses the payout before the custodian is asked.
    buy = services.quote_create(
        customer=acme.customer,
        side=Side.BUY,
        fiat_account_id=acme.eur_master.pk,
        wallet_id=acme.wallet.pk,
        amount=Decimal("1000.00"),
        actor=services.Actor(label="test", channel=Channel.API),
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.order_confirm(order_id=buy.pk, customer=acme.customer, side=Side.BUY, actor=ops())
    services.order_approve(order_id=buy.pk, actor=ops())  # settlement waits (not run)
    treasury = LedgerAccount.objects.get(pk=desk["usdc"].ledger_account_id)
    withdraw(treasury, treasury.balance, description="the treasury is emptied")
    settlement.advance(buy.pk)
    buy.refresh_from_db()
    assert buy.status == Status.FAILED
    assert buy.failure_reason == (
        "Settlement impossible: insufficient funds for the payout to the destination."
    )

    for order in (refused, buy):
        for text in customer_texts(acme, order):
            assert not LEDGER_CODE.search(text), text


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"funds": True}, "Settlement impossible: insufficient funds for the refund."),
        ({"refused": True}, "Settlement impossible: the bank refused the refund."),
        ({}, "Settlement impossible: the refund could not be carried out."),
    ],
)
def test_failure_reasons_are_plain_words_whatever_the_provider_said(kwargs, expected):
    step = ProviderTransfer(
        step=ProviderTransfer.Step.REFUND,
        provider=ProviderTransfer.Provider.BANK,
        last_error="Refused: account wallet:0b6f clearing:EUR short",
    )
    assert settlement.failure_reason(step, **kwargs) == expected


# --- the books ----------------------------------------------------------------------------------


def test_a_held_sell_is_no_reconciliation_break_before_or_after_it_settles(
    acme, desk, wallet, django_capture_on_commit_callbacks
):
    order = confirmed_sell(acme, wallet)
    report = reconciliation.reconcile(reconciliation.desk_today())
    assert list(report.breaks.values_list("kind", "position", "detail")) == []

    approve_and_settle(order, django_capture_on_commit_callbacks)
    confirmed_sell(acme, wallet, "4000.000000")  # another hold, left pending
    released = confirmed_sell(acme, wallet, "1000.000000")
    services.order_reject(order_id=released.pk, actor=ops(), reason="No.")
    report = reconciliation.reconcile(reconciliation.desk_today())
    assert list(report.breaks.values_list("kind", "position", "detail")) == []


def test_a_statement_shows_the_wallet_whole_and_no_hold_as_a_movement(
    acme, desk, wallet, django_capture_on_commit_callbacks
):
    pending_sell = confirmed_sell(acme, wallet, "5000.000000")
    rejected = confirmed_sell(acme, wallet, "1000.000000")
    services.order_reject(order_id=rejected.pk, actor=ops(), reason="No.")
    done = approve_and_settle(confirmed_sell(acme, wallet), django_capture_on_commit_callbacks)
    today = reconciliation.desk_today()

    built = statements.statement_build(customer=acme.customer, date_from=today, date_to=today)

    (mine,) = [a for a in built.accounts if a.resource_id == str(wallet.pk)]
    kinds = [m.kind for m in mine.movements]
    assert JournalEntry.Kind.HOLD not in kinds and JournalEntry.Kind.HOLD_RELEASE not in kinds
    assert [m.amount for m in mine.movements] == [Decimal("25000.000000"), Decimal("-15000")]
    assert mine.movements[-1].order_id == str(done.pk)
    # The wallet whole (the 5,000 held for the pending sell included): what the chain holds.
    assert mine.closing == custody().balance(wallet) == Decimal("10000.000000")
    assert available(wallet) + held(wallet) == mine.closing
    assert pending_sell.pk  # still held


# --- the portal ---------------------------------------------------------------------------------


def test_the_portal_shows_each_wallet_available_and_held(acme, desk, wallet):
    confirmed_sell(acme, wallet)
    client = portal(acme.user)

    dashboard = client.get("/")
    rows = {row.wallet.pk: row for row in dashboard.context["wallets"]}
    assert (rows[wallet.pk].balance, rows[wallet.pk].held, rows[wallet.pk].available) == (
        "25,000.000000",
        "15,000.000000",
        "10,000.000000",
    )
    html = dashboard.content.decode()
    assert 'data-testid="wallet-held"' in html and 'data-testid="wallet-available"' in html

    form = client.get("/exchange/?side=sell")
    choices = dict(form.context["form"].fields["wallet"].choices)
    assert (
        "10,000.000000 USDC available (15,000.000000 USDC held by sells)"
        in (choices[str(wallet.pk)])
    )


def test_the_portal_says_why_a_sell_confirm_is_refused(acme, desk, wallet):
    confirmed_sell(acme, wallet)
    quote_id = sell_quote(acme, wallet, "10000.000000")
    confirmed_sell(acme, wallet, "5000.000000")  # now only 5,000 are available
    client = portal(acme.user)
    response = client.post(
        f"/exchange/{quote_id}/confirm/", {"idempotency_key": new_key(), "side": "sell"}
    )
    assert response.status_code in (200, 409, 422)
    text = response.content.decode()
    assert "only 5,000.000000 USDC available" in text
    assert "20,000.000000 USDC are held by confirmed sells" in text
    assert Order.objects.get(pk=quote_id).status == Status.QUOTED


def test_a_sell_confirmed_before_holds_existed_settles_from_the_wallet_as_before(
    acme, desk, wallet, django_capture_on_commit_callbacks
):
    # Orders confirmed before this change hold nothing (source_held 0, no hold entry): the
    # collect takes their USDC from what is available, as it always did.
    order = confirmed_sell(acme, wallet)
    hold_release(
        LedgerAccount.objects.get(pk=wallet.ledger_account_id),
        order.source_held,
        reference_id=order.pk,
        description="undo, as if confirmed before holds",
    )
    Order.objects.filter(pk=order.pk).update(source_held=0)

    order = approve_and_settle(order, django_capture_on_commit_callbacks)

    assert order.status == Status.COMPLETED
    assert (available(wallet), held(wallet)) == (Decimal("10000.000000"), 0)
    assert custody().balance(wallet) == Decimal("10000.000000")
