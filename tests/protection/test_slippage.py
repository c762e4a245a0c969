"""The customer's slippage limit at approval, on every path that approves: the service, the
console, the admin's transition button and bulk action, ``manage.py approve_order`` and the
second approval of a four-eyes pair. Within the limit or better for the customer the order
executes at the live rate; beyond it the order goes to price_review with a firm price,
nothing moves, and the customer's webhook feed gets an ``otc_order.price_review`` event."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import JournalEntry
from otc import services
from otc.models import Channel, Order, OrderTransition, Side, Status
from otc.webhooks.models import Event
from tests.ops.conftest import csrf_post, make_staff, signed_in

from .conftest import MID_BETTER, MID_BEYOND, MID_WITHIN, QUOTED_MID, balance, ops_actor, pending

pytestmark = pytest.mark.django_db


def live_figures(order: Order, mid: Decimal) -> tuple[Decimal, Decimal]:
    _, rate, destination = services.order_execution_price(order, mid)
    return rate, destination


def via_service(order, user, mid):
    services.order_approve(order_id=order.pk, actor=ops_actor(user))


def via_console(order, user, mid):
    rate, _ = live_figures(order, mid)
    response = csrf_post(
        signed_in(user), f"/ops/orders/{order.pk}/approve/", {"shown_rate": str(rate)}
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def via_admin_button(order, user, mid):
    client = signed_in(user)
    page = reverse("admin:otc_order_change", args=[order.pk])
    client.get(page)
    response = csrf_post(client, page, {"_fsm_transition_to": "approve"})
    assert response.status_code == 302


def via_admin_action(order, user, mid):
    response = csrf_post(
        signed_in(user),
        reverse("admin:otc_order_changelist"),
        {"action": "approve_orders", "_selected_action": [str(order.pk)]},
    )
    assert response.status_code == 302


def via_command(order, user, mid):
    out = StringIO()
    call_command("approve_order", str(order.pk), "--operator", user.username, stdout=out)
    via_command.output = out.getvalue()


PATHS = {
    "service": (via_service, Channel.OPS),
    "console": (via_console, Channel.OPS),
    "admin-button": (via_admin_button, Channel.ADMIN),
    "admin-action": (via_admin_action, Channel.ADMIN),
    "command": (via_command, Channel.COMMAND),
}


@pytest.fixture
def deciders(db):
    return make_staff("op-dana"), make_staff("op-erik")


def approve(path, order, mid, deciders, settings, *, four_eyes: bool) -> None:
    """Approve ``order`` through ``path`` at ``mid``; with ``four_eyes`` the path gives the
    second approval after a first one through the service (at the quoted market)."""
    first, second = deciders
    if four_eyes:
        settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("500")
        services.order_approve(order_id=order.pk, actor=ops_actor(first))
        order.refresh_from_db()
        assert order.status == Status.PENDING_APPROVAL and order.approvals.count() == 1
    settings.OTC_PRICE_FEED = f"static:{mid}"
    PATHS[path][0](order, second, mid)


@pytest.mark.parametrize("four_eyes", [False, True], ids=["one-approver", "four-eyes"])
@pytest.mark.parametrize("mid", [MID_WITHIN, MID_BETTER], ids=["within", "better"])
@pytest.mark.parametrize("path", list(PATHS))
def test_within_the_limit_or_better_the_order_executes_at_the_live_rate(
    acme, desk, deciders, settings, path, mid, four_eyes, django_capture_on_commit_callbacks
):
    order = pending(acme)
    usdc_before = balance(acme.wallet)
    rate, destination = live_figures(order, mid)
    assert services.slippage_bps(order, rate) <= order.max_slippage_bps

    with django_capture_on_commit_callbacks(execute=True):
        approve(path, order, mid, deciders, settings, four_eyes=four_eyes)

    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    assert (order.final_rate, order.final_destination_amount) == (rate, destination)
    assert order.review_rate is None
    assert balance(acme.wallet) == usdc_before + destination
    step = OrderTransition.objects.get(order=order, to_status=Status.APPROVED)
    assert step.channel == PATHS[path][1]
    assert not Event.objects.filter(order_id=order.pk, type="otc_order.price_review").exists()


@pytest.mark.parametrize("four_eyes", [False, True], ids=["one-approver", "four-eyes"])
@pytest.mark.parametrize("path", list(PATHS))
def test_beyond_the_limit_the_order_waits_for_the_customers_consent(
    acme, desk, deciders, settings, path, four_eyes, django_capture_on_commit_callbacks
):
    order = pending(acme)
    usdc_before, treasury_before = balance(acme.wallet), balance(desk["usdc"])
    rate, destination = live_figures(order, MID_BEYOND)
    assert services.slippage_bps(order, rate) > order.max_slippage_bps

    with django_capture_on_commit_callbacks(execute=True):
        approve(path, order, MID_BEYOND, deciders, settings, four_eyes=four_eyes)

    order.refresh_from_db()
    assert order.status == Status.PRICE_REVIEW
    assert (order.review_rate, order.review_destination_amount) == (rate, destination)
    assert order.review_mid_rate == MID_BEYOND
    assert order.review_expires_at is not None
    assert order.final_rate is None and order.approved_at is None
    # Nothing moved: no settlement entry, the wallet and the treasury as they were.
    kinds = set(JournalEntry.objects.filter(reference_id=order.pk).values_list("kind", flat=True))
    assert JournalEntry.Kind.ORDER_SETTLEMENT not in kinds
    assert (balance(acme.wallet), balance(desk["usdc"])) == (usdc_before, treasury_before)
    step = OrderTransition.objects.get(order=order, to_status=Status.PRICE_REVIEW)
    assert (step.from_status, step.channel) == (Status.PENDING_APPROVAL, PATHS[path][1])
    assert "bps worse than quoted" in step.reason
    event = Event.objects.get(order_id=order.pk, type="otc_order.price_review")
    assert event.customer_id == acme.customer.pk
    assert event.data["status"] == "price_review"
    assert event.data["previousStatus"] == "pending_approval"
    assert event.data["reviewExpiresAt"] is not None


def test_the_command_says_the_order_went_to_review(acme, desk, deciders, settings):
    order = pending(acme)
    approve("command", order, MID_BEYOND, deciders, settings, four_eyes=False)
    assert "price_review" in via_command.output
    assert "first approval" not in via_command.output


def test_the_limit_is_the_customers_own(acme, desk, operator, market):
    """Confirmed with 200 bps, an order 185 bps worse executes; with 0 bps any worse rate
    goes to review, while an unchanged rate executes."""
    tolerant = pending(acme, max_slippage_bps=200)
    strict = pending(acme, max_slippage_bps=0)
    unchanged = pending(acme, max_slippage_bps=0)
    services.order_approve(order_id=unchanged.pk, actor=ops_actor(operator))
    market(MID_BEYOND)
    services.order_approve(order_id=tolerant.pk, actor=ops_actor(operator))
    services.order_approve(order_id=strict.pk, actor=ops_actor(operator))
    statuses = {o.pk: o.status for o in Order.objects.filter(pk__in=[tolerant.pk, strict.pk])}
    assert statuses == {tolerant.pk: Status.APPROVED, strict.pk: Status.PRICE_REVIEW}
    unchanged.refresh_from_db()
    assert unchanged.status == Status.APPROVED


def test_exactly_at_the_limit_executes(acme, desk, operator, market):
    order = pending(acme, max_slippage_bps=100)
    # 1.0692 is 1.08 less exactly 1 %: the customer rate moves by exactly 100 bps.
    mid = QUOTED_MID * Decimal("0.99")
    rate, _ = live_figures(order, mid)
    assert services.slippage_bps(order, rate) == Decimal("100.0")
    market(mid)
    services.order_approve(order_id=order.pk, actor=ops_actor(operator))
    order.refresh_from_db()
    assert order.status == Status.APPROVED


def test_a_sell_is_protected_the_other_way_round(acme, desk, operator, market):
    """For a sell (USDC -> EUR) a higher mid is worse for the customer."""
    worse = pending(acme, side=Side.SELL)
    better = pending(acme, side=Side.SELL)
    market(Decimal("1.100000"))
    services.order_approve(order_id=worse.pk, actor=ops_actor(operator))
    market(Decimal("1.060000"))
    services.order_approve(order_id=better.pk, actor=ops_actor(operator))
    worse.refresh_from_db()
    better.refresh_from_db()
    assert worse.status == Status.PRICE_REVIEW
    assert better.status == Status.APPROVED
    assert better.final_rate > better.indicative_rate


def test_the_confirm_body_takes_max_slippage_and_shows_it(acme):
    from tests.otc.test_api_support import assert_error, buy_quote_id, confirm, order_url

    quote_id = buy_quote_id(acme)
    api = acme.client()
    response = api.post(
        "/api/v1/otc-exchanges",
        {"quoteId": quote_id, "side": "buy", "maxSlippageBps": 1001},
        format="json",
        HTTP_IDEMPOTENCY_KEY="8c9a7a3e-7f44-4b59-9c52-6a4e2d1e2f10",
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    response = api.post(
        "/api/v1/otc-exchanges",
        {"quoteId": quote_id, "side": "buy", "maxSlippageBps": 25},
        format="json",
        HTTP_IDEMPOTENCY_KEY="0f5b3a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    )
    assert response.status_code == 201, response.content
    body = api.get(order_url(quote_id)).json()["data"]
    assert body["maxSlippageBps"] == 25
    assert body["approvalDeadlineAt"] is not None
    default = buy_quote_id(acme)
    assert confirm(acme, default).status_code == 201
    assert api.get(order_url(default)).json()["data"]["maxSlippageBps"] == 100
