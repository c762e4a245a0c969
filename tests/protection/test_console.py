"""The console's half of price protection: the queue sorted and coloured by time left to the
approval deadline, orders in price review listed, the customer's slippage limit beside the
live move; a customer page with KYC status that supervisors change with a note (audited),
and the admin's customer page with the KYC field (on Django's admin log)."""

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from accounts.errors import DomainError
from accounts.models import KycStatus
from otc.customers import KYC_AUDIT_ACTION, customer_kyc_set
from otc.models import AuditEntry, Channel, Order
from otc.templatetags.ops_protection import deadline_band
from tests.ops.conftest import csrf_post, make_staff, signed_in
from tests.otc.test_api_support import assert_error, buy_body, quote

from .conftest import MID_BEYOND, ops_actor, pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    return make_staff("op-gina")  # not "op-alice": the operator fixture owns that name


@pytest.fixture
def carol(db):
    return make_staff("sup-carol", "supervisors")


def row_of(html: str, order) -> str:
    match = re.search(rf'<tr data-order-id="{order.pk}"[^>]*>.*?</tr>', html, re.S)
    assert match, f"no row for {order.pk}"
    return match.group(0)


@pytest.mark.parametrize(
    "left, band",
    [
        (timedelta(hours=3), "deadline-ok"),
        (timedelta(hours=1), "deadline-ok"),
        (timedelta(minutes=59), "deadline-soon"),
        (timedelta(minutes=15), "deadline-soon"),
        (timedelta(minutes=14, seconds=59), "deadline-urgent"),
        (timedelta(seconds=1), "deadline-urgent"),
        (timedelta(0), "deadline-passed"),
        (-timedelta(minutes=5), "deadline-passed"),
    ],
)
def test_deadline_bands(left, band):
    now = timezone.now()
    assert deadline_band(now + left, now) == band
    assert deadline_band(None, now) == "deadline-none"


def test_the_queue_sorts_by_time_left_and_colours_each_band(acme, globex, alice):
    now = timezone.now()
    orders = {
        "deadline-ok": pending(acme),
        "deadline-soon": pending(globex),
        "deadline-urgent": pending(acme),
        "deadline-passed": pending(globex),
    }
    lefts = {
        "deadline-ok": timedelta(hours=2),
        "deadline-soon": timedelta(minutes=40),
        "deadline-urgent": timedelta(minutes=5),
        "deadline-passed": -timedelta(minutes=1),
    }
    for band, order in orders.items():
        Order.objects.filter(pk=order.pk).update(approval_deadline_at=now + lefts[band])

    response = signed_in(alice).get("/ops/")

    html = response.content.decode()
    listed = [row.order.pk for row in response.context["rows"]]
    expected = ["deadline-passed", "deadline-urgent", "deadline-soon", "deadline-ok"]
    assert listed == [orders[band].pk for band in expected]
    for band, order in orders.items():
        assert f'class="{band}"' in row_of(html, order)
    assert "1h 59m left" in row_of(html, orders["deadline-ok"])
    assert "passed 1m ago" in row_of(html, orders["deadline-passed"])


def test_the_queue_shows_the_customers_slippage_beside_the_live_move(acme, alice, market):
    calm = pending(acme, max_slippage_bps=300)
    strict = pending(acme, max_slippage_bps=50)
    market(MID_BEYOND)  # about 185 bps worse for a buy

    html = signed_in(alice).get("/ops/").content.decode()

    assert "customer limit 300 bps" in row_of(html, calm)
    assert "beyond limit" not in row_of(html, calm)
    assert "customer limit 50 bps" in row_of(html, strict)
    assert "beyond limit: goes to price review" in row_of(html, strict)


def test_the_queue_lists_orders_in_price_review(acme, alice, in_review):
    order = in_review()
    response = signed_in(alice).get("/ops/")
    html = response.content.decode()
    assert response.status_code == 200, html[:3000]
    assert [o.pk for o in response.context["in_review"]] == [order.pk]
    assert order.pk not in [row.order.pk for row in response.context["rows"]]
    section = html[html.index('aria-label="Orders in price review"') :]
    row = row_of(section, order)
    assert "1.054700" in row and "1,054.700000 USDC" in row and "100 bps" in row
    assert "deadline-soon" not in row and "deadline-urgent" in row  # a 2-minute review


def test_the_order_page_shows_limit_deadline_and_review(acme, alice, in_review, market):
    waiting = pending(acme)
    market(MID_BEYOND)
    html = signed_in(alice).get(f"/ops/orders/{waiting.pk}/").content.decode()
    assert 'data-testid="slippage-limit">customer limit 100 bps' in html
    assert "beyond limit: approving sends it to price review" in html
    assert 'data-testid="approval-deadline"' in html and "left)" in html
    assert 'data-testid="customer-kyc">KYC verified' in html

    reviewed = in_review()
    html = signed_in(alice).get(f"/ops/orders/{reviewed.pk}/").content.decode()
    assert 'data-testid="review-rate">1.054700' in html
    assert 'data-testid="review-destination">1,054.700000 USDC' in html


