"""The operator console's pages and actions, through Django's test client with CSRF enforced."""

import csv
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from accounts.models import JournalEntry
from otc import pricing
from otc.models import Channel, OrderApproval, OrderTransition, Side, Status
from tests import factories

from .conftest import csrf_post, make_staff, pending_order, signed_in

pytestmark = pytest.mark.django_db


def approve_url(order) -> str:
    return f"/ops/orders/{order.pk}/approve/"


def reject_url(order) -> str:
    return f"/ops/orders/{order.pk}/reject/"


def live_rate(order) -> str:
    mid = pricing.live_mid_rate(order.pair)
    return f"{pricing.customer_rate(order.side, mid, order.fx_markup_bps):f}"


# --- the queue ------------------------------------------------------------------------------


def test_queue_lists_pending_orders_oldest_first_with_live_figures(acme, globex, alice, settings):
    first = pending_order(acme)
    second = pending_order(globex, side=Side.SELL)
    settings.OTC_PRICE_FEED = "static:1.090000"  # the market moved up ~93 bps since the quotes

    body = signed_in(alice).get("/ops/").content.decode()

    assert body.index(str(first.pk)) < body.index(str(second.pk))
    buy_live = pricing.customer_rate(Side.BUY, Decimal("1.09"), 50)  # 1.084550
    assert f"{buy_live:f}" in body
    # 1000.00 EUR at the new rate: what approving now would fix
    assert "1,084.550000 USDC" in body
    # A higher buy rate gives the customer more USDC; a lower sell rate gives them less EUR.
    assert "+92.6 bps" in body and "favours customer" in body
    assert "-91.7 bps" in body and "favours desk" in body
    assert 'id="price-panel"' in body and 'hx-trigger="every 5s"' in body


def test_queue_leaves_out_orders_not_awaiting_approval(acme, alice):
    pending = pending_order(acme)
    done = pending_order(acme)
    csrf_post(signed_in(alice), reject_url(done), {"reason": "KYC refresh due", "code": "OTHER"})

    body = signed_in(alice).get("/ops/").content.decode()

    assert str(pending.pk) in body
    assert str(done.pk) not in body


def test_queue_filters_by_side_and_customer(acme, globex, alice):
    acme_buy = pending_order(acme)
    acme_sell = pending_order(acme, side=Side.SELL)
    globex_buy = pending_order(globex)
    client = signed_in(alice)

    sells = client.get("/ops/", {"side": "sell"}).content.decode()
    assert str(acme_sell.pk) in sells and str(acme_buy.pk) not in sells

    globex_only = client.get("/ops/", {"customer": str(globex.customer.pk)}).content.decode()
    assert str(globex_buy.pk) in globex_only and str(acme_buy.pk) not in globex_only


def test_queue_paginates(acme, alice, monkeypatch):
    from otc.ops import views

    monkeypatch.setattr(views, "QUEUE_PAGE_SIZE", 2)
    orders = [pending_order(acme) for _ in range(3)]
    client = signed_in(alice)

    page_one = client.get("/ops/").content.decode()
    page_two = client.get("/ops/", {"page": 2}).content.decode()

    assert str(orders[0].pk) in page_one and str(orders[2].pk) not in page_one
    assert str(orders[2].pk) in page_two and "Page 2 of 2" in page_two


def test_queue_query_count_does_not_grow_with_rows(acme, globex, alice, settings):
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("500")  # every row shows its approvals
    client = signed_in(alice)
    pending_order(acme)
    client.get("/ops/")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/ops/").status_code == 200
    for world in (acme, globex, acme, globex, acme, globex):
        order = pending_order(world, side=Side.SELL)
        OrderApproval.objects.create(
            order=order,
            user=make_staff(f"op-{order.pk.hex[:6]}"),
            actor="x",
            channel="ops",
            rate=order.indicative_rate,
        )
    with CaptureQueriesContext(connection) as many:
        body = client.get("/ops/").content.decode()
    assert body.count("data-order-id=") == 7
    assert len(many) == len(few), [q["sql"] for q in many]


