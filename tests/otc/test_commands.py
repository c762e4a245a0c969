"""The management commands: a stable interface that scripts and tests outside the project use,
so their output is asserted exactly where the contract fixes it."""

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, Customer, FiatAccount, LedgerAccount
from accounts.providers import simulated_outage
from otc import services
from otc.models import Channel, Order, OrderTransition, Status
from wallets.models import Wallet

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- seed_demo ------------------------------------------------------------------------------


def seed() -> dict:
    output = run("seed_demo", "--json")
    assert len(output.strip().splitlines()) == 1, "one JSON object on one line"
    return json.loads(output)


CUSTOMER_SHAPE = {
    "id": str,
    "apiKeys": {"read": str, "write": str, "all": str},  # "all": issue 5 (webhooks)
    "accounts": {"eurMaster": str, "eurSecondary": str, "eurInactive": str, "usd": str},
    "wallets": {"primary": str, "secondary": str, "noUsdc": str},
    "user": {"username": str, "password": str},
}


def assert_shape(value, shape, where="$"):
    if isinstance(shape, dict):
        assert isinstance(value, dict), where
        assert set(value) == set(shape), f"{where}: {sorted(value)} != {sorted(shape)}"
        for key, inner in shape.items():
            assert_shape(value[key], inner, f"{where}.{key}")
    else:
        assert isinstance(value, shape) and value, f"{where} is not a non-empty {shape.__name__}"


def test_seed_demo_json_has_exactly_the_contracts_shape():
    data = seed()
    assert_shape(
        data,
        {
            "customers": {
                "acme": CUSTOMER_SHAPE,
                "globex": CUSTOMER_SHAPE,
                "initech": CUSTOMER_SHAPE,
            },
            "operator": {"username": str, "password": str},
        },
    )


def test_seed_demo_data_is_what_it_says(client):
    data = seed()
    acme = data["customers"]["acme"]
    customer = Customer.objects.get(slug="acme")
    assert acme["id"] == str(customer.pk)
    accounts = {k: FiatAccount.objects.get(pk=v) for k, v in acme["accounts"].items()}
    assert all(a.customer == customer for a in accounts.values())
    assert accounts["eurMaster"].is_master and accounts["eurMaster"].currency == "EUR"
    assert accounts["eurSecondary"].is_active and accounts["eurSecondary"].currency == "EUR"
    assert not accounts["eurInactive"].is_active
    assert accounts["usd"].currency != "EUR"
    for name in ("eurMaster", "eurSecondary"):
        assert accounts[name].ledger_account.balance > 0
    wallets = {k: Wallet.objects.get(pk=v) for k, v in acme["wallets"].items()}
    assert wallets["primary"].network != wallets["secondary"].network
    assert wallets["primary"].usdc_address and wallets["secondary"].usdc_address
    assert wallets["primary"].ledger_account.balance > 0
    assert wallets["secondary"].ledger_account.balance > 0
    assert not wallets["noUsdc"].usdc_address
    # The desk's treasury exists and is nobody's listed resource.
    assert FiatAccount.objects.filter(is_treasury=True, currency="EUR").exists()
    assert Wallet.objects.filter(is_treasury=True).exists()

    # The keys carry the scopes their names promise.
    read = APIClient()
    read.credentials(HTTP_X_API_KEY=acme["apiKeys"]["read"])
    listed = read.get("/api/v1/otc-exchanges/accounts")
    assert listed.status_code == 200
    assert {a["id"] for a in listed.json()["data"]} == {
        acme["accounts"]["eurMaster"],
        acme["accounts"]["eurSecondary"],
    }
    everything = APIClient()
    everything.credentials(HTTP_X_API_KEY=acme["apiKeys"]["all"])
    assert everything.get("/api/v1/webhook-endpoints").status_code == 200
    assert read.get("/api/v1/webhook-endpoints").status_code == 403
    refused = read.post("/api/v1/otc-exchanges/quote", {}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "INSUFFICIENT_SCOPE")
    write = APIClient()
    write.credentials(HTTP_X_API_KEY=acme["apiKeys"]["write"])
    quote = write.post(
        "/api/v1/otc-exchanges/quote",
        {
            "sourceFrAccountId": acme["accounts"]["eurMaster"],
            "destinationUtilaWalletId": acme["wallets"]["primary"],
            "sourceAmountEur": "100.00",
        },
        format="json",
    )
    assert quote.status_code == 200, quote.content
    listed = write.get("/api/v1/otc-exchanges/wallets").json()["data"]
    assert {w["id"] for w in listed} == {acme["wallets"]["primary"], acme["wallets"]["secondary"]}

    # The portal user and the operator can sign in (the lockout backend needs a request).
    assert client.login(request=HttpRequest(), **acme["user"])
    assert client.login(request=HttpRequest(), **data["operator"])
    assert get_user_model().objects.get(username=data["operator"]["username"]).is_staff
    token = APIClient().post("/api/v1/auth/token", acme["user"], format="json")
    assert token.status_code == 200, token.content