def test_the_console_shows_an_approval_that_went_to_review(acme, alice, market):
    order = pending(acme)
    market(MID_BEYOND)
    client = signed_in(alice)
    response = csrf_post(
        client, f"/ops/orders/{order.pk}/approve/", {"shown_rate": "1.054700"}, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing executed" in html and "100 bps slippage limit" in html
    assert 'data-testid="order-status">Price review' in html


# --- the customer page and KYC ------------------------------------------------------------------


def test_the_customer_page_shows_kyc_and_todays_limit(acme, alice):
    pending(acme, amount="1000.00")
    response = signed_in(alice).get(f"/ops/customers/{acme.customer.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="kyc-status">Verified' in html
    assert 'data-testid="daily-used">1,000.00 EUR' in html
    assert 'data-testid="daily-remaining">4,999,000.00 EUR' in html
    assert "Change KYC status" not in html  # an operator looks, a supervisor changes
    assert "Supervisors change the KYC status." in html


def test_the_customer_list_filters_by_kyc(acme, globex, alice):
    globex.customer.kyc_status = KycStatus.PENDING
    globex.customer.save(update_fields=["kyc_status"])
    client = signed_in(alice)
    everyone = client.get("/ops/customers/").context["page"].object_list
    assert {c.slug for c in everyone} == {"acme", "globex"}  # not the desk
    waiting = client.get("/ops/customers/", {"kyc": "pending"}).context["page"].object_list
    assert [c.slug for c in waiting] == ["globex"]


def test_a_supervisor_changes_kyc_with_a_note_on_the_audit_trail(acme, carol):
    client = signed_in(carol)
    url = f"/ops/customers/{acme.customer.pk}/"
    assert "Change KYC status" in client.get(url).content.decode()

    response = csrf_post(
        client, f"{url}kyc/", {"status": "expired", "note": "Passport expired 2026-11-30"}
    )

    assert response.status_code == 302 and response["Location"] == url
    acme.customer.refresh_from_db()
    assert acme.customer.kyc_status == KycStatus.EXPIRED
    entry = AuditEntry.objects.get(action=KYC_AUDIT_ACTION)
    assert (entry.subject, entry.actor, entry.actor_user, entry.channel) == (
        "acme",
        "sup-carol",
        carol,
        Channel.OPS,
    )
    assert entry.details == {
        "customerId": str(acme.customer.pk),
        "from": "verified",
        "to": "expired",
        "note": "Passport expired 2026-11-30",
    }
    html = client.get(url).content.decode()
    assert "verified → expired" in html and "Passport expired 2026-11-30" in html
    # The gate follows at once.
    assert_error(quote(acme, buy_body(acme)), 403, "KYC_NOT_VERIFIED")


def test_a_kyc_change_needs_a_note(acme, carol):
    response = csrf_post(
        signed_in(carol), f"/ops/customers/{acme.customer.pk}/kyc/", {"status": "rejected"}
    )
    assert response.status_code == 400
    assert "A KYC change needs a note saying why." in response.content.decode()
    acme.customer.refresh_from_db()
    assert acme.customer.kyc_status == KycStatus.VERIFIED
    assert not AuditEntry.objects.exists()


def test_an_operator_cannot_change_kyc(acme, alice):
    response = csrf_post(
        signed_in(alice),
        f"/ops/customers/{acme.customer.pk}/kyc/",
        {"status": "rejected", "note": "x"},
    )
    assert response.status_code == 403
    acme.customer.refresh_from_db()
    assert acme.customer.kyc_status == KycStatus.VERIFIED


def test_a_customer_user_cannot_see_the_customer_page(acme):
    from django.test import Client

    client = Client()
    client.force_login(acme.user)
    assert client.get(f"/ops/customers/{acme.customer.pk}/").status_code == 403


def test_the_desk_has_no_customer_page(desk, alice):
    assert signed_in(alice).get(f"/ops/customers/{desk['customer'].pk}/").status_code == 404


def test_the_kyc_service_validates_and_audits(acme, globex, carol):
    actor = ops_actor(carol)
    with pytest.raises(DomainError) as unknown:
        customer_kyc_set(customer_id=acme.customer.pk, status="maybe", note="x", actor=actor)
    assert (unknown.value.code, unknown.value.status) == ("VALIDATION_ERROR", 400)
    with pytest.raises(DomainError) as no_note:
        customer_kyc_set(customer_id=acme.customer.pk, status="pending", note="  ", actor=actor)
    assert no_note.value.code == "NOTE_REQUIRED"
    with pytest.raises(DomainError) as missing:
        customer_kyc_set(
            customer_id=uuid.uuid4(),
            status="pending",
            note="x",
            actor=actor,
        )
    assert (missing.value.code, missing.value.status) == ("CUSTOMER_NOT_FOUND", 404)
    assert not AuditEntry.objects.exists()

    customer = customer_kyc_set(
        customer_id=globex.customer.pk, status="pending", note="Re-check", actor=actor
    )
    assert customer.kyc_status == "pending"
    assert AuditEntry.objects.get().details["from"] == "verified"


def test_the_admins_customer_page_edits_kyc_on_the_admin_log(acme, carol):
    client = signed_in(carol)
    change = reverse("admin:accounts_customer_change", args=[acme.customer.pk])
    page = client.get(change).content.decode()
    assert 'name="kyc_status"' in page
    assert 'name="daily_limit_eur"' in page
    listing = client.get(reverse("admin:accounts_customer_changelist")).content.decode()
    assert "kyc_status" in listing  # the column and the filter

    response = csrf_post(
        client,
        change,
        {
            "name": acme.customer.name,
            "kyc_status": "rejected",
            "daily_limit_eur": "25000.00",
            "min_order_eur": "",
            "max_order_eur": "",
            "min_order_usdc": "",
            "max_order_usdc": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    acme.customer.refresh_from_db()
    assert acme.customer.kyc_status == "rejected"
    assert acme.customer.daily_limit_eur == Decimal("25000.00")
    log = LogEntry.objects.get(object_id=str(acme.customer.pk))
    assert log.user == carol and "Kyc status" in log.get_change_message()