def test_awaiting_my_approval_hides_orders_i_already_approved(acme, alice, settings):
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("500")
    mine = pending_order(acme)
    other = pending_order(acme)
    client = signed_in(alice)
    csrf_post(client, approve_url(mine), {"shown_rate": live_rate(mine)})

    body = client.get("/ops/", {"mine": "on"}).content.decode()

    assert str(other.pk) in body and str(mine.pk) not in body


def test_price_panel_partial_shows_the_live_mid(alice, settings):
    settings.OTC_PRICE_FEED = "static:1.123456"
    body = signed_in(alice).get("/ops/price/").content.decode()
    assert "1.123456" in body and "<html" not in body


# --- the order page -------------------------------------------------------------------------


def test_order_page_shows_timeline_and_ledger_entries(acme, alice):
    order = pending_order(acme)
    body = signed_in(alice).get(f"/ops/orders/{order.pk}/").content.decode()

    assert acme.customer.name in body
    for entry in JournalEntry.objects.filter(reference_id=order.pk):
        assert escape(entry.description) in body
    assert "Order debit" in body and "Debit settled" in body
    assert "debit_pending" in body and "acme-api" in body and "system:fiat-rail" in body
    assert acme.eur_master.ledger_account.code in body
    assert "-1,000.00" in body  # the posting that took the customer's EUR


def test_order_page_of_unknown_order_is_404(alice):
    assert (
        signed_in(alice).get("/ops/orders/7d0c8f38-2a30-4f5e-9c55-0b4c1d1c9a11/").status_code == 404
    )


# --- approve ----------------------------------------------------------------------------------


def test_approve_fixes_the_live_rate_and_settles(acme, alice, django_capture_on_commit_callbacks):
    order = pending_order(acme)
    client = signed_in(alice)

    with django_capture_on_commit_callbacks(execute=True):
        response = csrf_post(client, approve_url(order), {"shown_rate": live_rate(order)})

    assert response.status_code == 302 and response["Location"] == f"/ops/orders/{order.pk}/"
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    assert order.final_rate == Decimal("1.074600") and order.approved_by == alice
    step = order.transitions.get(to_status=Status.APPROVED)
    assert (step.actor, step.channel, step.actor_user) == ("op-alice", Channel.OPS, alice)
    page = client.get(response["Location"]).content.decode()
    assert "Approved at 1.074600" in page and "Completed" in page


def test_approve_takes_the_server_rate_not_the_shown_one(acme, alice, settings):
    order = pending_order(acme)
    settings.OTC_PRICE_FEED = "static:1.083000"  # ~28 bps up: inside the 50 bps tolerance
    csrf_post(signed_in(alice), approve_url(order), {"shown_rate": "1.074600"})

    order.refresh_from_db()
    assert order.status in (Status.APPROVED, Status.COMPLETED)
    assert order.final_rate == pricing.customer_rate(Side.BUY, Decimal("1.083"), 50)


def test_a_move_beyond_tolerance_approves_nothing_and_shows_new_figures(acme, alice, settings):
    order = pending_order(acme)
    shown = live_rate(order)
    settings.OTC_PRICE_FEED = "static:1.090000"  # ~93 bps

    response = csrf_post(signed_in(alice), approve_url(order), {"shown_rate": shown})

    assert response.status_code == 409
    body = response.content.decode()
    assert "Nothing was approved" in body
    assert "1.084550" in body and "1,084.550000 USDC" in body
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL and order.final_rate is None
    assert not order.transitions.filter(to_status=Status.APPROVED).exists()


def test_approve_without_a_shown_rate_is_refused(acme, alice):
    order = pending_order(acme)
    response = csrf_post(signed_in(alice), approve_url(order), {})
    assert response.status_code == 400
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL


