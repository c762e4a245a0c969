"""Query counts per endpoint must not grow with the number of rows listed (no N+1)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from otc import services
from otc.models import Channel, Side
from tests import factories

pytestmark = pytest.mark.django_db

# A ceiling for any read: authentication, throttling bookkeeping, the read itself (a page, its
# count and its fee lines) and the customer's daily limits.
MAX_QUERIES = 5


def queries(api, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200, response.content
    return len(captured)


@pytest.fixture
def api(acme):
    client = acme.client(acme.read_key)
    client.get("/api/v1/otc-exchanges/accounts")  # the key's last-use stamp is written once
    return client


def add_orders(world, count: int) -> None:
    actor = services.Actor(label="test", channel=Channel.API)
    for index in range(count):
        side = Side.BUY if index % 2 else Side.SELL
        services.quote_create(
            customer=world.customer,
            side=side,
            fiat_account_id=world.eur_master.pk,
            wallet_id=(world.wallet if index % 3 else world.wallet_secondary).pk,
            amount=Decimal("100.00") if side == Side.BUY else Decimal("10.000000"),
            actor=actor,
        )


def test_the_order_list_costs_the_same_for_5_and_60_orders(
    acme, globex, api, operator, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    add_orders(acme, 5)
    add_orders(globex, 3)
    with django_assert_max_num_queries(MAX_QUERIES):
        few = queries(api, "/api/v1/otc-exchanges")

    add_orders(acme, 55)
    # Some in later states too, with final rates and reasons to render.
    order = services.quote_create(
        customer=acme.customer,
        side=Side.BUY,
        fiat_account_id=acme.eur_master.pk,
        wallet_id=acme.wallet.pk,
        amount=Decimal("100.00"),
        actor=services.Actor(label="test", channel=Channel.API),
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.order_confirm(
            order_id=order.pk,
            customer=acme.customer,
            side=Side.BUY,
            actor=services.Actor(label="test", channel=Channel.API),
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.order_approve(
            order_id=order.pk, actor=services.Actor.for_user(operator, Channel.OPS)
        )
    many = queries(api, "/api/v1/otc-exchanges?limit=100")
    assert api.get("/api/v1/otc-exchanges?limit=100").json()["meta"]["pagination"]["total"] == 61
    assert many == few
    assert queries(api, "/api/v1/otc-exchanges?status=quoted&side=buy&page=2&limit=10") == few


def test_a_late_page_costs_what_the_first_costs_and_holds_the_right_orders(acme, api):
    add_orders(acme, 23)
    everything = api.get("/api/v1/otc-exchanges?limit=100").json()["data"]
    assert len(everything) == 23
    first = queries(api, "/api/v1/otc-exchanges?limit=5")
    assert queries(api, "/api/v1/otc-exchanges?limit=5&page=5") == first
    pages = [api.get(f"/api/v1/otc-exchanges?limit=5&page={page}").json() for page in range(1, 7)]
    # Newest first, every order exactly once, the last page short, one past it empty.
    assert [o["id"] for p in pages for o in p["data"]] == [o["id"] for o in everything]
    assert [len(p["data"]) for p in pages] == [5, 5, 5, 5, 3, 0]
    assert {p["meta"]["pagination"]["total"] for p in pages} == {23}
    assert pages[4]["data"][0] == everything[20]


def test_the_order_detail_costs_a_fixed_number_of_queries(acme, api, django_assert_num_queries):
    add_orders(acme, 1)
    order_id = api.get("/api/v1/otc-exchanges").json()["data"][0]["id"]
    baseline = queries(api, f"/api/v1/otc-exchanges/{order_id}")
    assert baseline <= MAX_QUERIES
    add_orders(acme, 20)
    with django_assert_num_queries(baseline):
        api.get(f"/api/v1/otc-exchanges/{order_id}")


def test_accounts_cost_the_same_for_2_and_12_accounts(acme, api, django_assert_max_num_queries):
    with django_assert_max_num_queries(MAX_QUERIES):
        few = queries(api, "/api/v1/otc-exchanges/accounts")
    for index in range(10):
        factories.make_account(acme.customer, label=f"Extra {index}", balance="10.00")
    assert len(api.get("/api/v1/otc-exchanges/accounts").json()["data"]) == 12
    assert queries(api, "/api/v1/otc-exchanges/accounts") == few


def test_wallets_cost_the_same_for_2_and_12_wallets(acme, api, django_assert_max_num_queries):
    with django_assert_max_num_queries(MAX_QUERIES):
        few = queries(api, "/api/v1/otc-exchanges/wallets")
    for index in range(10):
        factories.make_wallet(acme.customer, label=f"Extra {index}", balance="1.000000")
    assert len(api.get("/api/v1/otc-exchanges/wallets").json()["data"]) == 12
    assert queries(api, "/api/v1/otc-exchanges/wallets") == few


def test_a_wallet_balance_costs_a_fixed_number_of_queries(acme, api):
    url = f"/api/v1/otc-exchanges/wallets/{acme.wallet.pk}/balance"
    few = queries(api, url)
    assert few <= MAX_QUERIES
    for index in range(10):
        factories.make_wallet(acme.customer, label=f"Extra {index}", balance="1.000000")
    assert queries(api, url) == few
