"""The order state machine: exactly the contract's arrows, nothing else; the status cannot be
written directly; every transition leaves one entry on the order's timeline."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed, can_proceed

from accounts.errors import DomainError
from accounts.models import JournalEntry, LedgerAccount
from otc import services, tasks
from otc.models import Channel, Order, OrderTransition, Side, Status

pytestmark = pytest.mark.django_db

S = Status

# The contract's diagram, arrow by arrow: transition -> (sources, target).
ARROWS = {
    "confirm_buy": ({S.QUOTED, S.REQUOTED}, S.DEBIT_PENDING),
    "confirm_sell": ({S.QUOTED, S.REQUOTED}, S.PENDING_APPROVAL),
    "settle_debit": ({S.DEBIT_PENDING}, S.PENDING_APPROVAL),
    "cancel": ({S.QUOTED, S.REQUOTED, S.PRICE_REVIEW}, S.CANCELLED),
    "send_to_review": ({S.PENDING_APPROVAL}, S.PRICE_REVIEW),
    "accept_price": ({S.PRICE_REVIEW}, S.APPROVED),
    "cancel_by_desk": ({S.PENDING_APPROVAL, S.PRICE_REVIEW}, S.CANCELLED),
    "expire": ({S.QUOTED, S.REQUOTED}, S.EXPIRED),
    "requote": ({S.QUOTED, S.REQUOTED, S.EXPIRED}, S.REQUOTED),
    "approve": ({S.PENDING_APPROVAL}, S.APPROVED),
    "reject": ({S.PENDING_APPROVAL}, S.REJECTED),
    "complete": ({S.APPROVED}, S.COMPLETED),
    "fail": ({S.DEBIT_PENDING, S.APPROVED}, S.FAILED),
}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("name", sorted(ARROWS))
def test_only_the_contracts_arrows_exist(name, status):
    order = Order(status=status)  # in memory: the graph alone
    sources, target = ARROWS[name]
    method = getattr(order, name)
    if status in sources:
        assert can_proceed(method)
        method()
        assert order.status == target
    else:
        assert not can_proceed(method)
        with pytest.raises(TransitionNotAllowed):
            method()
        assert order.status == status


def test_the_terminal_states_have_no_way_out():
    for status in (S.CANCELLED, S.REJECTED, S.COMPLETED, S.FAILED):
        order = Order(status=status)
        assert not any(can_proceed(getattr(order, name)) for name in ARROWS), status


def test_the_status_cannot_be_assigned_directly(acme, buy_quote):
    order = buy_quote(acme)
    with pytest.raises(AttributeError):
        order.status = S.COMPLETED
    order = Order.objects.get(pk=order.pk)
    with pytest.raises(AttributeError):
        order.status = S.APPROVED
    assert Order.objects.get(pk=order.pk).status == S.QUOTED


def test_a_stale_copy_cannot_overwrite_a_newer_transition(acme, buy_quote):
    """Optimistic locking underneath the row locks: the copy that lost is refused."""
    from django_fsm import ConcurrentTransition

    order = buy_quote(acme)
    first, second = Order.objects.get(pk=order.pk), Order.objects.get(pk=order.pk)
    first.cancel()
    first.save()
    second.expire()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        second.save()
    assert Order.objects.get(pk=order.pk).status == S.CANCELLED


# --- the services refuse illegal moves with the contract's codes ----------------------------


def customer_actor(world):
    return services.Actor.for_user(world.user, Channel.API)


def ops(user):
    return services.Actor.for_user(user, Channel.OPS)


def confirm(world, order, capture, execute=True):
    with capture(execute=execute):
        services.order_confirm(
            order_id=order.pk, customer=world.customer, side=order.side, actor=customer_actor(world)
        )
    order.refresh_from_db()
    return order


def refused(code: str, status: int, call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    assert (caught.value.code, caught.value.status) == (code, status)
    return caught.value


def test_approving_or_rejecting_a_quote_is_refused(acme, operator, buy_quote):
    order = buy_quote(acme)
    refused(
        "ORDER_NOT_APPROVABLE",
        409,
        lambda: services.order_approve(order_id=order.pk, actor=ops(operator)),
    )
    refused(
        "ORDER_NOT_REJECTABLE",
        409,
        lambda: services.order_reject(order_id=order.pk, actor=ops(operator), reason="no"),
    )
    order.refresh_from_db()
    assert order.status == S.QUOTED
    assert order.transitions.count() == 1


def test_a_debit_pending_order_cannot_be_approved_cancelled_or_requoted(
    acme, operator, buy_quote, django_capture_on_commit_callbacks
):
    order = confirm(acme, buy_quote(acme), django_capture_on_commit_callbacks, execute=False)
    assert order.status == S.DEBIT_PENDING
    refused(
        "ORDER_NOT_APPROVABLE",
        409,
        lambda: services.order_approve(order_id=order.pk, actor=ops(operator)),
    )
    refused(
        "NOT_CANCELLABLE",
        409,
        lambda: services.order_cancel(
            order_id=order.pk, customer=acme.customer, actor=customer_actor(acme)
        ),
    )
    refused(
        "NOT_REQUOTABLE",
        409,
        lambda: services.order_requote(
            order_id=order.pk, customer=acme.customer, actor=customer_actor(acme)
        ),
    )


def test_a_pending_approval_order_cannot_be_cancelled_confirmed_or_requoted(
    acme, buy_quote, django_capture_on_commit_callbacks
):
    order = confirm(acme, buy_quote(acme), django_capture_on_commit_callbacks)
    assert order.status == S.PENDING_APPROVAL
    error = refused(
        "NOT_CANCELLABLE",
        409,
        lambda: services.order_cancel(
            order_id=order.pk, customer=acme.customer, actor=customer_actor(acme)
        ),
    )
    assert error.details == {"status": "pending_approval"}
    refused(
        "ORDER_NOT_CONFIRMABLE",
        409,
        lambda: confirm(acme, order, django_capture_on_commit_callbacks),
    )
    refused(
        "NOT_REQUOTABLE",
        409,
        lambda: services.order_requote(
            order_id=order.pk, customer=acme.customer, actor=customer_actor(acme)
        ),
    )
    assert JournalEntry.objects.filter(reference_id=order.pk).count() == 2  # debit, settled


def test_a_cancelled_order_cannot_be_confirmed_cancelled_or_requoted(
    acme, buy_quote, django_capture_on_commit_callbacks
):
    order = buy_quote(acme)
    services.order_cancel(order_id=order.pk, customer=acme.customer, actor=customer_actor(acme))
    refused(
        "ORDER_NOT_CONFIRMABLE",
        409,
        lambda: confirm(acme, order, django_capture_on_commit_callbacks),
    )
    refused(
        "NOT_CANCELLABLE",
        409,
        lambda: services.order_cancel(
            order_id=order.pk, customer=acme.customer, actor=customer_actor(acme)
        ),
    )
    refused(
        "NOT_REQUOTABLE",
        409,
        lambda: services.order_requote(
            order_id=order.pk, customer=acme.customer, actor=customer_actor(acme)
        ),
    )
    assert not JournalEntry.objects.filter(reference_id=order.pk).exists()


def test_an_expired_quote_cannot_be_confirmed_but_can_be_requoted(
    acme, buy_quote, django_capture_on_commit_callbacks
):
    order = buy_quote(acme)
    Order.objects.filter(pk=order.pk).update(ttl_expires_at=timezone.now() - timedelta(seconds=1))
    # Past its TTL but not yet swept: already refused.
    refused("QUOTE_EXPIRED", 400, lambda: confirm(acme, order, django_capture_on_commit_callbacks))
    assert services.quotes_expire() == 1
    refused("QUOTE_EXPIRED", 400, lambda: confirm(acme, order, django_capture_on_commit_callbacks))
    refused(
        "NOT_CANCELLABLE",
        409,
        lambda: services.order_cancel(
            order_id=order.pk, customer=acme.customer, actor=customer_actor(acme)
        ),
    )
    requoted = services.order_requote(
        order_id=order.pk, customer=acme.customer, actor=customer_actor(acme)
    )
    assert requoted.status == S.REQUOTED
    assert requoted.ttl_expires_at > timezone.now()
    assert confirm(acme, order, django_capture_on_commit_callbacks).status == S.PENDING_APPROVAL


def test_a_confirm_with_the_wrong_side_is_refused(acme, buy_quote):
    order = buy_quote(acme)
    refused(
        "SIDE_MISMATCH",
        422,
        lambda: services.order_confirm(
            order_id=order.pk, customer=acme.customer, side=Side.SELL, actor=customer_actor(acme)
        ),
    )


def test_another_customers_order_is_not_found(acme, globex, buy_quote):
    order = buy_quote(acme)
    for call in (
        lambda: services.order_confirm(
            order_id=order.pk, customer=globex.customer, side=Side.BUY, actor=customer_actor(globex)
        ),
        lambda: services.order_cancel(
            order_id=order.pk, customer=globex.customer, actor=customer_actor(globex)
        ),
        lambda: services.order_requote(
            order_id=order.pk, customer=globex.customer, actor=customer_actor(globex)
        ),
    ):
        refused("ORDER_NOT_FOUND", 404, call)
    assert Order.objects.get(pk=order.pk).status == S.QUOTED


def test_decided_orders_cannot_be_decided_again(
    acme, operator, buy_quote, django_capture_on_commit_callbacks
):
    approved = confirm(acme, buy_quote(acme), django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.order_approve(order_id=approved.pk, actor=ops(operator))
    rejected = confirm(acme, buy_quote(acme), django_capture_on_commit_callbacks)
    services.order_reject(order_id=rejected.pk, actor=ops(operator), reason="no")
    for order in (approved, rejected):
        refused(
            "ORDER_NOT_APPROVABLE",
            409,
            lambda order=order: services.order_approve(order_id=order.pk, actor=ops(operator)),
        )
        refused(
            "ORDER_NOT_REJECTABLE",
            409,
            lambda order=order: services.order_reject(
                order_id=order.pk, actor=ops(operator), reason="again"
            ),
        )
    # Late or repeated tasks leave finished orders alone.
    assert services.order_fail(order_id=approved.pk, reason="late").status == S.COMPLETED
    assert services.order_fail(order_id=rejected.pk, reason="late").status == S.REJECTED
    assert tasks.settle_order(str(rejected.pk)) == S.REJECTED
    assert JournalEntry.objects.filter(reference_id=rejected.pk, kind="refund").count() == 1


def test_approving_an_unknown_order_is_not_found(operator, desk):
    import uuid

    refused(
        "ORDER_NOT_FOUND",
        404,
        lambda: services.order_approve(order_id=uuid.uuid4(), actor=ops(operator)),
    )


# --- the timeline ---------------------------------------------------------------------------


def timeline(order) -> list[tuple]:
    return list(
        OrderTransition.objects.filter(order=order)
        .order_by("created_at", "id")
        .values_list("from_status", "to_status", "actor", "channel", "actor_user")
    )


def test_a_buy_leaves_one_timeline_entry_per_transition(
    acme, operator, buy_quote, django_capture_on_commit_callbacks
):
    order = confirm(acme, buy_quote(acme), django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.order_approve(order_id=order.pk, actor=ops(operator))
    user = acme.user.username
    assert timeline(order) == [
        ("", S.QUOTED, "test", Channel.API, None),
        (S.QUOTED, S.DEBIT_PENDING, user, Channel.API, acme.user.pk),
        (S.DEBIT_PENDING, S.PENDING_APPROVAL, "system:fiat-rail", Channel.TASK, None),
        (S.PENDING_APPROVAL, S.APPROVED, operator.username, Channel.OPS, operator.pk),
        (S.APPROVED, S.COMPLETED, "system:settlement", Channel.TASK, None),
    ]
    approval = OrderTransition.objects.get(order=order, to_status=S.APPROVED)
    assert "1.074600" in approval.reason  # the rate it was approved at


def test_a_sell_rejection_cancel_expiry_and_requote_each_leave_their_entry(
    acme, operator, buy_quote, sell_quote, django_capture_on_commit_callbacks
):
    sell = confirm(acme, sell_quote(acme), django_capture_on_commit_callbacks)
    services.order_reject(order_id=sell.pk, actor=ops(operator), reason="Not today.")
    assert timeline(sell)[1:] == [
        (S.QUOTED, S.PENDING_APPROVAL, acme.user.username, Channel.API, acme.user.pk),
        (S.PENDING_APPROVAL, S.REJECTED, operator.username, Channel.OPS, operator.pk),
    ]
    assert OrderTransition.objects.get(order=sell, to_status=S.REJECTED).reason == "Not today."

    cancelled = buy_quote(acme)
    services.order_requote(
        order_id=cancelled.pk, customer=acme.customer, actor=customer_actor(acme)
    )
    services.order_cancel(order_id=cancelled.pk, customer=acme.customer, actor=customer_actor(acme))
    assert [row[:2] for row in timeline(cancelled)] == [
        ("", S.QUOTED),
        (S.QUOTED, S.REQUOTED),
        (S.REQUOTED, S.CANCELLED),
    ]

    expired = buy_quote(acme)
    Order.objects.filter(pk=expired.pk).update(ttl_expires_at=timezone.now())
    services.quotes_expire()
    assert timeline(expired)[-1] == (
        S.QUOTED,
        S.EXPIRED,
        "system:quote-sweeper",
        Channel.TASK,
        None,
    )
    assert OrderTransition.objects.get(order=expired, to_status=S.EXPIRED).reason


def test_a_refused_transition_leaves_no_entry_and_moves_no_money(
    acme, buy_quote, django_capture_on_commit_callbacks
):
    order = buy_quote(acme, amount="250000.01")  # more than the master account holds
    with pytest.raises(DomainError) as caught:
        confirm(acme, order, django_capture_on_commit_callbacks)
    assert caught.value.code == "SOURCE_INSUFFICIENT_FUNDS"
    assert caught.value.details == {"available": "250000.00"}
    order.refresh_from_db()
    assert order.status == S.QUOTED
    assert timeline(order) == [("", S.QUOTED, "test", Channel.API, None)]
    assert not JournalEntry.objects.filter(reference_id=order.pk).exists()
    master = LedgerAccount.objects.get(pk=acme.eur_master.ledger_account_id)
    assert master.balance == Decimal("250000.00")


def test_the_set_based_sweep_records_each_expiry_like_a_transition(acme, buy_quote):
    from otc.webhooks.models import Event

    stale, requoted_stale, fresh = buy_quote(acme), buy_quote(acme), buy_quote(acme)
    services.order_requote(
        order_id=requoted_stale.pk, customer=acme.customer, actor=customer_actor(acme)
    )
    past = timezone.now() - timedelta(seconds=1)
    Order.objects.filter(pk__in=[stale.pk, requoted_stale.pk]).update(ttl_expires_at=past)
    before = Order.objects.get(pk=stale.pk).updated_at

    assert services.quotes_expire(batch_size=1) == 1  # batches, oldest first
    assert services.quotes_expire() == 1
    assert services.quotes_expire() == 0

    assert Order.objects.get(pk=fresh.pk).status == S.QUOTED
    for order, previous in ((stale, S.QUOTED), (requoted_stale, S.REQUOTED)):
        row = Order.objects.get(pk=order.pk)
        assert row.status == S.EXPIRED and row.updated_at > before
        step = OrderTransition.objects.filter(order=order).latest("created_at")
        assert (step.from_status, step.to_status, step.actor) == (
            previous,
            S.EXPIRED,
            "system:quote-sweeper",
        )
        event = Event.objects.get(order_id=order.pk, type="otc_order.expired")
        assert event.data["status"] == "expired" and event.data["previousStatus"] == previous
        assert event.data["fees"]["lines"], "the event carries the order as a GET shows it"
        assert event.txid > 0