def test_seed_demo_is_idempotent_with_fresh_keys_and_balances_not_doubled():
    first = seed()
    balances = dict(LedgerAccount.objects.values_list("code", "balance"))
    counts = (Customer.objects.count(), FiatAccount.objects.count(), Wallet.objects.count())

    second = seed()

    for slug in ("acme", "globex"):
        a, b = first["customers"][slug], second["customers"][slug]
        assert (a["id"], a["accounts"], a["wallets"], a["user"]) == (
            b["id"],
            b["accounts"],
            b["wallets"],
            b["user"],
        )
        assert a["apiKeys"]["read"] != b["apiKeys"]["read"]
        assert a["apiKeys"]["write"] != b["apiKeys"]["write"]
        assert a["apiKeys"]["all"] != b["apiKeys"]["all"]
    assert first["operator"] == second["operator"]
    assert dict(LedgerAccount.objects.values_list("code", "balance")) == balances
    assert (Customer.objects.count(), FiatAccount.objects.count(), Wallet.objects.count()) == counts
    # Old keys keep working: re-running the seed does not lock a tester out.
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=first["customers"]["acme"]["apiKeys"]["read"])
    assert api.get("/api/v1/otc-exchanges/accounts").status_code == 200


def test_seed_demo_without_json_prints_the_same_data_readably():
    output = run("seed_demo")
    assert set(json.loads(output)) == {"customers", "operator"}


# --- create_api_key -------------------------------------------------------------------------


def test_create_api_key_prints_a_working_test_key(acme):
    secret = run(
        "create_api_key",
        "--customer",
        "acme",
        "--scopes",
        "otc-exchanges:read,otc-exchanges:write",
    ).strip()
    assert secret.startswith("sk_test_")
    key = ApiKey.objects.get(key_hash=ApiKey.hash_secret(secret))
    assert key.customer == acme.customer
    assert sorted(key.scopes) == ["otc-exchanges:read", "otc-exchanges:write"]
    assert not key.is_live
    assert secret not in {k.key_hash for k in ApiKey.objects.all()}  # only the hash is stored
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=secret)
    assert api.get("/api/v1/otc-exchanges/accounts").status_code == 200


def test_create_api_key_live_and_read_only(acme):
    secret = run(
        "create_api_key", "--customer", "acme", "--scopes", "otc-exchanges:read", "--live"
    ).strip()
    assert secret.startswith("sk_live_")
    key = ApiKey.objects.get(key_hash=ApiKey.hash_secret(secret))
    assert key.is_live and key.scopes == ["otc-exchanges:read"]


@pytest.mark.parametrize(
    "args",
    [
        ["--customer", "acme", "--scopes", "otc-exchanges:admin"],
        ["--customer", "acme", "--scopes", ""],
        ["--customer", "nobody", "--scopes", "otc-exchanges:read"],
        ["--customer", "desk", "--scopes", "otc-exchanges:read"],
    ],
)
def test_create_api_key_refuses_bad_scopes_and_unknown_customers(acme, args):
    before = ApiKey.objects.count()
    with pytest.raises(CommandError):
        run("create_api_key", *args)
    assert ApiKey.objects.count() == before


# --- approve_order / reject_order -----------------------------------------------------------


@pytest.fixture
def pending(acme, buy_quote, django_capture_on_commit_callbacks):
    def make(amount="1000.00"):
        order = buy_quote(acme, amount)
        with django_capture_on_commit_callbacks(execute=True):
            services.order_confirm(
                order_id=order.pk,
                customer=acme.customer,
                side=order.side,
                actor=services.Actor.for_user(acme.user, Channel.API),
            )
        return order

    return make


def test_approve_order_approves_at_the_live_rate_as_the_operator(
    acme, operator, pending, settings, django_capture_on_commit_callbacks
):
    order = pending("1000.00")
    settings.OTC_PRICE_FEED = "static:1.100000"
    with django_capture_on_commit_callbacks(execute=True):
        output = run("approve_order", str(order.pk), "--operator", operator.username)
    assert output.strip() == f"{order.pk} approved rate=1.094500 destinationAmount=1094.500000"
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
    assert order.approved_by == operator
    entry = OrderTransition.objects.get(order=order, to_status=Status.APPROVED)
    assert (entry.actor, entry.channel, entry.actor_user) == (
        operator.username,
        Channel.COMMAND,
        operator,
    )