def test_second_approval_of_a_decided_order_gets_a_clear_message(acme, alice, bob):
    order = pending_order(acme)
    csrf_post(signed_in(alice), approve_url(order), {"shown_rate": live_rate(order)})

    late = csrf_post(signed_in(bob), approve_url(order), {"shown_rate": "1.074600"})

    assert late.status_code == 409
    assert "cannot be approved" in late.content.decode()
    assert order.transitions.filter(to_status=Status.APPROVED).count() == 1


def test_approve_requires_the_csrf_token(acme, alice):
    order = pending_order(acme)
    response = signed_in(alice).post(approve_url(order), {"shown_rate": live_rate(order)})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL


def test_approve_is_post_only(acme, alice):
    order = pending_order(acme)
    assert signed_in(alice).get(approve_url(order)).status_code == 405


# --- reject -----------------------------------------------------------------------------------


def test_reject_needs_a_reason(acme, alice):
    order = pending_order(acme)
    response = csrf_post(signed_in(alice), reject_url(order), {"reason": "   ", "code": "OTHER"})
    assert response.status_code == 400
    assert "needs a reason" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL


def test_reject_refunds_a_buy_and_logs_the_reason(acme, alice):
    before = acme.eur_master.ledger_account.balance
    order = pending_order(acme)
    csrf_post(
        signed_in(alice), reject_url(order), {"reason": "Source of funds unclear", "code": "OTHER"}
    )

    order.refresh_from_db()
    acme.eur_master.ledger_account.refresh_from_db()
    assert order.status == Status.REJECTED
    assert order.rejection_reason == "Source of funds unclear"
    assert acme.eur_master.ledger_account.balance == before
    step = order.transitions.get(to_status=Status.REJECTED)
    assert (step.channel, step.actor, step.reason) == (
        Channel.OPS,
        "op-alice",
        "Source of funds unclear",
    )


def test_a_held_sell_shows_its_hold_on_the_order_page(acme, alice):
    order = pending_order(acme, side=Side.SELL)
    body = signed_in(alice).get(f"/ops/orders/{order.pk}/").content.decode()
    assert "Hold (available to held)" in body
    assert f"Acme · {acme.wallet.label} (Polygon), held" in body
    assert f"wallet:{acme.wallet.pk}:held" in body  # staff see the ledger's own codes


def test_reject_of_a_sell_moves_no_money(acme, alice):
    order = pending_order(acme, side=Side.SELL)
    csrf_post(signed_in(alice), reject_url(order), {"reason": "Wallet flagged", "code": "OTHER"})
    order.refresh_from_db()
    assert order.status == Status.REJECTED
    assert factories.order_entry_kinds(order.pk) == factories.HELD_AND_RELEASED


# --- four-eyes --------------------------------------------------------------------------------


@pytest.fixture
def big_buy(acme, settings):
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("100000")
    return pending_order(acme, amount="150000.00")


def test_four_eyes_first_approval_is_recorded_without_a_transition(big_buy, alice):
    client = signed_in(alice)
    response = csrf_post(client, approve_url(big_buy), {"shown_rate": live_rate(big_buy)})

    big_buy.refresh_from_db()
    assert big_buy.status == Status.PENDING_APPROVAL
    approval = OrderApproval.objects.get(order=big_buy)
    assert (approval.user, approval.channel) == (alice, Channel.OPS)
    page = client.get(response["Location"]).content.decode()
    assert "Your approval is recorded (1 of 2)" in page
    assert "First approval by <strong>op-alice</strong>" in page
    assert "a different operator must give the second" in page


def test_four_eyes_same_person_cannot_give_both(big_buy, alice):
    client = signed_in(alice)
    csrf_post(client, approve_url(big_buy), {"shown_rate": live_rate(big_buy)})
    again = csrf_post(client, approve_url(big_buy), {"shown_rate": live_rate(big_buy)})

    assert again.status_code == 409
    assert "You already approved this order" in again.content.decode()
    big_buy.refresh_from_db()
    assert big_buy.status == Status.PENDING_APPROVAL
    assert OrderApproval.objects.filter(order=big_buy).count() == 1


