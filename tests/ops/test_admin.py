"""The Django admin: every model registered, money records immutable, orders decided only
through the services, keys shown by prefix, customers' pricing editable by supervisors."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import (
    ApiKey,
    Customer,
    CustomerMembership,
    FiatAccount,
    JournalEntry,
    LedgerAccount,
    Posting,
)
from otc.models import (
    Channel,
    CustomerFeeSchedule,
    IdempotencyRecord,
    Order,
    OrderApproval,
    OrderTransition,
    Pair,
    Status,
)
from wallets.models import Wallet

from .conftest import csrf_post, pending_order, signed_in

pytestmark = pytest.mark.django_db

MODELS = [
    Customer,
    CustomerMembership,
    ApiKey,
    FiatAccount,
    LedgerAccount,
    JournalEntry,
    Posting,
    Wallet,
    Order,
    OrderTransition,
    OrderApproval,
    IdempotencyRecord,
]


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_is_registered_and_listed_for_operators(model, acme, alice):
    assert admin.site.is_registered(model)
    pending_order(acme)
    assert signed_in(alice).get(changelist(model)).status_code == 200


def test_admin_is_closed_to_anonymous_and_customer_users(acme, client):
    pending_order(acme)
    for who in (client, signed_in(acme.user)):
        response = who.get(changelist(Order))
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_api_keys_are_shown_by_prefix_only(acme, supervisor):
    key = ApiKey.objects.filter(customer=acme.customer).first()
    client = signed_in(supervisor)
    listing = client.get(changelist(ApiKey)).content.decode()
    page = client.get(change(key)).content.decode()
    for body in (listing, page):
        assert f"{key.prefix}…" in body
        assert key.key_hash not in body
        assert acme.write_key not in body and acme.read_key not in body


def test_supervisor_revokes_a_key_through_the_service(acme, supervisor):
    key = ApiKey.objects.filter(customer=acme.customer, revoked_at__isnull=True).first()
    csrf_post(
        signed_in(supervisor),
        changelist(ApiKey),
        {"action": "revoke_keys", "_selected_action": [str(key.pk)]},
    )
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_journal_entries_cannot_be_changed_or_deleted(acme, supervisor):
    order = pending_order(acme)
    entry = JournalEntry.objects.filter(reference_id=order.pk).first()
    client = signed_in(supervisor)
    page = client.get(change(entry)).content.decode()
    assert 'name="_save"' not in page
    assert acme.eur_master.ledger_account.code in page  # the postings inline
    delete = reverse("admin:accounts_journalentry_delete", args=[entry.pk])
    assert client.get(delete).status_code == 403
    response = csrf_post(client, change(entry), {"description": "rewritten"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.description != "rewritten"


def test_orders_are_read_only_in_the_admin(acme, supervisor):
    order = pending_order(acme)
    client = signed_in(supervisor)
    assert 'name="_save"' not in client.get(change(order)).content.decode()
    assert csrf_post(client, change(order), {"status": "approved"}).status_code == 403
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL


def test_admin_approve_action_calls_the_service(acme, alice, django_capture_on_commit_callbacks):
    order = pending_order(acme)
    with django_capture_on_commit_callbacks(execute=True):
        csrf_post(
            signed_in(alice),
            changelist(Order),
            {"action": "approve_orders", "_selected_action": [str(order.pk)]},
        )
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    step = order.transitions.get(to_status=Status.APPROVED)
    assert (step.actor, step.channel) == ("op-alice", Channel.ADMIN)


def test_admin_four_eyes_needs_two_people(acme, alice, bob, settings):
    settings.OTC_FOUR_EYES_THRESHOLD_EUR = Decimal("500")
    order = pending_order(acme)
    data = {"action": "approve_orders", "_selected_action": [str(order.pk)]}
    csrf_post(signed_in(alice), changelist(Order), data)
    csrf_post(signed_in(alice), changelist(Order), data)
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL
    assert list(order.approvals.values_list("channel", flat=True)) == [Channel.ADMIN]

    csrf_post(signed_in(bob), changelist(Order), data)
    order.refresh_from_db()
    assert order.status in (Status.APPROVED, Status.COMPLETED) and order.approved_by.username == (
        "op-bob"
    )


def test_admin_reject_action_asks_for_a_reason_then_calls_the_service(acme, alice):
    order = pending_order(acme)
    client = signed_in(alice)
    data = {"action": "reject_orders", "_selected_action": [str(order.pk)]}

    form = csrf_post(client, changelist(Order), data)
    assert form.status_code == 200 and "Reject these orders?" in form.content.decode()
    blank = csrf_post(client, changelist(Order), {**data, "apply": "Reject", "reason": ""})
    assert blank.status_code == 200
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL

    csrf_post(
        client,
        changelist(Order),
        {**data, "apply": "Reject", "reason": "Limits", "code": "LIMIT_EXCEEDED"},
    )
    order.refresh_from_db()
    assert (order.status, order.rejection_reason) == (Status.REJECTED, "Limits")
    assert order.transitions.get(to_status=Status.REJECTED).channel == Channel.ADMIN


def test_decision_actions_are_not_offered_without_the_permission(acme, db):
    from django.contrib.auth.models import Permission

    from .conftest import make_staff

    viewer = make_staff("auditor", group=None)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    order = pending_order(acme)
    client = signed_in(viewer)
    assert "approve_orders" not in client.get(changelist(Order)).content.decode()
    csrf_post(
        client, changelist(Order), {"action": "approve_orders", "_selected_action": [str(order.pk)]}
    )
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL


def customer_form(customer: Customer, **changes) -> dict:
    data = {
        "name": customer.name,
        "kyc_status": customer.kyc_status,
        "daily_limit_eur": "",
        "min_order_eur": "",
        "max_order_eur": "",
        "min_order_usdc": "",
        "max_order_usdc": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(changes)
    return data


def test_supervisor_edits_limits(acme, supervisor):
    response = csrf_post(
        signed_in(supervisor),
        change(acme.customer),
        customer_form(acme.customer, max_order_eur="20000.00"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    acme.customer.refresh_from_db()
    assert acme.customer.max_order_eur == Decimal("20000.00")


def test_operator_cannot_edit_a_customer(acme, alice):
    response = csrf_post(
        signed_in(alice), change(acme.customer), customer_form(acme.customer, max_order_eur="1")
    )
    assert response.status_code == 403
    acme.customer.refresh_from_db()
    assert acme.customer.max_order_eur is None


def fee_schedule_form(customer, **changes) -> dict:
    data = {
        "customer": str(customer.pk),
        "pair": str(Pair.objects.get(code="EUR/USDC").pk),
        "fixed_fee": "1.50",
        "percentage_bps": "10",
        "fx_markup_bps": "25",
        "_save": "Save",
    }
    data.update(changes)
    return data


def test_supervisor_sets_a_customers_fee_schedule_and_it_is_audited(acme, supervisor):
    from django.contrib.admin.models import LogEntry

    add_url = reverse("admin:otc_customerfeeschedule_add")
    response = csrf_post(signed_in(supervisor), add_url, fee_schedule_form(acme.customer))
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = CustomerFeeSchedule.objects.get(customer=acme.customer)
    assert (schedule.fixed_fee, schedule.percentage_bps, schedule.fx_markup_bps) == (
        Decimal("1.50"),
        10,
        25,
    )
    entry = LogEntry.objects.get(object_id=str(schedule.pk))
    assert entry.user == supervisor and entry.is_addition()
    # The next quote carries the customer's own lines.
    data = (
        acme.client()
        .post(
            "/api/v1/otc-exchanges/quote",
            {
                "sourceFrAccountId": str(acme.eur_master.pk),
                "destinationUtilaWalletId": str(acme.wallet.pk),
                "sourceAmountEur": "1000.00",
            },
            format="json",
        )
        .json()["data"]
    )
    types = {line["type"]: line for line in data["fees"]["lines"]}
    assert types["client_fixed"]["amount"] == "1.50"
    assert types["client_percentage"]["amount"] == "1.00"
    assert types["client_fx_markup"]["bps"] == 25
    assert data["fees"]["total"] == "2.50"


def test_operator_cannot_change_a_fee_schedule(acme, alice):
    add_url = reverse("admin:otc_customerfeeschedule_add")
    response = csrf_post(signed_in(alice), add_url, fee_schedule_form(acme.customer))
    assert response.status_code == 403
    assert not CustomerFeeSchedule.objects.exists()


def test_groups_from_the_data_migration_hold_the_right_permissions(db):
    # The test database was built by the migrations, so the groups come from 0003.
    operators = Group.objects.get(name="operators")
    supervisors = Group.objects.get(name="supervisors")
    op_perms = set(operators.permissions.values_list("codename", flat=True))
    sup_perms = set(supervisors.permissions.values_list("codename", flat=True))
    assert {"approve_order", "view_order", "view_journalentry"} <= op_perms
    assert "change_customer" not in op_perms and "change_order" not in op_perms
    assert {"approve_order", "change_customer", "change_apikey"} <= sup_perms
    assert not {
        p for p in sup_perms if p.startswith("delete_") and p != "delete_customermembership"
    }
    assert not {"change_order", "change_journalentry", "change_posting"} & sup_perms
