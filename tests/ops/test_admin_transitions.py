"""django-fsm's admin transition buttons on an order's page run the services: approve at the
live rate (with four-eyes), reject with a reason (a buy refunded); no one without the decision
permission sees or presses them."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from otc.models import Channel, Order, OrderTransition, Status

from .conftest import csrf_post, make_staff, pending_order, signed_in

pytestmark = pytest.mark.django_db


def change(order: Order) -> str:
    return reverse("admin:otc_order_change", args=[order.pk])


def transition_form(order: Order, name: str) -> str:
    return reverse("admin:otc_order_transition", args=[order.pk, name])


def test_the_order_page_offers_approve_and_reject_buttons_only(acme, alice):
    order = pending_order(acme)
    html = signed_in(alice).get(change(order)).content.decode()
    assert 'name="_fsm_transition_to"' in html
    assert 'value="approve"' in html and 'value="reject"' in html
    for hidden in ("complete", "fail", "cancel", "expire", "settle_debit"):
        assert f'value="{hidden}"' not in html
    assert 'name="_save"' not in html


def test_approve_button_approves_at_the_live_rate_through_the_service(
    acme, alice, django_capture_on_commit_callbacks
):
    order = pending_order(acme)
    client = signed_in(alice)
    client.get(change(order))
    with django_capture_on_commit_callbacks(execute=True):
        response = csrf_post(client, change(order), {"_fsm_transition_to": "approve"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    assert order.final_rate is not None
    approval = OrderTransition.objects.get(order=order, to_status=Status.APPROVED)
    assert (approval.actor, approval.channel, approval.actor_user) == (
        "op-alice",
        Channel.ADMIN,
        alice,
    )


def test_reject_button_asks_for_a_reason_then_refunds_the_buy(acme, alice):
    order = pending_order(acme)
    balance_before = acme.eur_master.ledger_account.__class__.objects.get(
        pk=acme.eur_master.ledger_account_id
    ).balance
    client = signed_in(alice)
    client.get(change(order))
    response = csrf_post(client, change(order), {"_fsm_transition_to": "reject"})
    assert response.status_code == 302 and response["Location"] == transition_form(order, "reject")
    assert "reason" in client.get(transition_form(order, "reject")).content.decode()

    missing = csrf_post(client, transition_form(order, "reject"), {"reason": "", "code": "OTHER"})
    assert missing.status_code == 200  # the form again, nothing done
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL

    done = csrf_post(
        client, transition_form(order, "reject"), {"reason": "KYC review failed", "code": "OTHER"}
    )
    assert done.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.rejection_reason) == (Status.REJECTED, "KYC review failed")
    acme.eur_master.ledger_account.refresh_from_db()
    assert acme.eur_master.ledger_account.balance == balance_before + order.source_amount


def test_four_eyes_through_the_buttons_needs_two_operators(acme, alice, bob, settings):
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = 500
    order = pending_order(acme)
    first = signed_in(alice)
    first.get(change(order))
    csrf_post(first, change(order), {"_fsm_transition_to": "approve"})
    again = csrf_post(first, change(order), {"_fsm_transition_to": "approve"})
    assert again.status_code == 302
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL and order.approvals.count() == 1
    second = signed_in(bob)
    second.get(change(order))
    csrf_post(second, change(order), {"_fsm_transition_to": "approve"})
    order.refresh_from_db()
    assert order.status in (Status.APPROVED, Status.COMPLETED)


def test_a_viewer_without_the_decision_permission_has_no_buttons_and_cannot_post(acme):
    viewer = make_staff("auditor", group=None)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    order = pending_order(acme)
    client = signed_in(viewer)
    html = client.get(change(order)).content.decode()
    assert 'value="approve"' not in html
    refused = csrf_post(client, change(order), {"_fsm_transition_to": "approve"})
    assert refused.status_code == 403
    assert client.get(transition_form(order, "reject")).status_code in (302, 403)
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL


def test_a_plain_save_post_is_refused(acme, alice):
    order = pending_order(acme)
    client = signed_in(alice)
    client.get(change(order))
    assert csrf_post(client, change(order), {"_save": "Save"}).status_code == 403