def test_four_eyes_second_operator_executes_at_the_live_rate(big_buy, alice, bob, settings):
    csrf_post(signed_in(alice), approve_url(big_buy), {"shown_rate": live_rate(big_buy)})
    settings.OTC_PRICE_FEED = "static:1.082000"
    csrf_post(signed_in(bob), approve_url(big_buy), {"shown_rate": live_rate(big_buy)})

    big_buy.refresh_from_db()
    assert big_buy.status in (Status.APPROVED, Status.COMPLETED)
    assert big_buy.approved_by == bob
    assert big_buy.final_rate == pricing.customer_rate(Side.BUY, Decimal("1.082"), 50)
    step = big_buy.transitions.get(to_status=Status.APPROVED)
    assert step.actor == "op-bob" and "first approval by op-alice" in step.reason


def test_below_the_threshold_one_approval_is_enough(acme, alice, settings):
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("100000")
    order = pending_order(acme, amount="99999.99")
    csrf_post(signed_in(alice), approve_url(order), {"shown_rate": live_rate(order)})
    order.refresh_from_db()
    assert order.status != Status.PENDING_APPROVAL
    assert not OrderApproval.objects.filter(order=order).exists()


def test_four_eyes_threshold_counts_a_sell_in_eur(acme, alice, settings):
    # 1,000 USDC at the quote's mid of 1.08 is 925.92 EUR.
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("925.92")
    at = pending_order(acme, side=Side.SELL)
    csrf_post(signed_in(alice), approve_url(at), {"shown_rate": live_rate(at)})
    at.refresh_from_db()
    assert at.status == Status.PENDING_APPROVAL

    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("925.93")
    below = pending_order(acme, side=Side.SELL)
    csrf_post(signed_in(alice), approve_url(below), {"shown_rate": live_rate(below)})
    below.refresh_from_db()
    assert below.status != Status.PENDING_APPROVAL


# --- treasury, search, export -----------------------------------------------------------------


def test_treasury_shows_balances_exposure_and_todays_volume(
    acme, alice, django_capture_on_commit_callbacks
):
    pending_order(acme, amount="2000.00")
    pending_order(acme, side=Side.SELL, amount="500.000000")
    done = pending_order(acme, amount="1000.00")
    with django_capture_on_commit_callbacks(execute=True):
        csrf_post(signed_in(alice), approve_url(done), {"shown_rate": live_rate(done)})

    response = signed_in(alice).get("/ops/treasury/")
    body = response.content.decode()
    position = response.context["position"]

    buys, sells = position.exposure
    assert (buys.count, buys.source_amount) == (1, Decimal("2000.00"))
    assert (sells.count, sells.source_amount) == (1, Decimal("500.000000"))
    done_buys, done_sells = position.completed_today
    assert (done_buys.count, done_buys.destination_amount) == (1, Decimal("1074.600000"))
    assert done_sells.count == 0
    # 5,000,000 + 2,000 + 1,000 in, less nothing out (buys pay out in USDC)
    assert "5,003,000.00 EUR" in body
    assert "4,998,925.400000 USDC" in body


def test_search_filters_by_status_side_customer_and_id(acme, globex, alice):
    buy = pending_order(acme)
    sell = pending_order(globex, side=Side.SELL)
    client = signed_in(alice)
    csrf_post(client, reject_url(buy), {"reason": "Duplicate", "code": "OTHER"})

    def ids(**params):
        return {str(order.pk) for order in client.get("/ops/orders/", params).context["page"]}

    assert ids(status="rejected") == {str(buy.pk)}
    assert ids(side="sell") == {str(sell.pk)}
    assert ids(customer=str(globex.customer.pk)) == {str(sell.pk)}
    assert ids(q=str(sell.pk)) == {str(sell.pk)}
    assert ids(q=str(buy.pk)[:8]) == {str(buy.pk)}
    assert ids(q="globex") == {str(sell.pk)}
    assert ids(created_from="2000-01-01", created_to="2000-01-02") == set()


