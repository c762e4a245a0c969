"""The beat sweep (reviews past their TTL, undecided orders past approvalDeadlineAt: cancelled
by the desk, a buy refunded) and machine-readable rejections (code, message, remediation;
``reject_order --code``, default OTHER)."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.errors import DomainError
from accounts.models import JournalEntry
from otc import services, tasks
from otc.models import Order, OrderTransition, Side, Status
from otc.webhooks.models import Event
from tests import factories
from tests.otc.test_api_support import order_url

from .conftest import balance, ops_actor, pending

pytestmark = pytest.mark.django_db


def test_every_confirmed_order_carries_its_approval_deadline(acme, settings):
    settings.OTC_APPROVAL_SLA_MINUTES = 30
    order = pending(acme)
    assert order.approval_deadline_at - order.confirmed_at < timedelta(minutes=30, seconds=1)
    assert order.approval_deadline_at - order.confirmed_at > timedelta(minutes=29, seconds=59)
    body = acme.client().get(order_url(order.pk)).json()["data"]
    assert body["approvalDeadlineAt"] is not None


def test_the_sweep_cancels_an_order_past_its_deadline_and_refunds_the_buy(acme, desk):
    eur_before = balance(acme.eur_master)
    late = pending(acme)
    on_time = pending(acme)
    Order.objects.filter(pk=late.pk).update(approval_deadline_at=timezone.now())

    assert tasks.sweep_deadlines.delay().get() == 1

    late.refresh_from_db()
    on_time.refresh_from_db()
    assert late.status == Status.CANCELLED
    assert late.cancellation_code == "APPROVAL_DEADLINE_PASSED"
    assert on_time.status == Status.PENDING_APPROVAL
    assert balance(acme.eur_master) == eur_before - on_time.source_amount  # late refunded
    assert (
        JournalEntry.objects.filter(reference_id=late.pk, kind=JournalEntry.Kind.REFUND).count()
        == 1
    )
    step = OrderTransition.objects.get(order=late, to_status=Status.CANCELLED)
    assert (step.from_status, step.actor) == (Status.PENDING_APPROVAL, "system:deadline-sweeper")
    assert "APPROVAL_DEADLINE_PASSED" in step.reason
    body = acme.client().get(order_url(late.pk)).json()["data"]
    assert (body["status"], body["cancellationCode"]) == ("cancelled", "APPROVAL_DEADLINE_PASSED")
    event = Event.objects.get(order_id=late.pk, type="otc_order.cancelled")
    assert event.data["cancellationCode"] == "APPROVAL_DEADLINE_PASSED"
    assert tasks.sweep_deadlines.delay().get() == 0  # twice is harmless


def test_the_sweep_cancels_a_sell_past_its_deadline_without_moving_money(acme):
    order = pending(acme, side=Side.SELL)
    assert services.orders_sweep(now=order.approval_deadline_at) == 1
    order.refresh_from_db()
    assert (order.status, order.cancellation_code) == (Status.CANCELLED, "APPROVAL_DEADLINE_PASSED")
    assert factories.order_entry_kinds(order.pk) == factories.HELD_AND_RELEASED


def test_the_sweep_cancels_an_expired_review_and_refunds_the_buy(acme, in_review):
    eur_before = balance(acme.eur_master)
    order = in_review()
    assert services.orders_sweep(now=order.review_expires_at - timedelta(seconds=1)) == 0

    assert services.orders_sweep(now=order.review_expires_at) == 1

    order.refresh_from_db()
    assert (order.status, order.cancellation_code) == (Status.CANCELLED, "REVIEW_EXPIRED")
    assert balance(acme.eur_master) == eur_before
    step = OrderTransition.objects.get(order=order, to_status=Status.CANCELLED)
    assert step.from_status == Status.PRICE_REVIEW


def test_the_sweep_leaves_an_approved_order_alone(acme, operator):
    order = pending(acme)
    services.order_approve(order_id=order.pk, actor=ops_actor(operator))
    assert services.orders_sweep(now=order.approval_deadline_at + timedelta(hours=1)) == 0
    order.refresh_from_db()
    assert order.status == Status.APPROVED


# --- rejections ---------------------------------------------------------------------------------


def test_a_rejection_carries_code_message_and_remediation(acme, operator):
    order = pending(acme)
    services.order_reject(
        order_id=order.pk,
        actor=ops_actor(operator),
        reason="Source of funds not evidenced.",
        code="COMPLIANCE_REVIEW",
    )
    body = acme.client().get(order_url(order.pk)).json()["data"]
    assert body["status"] == "rejected"
    assert body["rejectionReason"] == "Source of funds not evidenced."
    assert body["rejection"] == {
        "code": "COMPLIANCE_REVIEW",
        "message": "Source of funds not evidenced.",
        "remediation": services.REJECTION_CODES["COMPLIANCE_REVIEW"],
    }


def test_an_unknown_rejection_code_is_refused(acme, operator):
    order = pending(acme)
    with pytest.raises(DomainError) as refused:
        services.order_reject(order_id=order.pk, actor=ops_actor(operator), reason="x", code="NOPE")
    assert (refused.value.code, refused.value.status) == ("VALIDATION_ERROR", 400)
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL


def test_reject_order_takes_a_code(acme, operator):
    order = pending(acme)
    out = StringIO()
    call_command(
        "reject_order", str(order.pk), "--code", "LIMIT_EXCEEDED", "--reason", "Too big", stdout=out
    )
    order.refresh_from_db()
    assert (order.status, order.rejection_code, order.rejection_reason) == (
        Status.REJECTED,
        "LIMIT_EXCEEDED",
        "Too big",
    )
    assert out.getvalue().strip() == f"{order.pk} rejected"


def test_reject_order_defaults_to_other_as_scripts_written_before_codes_expect(acme):
    eur_before = balance(acme.eur_master)
    order = pending(acme)
    call_command(
        "reject_order", str(order.pk), "--reason", "Duplicate of yesterday", stdout=StringIO()
    )
    order.refresh_from_db()
    assert (order.status, order.rejection_code) == (Status.REJECTED, "OTHER")
    assert balance(acme.eur_master) == eur_before
    rejection = acme.client().get(order_url(order.pk)).json()["data"]["rejection"]
    assert rejection["code"] == "OTHER" and rejection["remediation"]


def test_reject_order_refuses_an_unknown_code(acme):
    order = pending(acme)
    with pytest.raises(CommandError):
        call_command("reject_order", str(order.pk), "--code", "BOGUS", "--reason", "x")
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL


def test_the_console_requires_a_rejection_code(acme):
    from tests.ops.conftest import csrf_post, make_staff, signed_in

    order = pending(acme)
    client = signed_in(make_staff("op-fay"))
    response = csrf_post(client, f"/ops/orders/{order.pk}/reject/", {"reason": "No"})
    assert response.status_code == 400
    assert "Pick a reason code." in response.content.decode()
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL
    csrf_post(client, f"/ops/orders/{order.pk}/reject/", {"reason": "No", "code": "DUPLICATE"})
    order.refresh_from_db()
    assert (order.status, order.rejection_code) == (Status.REJECTED, "DUPLICATE")


def test_beat_runs_the_sweep(settings):
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["sweep-deadlines"]
    assert entry["task"] == "otc.tasks.sweep_deadlines" in app.tasks
    assert entry["schedule"] <= 60