def test_approve_order_without_operator_acts_as_the_shell_user(
    pending, django_capture_on_commit_callbacks
):
    order = pending()
    with django_capture_on_commit_callbacks(execute=True):
        run("approve_order", str(order.pk))
    entry = OrderTransition.objects.get(order=order, to_status=Status.APPROVED)
    assert entry.actor.startswith("command:") and entry.channel == Channel.COMMAND


def test_approve_order_refuses_unknown_orders_operators_and_illegal_moves(
    acme, operator, pending, buy_quote
):
    with pytest.raises(CommandError, match="ORDER_NOT_FOUND"):
        run("approve_order", str(uuid.uuid4()), "--operator", operator.username)
    with pytest.raises(CommandError):
        run("approve_order", "not-a-uuid")
    order = pending()
    with pytest.raises(CommandError, match="staff"):
        run("approve_order", str(order.pk), "--operator", acme.user.username)
    quote = buy_quote(acme)
    with pytest.raises(CommandError, match="ORDER_NOT_APPROVABLE"):
        run("approve_order", str(quote.pk), "--operator", operator.username)
    assert Order.objects.get(pk=order.pk).status == Status.PENDING_APPROVAL


def test_reject_order_refunds_a_buy_with_the_reason(acme, operator, pending):
    order = pending("1000.00")
    output = run(
        "reject_order", str(order.pk), "--reason", "Source of funds.", "--operator", "op-alice"
    )
    assert output.strip() == f"{order.pk} rejected"
    order.refresh_from_db()
    assert (order.status, order.rejection_reason) == (Status.REJECTED, "Source of funds.")
    master = LedgerAccount.objects.get(pk=acme.eur_master.ledger_account_id)
    assert master.balance == Decimal("250000.00")
    entry = OrderTransition.objects.get(order=order, to_status=Status.REJECTED)
    assert (entry.actor_user, entry.channel, entry.reason) == (
        operator,
        Channel.COMMAND,
        "Source of funds.",
    )


def test_reject_order_needs_a_reason_and_a_known_order(operator, pending):
    order = pending()
    with pytest.raises(CommandError):
        run("reject_order", str(order.pk))
    with pytest.raises(CommandError, match="REASON_REQUIRED"):
        run("reject_order", str(order.pk), "--reason", " ")
    with pytest.raises(CommandError, match="ORDER_NOT_FOUND"):
        run("reject_order", str(uuid.uuid4()), "--reason", "x")
    run("reject_order", str(order.pk), "--reason", "once")
    with pytest.raises(CommandError, match="ORDER_NOT_REJECTABLE"):
        run("reject_order", str(order.pk), "--reason", "twice")


# --- expire_quotes / simulate_outage --------------------------------------------------------


def test_expire_quotes_sweeps_once_and_logs_the_command(acme, buy_quote):
    stale, fresh = buy_quote(acme), buy_quote(acme)
    Order.objects.filter(pk=stale.pk).update(ttl_expires_at=timezone.now() - timedelta(seconds=1))
    assert run("expire_quotes").strip() == "expired 1 quote(s)"
    assert run("expire_quotes").strip() == "expired 0 quote(s)"
    assert Order.objects.get(pk=stale.pk).status == Status.EXPIRED
    assert Order.objects.get(pk=fresh.pk).status == Status.QUOTED
    entry = OrderTransition.objects.get(order=stale, to_status=Status.EXPIRED)
    assert (entry.actor, entry.channel) == ("system:expire_quotes", Channel.COMMAND)


def test_simulate_outage_switches_custody_for_every_process(acme):
    api = acme.client(acme.read_key)
    url = f"/api/v1/otc-exchanges/wallets/{acme.wallet.pk}/balance"
    try:
        assert run("simulate_outage", "custody", "on").strip() == "custody is down"
        assert simulated_outage("custody")
        response = api.get(url)
        assert (response.status_code, response.json()["error"]["code"]) == (
            502,
            "BALANCE_UNAVAILABLE",
        )
    finally:
        assert run("simulate_outage", "custody", "off").strip() == "custody is up"
    assert not simulated_outage("custody")
    assert api.get(url).json()["data"]["usdcBalance"] == "100000.000000"


def test_simulate_outage_switches_the_bank(acme):
    try:
        assert run("simulate_outage", "fiat", "on").strip() == "fiat is down"
        assert simulated_outage("fiat") and not simulated_outage("custody")
    finally:
        run("simulate_outage", "fiat", "off")
    assert not simulated_outage("fiat")
    with pytest.raises(CommandError):
        run("simulate_outage", "market", "on")