def test_csv_export_follows_the_filters(acme, globex, alice):
    buy = pending_order(acme)
    pending_order(globex, side=Side.SELL)
    client = signed_in(alice)
    csrf_post(client, reject_url(buy), {"reason": '=HYPERLINK("http://x")', "code": "OTHER"})

    response = client.get("/ops/orders/export.csv", {"customer": str(acme.customer.pk)})

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["id"] for row in rows] == [str(buy.pk)]
    row = rows[0]
    assert (row["status"], row["source_amount"], row["source_currency"]) == (
        "rejected",
        "1000.00",
        "EUR",
    )
    assert row["rejection_reason"].startswith("'=")  # a spreadsheet must not run it


# --- who may do what --------------------------------------------------------------------------

OPS_PAGES = ["/ops/", "/ops/price/", "/ops/treasury/", "/ops/orders/", "/ops/orders/export.csv"]


@pytest.mark.parametrize("path", OPS_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, path, acme):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("path", OPS_PAGES)
def test_customer_users_get_403(path, acme):
    pending_order(acme)
    response = signed_in(acme.user).get(path)
    assert response.status_code == 403
    assert acme.customer.name not in response.content.decode()


@pytest.mark.parametrize("path", OPS_PAGES)
def test_staff_without_a_desk_group_get_403(path, db):
    assert signed_in(make_staff("intern", group=None)).get(path).status_code == 403


def test_order_page_is_closed_to_customers_and_anonymous(acme, client):
    order = pending_order(acme)
    assert client.get(f"/ops/orders/{order.pk}/").status_code == 302
    assert signed_in(acme.user).get(f"/ops/orders/{order.pk}/").status_code == 403


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_decisions_are_refused_to_customers_and_anonymous(acme, client, action):
    order = pending_order(acme)
    data = {"shown_rate": live_rate(order), "reason": "x"}
    anonymous = client.post(f"/ops/orders/{order.pk}/{action}/", data)
    customer = csrf_post(signed_in(acme.user), f"/ops/orders/{order.pk}/{action}/", data)
    assert anonymous.status_code == 302 and customer.status_code == 403
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL
    assert not OrderTransition.objects.filter(order=order, channel=Channel.OPS).exists()


def test_a_read_only_staff_member_can_look_but_not_decide(acme, db):
    viewer = make_staff("auditor", group=None)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    order = pending_order(acme)
    client = signed_in(viewer)
    page = client.get(f"/ops/orders/{order.pk}/").content.decode()
    assert "You can look but not decide" in page
    assert (
        csrf_post(client, approve_url(order), {"shown_rate": live_rate(order)}).status_code == 403
    )
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL


