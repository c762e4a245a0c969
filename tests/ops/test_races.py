"""Operators acting at once, on real threads with their own database connections: exactly one
decision wins, the other gets a clean 409, and money moves once."""

from decimal import Decimal

import pytest

from accounts.models import JournalEntry
from otc.models import Order, OrderApproval, Status

from .conftest import csrf_post, make_staff, pending_order, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


def approve(user, order, rate="1.074600"):
    client = signed_in(user)
    return lambda: csrf_post(client, f"/ops/orders/{order.pk}/approve/", {"shown_rate": rate})


def reject(user, order):
    client = signed_in(user)
    return lambda: csrf_post(
        client, f"/ops/orders/{order.pk}/reject/", {"reason": "Race", "code": "OTHER"}
    )


def statuses(results) -> list[int]:
    assert not [r for r in results if isinstance(r, BaseException)], results
    return sorted(r.status_code for r in results)


def test_two_operators_approving_at_once_approve_once(acme, run_concurrently):
    order = pending_order(acme)
    alice, bob = make_staff("op-alice"), make_staff("op-bob")

    results = run_concurrently([approve(alice, order), approve(bob, order)])

    assert statuses(results) == [302, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert "cannot be approved" in loser.content.decode()
    order.refresh_from_db()
    assert order.status == Status.COMPLETED  # settled on commit, once
    assert order.transitions.filter(to_status=Status.APPROVED).count() == 1
    assert JournalEntry.objects.filter(reference_id=order.pk, kind="order_settlement").count() == 1


def test_a_double_click_approves_once(acme, run_concurrently):
    order = pending_order(acme)
    alice = make_staff("op-alice")

    results = run_concurrently([approve(alice, order), approve(alice, order)])

    assert statuses(results) == [302, 409]
    assert Order.objects.get(pk=order.pk).transitions.filter(to_status=Status.APPROVED).count() == 1


def test_approve_racing_reject_lets_exactly_one_win(acme, run_concurrently):
    before = acme.eur_master.ledger_account.balance
    order = pending_order(acme)
    alice, bob = make_staff("op-alice"), make_staff("op-bob")

    results = run_concurrently([approve(alice, order), reject(bob, order)])

    assert statuses(results) == [302, 409]
    order.refresh_from_db()
    acme.eur_master.ledger_account.refresh_from_db()
    assert order.status in (Status.COMPLETED, Status.REJECTED)
    refunded = acme.eur_master.ledger_account.balance == before
    assert refunded == (order.status == Status.REJECTED)


def test_four_eyes_pair_approving_at_once_needs_both_and_executes_once(
    acme, run_concurrently, settings
):
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("500")
    order = pending_order(acme)
    alice, bob = make_staff("op-alice"), make_staff("op-bob")

    results = run_concurrently([approve(alice, order), approve(bob, order)])

    assert statuses(results) == [302, 302]
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    assert OrderApproval.objects.filter(order=order).count() == 2
    assert order.transitions.filter(to_status=Status.APPROVED).count() == 1


def test_four_eyes_double_click_by_one_person_counts_once(acme, run_concurrently, settings):
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("500")
    order = pending_order(acme)
    alice = make_staff("op-alice")

    results = run_concurrently([approve(alice, order), approve(alice, order)])

    assert statuses(results) == [302, 409]
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL
    assert OrderApproval.objects.filter(order=order).count() == 1
