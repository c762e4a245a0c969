"""The order page beyond its status: the approval deadline counted down, a rejection's code,
message and remediation, a timeline of roles and channels (never an operator's name or the
desk's internal notes), no ledger account codes, and a constant number of queries."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import LedgerAccount
from otc import services
from otc.models import Channel, Side, Status
from otc.services import REJECTION_CODES, Actor
from tests.protection.conftest import pending

from .conftest import ops_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(client, acme):
    client.force_login(acme.user)
    return client


def page(portal, order):
    response = portal.get(reverse("portal:order", args=[order.pk]))
    assert response.status_code == 200
    return response


def test_a_pending_order_counts_down_to_its_approval_deadline(portal, acme, settings):
    order = pending(acme)
    response = page(portal, order)
    deadline = response.context["deadline"]
    assert deadline.ends_at == order.approval_deadline_at
    sla = settings.OTC_APPROVAL_SLA_MINUTES * 60
    assert sla - 10 <= deadline.seconds <= sla
    text = response.content.decode()
    assert f'data-time-left="{deadline.seconds}"' in text
    assert re.search(r"<strong data-time-left-text>\d h \d\d min</strong> left", text)
    assert "the order is cancelled and your EUR refunded" in text
    # Also in the fragment htmx polls, so it stays right while the page is open.
    fragment = portal.get(reverse("portal:order_status", args=[order.pk])).content.decode()
    assert 'data-testid="approval-deadline"' in fragment


def test_a_sell_deadline_does_not_promise_a_refund(portal, acme):
    text = page(portal, pending(acme, side=Side.SELL)).content.decode()
    assert 'data-testid="approval-deadline"' in text and "EUR refunded" not in text


def test_no_deadline_once_the_desk_decided(portal, completed):
    response = page(portal, completed())
    assert response.context["deadline"] is None
    assert 'data-testid="approval-deadline"' not in response.content.decode()


@pytest.mark.parametrize("code", sorted(REJECTION_CODES))
def test_a_rejection_shows_its_code_message_and_remediation(portal, acme, operator, code):
    order = pending(acme)
    services.order_reject(
        order_id=order.pk, actor=ops_actor(operator), reason="Documents out of date.", code=code
    )
    response = page(portal, order)
    rejection = response.context["rejection"]
    assert (rejection.code, rejection.message) == (code, "Documents out of date.")
    assert rejection.remediation == REJECTION_CODES[code]
    text = response.content.decode()
    assert f'data-code="{code}"' in text
    assert "Documents out of date." in text
    assert f"What you can do: {REJECTION_CODES[code]}".replace("'", "&#x27;") in text


def test_the_timeline_names_roles_and_channels_never_operators(
    portal, acme, operator, completed, settings
):
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("500")  # two named approvers
    second = type(operator).objects.create(username="op-bob", is_staff=True)
    order = pending(acme)
    services.order_approve(order_id=order.pk, actor=ops_actor(operator))
    services.order_approve(order_id=order.pk, actor=ops_actor(second))
    approved = order.transitions.get(to_status=Status.APPROVED)
    assert "op-alice" in approved.reason and "mid" in approved.reason  # the desk's own note
    response = page(portal, order)
    text = response.content.decode()
    for name in ("op-alice", "op-bob"):
        assert name not in text
    assert approved.reason not in text and "mid 1.080000" not in text
    who = [(step.role, step.channel) for step in response.context["timeline"]]
    assert who[0] == ("Your integration", "API")  # the tests/protection helpers quote by API
    assert ("The desk", "Operator console") in who
    assert all(step.reason == "" for step in response.context["timeline"])


def test_the_customers_own_users_are_a_role_too(portal, acme, operator, completed):
    order = completed()
    response = page(portal, order)
    roles = {step.role for step in response.context["timeline"]}
    assert "Your team" in roles and "The desk" in roles
    timeline = response.content.decode().split('id="timeline-h"')[1]
    assert acme.user.username not in timeline


def test_a_rejections_message_is_the_one_reason_on_the_timeline(portal, acme, operator):
    order = pending(acme)
    services.order_reject(
        order_id=order.pk, actor=ops_actor(operator), reason="Limit reached.", code="LIMIT_EXCEEDED"
    )
    steps = page(portal, order).context["timeline"]
    assert [s.reason for s in steps if s.reason] == ["Limit reached."]


def test_no_ledger_account_codes_on_the_order_page(portal, acme, completed):
    order = completed()
    text = page(portal, order).content.decode()
    codes = LedgerAccount.objects.filter(
        pk__in=[order.source_ledger_account_id, order.destination_ledger_account_id]
    ).values_list("code", flat=True)
    treasury = LedgerAccount.objects.exclude(code="").values_list("code", flat=True)
    for code in [*codes, *treasury]:
        assert code not in text


@pytest.mark.parametrize("state", ["quoted", "pending", "review", "completed", "rejected"])
def test_the_order_page_costs_a_constant_number_of_queries(
    portal, acme, operator, completed, in_review, state, django_assert_max_num_queries
):
    if state == "quoted":
        order = services.quote_create(
            customer=acme.customer,
            side=Side.BUY,
            fiat_account_id=acme.eur_master.pk,
            wallet_id=acme.wallet.pk,
            amount=Decimal("1000.00"),
            actor=Actor.for_user(acme.user, Channel.PORTAL),
        )
    elif state == "pending":
        order = pending(acme)
    elif state == "review":
        order = in_review()
    elif state == "completed":
        order = completed()
    else:
        order = pending(acme)
        services.order_reject(order_id=order.pk, actor=ops_actor(operator), reason="No.")
    # Session, user, membership, customer, the order (with its trail), its fees, its
    # transitions and, once completed, the receipt's transfers: whatever the fee lines,
    # transitions or movements.
    with django_assert_max_num_queries(8):
        page(portal, order)
    with django_assert_max_num_queries(8):
        portal.get(reverse("portal:order_status", args=[order.pk]))