def test_sign_in_sends_operators_to_the_console(alice, client):
    from tests.factories import PASSWORD

    response = client.post("/login/", {"username": "op-alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/ops/"


def test_without_a_price_feed_the_queue_offers_no_approval_and_approve_changes_nothing(
    acme, alice, settings
):
    order = pending_order(acme)
    settings.OTC_PRICE_FEED = "static:-1"  # a feed that fails on every call
    client = signed_in(alice)

    queue = client.get("/ops/").content.decode()
    assert "The price feed is unavailable" in queue
    assert f'action="/ops/orders/{order.pk}/approve/"' not in queue

    response = csrf_post(client, approve_url(order), {"shown_rate": "1.074600"})
    assert response.status_code == 502
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL


def test_a_price_poll_after_sign_out_sends_the_page_to_sign_in(client):
    response = client.get("/ops/price/", HTTP_HX_REQUEST="true")
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/login/?next=/ops/"
    assert response.content == b""


def test_search_query_count_does_not_grow_with_rows(acme, globex, alice):
    client = signed_in(alice)
    pending_order(acme)
    client.get("/ops/orders/")
    with CaptureQueriesContext(connection) as few:
        client.get("/ops/orders/")
    for world in (acme, globex, acme, globex):
        order = pending_order(world)
        csrf_post(client, approve_url(order), {"shown_rate": live_rate(order)})
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/ops/orders/").context["page"]) == 5
    assert len(many) == len(few)


# --- deciding from the queue ------------------------------------------------------------------


def test_approving_from_the_queue_returns_to_the_queue_with_a_message(acme, alice):
    order = pending_order(acme)
    client = signed_in(alice)
    response = csrf_post(
        client, approve_url(order), {"shown_rate": live_rate(order), "next": "/ops/?side=buy"}
    )
    assert response.status_code == 302 and response["Location"] == "/ops/?side=buy"
    page = client.get(response["Location"]).content.decode()
    assert f"Approved at 1.074600: 1,074.600000 USDC to Acme (order {str(order.pk)[:8]})" in page
    order.refresh_from_db()
    assert order.status in (Status.APPROVED, Status.COMPLETED)  # settlement runs on commit


def test_a_refused_approval_from_the_queue_says_why_on_the_queue(acme, alice, settings):
    order = pending_order(acme)
    shown = live_rate(order)
    settings.OTC_PRICE_FEED = "static:1.090000"  # ~93 bps: beyond the tolerance
    client = signed_in(alice)
    response = csrf_post(client, approve_url(order), {"shown_rate": shown, "next": "/ops/"})
    assert response["Location"] == "/ops/"
    page = client.get("/ops/").content.decode()
    assert "Nothing was approved for order" in page and "The queue now shows the live" in page
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL


def test_rejecting_from_the_queue_needs_a_reason_and_returns_to_the_queue(acme, alice):
    order = pending_order(acme)
    client = signed_in(alice)
    refused = csrf_post(
        client, reject_url(order), {"reason": "  ", "code": "OTHER", "next": "/ops/"}
    )
    assert refused["Location"] == "/ops/"
    assert "was not rejected: A rejection needs a reason." in client.get("/ops/").content.decode()
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL

    done = csrf_post(
        client,
        reject_url(order),
        {"reason": "KYC incomplete", "code": "KYC_REQUIRED", "next": "/ops/"},
    )
    assert done["Location"] == "/ops/"
    assert "1,000.00 EUR refunded" in client.get("/ops/").content.decode()
    order.refresh_from_db()
    assert order.status == Status.REJECTED and order.rejection_reason == "KYC incomplete"


@pytest.mark.parametrize("target", ["https://evil.example/ops/", "/ops/treasury/", "//x/ops/"])
def test_a_decision_returns_only_to_the_queue(acme, alice, target):
    order = pending_order(acme)
    response = csrf_post(
        signed_in(alice), reject_url(order), {"reason": "No", "code": "OTHER", "next": target}
    )
    assert response["Location"] == f"/ops/orders/{order.pk}/"


def test_the_queue_offers_reject_with_a_reason_and_posts_back_to_itself(acme, alice):
    order = pending_order(acme)
    page = signed_in(alice).get("/ops/?side=buy").content.decode()
    assert f'action="/ops/orders/{order.pk}/reject/"' in page
    assert f'id="reason-{order.pk}"' in page
    assert 'name="next" value="/ops/?side=buy"' in page


def test_console_figures_follow_the_operators_locale_but_form_values_stay_plain(acme, alice):
    order = pending_order(acme, amount="1234.56")
    page = signed_in(alice).get("/ops/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "1.234,56 EUR" in page and "1,074600" in page
    assert 'name="shown_rate" value="1.074600"' in page
    detail = signed_in(alice).get(f"/ops/orders/{order.pk}/", HTTP_ACCEPT_LANGUAGE="de")
    assert 'name="shown_rate" value="1.074600"' in detail.content.decode()


def test_a_customer_opening_the_console_gets_the_designed_403_with_a_way_back(acme):
    response = signed_in(acme.user).get("/ops/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Back to your dashboard" in page and "ops.css" not in page and "app.css" in page
