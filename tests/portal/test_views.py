"""The portal's views through Django's test client: access rules, the exchange flow on the
same services as the API, idempotent confirm, orders, API keys."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import money
from accounts.models import SCOPE_READ, SCOPE_WRITE, ApiKey
from accounts.providers import set_simulated_outage
from otc import services
from otc.models import Channel, IdempotencyRecord, Order, OrderTransition, Side, Status
from otc.services import Actor
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(client, acme):
    client.force_login(acme.user)
    return client


def buy_quote(world, amount="1000.00", **overrides):
    return services.quote_create(
        customer=world.customer,
        side=overrides.get("side", Side.BUY),
        fiat_account_id=overrides.get("fiat_account_id", world.eur_master.pk),
        wallet_id=overrides.get("wallet_id", world.wallet.pk),
        amount=Decimal(amount),
        actor=Actor.for_user(world.user, Channel.PORTAL),
    )


def quote_post(world, **fields):
    data = {
        "side": "buy",
        "fiat_account": str(world.eur_master.pk),
        "wallet": str(world.wallet.pk),
        "amount": "1000.00",
    }
    data.update(fields)
    return data


def confirm_post(order, key=None, side=None):
    return {"idempotency_key": str(key or uuid.uuid4()), "side": side or order.side}


# --- access ---------------------------------------------------------------------------------

PAGES = ["portal:dashboard", "portal:exchange", "portal:orders", "portal:api_keys"]


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("name", PAGES)
def test_staff_users_are_sent_to_the_operator_console(client, operator, name):
    client.force_login(operator)
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"] == reverse("ops:queue")


def test_user_without_customer_gets_a_clear_403(client, db):
    client.force_login(factories.UserFactory(username="drifter"))
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 403
    assert b"not linked to a customer" in response.content


def test_polling_fragment_after_sign_out_redirects_the_whole_page(client, acme):
    order = buy_quote(acme)
    response = client.get(reverse("portal:order_status", args=[order.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/login/")


def test_sign_in_sends_customer_users_to_the_portal(client, acme):
    response = client.post(
        "/login/", {"username": acme.user.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_sign_in_sends_staff_to_the_operator_console(client, operator):
    response = client.post(
        "/login/", {"username": operator.username, "password": factories.PASSWORD}
    )
    assert response["Location"] == "/ops/"


# --- dashboard ------------------------------------------------------------------------------


def test_dashboard_lists_own_eligible_accounts_and_wallets_with_live_balances(portal, acme, globex):
    response = portal.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Master" in page and "250,000.00" in page
    assert "Closed" not in page  # inactive account
    assert "USD" not in [row["account"].currency for row in response.context["accounts"]]
    assert acme.wallet.usdc_address in page
    assert "100,000.000000" in page
    assert "No USDC" not in page
    assert globex.wallet.usdc_address not in page
    assert "Treasury" not in page


def test_dashboard_shows_balances_unavailable_when_custody_is_down(portal, acme):
    set_simulated_outage("custody", True)
    try:
        response = portal.get(reverse("portal:dashboard"))
    finally:
        set_simulated_outage("custody", False)
    assert response.status_code == 200
    page = response.content.decode()
    assert "unavailable" in page
    assert "100,000.000000" not in page
    assert "250,000.00" in page  # the EUR side still shows


# --- quote ----------------------------------------------------------------------------------


def test_exchange_form_offers_exactly_the_api_selections(portal, acme, globex):
    response = portal.get(reverse("portal:exchange"))
    form = response.context["form"]
    account_ids = {value for value, _ in form.fields["fiat_account"].choices}
    wallet_ids = {value for value, _ in form.fields["wallet"].choices}
    assert account_ids == {str(acme.eur_master.pk), str(acme.eur_secondary.pk)}
    assert wallet_ids == {str(acme.wallet.pk), str(acme.wallet_secondary.pk)}


def test_buy_quote_creates_order_through_the_service_and_shows_it(portal, acme):
    response = portal.post(reverse("portal:exchange"), quote_post(acme))
    order = Order.objects.get(customer=acme.customer)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:quote", args=[order.pk])
    assert order.status == Status.QUOTED and order.source_amount == Decimal("1000.00")
    step = order.transitions.get()
    assert step.channel == Channel.PORTAL and step.actor == acme.user.username

    page = portal.get(response["Location"])
    text = page.content.decode()
    # mid 1.08 with 50 bps spread: 1.0746 USDC per EUR
    assert "1.074600" in text and "1,074.600000 USDC" in text
    assert 'name="idempotency_key"' in text
    assert 55 <= page.context["seconds_left"] <= 60
    assert uuid.UUID(str(page.context["idempotency_key"])).version == 4


def test_sell_quote_uses_usdc_precision(portal, acme):
    response = portal.post(
        reverse("portal:exchange"),
        quote_post(acme, side="sell", wallet=str(acme.wallet.pk), amount="250.123456"),
    )
    assert response.status_code == 302
    order = Order.objects.get(customer=acme.customer)
    assert order.side == Side.SELL and order.source_amount == Decimal("250.123456")


@pytest.mark.parametrize(
    ("side", "amount", "message"),
    [
        ("buy", "100.123", "at most 2 decimals"),
        ("sell", "100.1234567", "at most 6 decimals"),
        ("buy", "abc", "is not an amount. Write it like 1,234.56 or 1234.56."),
        ("buy", "-5", "greater than zero"),
        ("buy", "5.00", "between 10.00 and 1,000,000.00 EUR"),
        ("sell", "2000000", "between 10.000000 and 1,000,000.000000 USDC"),
    ],
)
def test_amount_is_validated_per_currency_and_limits(portal, acme, side, amount, message):
    response = portal.post(reverse("portal:exchange"), quote_post(acme, side=side, amount=amount))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors["amount"])
    assert not Order.objects.exists()


def test_customer_specific_limits_apply(portal, acme):
    acme.customer.max_order_eur = Decimal("500.00")
    acme.customer.save()
    response = portal.post(reverse("portal:exchange"), quote_post(acme, amount="600.00"))
    assert "between 10.00 and 500.00 EUR" in response.content.decode()


def test_another_customers_account_is_refused_like_a_missing_one(portal, acme, globex):
    response = portal.post(
        reverse("portal:exchange"), quote_post(acme, fiat_account=str(globex.eur_master.pk))
    )
    assert response.status_code == 400  # not even offered as a choice
    assert not Order.objects.exists()


def test_service_error_codes_become_field_messages(portal, acme):
    # The wallet loses its balance between the form and the quote: SOURCE_WALLET_INSUFFICIENT.
    response = portal.post(
        reverse("portal:exchange"),
        quote_post(acme, side="sell", wallet=str(acme.wallet_secondary.pk), amount="600"),
    )
    assert response.status_code == 422
    errors = response.context["form"].errors["amount"]
    assert errors == ["The wallet holds only 500.000000 USDC, less than this amount."]


def test_sell_quote_while_custody_is_down_says_quote_unavailable(portal, acme):
    set_simulated_outage("custody", True)
    try:
        response = portal.post(reverse("portal:exchange"), quote_post(acme, side="sell"))
    finally:
        set_simulated_outage("custody", False)
    assert response.status_code == 502
    assert "cannot price a quote right now" in response.content.decode()
    assert "Traceback" not in response.content.decode()


# --- confirm --------------------------------------------------------------------------------


def test_confirm_buy_debits_once_and_lands_on_the_order(
    portal, acme, django_capture_on_commit_callbacks
):
    order = buy_quote(acme)
    with django_capture_on_commit_callbacks(execute=True):
        response = portal.post(
            reverse("portal:quote_confirm", args=[order.pk]), confirm_post(order)
        )
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:order", args=[order.pk])
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL
    acme.eur_master.ledger_account.refresh_from_db()
    assert acme.eur_master.balance == Decimal("249000.00")


def test_double_confirm_with_the_same_key_confirms_once_and_replays(portal, acme):
    order = buy_quote(acme)
    data = confirm_post(order)
    url = reverse("portal:quote_confirm", args=[order.pk])
    first = portal.post(url, data)
    second = portal.post(url, data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("portal:order", args=[order.pk])
    assert OrderTransition.objects.filter(order=order, from_status=Status.QUOTED).count() == 1
    assert IdempotencyRecord.objects.filter(customer=acme.customer).count() == 1
    acme.eur_master.ledger_account.refresh_from_db()
    assert acme.eur_master.balance == Decimal("249000.00")
    followed = portal.get(second["Location"])
    assert "already confirmed" in followed.content.decode()


def test_second_confirm_with_a_fresh_key_says_not_confirmable(portal, acme):
    order = buy_quote(acme)
    url = reverse("portal:quote_confirm", args=[order.pk])
    portal.post(url, confirm_post(order))
    response = portal.post(url, confirm_post(order))
    assert response.status_code == 409
    assert response.context["confirm_error"].code == "ORDER_NOT_CONFIRMABLE"
    assert "already debit pending" in response.content.decode()
    acme.eur_master.ledger_account.refresh_from_db()
    assert acme.eur_master.balance == Decimal("249000.00")


def test_confirm_sell_holds_the_usdc_and_sends_nothing_until_approval(portal, acme):
    order = buy_quote(acme, amount="100.000000", side=Side.SELL)
    response = portal.post(reverse("portal:quote_confirm", args=[order.pk]), confirm_post(order))
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == Status.PENDING_APPROVAL
    acme.wallet.ledger_account.refresh_from_db()
    assert acme.wallet.ledger_account.balance == Decimal("99900.000000")  # available
    assert order.source_held == Decimal("100.000000")
    dashboard = portal.get(reverse("portal:dashboard")).content.decode()
    assert "100,000.000000" in dashboard and "99,900.000000" in dashboard


def test_the_same_key_for_another_quote_is_refused_as_reused(portal, acme):
    first, second = buy_quote(acme), buy_quote(acme)
    key = uuid.uuid4()
    portal.post(reverse("portal:quote_confirm", args=[first.pk]), confirm_post(first, key))
    response = portal.post(
        reverse("portal:quote_confirm", args=[second.pk]), confirm_post(second, key)
    )
    assert response.status_code == 422
    assert response.context["confirm_error"].code == "IDEMPOTENCY_KEY_REUSED"
    second.refresh_from_db()
    assert second.status == Status.QUOTED


def test_each_showing_of_a_quote_carries_a_fresh_key(portal, acme):
    order = buy_quote(acme)
    url = reverse("portal:quote", args=[order.pk])
    assert portal.get(url).context["idempotency_key"] != portal.get(url).context["idempotency_key"]
    assert portal.get(url)["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("", "IDEMPOTENCY_KEY_REQUIRED"),
        ("not-a-uuid", "IDEMPOTENCY_KEY_INVALID"),
        (str(uuid.uuid1()), "IDEMPOTENCY_KEY_INVALID"),
    ],
)
def test_confirm_without_a_valid_key_is_refused(portal, acme, key, code):
    order = buy_quote(acme)
    response = portal.post(
        reverse("portal:quote_confirm", args=[order.pk]), {"idempotency_key": key, "side": "buy"}
    )
    assert response.status_code == 400
    assert response.context["confirm_error"].code == code
    order.refresh_from_db()
    assert order.status == Status.QUOTED


def test_confirm_with_the_wrong_side_is_side_mismatch(portal, acme):
    order = buy_quote(acme)
    response = portal.post(
        reverse("portal:quote_confirm", args=[order.pk]), confirm_post(order, side="sell")
    )
    assert response.status_code == 422
    assert response.context["confirm_error"].code == "SIDE_MISMATCH"


def test_confirm_of_an_expired_quote_offers_refresh(portal, acme):
    order = buy_quote(acme)
    Order.objects.filter(pk=order.pk).update(ttl_expires_at=timezone.now() - timedelta(seconds=1))
    response = portal.post(reverse("portal:quote_confirm", args=[order.pk]), confirm_post(order))
    assert response.status_code == 400
    assert response.context["confirm_error"].code == "QUOTE_EXPIRED"
    text = response.content.decode()
    assert "Refresh quote" in text
    assert response.context["quote_live"] is False


def test_confirm_with_insufficient_funds_moves_nothing(portal, acme):
    order = buy_quote(acme, amount="60000.00", fiat_account_id=acme.eur_secondary.pk)
    response = portal.post(reverse("portal:quote_confirm", args=[order.pk]), confirm_post(order))
    assert response.status_code == 422
    assert "holds only" in (text := response.content.decode()), text[-3000:]
    assert "50,000.00 EUR" in text or "50000.00 EUR" in text
    order.refresh_from_db()
    assert order.status == Status.QUOTED


def test_confirm_of_another_customers_quote_is_not_found(portal, acme, globex):
    theirs = buy_quote(globex)
    response = portal.post(reverse("portal:quote_confirm", args=[theirs.pk]), confirm_post(theirs))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.QUOTED


def test_refresh_quote_requotes_an_expired_quote(portal, acme):
    order = buy_quote(acme)
    services.quotes_expire(now=timezone.now() + timedelta(seconds=61))
    order.refresh_from_db()
    assert order.status == Status.EXPIRED
    page = portal.get(reverse("portal:quote", args=[order.pk]))
    assert page.context["quote_live"] is False and "Refresh quote" in page.content.decode()
    response = portal.post(reverse("portal:order_requote", args=[order.pk]))
    assert response["Location"] == reverse("portal:quote", args=[order.pk])
    order.refresh_from_db()
    assert order.status == Status.REQUOTED
    assert order.ttl_expires_at > timezone.now()


def test_requote_of_a_confirmed_order_says_not_requotable(portal, acme):
    order = buy_quote(acme)
    portal.post(reverse("portal:quote_confirm", args=[order.pk]), confirm_post(order))
    response = portal.post(reverse("portal:order_requote", args=[order.pk]))
    assert response.status_code == 409
    assert "can no longer be requoted" in response.content.decode()


def test_quote_page_of_a_confirmed_order_goes_to_the_order_page(portal, acme):
    order = buy_quote(acme)
    portal.post(reverse("portal:quote_confirm", args=[order.pk]), confirm_post(order))
    response = portal.get(reverse("portal:quote", args=[order.pk]))
    assert response["Location"] == reverse("portal:order", args=[order.pk])


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_a_quote(portal, acme):
    order = buy_quote(acme)
    response = portal.post(reverse("portal:order_cancel", args=[order.pk]))
    assert response["Location"] == reverse("portal:order", args=[order.pk])
    order.refresh_from_db()
    assert order.status == Status.CANCELLED


def test_cancel_after_confirm_says_not_cancellable(portal, acme):
    order = buy_quote(acme)
    portal.post(reverse("portal:quote_confirm", args=[order.pk]), confirm_post(order))
    response = portal.post(reverse("portal:order_cancel", args=[order.pk]), follow=True)
    assert "can no longer be cancelled" in response.content.decode()
    order.refresh_from_db()
    assert order.status == Status.DEBIT_PENDING


def test_cancel_of_another_customers_order_is_not_found(portal, globex):
    theirs = buy_quote(globex)
    assert portal.post(reverse("portal:order_cancel", args=[theirs.pk])).status_code == 404
    assert portal.post(reverse("portal:order_requote", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.QUOTED


# --- orders ---------------------------------------------------------------------------------


def test_order_list_is_newest_first_and_own_only(portal, acme, globex):
    older = buy_quote(acme, amount="100.00")
    newer = buy_quote(acme, amount="200.00")
    theirs = buy_quote(globex)
    response = portal.get(reverse("portal:orders"), {"show": "quotes"})
    ids = [row["order"].pk for row in response.context["rows"]]
    assert ids == [newer.pk, older.pk]
    assert str(theirs.pk) not in response.content.decode()


def test_order_list_filters_by_status_and_side(portal, acme):
    kept = buy_quote(acme)
    cancelled = buy_quote(acme)
    services.order_cancel(order_id=cancelled.pk, customer=acme.customer, actor=Actor.system("t"))
    sell = buy_quote(acme, side=Side.SELL)
    by_status = portal.get(reverse("portal:orders"), {"status": "cancelled"})
    assert [r["order"].pk for r in by_status.context["rows"]] == [cancelled.pk]
    by_side = portal.get(reverse("portal:orders"), {"side": "sell", "show": "quotes"})
    assert [r["order"].pk for r in by_side.context["rows"]] == [sell.pk]
    quotes = portal.get(reverse("portal:orders"), {"show": "quotes"}).context["rows"]
    assert kept.pk in [r["order"].pk for r in quotes]


def test_order_list_ignores_unknown_filter_values_with_a_message(portal, acme):
    buy_quote(acme)
    response = portal.get(reverse("portal:orders"), {"status": "bogus", "show": "quotes"})
    assert response.status_code == 200
    assert len(response.context["rows"]) == 1
    assert "Unknown filter value" in response.content.decode()


def test_order_list_is_paginated(portal, acme):
    for _ in range(23):
        buy_quote(acme, amount="10.00")
    first = portal.get(reverse("portal:orders"), {"show": "quotes"})
    second = portal.get(reverse("portal:orders"), {"show": "quotes", "page": 2})
    assert len(first.context["rows"]) == 20 and len(second.context["rows"]) == 3
    assert "Page 1 of 2" in first.content.decode()


def test_order_list_polls_only_while_orders_are_in_flight(portal, acme):
    order = buy_quote(acme)
    quotes = {"show": "quotes"}
    assert 'hx-trigger="every' in portal.get(reverse("portal:orders"), quotes).content.decode()
    fragment = portal.get(reverse("portal:orders"), quotes, HTTP_HX_REQUEST="true")
    assert fragment.content.decode().lstrip().startswith('<div id="orders-live"')
    services.order_cancel(order_id=order.pk, customer=acme.customer, actor=Actor.system("t"))
    assert 'hx-trigger="every' not in portal.get(reverse("portal:orders"), quotes).content.decode()


def test_order_page_shows_timeline_and_final_versus_indicative_rate(
    portal, acme, operator, desk, django_capture_on_commit_callbacks
):
    order = buy_quote(acme)
    with django_capture_on_commit_callbacks(execute=True):
        services.order_confirm(
            order_id=order.pk, customer=acme.customer, side="buy", actor=Actor.system("t")
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.order_approve(order_id=order.pk, actor=Actor.for_user(operator, Channel.OPS))
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    response = portal.get(reverse("portal:order", args=[order.pk]))
    text = response.content.decode()
    steps = [t.to_status for t in response.context["timeline"]]
    assert steps == ["quoted", "debit_pending", "pending_approval", "approved", "completed"]
    assert response.context["figures"].final_rate == money.format_rate(order.final_rate)
    assert "Indicative rate" in text and "Final rate" in text
    assert 'hx-trigger="every' not in text  # terminal: no more polling
    assert "Cancel quote" not in text


def test_order_page_shows_the_rejection_reason(portal, acme, operator):
    order = buy_quote(acme)
    services.order_confirm(
        order_id=order.pk, customer=acme.customer, side="buy", actor=Actor.system("t")
    )
    services.order_debit_settle(order_id=order.pk)
    services.order_reject(
        order_id=order.pk, actor=Actor.for_user(operator, Channel.OPS), reason="KYC review failed"
    )
    response = portal.get(reverse("portal:order", args=[order.pk]))
    assert "KYC review failed" in response.content.decode()
    assert response.context["order"].status == Status.REJECTED


def test_in_flight_order_page_polls_its_status_fragment(portal, acme):
    order = buy_quote(acme)
    page = portal.get(reverse("portal:order", args=[order.pk])).content.decode()
    assert f'hx-get="{reverse("portal:order_status", args=[order.pk])}"' in page
    assert "Cancel quote" in page
    fragment = portal.get(reverse("portal:order_status", args=[order.pk]))
    assert fragment.status_code == 200
    assert fragment.content.decode().startswith('<div id="order-live"')


@pytest.mark.parametrize("name", ["portal:order", "portal:order_status", "portal:quote"])
def test_another_customers_order_pages_are_not_found(portal, globex, name):
    theirs = buy_quote(globex)
    assert portal.get(reverse(name, args=[theirs.pk])).status_code == 404
    assert portal.get(reverse(name, args=[uuid.uuid4()])).status_code == 404


# --- API keys -------------------------------------------------------------------------------


def test_create_key_shows_the_secret_once_and_it_works(portal, acme):
    response = portal.post(
        reverse("portal:api_keys"),
        {"name": "ERP", "scopes": [SCOPE_READ, SCOPE_WRITE], "live": "test"},
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert secret.startswith("sk_test_")
    key = ApiKey.objects.get(customer=acme.customer, name="ERP")
    assert key.scopes == [SCOPE_READ, SCOPE_WRITE] and key.prefix == secret[:16]
    assert key.created_by == acme.user
    listed = portal.get(reverse("portal:api_keys")).content.decode()
    assert secret not in listed and key.prefix in listed
    api = acme.client(secret)
    assert api.get("/api/v1/otc-exchanges/accounts").status_code == 200


def test_create_key_needs_a_scope(portal, acme):
    response = portal.post(reverse("portal:api_keys"), {"name": "x", "live": "test"})
    assert response.status_code == 400
    assert "Choose at least one scope." in response.content.decode()
    assert not ApiKey.objects.filter(name="x").exists()


def test_live_key_has_the_live_prefix(portal, acme):
    response = portal.post(reverse("portal:api_keys"), {"scopes": [SCOPE_READ], "live": "live"})
    assert response.context["secret"].startswith("sk_live_")


def test_keys_list_shows_own_keys_only_with_last_use(portal, acme, globex):
    acme.client(acme.read_key).get("/api/v1/otc-exchanges/accounts")
    response = portal.get(reverse("portal:api_keys"))
    keys = list(response.context["keys"])
    assert {k.customer_id for k in keys} == {acme.customer.pk}
    assert any(k.last_used_at for k in keys)
    assert globex.read_key[:16] not in response.content.decode()


def test_revoke_key(portal, acme):
    key = ApiKey.objects.get(prefix=acme.write_key[:16])
    response = portal.post(reverse("portal:api_key_revoke", args=[key.pk]))
    assert response["Location"] == reverse("portal:api_keys")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert acme.client(acme.write_key).get("/api/v1/otc-exchanges/accounts").status_code == 401


def test_revoke_another_customers_key_is_not_found(portal, globex):
    key = ApiKey.objects.get(prefix=globex.write_key[:16])
    assert portal.post(reverse("portal:api_key_revoke", args=[key.pk])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


# --- password -------------------------------------------------------------------------------


def test_password_change(portal, acme):
    response = portal.post(
        reverse("portal:password_change"),
        {
            "old_password": factories.PASSWORD,
            "new_password1": "a-much-longer-passphrase-42",
            "new_password2": "a-much-longer-passphrase-42",
        },
    )
    assert response["Location"] == reverse("portal:dashboard")
    acme.user.refresh_from_db()
    assert acme.user.check_password("a-much-longer-passphrase-42")
    # still signed in (session hash updated)
    assert portal.get(reverse("portal:dashboard")).status_code == 200


def test_password_change_with_a_wrong_old_password_is_refused(portal, acme):
    response = portal.post(
        reverse("portal:password_change"),
        {"old_password": "nope", "new_password1": "x-y-z-123456", "new_password2": "x-y-z-123456"},
    )
    assert response.status_code == 200
    acme.user.refresh_from_db()
    assert acme.user.check_password(factories.PASSWORD)
