"""Market exchanges in the operator console (search, CSV export, treasury position and fee
income, the reason of a failure), the admin (read-only) and the customer's portal."""

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.ledger import withdraw
from otc.models import MarketExchange, Pair
from tests.ops.conftest import make_staff, signed_in

from .conftest import balance, buy_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    """An operator of the desk's ``operators`` group."""
    return make_staff("op-alice")


@pytest.fixture
def executed(acme, quoted, accept):
    Pair.objects.filter(code="EUR/USDC").update(platform_fixed_fee=Decimal("1.50"))
    exchange_id = quoted(buy_body(acme, "1000.00"))
    assert accept(exchange_id).json()["status"] == "EXECUTED"
    return MarketExchange.objects.get(pk=exchange_id)


@pytest.fixture
def failed_for_treasury(acme, desk, quoted, accept):
    withdraw(desk["usdc"].ledger_account, balance(desk["usdc"]) - Decimal("10"), description="x")
    exchange_id = quoted(buy_body(acme, "500.00"))
    assert accept(exchange_id).json()["failure_code"] == "TREASURY_INSUFFICIENT"
    return MarketExchange.objects.get(pk=exchange_id)


def test_the_console_search_finds_exchanges_and_filters_by_kind(acme, alice, executed):
    client = signed_in(alice)
    page = client.get("/ops/orders/").content.decode()
    assert str(executed.pk)[:8] in page and 'data-testid="kind-market"' in page
    only_otc = client.get("/ops/orders/", {"kind": "otc"}).context["page"].object_list
    assert executed not in list(only_otc)
    only_market = client.get("/ops/orders/", {"kind": "market"}).context["page"].object_list
    assert [o.pk for o in only_market] == [executed.pk]


def test_the_csv_export_says_which_rows_are_exchanges(alice, executed, failed_for_treasury):
    response = signed_in(alice).get("/ops/orders/export.csv", {"kind": "market"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_id = {row["id"]: row for row in rows}
    assert set(by_id) == {str(executed.pk), str(failed_for_treasury.pk)}
    row = by_id[str(executed.pk)]
    assert (row["kind"], row["status"], row["destination_amount"]) == (
        "market",
        "executed",
        "1072.988100",
    )
    failed = by_id[str(failed_for_treasury.pk)]
    assert failed["failure_code"] == "TREASURY_INSUFFICIENT"
    assert "cannot deliver" in failed["failure_reason"]


def test_the_treasury_shows_todays_exchanges_fee_income_and_why_one_failed(
    alice, executed, failed_for_treasury
):
    response = signed_in(alice).get("/ops/treasury/")
    position = response.context["position"]
    buys = next(t for t in position.executed_today if t.side == "buy")
    assert (buys.count, buys.source_amount) == (1, Decimal("1000.00"))
    assert buys.destination_amount == Decimal("1072.988100")
    assert {a.currency: a.balance for a in position.fee_income}["EUR"] == Decimal("1.50")
    assert position.failed_exchanges == [failed_for_treasury]
    page = response.content.decode()
    assert 'data-testid="failed-exchange"' in page and "TREASURY_INSUFFICIENT" in page
    assert "cannot deliver this exchange" in page


def test_the_console_order_page_shows_an_exchange_with_its_ledger_and_failure(
    alice, executed, failed_for_treasury
):
    client = signed_in(alice)
    page = client.get(f"/ops/orders/{executed.pk}/").content.decode()
    assert 'data-testid="order-kind"' in page and "Market adjustment" not in page
    assert "order:" in page  # its provider steps
    failed = client.get(f"/ops/orders/{failed_for_treasury.pk}/").content.decode()
    assert 'data-testid="failure-code">TREASURY_INSUFFICIENT' in failed


def test_the_admin_lists_exchanges_read_only_apart_from_orders(alice, executed):
    client = signed_in(alice)
    changelist = reverse("admin:otc_marketexchange_changelist")
    response = client.get(changelist)
    assert response.status_code == 200 and str(executed.pk) in response.content.decode()
    page = client.get(reverse("admin:otc_marketexchange_change", args=[executed.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert 'name="_save"' not in content  # nothing to edit
    assert "deliver" in content  # the provider steps inline
    orders = client.get(reverse("admin:otc_order_changelist")).content.decode()
    assert str(executed.pk) not in orders
    assert (
        client.post(reverse("admin:otc_marketexchange_change", args=[executed.pk]), {}).status_code
        == 403
    )


def test_the_portal_lists_exchanges_among_the_orders(acme, executed, client):
    client.force_login(acme.user)
    page = client.get("/orders/").content.decode()
    assert f'data-order-id="{executed.pk}"' in page
    assert "market exchange" in page and "Executed at once: the USDC is in your wallet." in page
    detail = client.get(f"/orders/{executed.pk}/")
    assert detail.status_code == 200
    assert "Executed at once" in detail.content.decode()
