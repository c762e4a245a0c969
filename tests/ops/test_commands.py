"""The approve_order / reject_order commands call the console's services: the same four-eyes
rule, the same log, with channel "command"."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from otc.models import Channel, OrderApproval, Status

from .conftest import pending_order

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_approve_order_command_logs_its_channel(acme, alice):
    order = pending_order(acme)
    output = run("approve_order", str(order.pk), "--operator", "op-alice")
    assert "rate=1.074600" in output
    step = order.transitions.get(to_status=Status.APPROVED)
    assert (step.actor, step.channel) == ("op-alice", Channel.COMMAND)


def test_approve_order_command_honours_four_eyes(acme, alice, bob, settings):
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("500")
    order = pending_order(acme)

    assert "first approval recorded" in run(
        "approve_order", str(order.pk), "--operator", "op-alice"
    )
    with pytest.raises(CommandError, match="ALREADY_APPROVED_BY_YOU"):
        run("approve_order", str(order.pk), "--operator", "op-alice")
    with pytest.raises(CommandError, match="APPROVER_REQUIRED"):
        run("approve_order", str(order.pk))
    assert "rate=" in run("approve_order", str(order.pk), "--operator", "op-bob")

    order.refresh_from_db()
    assert order.status in (Status.APPROVED, Status.COMPLETED)
    assert OrderApproval.objects.filter(order=order).count() == 2


def test_reject_order_command_logs_its_channel(acme, alice):
    order = pending_order(acme)
    run("reject_order", str(order.pk), "--reason", "Sanctions hit", "--operator", "op-alice")
    step = order.transitions.get(to_status=Status.REJECTED)
    assert (step.channel, step.reason) == (Channel.COMMAND, "Sanctions hit")
